"""What the rules need to know about the stack besides its resources: environment and declarations.

Built from the stack config in the form the Pulumi CLI hands a program or a policy pack (full keys,
structured values as JSON strings): the offline plan passes the stack file it read; the pack reads
`PULUMI_CONFIG` and `PULUMI_STACK`, which the CLI sets for policy packs. Only non-secret keys are
read (environment, buckets, services, gcp:project).

Enforcement follows the environment: violations are mandatory (they fail preview and up) in prod
and advisory (warnings) everywhere else, so dev and review stacks show what would block prod.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from components.config_values import decode
from components.naming import physical_name

ENVIRONMENTS = ("dev", "staging", "prod")
MANDATORY_ENVIRONMENTS = frozenset({"prod"})


@dataclass(frozen=True)
class PolicyContext:
    environment: str
    stack: str = ""
    public_buckets: frozenset[str] = frozenset()
    """Physical names of buckets the config declares `public: true`."""
    public_services: frozenset[str] = frozenset()
    """Physical names of Cloud Run services the config declares `public: true`."""
    environment_source: str = "config"
    """Where the environment came from: config, stack name, or default (unknown stack)."""
    pinned_shas: Mapping[str, str] = field(default_factory=dict)
    """Hugging Face model resource name -> the commit the stack's state pins for the configured ref
    (the offline plan with `--state`); empty where no state is known (the pack under the CLI)."""

    @property
    def mandatory(self) -> bool:
        return self.environment in MANDATORY_ENVIRONMENTS

    @property
    def enforcement(self) -> str:
        return "mandatory" if self.mandatory else "advisory"


def environment_from_stack_name(stack: str) -> str | None:
    """`prod`, `production`, `acme/prod`, `prod-eu` and `eu-prod` are prod; `dev`, `pr-12` are not."""
    name = stack.rsplit("/", 1)[-1].lower()
    parts = re.split(r"[-_.]", name)
    if any(p in ("prod", "production") for p in parts):
        return "prod"
    if any(p == "staging" for p in parts):
        return "staging"
    return "dev" if name else None


def context_from_config(config: Mapping[str, Any], stack: str) -> PolicyContext:
    """The rules' context for `stack` from its (flat, CLI-style) config."""
    environment = decode(config.get("modelstack:environment"))
    source = "config"
    if environment not in ENVIRONMENTS:
        guessed = environment_from_stack_name(stack)
        # A pack that cannot tell where it runs enforces: better a blocked preview than a
        # public bucket in production.
        environment, source = (guessed, "stack name") if guessed else ("prod", "default")
    project = str(decode(config.get("gcp:project")) or "")
    buckets = decode(config.get("modelstack:buckets")) or {}
    services = decode(config.get("modelstack:services")) or {}
    public_buckets = frozenset(
        # components.config.physical_bucket_name: an explicit name, else <project>-<stack>-<key>
        str(spec.get("name") or f"{project}-{stack}-{key}")
        for key, spec in (buckets.items() if isinstance(buckets, Mapping) else [])
        if isinstance(spec, Mapping) and spec.get("public") is True
    )
    public_services = frozenset(
        # components.platform: physical_name(key, stack, max_len=49)
        physical_name(key, stack, max_len=49)
        for key, spec in (services.items() if isinstance(services, Mapping) else [])
        if isinstance(spec, Mapping) and spec.get("public") is True
    )
    return PolicyContext(
        environment=str(environment),
        stack=stack,
        public_buckets=public_buckets,
        public_services=public_services,
        environment_source=source,
    )


def context_from_environ(environ: Mapping[str, str]) -> PolicyContext:
    """The pack's context, from the variables the Pulumi CLI sets for policy packs."""
    stack = environ.get("PULUMI_STACK", "")
    try:
        config = json.loads(environ.get("PULUMI_CONFIG") or "{}")
    except ValueError:
        config = {}
    return context_from_config(config if isinstance(config, Mapping) else {}, stack)
