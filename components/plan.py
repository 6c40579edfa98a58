"""The offline plan: what `pulumi up` would create for a stack, without the CLI, a cloud or secrets.

    python -m components.plan --stack dev
    python -m components.plan --stack prod --format markdown --against origin/main

Runs the real program (`__main__.py`) under Pulumi mocks with `Pulumi.<stack>.yaml` and reports:
the resource tree (each resource's type, name and the properties a reviewer looks at), the
monthly cost range (components/cost), the budget gate's verdict (components/budget.py), the policy
pack's results over the registered resources (policy/), and with `--against <git ref>` what
changes compared with the same stack at that commit. Secure values cannot be decrypted here and
print as `[secret]`, as does every value the program marked secret.

`--format text` (default) is for terminals, `markdown` for a pull-request comment (long sections
folded, bounded by `--max-chars`), `json` for machines (see components/review/document.py).

With `--state <file>` (a `pulumi stack export` of the deployed stack) the plan knows what the
stack pinned: it prices auto-sized GPUs by the pinned model's need, checks Runpod disks against the
pinned snapshot and names the sha to pin (components/review/state.py). Warnings the program emits
(`pulumi.log.warn`) are listed and make the status `warning`.

Exit status: 0 ok (warnings, advisories and non-enforced budget overruns only warn); 1 invalid
config or stack file (or a disk too small for the pinned snapshot); 2 usage error (unknown
--against ref, a --state file that is no export); 3 blocked: the expected cost exceeds an enforced
budget, or a mandatory policy is violated. The report is printed in every case.

This entry point is stable: CI workflows and the README call it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from components import budget
from components.config import ConfigError, validate_flat
from components.cost import estimate
from components.offline import (
    REPO_ROOT,
    StackFileError,
    load_stack_file,
    redact,
    run_program,
)
from components.review.against import AgainstError, compare
from components.review.inputs import comparable
from components.review.policies import evaluate_run
from components.review.report import EXIT_BLOCKED, EXIT_INVALID, EXIT_OK, EXIT_USAGE, Plan, PlanRow
from components.review.state import StateError, load_state
from components.review.state import facts as state_facts
from policy.context import context_from_config

__all__ = ["EXIT_BLOCKED", "EXIT_INVALID", "EXIT_OK", "EXIT_USAGE", "Plan", "PlanRow", "build_plan", "main"]

# The inputs a reviewer cares about, per resource type. Paths are dotted into nested inputs.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "gcp:projects/service:Service": ("service",),
    "gcp:storage/bucket:Bucket": (
        "name",
        "location",
        "versioning.enabled",
        "publicAccessPrevention",
        "forceDestroy",
        "lifecycleRules",
        "cors",
    ),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("role", "member"),
    "gcp:secretmanager/secret:Secret": ("secretId",),
    "gcp:secretmanager/secretVersion:SecretVersion": ("secretDataWo", "secretDataWoVersion"),
    "gcp:secretmanager/secretIamMember:SecretIamMember": ("role", "member"),
    "gcp:artifactregistry/repository:Repository": ("repositoryId", "location", "format"),
    "docker:index/image:Image": ("imageName", "build.platform"),
    "gcp:firestore/database:Database": ("name", "locationId", "type", "deleteProtectionState", "deletionPolicy"),
    "gcp:serviceaccount/account:Account": ("accountId",),
    "gcp:projects/iAMMember:IAMMember": ("role", "member"),
    "gcp:cloudrunv2/service:Service": (
        "name",
        "ingress",
        "deletionProtection",
        "template.containers[0].image",
        "template.scaling",
        "template.containers[0].resources.limits",
        "template.containers[0].startupProbe.httpGet.path",
        "template.containers[0].livenessProbe.httpGet.path",
    ),
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": ("role", "member"),
}
# Inputs never worth printing (internal plumbing of dynamic resources).
HIDDEN_INPUTS = frozenset({"__provider"})
# How deep unknown types' nested inputs are flattened into dotted paths (`workers.max`).
FLATTEN_DEPTH = 3


def _lookup(inputs: Any, path: str) -> Any:
    current = inputs
    for part in path.replace("]", "").split("."):
        name, _, index = part.partition("[")
        if not isinstance(current, Mapping) or name not in current:
            return None
        current = current[name]
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
    return current


def _flatten(value: Mapping[str, Any], prefix: str = "", depth: int = 0) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in sorted(value.items()):
        if key in HIDDEN_INPUTS or str(key).startswith("__"):
            continue
        path = f"{prefix}{key}"
        if isinstance(item, Mapping) and depth + 1 < FLATTEN_DEPTH:
            flat.update(_flatten(item, f"{path}.", depth + 1))
        elif item not in (None, "", [], {}):
            flat[path] = item
    return flat


def key_properties(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The reviewer-facing properties of one resource, secrets redacted."""
    shown = redact(inputs)
    paths = KEY_PROPERTIES.get(typ)
    if paths is None:
        # Unknown types (dynamic providers, components added later): every input, nested ones as
        # dotted paths, so a GPU endpoint's `workers.max` shows and diffs.
        return _flatten(shown)
    props = {}
    for path in paths:
        value = _lookup(shown, path)
        if value not in (None, "", [], {}):
            props[path] = value
    return props


def diff_properties(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Every input of a resource, secrets redacted: what `--against` compares (the engine diffs
    them all), with Cloud Run's environment by variable name (components/review/inputs.py)."""
    return comparable(typ, redact(inputs))


def build_plan(
    stack: str,
    root: Path = REPO_ROOT,
    stack_path: Path | None = None,
    against: str | None = None,
    state: Path | None = None,
) -> Plan:
    """Run the program for `stack` and collect the plan (config errors end up in `errors`).

    `state` is a `pulumi stack export` of the deployed stack: what it pinned lets the plan price
    auto-sized GPUs, size Runpod disks and name the sha to pin (components/review/state.py).

    Raises `AgainstError` when `against` names no commit, `StateError` when `state` is no export.
    """
    plan = Plan(stack=stack)
    known = load_state(state) if state is not None else {}
    try:
        stack_file = load_stack_file(stack, root, stack_path)
        with budget.deferred():
            run = run_program(stack, root=root, stack_file=stack_file)
        config = validate_flat(stack_file.config, stack=stack, secret_keys=stack_file.secret_keys, root=root)
    except StackFileError as exc:
        plan.errors.append(str(exc))
        return plan
    except ConfigError as exc:
        plan.errors.extend(exc.problems)
        return plan
    plan.run = run
    plan.warnings = list(run.warnings)
    if run.placeholders:
        plan.notices.append(
            "not in the stack file, shown as [secret] (set each with "
            "`pulumi config set --secret --path <key> <value>` before `pulumi up`): "
            + ", ".join(run.placeholders)
        )
    for depth, registration in run.walk():
        plan.rows.append(
            PlanRow(
                depth=depth,
                type=registration.type,
                name=registration.name,
                protect=registration.protect,
                custom=registration.custom,
                properties=key_properties(registration.type, registration.inputs)
                if registration.custom
                else {},
                urn=registration.urn,
                parent=registration.parent,
            )
        )
    plan.outputs = {k: "[secret]" if v.secret else redact(v.value) for k, v in run.outputs.items()}
    deployed = state_facts(config, known)
    if deployed.problems:
        plan.errors.extend(deployed.problems)  # what `pulumi up` would stop at, now that it is known
    plan.warnings.extend(w for w in deployed.warnings if w not in plan.warnings)
    plan.cost = estimate(config, vram_needs=deployed.vram_needs)
    plan.budget = budget.evaluate(config, plan.cost)
    context = replace(context_from_config(stack_file.config, stack), pinned_shas=deployed.pinned_shas)
    plan.policy = evaluate_run(run, context)
    if against is not None:
        plan.comparison = compare(
            root=root,
            ref=against,
            stack=stack,
            stack_path=stack_path,
            current=run.resources,
            current_cost=plan.cost.total,
            key_properties=diff_properties,
        )
    return plan


def render(plan: Plan, fmt: str, max_chars: int) -> str:
    from components.review import document
    from components.review import render as renderers

    if fmt == "json":
        return document.render_json(plan)
    if fmt == "markdown":
        return renderers.render_markdown(plan, max_chars=max_chars)
    return renderers.render_text(plan)


def render_text(plan: Plan) -> str:
    """The terminal rendering (kept here for callers of the first plan)."""
    return render(plan, "text", 0)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.plan",
        description="Show what a stack would create, cost and break, offline (Pulumi mocks, no cloud, no secrets).",
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--config-file",
        type=Path,
        help="stack config file to use instead of Pulumi.<stack>.yaml (e.g. examples/<system>/...)",
    )
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="output format (default: text)")
    parser.add_argument(
        "--against",
        metavar="REF",
        help="git ref to compare with (e.g. origin/main, HEAD~1): resources added/changed/removed and the cost delta",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="the deployed stack's `pulumi stack export`: prices auto-sized GPUs by the pinned model, sizes Runpod disks, names the sha to pin",
    )
    parser.add_argument(
        "--max-chars",
        type=int,
        default=60_000,
        help="markdown only: longest output, folded sections cut to fit (GitHub comments hold 65,536)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        plan = build_plan(args.stack, REPO_ROOT, args.config_file, args.against, args.state)
    except (AgainstError, StateError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(render(plan, args.format, args.max_chars))
    for reason in plan.blocked_by:
        if reason == "budget" and plan.budget is not None:
            sys.stderr.write(f"error: {plan.budget.message()}\n")
        if reason == "policy" and plan.policy is not None:
            sys.stderr.write(
                f"error: {plan.policy.mandatory_violations} mandatory policy violation(s); see the policy section\n"
            )
    return plan.exit_code


def _close_event_loops() -> None:
    """Close the event loops the Pulumi runtime leaves open (one per thread it ran serialisation
    in), so interpreter exit prints no 'Invalid file descriptor' noise from their finalisers."""
    import asyncio
    import contextlib
    import gc

    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed() and not obj.is_running():
            # Its selector may already be gone; closing is all we want.
            with contextlib.suppress(OSError, ValueError):
                obj.close()


if __name__ == "__main__":
    status = main()
    _close_event_loops()
    sys.exit(status)
