"""`${...}` references in environment values: how a service or worker learns about the stack.

Seed systems configure their own code through environment variables with their own names
(`HF_MODEL_REPO`, `R2_BUCKET_NAME`, `CDN_DOMAIN`...). Rather than a special case per system, env
values may refer to what the stack creates:

    env:
      HF_MODEL_REPO: ${models.hippo.repo}
      HF_MODEL_REVISION: ${models.hippo.sha}
      R2_BUCKET_NAME: ${buckets.results.name}
      CDN_DOMAIN: ${buckets.results.publicUrl}
      API_URL: ${services.api.url}/v1

| reference | value |
| --- | --- |
| `${stack}`, `${project}`, `${region}` | the stack name, GCP project and region |
| `${buckets.<key>.name}` | physical bucket name (GCS or S3-compatible) |
| `${buckets.<key>.endpoint}`, `.region`, `.publicUrl` | S3-compatible buckets: endpoint URL, region, public/CDN URL |
| `${models.<key>.repo}` | the model's Hub repo id |
| `${models.<key>.sha}` | the commit sha the model is pinned to |
| `${models.<key>.manifest}` | the mirror's manifest URI (models with `mirror:`) |
| `${endpoints.<key>.url}`, `.id` | a model's GPU endpoint (services only) |
| `${services.<key>.url}` | a Cloud Run service's URL |
| `${templates.<key>.id}`, `.name`, `.image` | a Runpod template (`modelstack:templates`): its id, name and image |

Workers may not refer to GPU endpoints (endpoints are created in one pass and would wait on each
other); a service URL is known to workers before the service exists, because Cloud Run URLs are
deterministic. `$${` writes a literal `${`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Literal

import pulumi

if TYPE_CHECKING:
    from components.config.stack import ModelstackConfig

REFERENCE = re.compile(r"(?<!\$)\$\{([^}]*)\}")
Owner = Literal["service", "endpoint"]

_SCALARS = {"stack", "project", "region"}
_FIELDS = {
    "buckets": {"name", "endpoint", "region", "publicUrl"},
    "models": {"repo", "sha", "manifest"},
    "endpoints": {"url", "id"},
    "services": {"url"},
    "templates": {"id", "name", "image"},
}


def references(value: str) -> list[str]:
    return REFERENCE.findall(value)


def problem(ref: str, cfg: ModelstackConfig, owner: Owner) -> str | None:
    """Why `${ref}` is not valid in an env value of `owner`, or None when it is."""
    if ref in _SCALARS:
        return None
    parts = ref.split(".")
    if len(parts) != 3 or parts[0] not in _FIELDS:
        return (
            f"${{{ref}}} is not a reference modelstack knows; use ${{stack}}, ${{project}}, ${{region}}, "
            "${buckets.<key>.name}, ${models.<key>.sha}, ${endpoints.<key>.url}, ${services.<key>.url} "
            "or ${templates.<key>.id}"
        )
    section, key, field = parts
    if field not in _FIELDS[section]:
        return f"${{{ref}}}: {section} have no field {field!r} (fields: {', '.join(sorted(_FIELDS[section]))})"
    if section == "buckets":
        bucket = cfg.buckets.get(key)
        if bucket is None:
            return f"${{{ref}}}: no bucket {key!r} in modelstack:buckets"
        if field in ("endpoint", "region", "publicUrl") and bucket.kind != "s3":
            return f"${{{ref}}}: {field} is only defined for kind: s3 buckets"
        if field == "publicUrl" and getattr(bucket, "public_url", None) is None:
            return f"${{{ref}}}: bucket {key!r} has no publicUrl; set modelstack:buckets.{key}.publicUrl"
    if section in ("models", "endpoints"):
        model = cfg.models.get(key)
        if model is None:
            return f"${{{ref}}}: no model {key!r} in modelstack:models"
        if section == "models" and field == "manifest" and model.mirror is None:
            return f"${{{ref}}}: model {key!r} has no mirror:, so it has no manifest"
        if section == "endpoints":
            if owner == "endpoint":
                return f"${{{ref}}}: workers cannot refer to GPU endpoints; route through a service instead"
            if model.endpoint is None:
                return f"${{{ref}}}: model {key!r} has no endpoint"
    if section == "services" and key not in cfg.services:
        return f"${{{ref}}}: no service {key!r} in modelstack:services"
    if section == "templates" and key not in cfg.templates:
        return f"${{{ref}}}: no template {key!r} in modelstack:templates"
    return None


def problems_in(env: Mapping[str, str], cfg: ModelstackConfig, owner: Owner, path: str) -> list[str]:
    found = []
    for var, value in env.items():
        for ref in references(value):
            reason = problem(ref, cfg, owner)
            if reason:
                found.append(f"{path}.{var}: {reason}")
    return found


def resolve(value: str, lookup: Callable[[str], pulumi.Input[str]]) -> pulumi.Input[str]:
    """The env value with every reference replaced by `lookup(ref)`; plain strings stay strings."""
    if not REFERENCE.search(value):
        return value.replace("$${", "${")
    pieces: list[pulumi.Input[str]] = []
    position = 0
    for match in REFERENCE.finditer(value):
        pieces.append(value[position : match.start()].replace("$${", "${"))
        pieces.append(lookup(match.group(1)))
        position = match.end()
    pieces.append(value[position:].replace("$${", "${"))
    return pulumi.Output.concat(*pieces)
