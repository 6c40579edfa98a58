"""`python -m inference.worker [runpod|http|prefetch]`: the image's entry point (default: runpod)."""

from __future__ import annotations

import sys

MODES = ("runpod", "http", "prefetch")


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "runpod"
    if mode not in MODES:
        print(f"usage: python -m inference.worker [{'|'.join(MODES)}]", file=sys.stderr)
        return 2
    sys.argv = [sys.argv[0], *argv[1:]]  # the Runpod SDK parses its own flags from argv
    if mode == "runpod":
        from inference.worker.runpod_handler import main as run
    elif mode == "http":
        from inference.worker.http_server import main as run
    else:
        from inference.worker.prefetch import main as prefetch

        return prefetch(argv[1:])
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
