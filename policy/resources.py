"""Where each fact a rule checks lives in each resource type's inputs: the only module that knows.

The rules in `rules.py` ask questions ("what is this endpoint's worker limit?"); this module answers
them per type token, so a provider renaming an input means editing one function here.

The GCP tokens and input names are pulumi-gcp's. The dynamic providers' (Runpod, Modal, Hugging
Face, S3) are being written alongside this pack; their input names below are our best reading of
each vendor's API and are tried in order, camelCase and snake_case, so either spelling works:

- `pulumi-python:dynamic/runpod:Endpoint`: max workers `workers.max` | `workersMax` | `maxWorkers`;
  idle timeout `workers.idleTimeout` | `idleTimeout` | `idleTimeoutSeconds` (Runpod REST v2 nests
  them under `workers`); image `image` | `imageName`; env `env` (map, or list of {key, value}).
- `pulumi-python:dynamic/runpod:Template`: image `image` | `imageName`; env `env`.
- `pulumi-python:dynamic/modal:App`: max workers `maxContainers` | `workers.max`; idle timeout
  `scaledownWindow` | `idleTimeoutSeconds`; image `image` | `imageRef` (only when a string); env
  `env` | `environment`. The same names inside each entry of a `functions` list are checked too.
- `pulumi-python:dynamic/huggingface:Model`: requested revision `revision` | `requestedRevision`.
  GPU endpoints and apps are also checked for `revision` | `modelRevision`, or the worker's
  `MODELSTACK_MODEL_REVISION` env var, when they carry one.
- `pulumi-python:dynamic/s3:Bucket`: name `bucketName` | `name` | `bucket`; versioning `versioning` (bool or
  {enabled}); public `public` | `acl` (public-read...).

Values may be wrapped in `Secret` (the offline plan wraps what the program marked secret). Under
the Pulumi CLI the policy SDK hands rules plain values: it cannot tell a secret input from a
literal, so there only reference syntax (`{{ RUNPOD_SECRET_x }}`, Cloud Run `valueSource`) counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# --- type tokens ---
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_BUCKET_IAM_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
GCS_BUCKET_IAM_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
RUN_IAM_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RUN_IAM_BINDING = "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding"
RUNPOD_ENDPOINT = "pulumi-python:dynamic/runpod:Endpoint"
RUNPOD_TEMPLATE = "pulumi-python:dynamic/runpod:Template"
MODAL_APP = "pulumi-python:dynamic/modal:App"
HF_MODEL = "pulumi-python:dynamic/huggingface:Model"
S3_BUCKET = "pulumi-python:dynamic/s3:Bucket"

GPU_ENDPOINTS = frozenset({RUNPOD_ENDPOINT, MODAL_APP})
DATA_BUCKETS = frozenset({GCS_BUCKET, S3_BUCKET})
BUCKET_GRANTS = frozenset({GCS_BUCKET_IAM_MEMBER, GCS_BUCKET_IAM_BINDING})
SERVICE_GRANTS = frozenset({RUN_IAM_MEMBER, RUN_IAM_BINDING})
IMAGE_HOLDERS = frozenset({RUN_SERVICE, RUNPOD_ENDPOINT, RUNPOD_TEMPLATE, MODAL_APP})
ENV_HOLDERS = frozenset({RUN_SERVICE, RUNPOD_ENDPOINT, RUNPOD_TEMPLATE, MODAL_APP})
REVISION_HOLDERS = frozenset({HF_MODEL, RUNPOD_ENDPOINT, MODAL_APP})

PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
MODEL_REVISION_ENV = "MODELSTACK_MODEL_REVISION"


@dataclass(frozen=True)
class Secret:
    """A value the program marked secret (the offline plan's view; the CLI's pack never sees one)."""

    value: Any


@dataclass(frozen=True)
class Resource:
    """What a rule sees of one resource, from the offline plan or from the policy SDK."""

    type: str
    name: str
    urn: str
    inputs: Mapping[str, Any]
    protect: bool = False


def is_secret(value: Any) -> bool:
    return isinstance(value, Secret)


UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""How the engine spells a value not known until deploy, when it is not an `Unknown` object."""


def is_unknown(value: Any) -> bool:
    """A value only known at deploy time (a preview): rules cannot judge it, so they skip it."""
    value = reveal(value)
    return type(value).__name__ == "Unknown" or value == UNKNOWN_SENTINEL


def reveal(value: Any) -> Any:
    return value.value if isinstance(value, Secret) else value


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def lookup(inputs: Any, path: str) -> Any:
    """A dotted path into nested inputs (secrets looked through), or None."""
    current = reveal(inputs)
    for part in path.split("."):
        if not isinstance(current, Mapping) or part not in current:
            return None
        current = reveal(current[part])
    return current


def first(inputs: Any, *paths: str) -> Any:
    """The value at the first of `paths` present, trying each also in snake_case."""
    for path in paths:
        for spelling in (path, _snake(path)):
            value = lookup(inputs, spelling)
            if value is not None:
                return value
    return None


def _snake(path: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", path).lower()


def _number(value: Any) -> float | None:
    value = reveal(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def config_key(inputs: Mapping[str, Any]) -> str | None:
    """The stack-config key a GCP resource was made for, from the labels modelstack sets."""
    component = lookup(inputs, "labels.modelstack-component")
    if isinstance(component, str) and "-" in component:
        return component.split("-", 1)[1]
    return None


# --------------------------------------------------------------------------------------------
# GPU endpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EndpointLimits:
    label: str
    """Which part of the resource (the resource itself, or `functions[i]`)."""
    max_workers: float | None
    idle_timeout_seconds: float | None


def _limits(scope: Any, typ: str, label: str) -> EndpointLimits:
    if typ == RUNPOD_ENDPOINT:
        max_workers = first(scope, "workers.max", "workersMax", "maxWorkers")
        idle = first(scope, "workers.idleTimeout", "idleTimeout", "idleTimeoutSeconds")
    else:
        max_workers = first(scope, "maxContainers", "workers.max", "maxWorkers")
        idle = first(scope, "scaledownWindow", "idleTimeoutSeconds", "idleTimeout", "containerIdleTimeout")
    return EndpointLimits(label, _number(max_workers), _number(idle))


def gpu_endpoint_limits(typ: str, inputs: Mapping[str, Any]) -> list[EndpointLimits] | None:
    """Worker limit and idle timeout of each scaling unit of a GPU endpoint; None if not one."""
    if typ not in GPU_ENDPOINTS:
        return None
    functions = first(inputs, "functions")
    if typ == MODAL_APP and _is_list(functions) and functions:
        return [_limits(f, typ, f"functions[{i}]") for i, f in enumerate(functions)]
    return [_limits(inputs, typ, "")]


# --------------------------------------------------------------------------------------------
# images, env, model revisions
# --------------------------------------------------------------------------------------------


def container_images(typ: str, inputs: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(input path, image reference) for every container image a resource runs."""
    if typ == RUN_SERVICE:
        containers = lookup(inputs, "template.containers")
        if not _is_list(containers):
            return []
        return [(f"template.containers[{i}].image", lookup(c, "image")) for i, c in enumerate(containers)]
    if typ in (RUNPOD_ENDPOINT, RUNPOD_TEMPLATE):
        for path in ("image", "imageName"):
            value = first(inputs, path)
            if value is not None:
                return [(path, value)]
        return []
    if typ == MODAL_APP:
        for path in ("image", "imageRef"):
            value = first(inputs, path)
            # Modal can build an image from a Python definition; only a reference string is pinnable.
            if isinstance(value, str):
                return [(path, value)]
    return []


@dataclass(frozen=True)
class EnvVar:
    path: str
    name: str
    value: Any
    """The literal value (possibly `Secret`), or None when it comes from a reference such as
    Cloud Run's `valueSource.secretKeyRef`."""


def _env_map(env: Any, prefix: str) -> Iterator[EnvVar]:
    env = reveal(env)
    if isinstance(env, Mapping):
        for name, value in env.items():
            yield EnvVar(f"{prefix}.{name}", str(name), value)
    elif _is_list(env):
        for i, entry in enumerate(env):
            entry = reveal(entry)
            if isinstance(entry, Mapping):
                name = entry.get("name", entry.get("key"))
                yield EnvVar(f"{prefix}[{i}]", str(reveal(name)), entry.get("value"))


def env_vars(typ: str, inputs: Mapping[str, Any]) -> list[EnvVar]:
    """Every environment variable a resource sets, with its literal value if it has one."""
    if typ == RUN_SERVICE:
        found: list[EnvVar] = []
        containers = lookup(inputs, "template.containers")
        for i, container in enumerate(containers if _is_list(containers) else []):
            envs = lookup(container, "envs")
            found.extend(_env_map(envs, f"template.containers[{i}].envs"))
        return found
    if typ in (RUNPOD_ENDPOINT, RUNPOD_TEMPLATE):
        return list(_env_map(first(inputs, "env"), "env"))
    if typ == MODAL_APP:
        found = []
        for path in ("env", "environment"):
            found.extend(_env_map(first(inputs, path), path))
        return found
    return []


def model_revisions(typ: str, inputs: Mapping[str, Any]) -> list[tuple[str, Any]] | None:
    """(input path, revision) a resource pins a model to; None when the type carries no model.

    A Hugging Face model always answers (an empty revision is reported as such); endpoints only
    when they carry a revision at all.
    """
    if typ == HF_MODEL:
        for path in ("revision", "requestedRevision"):
            value = first(inputs, path)
            if value is not None:
                return [(path, value)]
        return [("revision", None)]
    if typ in (RUNPOD_ENDPOINT, MODAL_APP):
        found = [(path, first(inputs, path)) for path in ("revision", "modelRevision")]
        found = [(p, v) for p, v in found if v is not None]
        for var in env_vars(typ, inputs):
            if var.name == MODEL_REVISION_ENV:
                found.append((var.path, var.value))
        return found
    return None


# --------------------------------------------------------------------------------------------
# buckets and public grants
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketFacts:
    name: str | None
    versioned: bool
    public: bool
    """Readable by anyone through the bucket's own settings (not counting IAM grants)."""


def data_bucket(typ: str, inputs: Mapping[str, Any]) -> BucketFacts | None:
    if typ == GCS_BUCKET:
        prevention = lookup(inputs, "publicAccessPrevention")
        return BucketFacts(
            name=lookup(inputs, "name"),
            versioned=lookup(inputs, "versioning.enabled") is True,
            public=prevention != "enforced",
        )
    if typ == S3_BUCKET:
        versioning = first(inputs, "versioning")
        if isinstance(versioning, Mapping):
            versioning = reveal(versioning.get("enabled"))
        acl = first(inputs, "acl")
        public = first(inputs, "public") is True or (isinstance(acl, str) and acl.startswith("public"))
        return BucketFacts(
            name=first(inputs, "bucketName", "name", "bucket"), versioned=versioning is True, public=public
        )
    return None


def public_grant(typ: str, inputs: Mapping[str, Any]) -> tuple[str, Any, str] | None:
    """(what, target name, member) when an IAM grant opens a bucket or service to everyone."""
    if typ in BUCKET_GRANTS or typ in SERVICE_GRANTS:
        members = [lookup(inputs, "member")]
        listed = lookup(inputs, "members")
        if _is_list(listed):
            members.extend(reveal(m) for m in listed)
        public = [m for m in members if m in PUBLIC_MEMBERS]
        if not public:
            return None
        if typ in BUCKET_GRANTS:
            return ("bucket", lookup(inputs, "bucket"), public[0])
        return ("service", lookup(inputs, "name"), public[0])
    return None
