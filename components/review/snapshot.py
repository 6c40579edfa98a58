"""Record what the program at another commit registers, for `plan --against <ref>`.

Executed as a script, never imported: `against.py` exports the other commit's tree to a temporary
directory and runs `python -I snapshot.py --root <tree> ...` there. `-I` keeps the current tree off
the import path (no script directory, no PYTHONPATH), and the tree goes first on `sys.path`, so
`components` is the other commit's package. That commit's `components/offline.py` runs its own
`__main__.py` under mocks; this script only depends on the standard library, the installed
`pulumi` and the small `load_stack_file` / `run_program` API offline.py has had since the
foundation. Commits older than that are reported as "cannot run" rather than guessed at.

Output (to `--out`): {"ok": bool, "error": str | null, "componentsPath": str,
"resources": [{urn, type, name, parent, custom, protect, inputs}]}, secrets replaced by
"[secret]". The budget gate is switched off for the run (`budget.enforce: false`): the plan
compares what would be registered and prices both sides itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

SECRET = "[secret]"
UNKNOWN = "(known after deploy)"
"""The same spelling as components.offline.UNKNOWN_PLACEHOLDER (this script cannot import it)."""


def _redacted(value: Any) -> Any:
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, Unknown) or value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, dict):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _without_budget_gate(config: dict[str, str]) -> None:
    raw = config.get("modelstack:budget")
    if not raw:
        return
    try:
        budget = json.loads(raw)
    except ValueError:
        return
    if isinstance(budget, dict):
        budget["enforce"] = False
        config["modelstack:budget"] = json.dumps(budget)


def snapshot(root: Path, stack: str, stack_path: Path) -> dict[str, Any]:
    sys.path.insert(0, str(root))
    os.chdir(root)
    try:
        from components import offline  # the other commit's
    except ImportError as exc:
        return {"ok": False, "error": f"this commit has no offline runner (components/offline.py): {exc}", "resources": []}
    result: dict[str, Any] = {"componentsPath": str(Path(offline.__file__).resolve())}
    try:
        stack_file = offline.load_stack_file(stack, root, stack_path)
        _without_budget_gate(stack_file.config)
        run = offline.run_program(stack, root=root, stack_file=stack_file)
    except Exception as exc:  # whatever that commit's program raises is the answer
        problems = getattr(exc, "problems", None)
        detail = "; ".join(problems) if problems else f"{type(exc).__name__}: {exc}"
        return {**result, "ok": False, "error": detail, "resources": [], "trace": traceback.format_exc(limit=5)}
    result.update(
        ok=True,
        error=None,
        resources=[
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "custom": bool(r.custom),
                "protect": bool(r.protect),
                "inputs": _redacted(r.inputs),
            }
            for r in run.resources
        ],
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--stack-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    out = args.out.resolve()
    result = snapshot(args.root.resolve(), args.stack, args.stack_file.resolve())
    out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
