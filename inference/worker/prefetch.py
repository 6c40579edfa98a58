"""Download the configured model and exit: `python -m inference.worker prefetch [--to DIR]`.

Without --to the files go where the worker looks for them (HF_HOME for the Hub, the manifest
cache for a bucket mirror), e.g. to warm a network volume before an endpoint scales up. With --to
(image builds that bake weights in) the Hub snapshot is written as plain files into DIR, which
MODELSTACK_MODEL_PATH then names. Reads the same environment as the worker.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from inference.worker.settings import Settings, SettingsError
from inference.worker.source import hub_snapshot, resolve_model_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.worker prefetch")
    parser.add_argument("--to", type=Path, default=None, help="write the Hub snapshot into this directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.to is not None:
        if not (settings.model_id and settings.revision):
            print("--to needs MODELSTACK_MODEL_ID and MODELSTACK_MODEL_REVISION", file=sys.stderr)
            return 2
        path = hub_snapshot(settings.model_id, settings.revision, settings.hf_token, settings.task, local_dir=args.to)
    else:
        path = resolve_model_dir(settings)
    print(f"model files in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
