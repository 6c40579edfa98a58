"""Which stacks a change touches, so CI plans and previews only those.

    python -m components.review.touched --base <sha>     # prints a JSON list, e.g. ["dev"]

A change to `Pulumi.<stack>.yaml` touches that stack; a change to anything else (the program,
`Pulumi.yaml`, requirements, the policy pack...) touches every stack. Documentation-only changes
(`*.md`, `docs/`) touch none. Stacks whose file no longer exists are not planned.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^/]+)\.yaml$")


def is_documentation(path: str) -> bool:
    return path.endswith(".md") or path.startswith("docs/")


def stacks_touched(changed: Iterable[str], existing: Iterable[str]) -> list[str]:
    existing = sorted(set(existing))
    touched: set[str] = set()
    for path in changed:
        match = _STACK_FILE.match(path)
        if match:
            touched.add(match["stack"])
        elif not is_documentation(path):
            return existing
    return [s for s in existing if s in touched]


def existing_stacks(root: Path) -> list[str]:
    return sorted(m["stack"] for p in root.glob("Pulumi.*.yaml") if (m := _STACK_FILE.match(p.name)))


def changed_files(root: Path, base: str) -> list[str]:
    result = subprocess.run(
        ["git", "-C", str(root), "diff", "--name-only", f"{base}...HEAD"], capture_output=True, text=True, check=True
    )
    return [line for line in result.stdout.splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.review.touched", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit the change is compared with (a PR's base sha)")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    print(json.dumps(stacks_touched(changed_files(args.root, args.base), existing_stacks(args.root))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
