"""Reading the Pulumi config and validating all of it: the entry points the program and the plan call."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.config.base import (
    GCP_PROJECT_ID,
    GCP_REGIONS,
    NAMESPACE,
    SECRET_TOP_LEVEL_KEYS,
    TOP_LEVEL_KEYS,
)
from components.config.contracts import runtime_problems
from components.config.crossrefs import cross_reference_problems
from components.config.deployments import deployment_problems
from components.config.errors import ConfigError, problems_from
from components.config.provider_keys import provider_key_problems
from components.config.stack import ModelstackConfig, StackConfig, uses_gcp
from components.config_values import decode


def _collect_secret_leaks(
    raw: Mapping[str, Any], secret_keys: set[str]
) -> list[str]:
    """Secret-bearing keys that hold values but were not set with --secret."""
    problems = []
    for key in SECRET_TOP_LEVEL_KEYS:
        full = f"{NAMESPACE}{key}"
        value = raw.get(key)
        if value and full not in secret_keys:
            for leaf in _leaf_paths(value, key, secrets_only=True):
                problems.append(
                    f"{NAMESPACE}{leaf}: is stored in plaintext; "
                    f"set it with: pulumi config set --secret --path {leaf} <value>"
                )
    return problems


def _leaf_paths(value: Any, prefix: str, secrets_only: bool) -> list[str]:
    if isinstance(value, Mapping):
        out: list[str] = []
        for k, v in value.items():
            if secrets_only and k == "version":
                continue  # a secret's version number is not itself secret
            out.extend(_leaf_paths(v, f"{prefix}.{k}", secrets_only))
        return out
    return [prefix]


def validate(
    raw: Mapping[str, Any],
    *,
    project: str | None,
    region: str | None,
    stack: str,
    secret_keys: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> StackConfig:
    """Validate a stack's config. `raw` maps keys under `modelstack:` (without the prefix) to values.

    Raises ConfigError listing every problem found, not just the first.
    """
    environ = os.environ if environ is None else environ
    root = root or Path.cwd()
    secret_keys = set(secret_keys)
    problems: list[str] = []

    known = {k: v for k, v in raw.items() if k in TOP_LEVEL_KEYS}
    parsed: ModelstackConfig | None = None
    parse_problems: list[str] = []
    try:
        parsed = ModelstackConfig.model_validate(known)
    except ValidationError as exc:
        parse_problems = problems_from(exc, NAMESPACE)
    # A stack with nothing on Google Cloud (Modal only) needs no project; when the config does not
    # parse, assume it does so the GCP settings are still checked.
    gcp_needed = parsed is None or uses_gcp(parsed)
    if not project:
        if gcp_needed:
            problems.append("gcp:project: is required; set it with: pulumi config set gcp:project <id>")
    elif not GCP_PROJECT_ID.match(project):
        problems.append(
            f"gcp:project: {project!r} is not a GCP project id (6-30 lowercase letters, digits "
            "and hyphens, starting with a letter)"
        )
    if not region:
        if gcp_needed:
            problems.append("gcp:region: is required; set it with: pulumi config set gcp:region us-central1")
    elif region not in GCP_REGIONS:
        problems.append(
            f"gcp:region: unknown region {region!r}; use a Cloud Run region such as us-central1 "
            "or europe-west1"
        )

    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    for key in unknown:
        problems.append(
            f"{NAMESPACE}{key}: unknown key; remove it or fix its spelling "
            f"(allowed: {', '.join(TOP_LEVEL_KEYS)})"
        )
    problems.extend(_collect_secret_leaks(known, secret_keys))
    problems.extend(parse_problems)

    if parsed is not None:
        valid_project = project if project and GCP_PROJECT_ID.match(project) else ""
        problems.extend(cross_reference_problems(parsed, valid_project, stack, environ, root))
        problems.extend(provider_key_problems(parsed))
        problems.extend(runtime_problems(parsed, root))
        problems.extend(deployment_problems(parsed, stack, environ, root))

    if problems:
        raise ConfigError(problems)
    assert parsed is not None
    return StackConfig(project=project or "", region=region or "", stack=stack, modelstack=parsed, root=root)


def read_pulumi_config() -> tuple[dict[str, Any], str | None, str | None, set[str]]:
    """The running program's config: modelstack keys (decoded), gcp project and region, secret keys."""
    from pulumi.runtime import config as runtime_config

    values: dict[str, Any] = dict(runtime_config.CONFIG.get())
    raw = {
        key[len(NAMESPACE) :]: decode(value)
        for key, value in values.items()
        if key.startswith(NAMESPACE)
    }
    secret_keys = {k for k in values if runtime_config.is_config_secret(k)}
    project = runtime_config.get_config("gcp:project")
    region = runtime_config.get_config("gcp:region")
    return raw, project, region, secret_keys


def load_stack_config(root: Path | None = None) -> StackConfig:
    """Read and validate the running stack's config; call before registering any resource."""
    import pulumi

    raw, project, region, secret_keys = read_pulumi_config()
    return validate(
        raw,
        project=project,
        region=region,
        stack=pulumi.get_stack(),
        secret_keys=secret_keys,
        root=root,
    )


def validate_flat(
    values: Mapping[str, Any],
    *,
    stack: str,
    secret_keys: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> StackConfig:
    """Validate config given as the CLI hands it to a program: full keys to (JSON) string values.

    The offline plan uses this to price a stack file without running the program, including a
    stack file exported from another commit.
    """
    raw = {key[len(NAMESPACE) :]: decode(value) for key, value in values.items() if key.startswith(NAMESPACE)}
    project = values.get("gcp:project")
    region = values.get("gcp:region")
    return validate(
        raw,
        project=str(project) if project is not None else None,
        region=str(region) if region is not None else None,
        stack=stack,
        secret_keys=secret_keys,
        environ=environ,
        root=root,
    )
