"""The offline plan: what `pulumi up` would create for a stack, without the CLI, a cloud or secrets.

    python -m components.plan --stack dev

Runs the real program (`__main__.py`) under Pulumi mocks with `Pulumi.<stack>.yaml` and prints the
resource tree: each resource's type, name and the properties a reviewer looks at. Secure values
cannot be decrypted here and print as `[secret]`, as does every value the program marked secret.
An invalid config prints one line per problem and exits 1.

This entry point is stable: CI workflows and the README call it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.config import ConfigError
from components.offline import REPO_ROOT, ProgramRun, StackFileError, redact, run_program

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

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


@dataclass
class PlanRow:
    depth: int
    type: str
    name: str
    protect: bool
    custom: bool
    properties: dict[str, Any]


@dataclass
class Plan:
    stack: str
    rows: list[PlanRow] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run: ProgramRun | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


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


def key_properties(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The reviewer-facing properties of one resource, secrets redacted."""
    shown = redact(inputs)
    paths = KEY_PROPERTIES.get(typ)
    if paths is None:
        # Unknown types (dynamic providers, components added later): top-level scalars and lists.
        return {
            k: v
            for k, v in sorted(shown.items())
            if k not in HIDDEN_INPUTS and not isinstance(v, Mapping) and v not in (None, "", [])
        }
    props = {}
    for path in paths:
        value = _lookup(shown, path)
        if value not in (None, "", [], {}):
            props[path] = value
    return props


def build_plan(stack: str, root: Path = REPO_ROOT, stack_path: Path | None = None) -> Plan:
    """Run the program for `stack` and collect the plan (config errors end up in `errors`)."""
    plan = Plan(stack=stack)
    try:
        from components.offline import load_stack_file

        stack_file = load_stack_file(stack, root, stack_path)
        run = run_program(stack, root=root, stack_file=stack_file)
    except StackFileError as exc:
        plan.errors.append(str(exc))
        return plan
    except ConfigError as exc:
        plan.errors.extend(exc.problems)
        return plan
    plan.run = run
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
            )
        )
    plan.outputs = {k: "[secret]" if v.secret else redact(v.value) for k, v in run.outputs.items()}
    return plan


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Mapping):
        # Sorted: the wire format does not keep key order, and a plan must print the same twice.
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def render_text(plan: Plan) -> str:
    lines = [f"modelstack plan for stack '{plan.stack}'"]
    if plan.errors:
        lines.append(f"config is invalid ({len(plan.errors)} problem{'s' if len(plan.errors) != 1 else ''}):")
        lines.extend(f"  - {e}" for e in plan.errors)
        return "\n".join(lines) + "\n"
    custom = sum(1 for r in plan.rows if r.custom)
    components = len(plan.rows) - custom
    lines.append(f"{custom} cloud resources in {components} components would be created:")
    lines.append("")
    for row in plan.rows:
        indent = "  " * row.depth
        flag = " [protected]" if row.protect else ""
        lines.append(f"{indent}+ {row.type}  {row.name}{flag}")
        for key, value in row.properties.items():
            lines.append(f"{indent}      {key}: {_format_value(value)}")
    if plan.outputs:
        lines.append("")
        lines.append("outputs:")
        for key, value in plan.outputs.items():
            lines.append(f"  {key}: {_format_value(value)}")
    for notice in plan.notices:
        lines.append("")
        lines.append(f"note: {notice}")
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.plan",
        description="Show what a stack would create, offline (Pulumi mocks, no cloud, no secrets).",
    )
    parser.add_argument("--stack", required=True, help="stack name: reads Pulumi.<stack>.yaml")
    parser.add_argument(
        "--config-file",
        type=Path,
        help="stack config file to use instead of Pulumi.<stack>.yaml (e.g. examples/<system>/...)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = build_plan(args.stack, REPO_ROOT, args.config_file)
    sys.stdout.write(render_text(plan))
    return EXIT_OK if plan.ok else EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
