"""`plan --against <ref>`: the same stack at another commit, and what changes between the two.

The other commit's tree is exported with `git archive` into a temporary directory (removed
afterwards), and its own program runs there in a fresh interpreter (`snapshot.py`), so a commit
whose code predates this plan, its JSON format or even the cost model compares fine. Both sides
are then compared here, with the current tree's code:

- resources by URN: added, removed, or changed when any input (`components.review.inputs`:
  every input the engine would diff, Cloud Run's env and secretEnv by variable name) or
  `protect` differs;
- cost: both configs priced by the current cost model and catalog, so the delta shows what the
  change does to the bill, not a price-table update.

A commit without the stack file means the stack is new: everything is added, and its cost was $0.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import ConfigError, validate_flat
from components.cost import Range, estimate
from components.offline import Registration, StackFileError, load_stack_file
from components.review.inputs import mark_secret_change

SNAPSHOT_SCRIPT = Path(__file__).with_name("snapshot.py")
SNAPSHOT_TIMEOUT_SECONDS = 300

KeyProperties = Callable[[str, Mapping[str, Any]], dict[str, Any]]


class AgainstError(Exception):
    """The ref cannot be compared with (unknown ref, not a git checkout)."""


@dataclass(frozen=True)
class ResourceRef:
    urn: str
    type: str
    name: str


@dataclass(frozen=True)
class Change:
    resource: ResourceRef
    changes: dict[str, tuple[Any, Any]]
    """Property path -> (before, after)."""


@dataclass
class Comparison:
    ref: str
    commit: str
    stack_file_found: bool
    program_ran: bool
    added: list[ResourceRef] = field(default_factory=list)
    removed: list[ResourceRef] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    cost_before: Range | None = None
    cost_after: Range | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def cost_delta(self) -> Range | None:
        if self.cost_before is None or self.cost_after is None:
            return None
        return Range(
            self.cost_after.low - self.cost_before.low,
            self.cost_after.expected - self.cost_before.expected,
            self.cost_after.high - self.cost_before.high,
        )

    @property
    def short_commit(self) -> str:
        return self.commit[:7]


def _git(root: Path, *args: str, binary: bool = False) -> Any:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False, text=not binary, timeout=120)


def resolve_ref(root: Path, ref: str) -> str:
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if result.returncode != 0 or not result.stdout.strip():
        raise AgainstError(f"--against: {ref!r} is not a known commit (fetch it: CI checkouts need fetch-depth: 0; or check the name)")
    return result.stdout.strip()


def export_tree(root: Path, commit: str, into: Path) -> None:
    """Write the commit's files (not the working tree's) into `into`."""
    result = _git(root, "archive", "--format=tar", commit, binary=True)
    if result.returncode != 0:
        raise AgainstError(f"--against: git archive {commit[:7]} failed: {result.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(into, filter="data")


def run_snapshot(tree: Path, stack: str, stack_path: Path) -> dict[str, Any]:
    """Run `snapshot.py` against the exported tree in a fresh, isolated interpreter."""
    out = tree.parent / "snapshot.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    result = subprocess.run(
        [sys.executable, "-I", str(SNAPSHOT_SCRIPT), "--root", str(tree), "--stack", stack, "--stack-file", str(stack_path), "--out", str(out)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=SNAPSHOT_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0 or not out.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return {"ok": False, "error": "the snapshot process failed: " + " / ".join(tail), "resources": []}
    return json.loads(out.read_text())


def _price(stack: str, tree: Path, stack_path: Path) -> Range:
    stack_file = load_stack_file(stack, tree, stack_path)
    config = validate_flat(stack_file.config, stack=stack, secret_keys=stack_file.secret_keys, root=tree)
    return estimate(config).total


def _stack_file_at(tree: Path, root: Path, stack: str, stack_path: Path | None) -> Path:
    """The stack file to use at the other commit.

    A stack file inside the repository is read as it was at that commit; one outside it (a scratch
    config) is the same file on both sides, so only the program's changes show.
    """
    if stack_path is None:
        return tree / f"Pulumi.{stack}.yaml"
    try:
        return tree / stack_path.resolve().relative_to(root.resolve())
    except ValueError:
        return stack_path.resolve()


def diff_resources(
    before: Iterable[Mapping[str, Any]], after: Iterable[Registration], key_properties: KeyProperties
) -> tuple[list[ResourceRef], list[ResourceRef], list[Change]]:
    # Cloud resources only: components and the stack have no cloud presence of their own, and a
    # change to one shows in its children.
    old = {r["urn"]: r for r in before if r.get("custom", True)}
    new = {r.urn: r for r in after if r.custom}
    added = [ResourceRef(r.urn, r.type, r.name) for urn, r in new.items() if urn not in old]
    removed = [ResourceRef(r["urn"], r["type"], r["name"]) for urn, r in old.items() if urn not in new]
    changed = []
    for urn, current in new.items():
        previous = old.get(urn)
        if previous is None:
            continue
        was = key_properties(current.type, previous.get("inputs") or {})
        now = key_properties(current.type, current.inputs)
        was["protect"], now["protect"] = bool(previous.get("protect")), current.protect
        differences = {
            key: mark_secret_change(key, was.get(key), now.get(key))
            for key in [*now, *(k for k in was if k not in now)]
            if was.get(key) != now.get(key)
        }
        if differences:
            changed.append(Change(ResourceRef(urn, current.type, current.name), differences))
    return added, removed, changed


def compare(
    *,
    root: Path,
    ref: str,
    stack: str,
    stack_path: Path | None,
    current: Iterable[Registration],
    current_cost: Range | None,
    key_properties: KeyProperties,
) -> Comparison:
    """Compare the current run of `stack` with the same stack at `ref`."""
    commit = resolve_ref(root, ref)
    current = list(current)
    workdir = Path(tempfile.mkdtemp(prefix="modelstack-against-"))
    try:
        tree = workdir / "tree"
        tree.mkdir()
        export_tree(root, commit, tree)
        old_stack_path = _stack_file_at(tree, root, stack, stack_path)
        comparison = Comparison(ref=ref, commit=commit, stack_file_found=old_stack_path.exists(), program_ran=False, cost_after=current_cost)
        if not comparison.stack_file_found:
            comparison.added = [ResourceRef(r.urn, r.type, r.name) for r in current if r.custom]
            comparison.cost_before = Range(0.0, 0.0, 0.0)
            comparison.notes.append(f"{old_stack_path.name} does not exist at {comparison.short_commit}: the stack is new")
            return comparison

        snapshot = run_snapshot(tree, stack, old_stack_path)
        # Inputs that hold the checkout's path (an image's build context) name the temporary export
        # on that side; they are the same checkout for the engine, so compare them as such.
        snapshot = json.loads(json.dumps(snapshot).replace(json.dumps(str(tree))[1:-1], json.dumps(str(root))[1:-1]))
        if snapshot.get("ok"):
            comparison.program_ran = True
            comparison.added, comparison.removed, comparison.changed = diff_resources(
                snapshot["resources"], current, key_properties
            )
        else:
            comparison.added = [ResourceRef(r.urn, r.type, r.name) for r in current if r.custom]
            comparison.notes.append(
                f"could not run the program at {comparison.short_commit} ({snapshot.get('error')}); "
                "every current resource is listed as added"
            )
        try:
            comparison.cost_before = _price(stack, tree, old_stack_path)
        except (ConfigError, StackFileError) as exc:
            problems = getattr(exc, "problems", None) or [str(exc)]
            comparison.notes.append(
                f"cost at {comparison.short_commit} unknown: its config does not validate with the current "
                f"code ({problems[0]}{' and more' if len(problems) > 1 else ''})"
            )
        return comparison
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
