"""The policy rules, as plain functions: `(Resource, PolicyContext) -> list of violation messages`.

The same functions run in two places: the Pulumi policy pack (`policy/__main__.py`, during
`pulumi preview` and `pulumi up --policy-pack policy`) and the offline plan, which runs them over
the resources the program registers under mocks. Each message names the resource, what is wrong
and the config change that fixes it. Field access goes through `resources.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from policy import resources as r
from policy.context import PolicyContext
from policy.resources import Resource

Check = Callable[[Resource, PolicyContext], list[str]]

_SHA = re.compile(r"^[0-9a-f]{40}$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# Names that hold credentials: KEY, TOKEN, SECRET, PASSWORD... as a word of the variable name.
_SECRET_NAME = re.compile(
    r"(^|_)(API_?KEY|KEY|KEYS|TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASSWD|PWD|CREDENTIALS?)(_|$)",
    re.IGNORECASE,
)
_RUNPOD_SECRET_REF = re.compile(r"^\{\{\s*RUNPOD_SECRET_[A-Za-z0-9_.-]+\s*\}\}$")
# Variables whose names contain KEY but hold no credential: the model's key in the stack config.
NOT_CREDENTIALS = frozenset({"MODELSTACK_MODEL_KEY"})


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    types: frozenset[str]
    """Resource types the rule reads; others are not applicable."""
    check: Check


def _key_hint(resource: Resource, section: str) -> str:
    key = r.config_key(resource.inputs)
    return f"modelstack:{section}.{key}" if key else f"the {section[:-1]}'s entry in modelstack:{section}"


# --------------------------------------------------------------------------------------------


def data_buckets_protected_and_versioned(resource: Resource, context: PolicyContext) -> list[str]:
    facts = r.data_bucket(resource.type, resource.inputs)
    if facts is None:
        return []
    where = _key_hint(resource, "buckets")
    problems = []
    if not resource.protect:
        problems.append(
            f"bucket {facts.name or resource.name} is not protected, so `pulumi destroy` or a rename "
            "would delete its data; modelstack protects every data bucket when "
            "modelstack:environment is prod"
        )
    if not facts.versioned:
        problems.append(
            f"bucket {facts.name or resource.name} keeps no previous object versions, so an overwrite "
            f"or delete cannot be undone; set {where}.versioning: true"
        )
    return problems


def no_public_buckets_unless_declared(resource: Resource, context: PolicyContext) -> list[str]:
    facts = r.data_bucket(resource.type, resource.inputs)
    if facts is not None:
        if facts.public and facts.name not in context.public_buckets:
            return [
                f"bucket {facts.name or resource.name} does not enforce public access prevention but "
                f"is not declared public; set {_key_hint(resource, 'buckets')}.public: true if it "
                "serves public assets, otherwise keep it private"
            ]
        return []
    grant = r.public_grant(resource.type, resource.inputs)
    if grant is not None and grant[0] == "bucket" and grant[1] not in context.public_buckets:
        return [
            f"{resource.name} grants {grant[2]} access to bucket {grant[1]}, which the config does "
            "not declare public; declare the bucket public: true or remove the grant"
        ]
    return []


def cloud_run_private_unless_declared(resource: Resource, context: PolicyContext) -> list[str]:
    grant = r.public_grant(resource.type, resource.inputs)
    if grant is None or grant[0] != "service" or grant[1] in context.public_services:
        return []
    return [
        f"{resource.name} lets {grant[2]} invoke Cloud Run service {grant[1]}, which the config does "
        "not declare public; set modelstack:services.<key>.public: true if it is meant to be "
        "reachable without IAM, or remove the grant"
    ]


def gpu_endpoints_bounded(resource: Resource, context: PolicyContext) -> list[str]:
    limits = r.gpu_endpoint_limits(resource.type, resource.inputs)
    problems = []
    for unit in limits or []:
        what = f"GPU endpoint {resource.name}{' ' + unit.label if unit.label else ''}"
        if unit.max_workers is None or unit.max_workers < 1:
            problems.append(
                f"{what} has no maximum worker count, so a traffic spike can start GPUs without "
                "limit; set models.<key>.endpoint.workers.max"
            )
        if unit.idle_timeout_seconds is None or unit.idle_timeout_seconds <= 0:
            problems.append(
                f"{what} has no idle timeout, so idle GPUs may never scale down; set "
                "models.<key>.endpoint.idleTimeoutSeconds"
            )
    return problems


def images_pinned_by_digest(resource: Resource, context: PolicyContext) -> list[str]:
    problems = []
    for path, image in r.container_images(resource.type, resource.inputs):
        image = r.reveal(image)
        if not isinstance(image, str) or not _DIGEST.search(image):
            problems.append(
                f"{resource.name} runs image {image!r} ({path}), which is not pinned by digest, so "
                "what runs can change without a deploy and a rollback cannot restore it; reference "
                "it as registry/name@sha256:<digest> or build it from its directory (images/<name>)"
            )
    return problems


def looks_secret(name: str) -> bool:
    return name not in NOT_CREDENTIALS and bool(_SECRET_NAME.search(name))


def secrets_by_reference(resource: Resource, context: PolicyContext) -> list[str]:
    problems = []
    for var in r.env_vars(resource.type, resource.inputs):
        if var.value is None or r.is_secret(var.value) or r.is_unknown(var.value) or not looks_secret(var.name):
            continue  # a reference, a secret value, only known at deploy, or not a credential
        value = var.value
        if isinstance(value, str) and (value == "" or _RUNPOD_SECRET_REF.match(value)):
            continue
        problems.append(
            f"{resource.name} sets {var.name} ({var.path}) to a plaintext value; credentials must come "
            "from secret references: put the value in modelstack:secrets (pulumi config set --secret) "
            "and map it with secretEnv, or use a {{ RUNPOD_SECRET_<name> }} reference on Runpod"
        )
    return problems


def models_pinned_to_a_commit(resource: Resource, context: PolicyContext) -> list[str]:
    revisions = r.model_revisions(resource.type, resource.inputs)
    problems = []
    for path, revision in revisions or []:
        revision = r.reveal(revision)
        if r.is_unknown(revision) or (isinstance(revision, str) and _SHA.match(revision)):
            continue  # pinned, or the pinned model's sha, which a preview only knows at deploy
        shown = "no revision" if revision in (None, "") else f"revision {revision!r}"
        problems.append(
            f"{resource.name} loads {shown} ({path}), not a 40-character commit sha, so the model "
            f"can change under a running deploy; {_pin_hint(resource, context, revision)}"
        )
    return problems


def _pin_hint(resource: Resource, context: PolicyContext, revision: object) -> str:
    """The sha to pin when the stack's state knows it; otherwise the command that finds it."""
    repo = r.reveal(resource.inputs.get("repoId"))
    repo = repo if isinstance(repo, str) and repo and not r.is_unknown(repo) else "org/name"
    known = context.pinned_shas.get(resource.name)
    if known:
        return f"pin it with source: hf://{repo}@{known} (the commit this stack's state pins for it)"
    ref = revision if isinstance(revision, str) and revision else "main"
    return (
        f"pin it with source: hf://{repo}@<commit sha>; the commit {ref!r} points to now is printed by "
        f"python -c \"from huggingface_hub import model_info; print(model_info('{repo}', revision='{ref}').sha)\" "
        "(a deployed stack's pin: pulumi stack output models)"
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "data-buckets-protected-and-versioned",
        "Data buckets are protected from deletion and keep object versions.",
        r.DATA_BUCKETS,
        data_buckets_protected_and_versioned,
    ),
    Rule(
        "no-public-buckets-unless-declared",
        "No bucket is readable by everyone unless the config declares it public.",
        r.DATA_BUCKETS | r.BUCKET_GRANTS,
        no_public_buckets_unless_declared,
    ),
    Rule(
        "cloud-run-private-unless-declared",
        "Cloud Run services require IAM to invoke unless the config declares them public.",
        r.SERVICE_GRANTS,
        cloud_run_private_unless_declared,
    ),
    Rule(
        "gpu-endpoints-bounded",
        "Every GPU endpoint has a maximum worker count and an idle timeout.",
        r.GPU_ENDPOINTS,
        gpu_endpoints_bounded,
    ),
    Rule(
        "images-pinned-by-digest",
        "Container images are referenced by digest, never by a mutable tag.",
        r.IMAGE_HOLDERS,
        images_pinned_by_digest,
    ),
    Rule(
        "secrets-by-reference",
        "Credentials reach containers only through secret references, never as plaintext env values.",
        r.ENV_HOLDERS,
        secrets_by_reference,
    ),
    Rule(
        "models-pinned-to-a-commit",
        "Models are pinned to a commit sha (mandatory in prod).",
        r.REVISION_HOLDERS,
        models_pinned_to_a_commit,
    ),
)


def rule_named(name: str) -> Rule:
    for rule in RULES:
        if rule.name == name:
            return rule
    raise KeyError(name)
