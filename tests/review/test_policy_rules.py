"""Every policy rule passes a compliant resource and fails a non-compliant one, with a clear message.

Resources are synthetic registrations shaped like what the program (GCP) or the dynamic providers
(Runpod, Modal, Hugging Face, S3; input names as assumed in policy/resources.py) register.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from pulumi.runtime import rpc

from components.offline import Registration
from components.review.policies import as_resource, evaluate
from policy.context import PolicyContext
from policy.resources import (
    GCS_BUCKET,
    GCS_BUCKET_IAM_MEMBER,
    HF_MODEL,
    MODAL_APP,
    RUN_IAM_MEMBER,
    RUN_SERVICE,
    RUNPOD_ENDPOINT,
    RUNPOD_TEMPLATE,
    S3_BUCKET,
)
from policy.rules import RULES, rule_named

PROD = PolicyContext(environment="prod", stack="prod", public_buckets=frozenset({"acme-assets"}), public_services=frozenset({"gateway-prod"}))
DEV = PolicyContext(environment="dev", stack="dev")
DIGEST = "us-central1-docker.pkg.dev/p/r/gateway@sha256:" + "a" * 64
SHA = "741f7c3ce8b383c54771c7003378a50191e9efe9"


def secret(value):
    """How the SDK serialises a secret input, as the mock monitor records it."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


def resource(typ: str, inputs: dict, name: str = "res", protect: bool = False):
    return as_resource(
        Registration(urn=f"urn:pulumi:prod::modelstack::{typ}::{name}", type=typ, name=name, parent="", custom=True, inputs=inputs, protect=protect)
    )


def violations(rule_name: str, res, context=PROD) -> list[str]:
    return rule_named(rule_name).check(res, context)


def gcs_bucket(**overrides):
    inputs = {
        "name": "acme-prod-data",
        "publicAccessPrevention": "enforced",
        "versioning": {"enabled": True},
        "labels": {"modelstack-component": "bucket-data"},
    }
    inputs.update(overrides)
    return inputs


def run_service(image=DIGEST, envs=None):
    return {"name": "gateway-prod", "template": {"containers": [{"image": image, "envs": envs or []}]}}


# ---------------------------------------------------------------------------------------------
# data-buckets-protected-and-versioned


def test_protected_versioned_bucket_passes():
    assert violations("data-buckets-protected-and-versioned", resource(GCS_BUCKET, gcs_bucket(), protect=True)) == []
    s3 = resource(S3_BUCKET, {"name": "results", "versioning": {"enabled": True}}, protect=True)
    assert violations("data-buckets-protected-and-versioned", s3) == []


def test_unprotected_unversioned_bucket_fails_naming_the_fix():
    found = violations("data-buckets-protected-and-versioned", resource(GCS_BUCKET, gcs_bucket(versioning={"enabled": False})))
    assert found == [
        "bucket acme-prod-data is not protected, so `pulumi destroy` or a rename would delete its data; "
        "modelstack protects every data bucket when modelstack:environment is prod",
        "bucket acme-prod-data keeps no previous object versions, so an overwrite or delete cannot be undone; "
        "set modelstack:buckets.data.versioning: true",
    ]
    s3 = resource(S3_BUCKET, {"bucket": "results", "versioning": False}, protect=True)
    assert len(violations("data-buckets-protected-and-versioned", s3)) == 1


# ---------------------------------------------------------------------------------------------
# no-public-buckets-unless-declared


def test_private_or_declared_public_buckets_pass():
    assert violations("no-public-buckets-unless-declared", resource(GCS_BUCKET, gcs_bucket())) == []
    declared = resource(GCS_BUCKET, gcs_bucket(name="acme-assets", publicAccessPrevention="inherited"))
    assert violations("no-public-buckets-unless-declared", declared) == []
    grant = resource(GCS_BUCKET_IAM_MEMBER, {"bucket": "acme-assets", "member": "allUsers", "role": "roles/storage.objectViewer"})
    assert violations("no-public-buckets-unless-declared", grant) == []
    private_grant = resource(GCS_BUCKET_IAM_MEMBER, {"bucket": "acme-prod-data", "member": "serviceAccount:x@y", "role": "r"})
    assert violations("no-public-buckets-unless-declared", private_grant) == []


def test_undeclared_public_bucket_fails():
    opened = resource(GCS_BUCKET, gcs_bucket(publicAccessPrevention="inherited"))
    assert violations("no-public-buckets-unless-declared", opened) == [
        "bucket acme-prod-data does not enforce public access prevention but is not declared public; set "
        "modelstack:buckets.data.public: true if it serves public assets, otherwise keep it private"
    ]
    grant = resource(GCS_BUCKET_IAM_MEMBER, {"bucket": "acme-prod-data", "member": "allAuthenticatedUsers"}, name="leak")
    assert violations("no-public-buckets-unless-declared", grant) == [
        "leak grants allAuthenticatedUsers access to bucket acme-prod-data, which the config does not declare "
        "public; declare the bucket public: true or remove the grant"
    ]
    s3 = resource(S3_BUCKET, {"name": "results", "versioning": True, "acl": "public-read"})
    assert len(violations("no-public-buckets-unless-declared", s3)) == 1


# ---------------------------------------------------------------------------------------------
# cloud-run-private-unless-declared


def test_declared_public_service_passes():
    grant = resource(RUN_IAM_MEMBER, {"name": "gateway-prod", "member": "allUsers", "role": "roles/run.invoker"})
    assert violations("cloud-run-private-unless-declared", grant) == []
    private = resource(RUN_IAM_MEMBER, {"name": "admin-prod", "member": "group:ops@acme.com", "role": "roles/run.invoker"})
    assert violations("cloud-run-private-unless-declared", private) == []


def test_undeclared_public_service_fails():
    grant = resource(RUN_IAM_MEMBER, {"name": "admin-prod", "member": "allUsers"}, name="admin-public")
    assert violations("cloud-run-private-unless-declared", grant) == [
        "admin-public lets allUsers invoke Cloud Run service admin-prod, which the config does not declare "
        "public; set modelstack:services.<key>.public: true if it is meant to be reachable without IAM, or "
        "remove the grant"
    ]


# ---------------------------------------------------------------------------------------------
# gpu-endpoints-bounded


@pytest.mark.parametrize(
    ("typ", "inputs"),
    [
        (RUNPOD_ENDPOINT, {"workers": {"min": 0, "max": 3, "idleTimeout": 60}}),
        (RUNPOD_ENDPOINT, {"workersMax": 3, "idleTimeout": 60}),
        (RUNPOD_ENDPOINT, {"workers_max": 3, "idle_timeout": 60}),
        (MODAL_APP, {"maxContainers": 2, "scaledownWindow": 120}),
        (MODAL_APP, {"functions": [{"max_containers": 1, "scaledown_window": 60}]}),
    ],
)
def test_bounded_gpu_endpoints_pass(typ, inputs):
    assert violations("gpu-endpoints-bounded", resource(typ, inputs)) == []


def test_unbounded_gpu_endpoints_fail():
    runpod = resource(RUNPOD_ENDPOINT, {"workers": {"min": 0}}, name="flux")
    assert violations("gpu-endpoints-bounded", runpod) == [
        "GPU endpoint flux has no maximum worker count, so a traffic spike can start GPUs without limit; "
        "set models.<key>.endpoint.workers.max",
        "GPU endpoint flux has no idle timeout, so idle GPUs may never scale down; set "
        "models.<key>.endpoint.idleTimeoutSeconds",
    ]
    modal = resource(MODAL_APP, {"functions": [{"maxContainers": 2, "scaledownWindow": 60}, {"maxContainers": 0}]}, name="embed")
    found = violations("gpu-endpoints-bounded", modal)
    assert [m.split(" has ")[0] for m in found] == ["GPU endpoint embed functions[1]"] * 2


# ---------------------------------------------------------------------------------------------
# images-pinned-by-digest


def test_digest_images_pass():
    assert violations("images-pinned-by-digest", resource(RUN_SERVICE, run_service())) == []
    assert violations("images-pinned-by-digest", resource(RUNPOD_TEMPLATE, {"image": "docker.io/acme/worker@sha256:" + "0" * 64})) == []
    # a Modal image built from a Python definition has no reference to pin
    assert violations("images-pinned-by-digest", resource(MODAL_APP, {"image": {"pythonPackages": ["torch"]}})) == []


def test_tagged_images_fail():
    found = violations("images-pinned-by-digest", resource(RUN_SERVICE, run_service(image="gcr.io/acme/gateway:latest"), name="gw"))
    assert found == [
        "gw runs image 'gcr.io/acme/gateway:latest' (template.containers[0].image), which is not pinned by "
        "digest, so what runs can change without a deploy and a rollback cannot restore it; reference it as "
        "registry/name@sha256:<digest> or build it from its directory (images/<name>)"
    ]
    assert len(violations("images-pinned-by-digest", resource(RUNPOD_ENDPOINT, {"imageName": "acme/worker:v2"}))) == 1


# ---------------------------------------------------------------------------------------------
# secrets-by-reference


def test_secret_references_and_non_credentials_pass():
    envs = [
        {"name": "GATEWAY_API_KEYS", "valueSource": {"secretKeyRef": {"secret": "keys", "version": "1"}}},
        {"name": "BUCKET_RESULTS", "value": "acme-results"},
        {"name": "HF_TOKEN", "value": secret("hf_abc")},
        {"name": "MONKEY_BUSINESS", "value": "not a credential"},
    ]
    assert violations("secrets-by-reference", resource(RUN_SERVICE, run_service(envs=envs))) == []
    runpod = resource(RUNPOD_TEMPLATE, {"env": {"HF_TOKEN": "{{ RUNPOD_SECRET_hf_token }}", "MODEL": "flux"}})
    assert violations("secrets-by-reference", runpod) == []


def test_plaintext_credentials_fail():
    envs = [{"name": "API_SECRET_KEY", "value": "hunter2"}]
    found = violations("secrets-by-reference", resource(RUN_SERVICE, run_service(envs=envs), name="gw"))
    assert found == [
        "gw sets API_SECRET_KEY (template.containers[0].envs[0]) to a plaintext value; credentials must come "
        "from secret references: put the value in modelstack:secrets (pulumi config set --secret) and map it "
        "with secretEnv, or use a {{ RUNPOD_SECRET_<name> }} reference on Runpod"
    ]
    runpod = resource(RUNPOD_ENDPOINT, {"env": [{"key": "R2_SECRET_ACCESS_KEY", "value": "abc"}, {"key": "HF_TOKEN", "value": "hf_x"}]})
    assert len(violations("secrets-by-reference", runpod)) == 2
    modal = resource(MODAL_APP, {"env": {"WASABI_SECRET_KEY": "abc"}})
    assert len(violations("secrets-by-reference", modal)) == 1


# ---------------------------------------------------------------------------------------------
# models-pinned-to-a-commit


def test_models_pinned_to_a_sha_pass():
    assert violations("models-pinned-to-a-commit", resource(HF_MODEL, {"repoId": "org/m", "revision": SHA})) == []
    endpoint = resource(RUNPOD_ENDPOINT, {"env": {"MODELSTACK_MODEL_REVISION": SHA}})
    assert violations("models-pinned-to-a-commit", endpoint) == []
    # an endpoint that carries no revision has nothing to check
    assert violations("models-pinned-to-a-commit", resource(MODAL_APP, {"maxContainers": 1})) == []


def test_moving_or_missing_revisions_fail():
    found = violations("models-pinned-to-a-commit", resource(HF_MODEL, {"repoId": "org/m", "revision": "main"}, name="flux-model"))
    # no state known: the command that finds the commit the ref points to
    assert found == [
        "flux-model loads revision 'main' (revision), not a 40-character commit sha, so the model can change "
        "under a running deploy; pin it with source: hf://org/m@<commit sha>; the commit 'main' points to now is "
        "printed by python -c \"from huggingface_hub import model_info; print(model_info('org/m', "
        "revision='main').sha)\" (a deployed stack's pin: pulumi stack output models)"
    ]
    # the stack's state pins it: the sha to write
    pinned = replace(DEV, pinned_shas={"flux-model": SHA})
    assert violations("models-pinned-to-a-commit", resource(HF_MODEL, {"repoId": "org/m", "revision": "main"}, name="flux-model"), pinned) == [
        "flux-model loads revision 'main' (revision), not a 40-character commit sha, so the model can change "
        f"under a running deploy; pin it with source: hf://org/m@{SHA} (the commit this stack's state pins for it)"
    ]
    assert "loads no revision" in violations("models-pinned-to-a-commit", resource(HF_MODEL, {"repoId": "org/m"}))[0]
    short = resource(MODAL_APP, {"modelRevision": SHA[:7]})
    assert len(violations("models-pinned-to-a-commit", short)) == 1


# ---------------------------------------------------------------------------------------------
# enforcement


def test_enforcement_is_mandatory_in_prod_and_advisory_elsewhere():
    bad = [resource(HF_MODEL, {"revision": "main"}), resource(GCS_BUCKET, gcs_bucket(), protect=False)]
    prod = evaluate(bad, PROD)
    assert (prod.enforcement, prod.mandatory_violations, prod.advisory_violations, prod.blocked) == ("mandatory", 2, 0, True)
    dev = evaluate(bad, DEV)
    assert (dev.enforcement, dev.mandatory_violations, dev.advisory_violations, dev.blocked) == ("advisory", 0, 2, False)
    statuses = {r.name: r.status for r in dev.results}
    assert statuses["models-pinned-to-a-commit"] == "fail"
    assert statuses["gpu-endpoints-bounded"] == "n/a"
    assert statuses["no-public-buckets-unless-declared"] == "pass"


def test_every_rule_has_a_unique_name_and_a_description():
    assert len({r.name for r in RULES}) == len(RULES) == 7
    assert all(r.description.endswith(".") and r.types for r in RULES)
