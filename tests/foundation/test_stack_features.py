"""General config features the seed systems need: env references, credentials for workers, service
volumes, a Redis queue, and stacks with nothing on Google Cloud."""

from __future__ import annotations

import json

import pytest

from components.config import ConfigError
from components.offline import StackFile, is_secret, run_program, unwrap
from tests.foundation.configs import SECRET_KEYS, VALID, check, mutated
from tests.support.deployed_mocks import DeployedMocks


def stack_file(raw: dict, *, project: str | None = "acme-ml-dev", secret_keys=SECRET_KEYS) -> StackFile:
    config = {f"modelstack:{k}": json.dumps(v) if not isinstance(v, str) else v for k, v in raw.items()}
    if project:
        config.update({"gcp:project": project, "gcp:region": "us-central1"})
    return StackFile(stack="dev", config=config, secret_keys=set(secret_keys))


def container(run, service: str = "gateway") -> dict:
    return run.named(f"modelstack-service-{service}-service").value("template")["containers"][0]


# ------------------------------------------------------------------ ${...} references


def test_service_env_references_resolve_to_what_the_stack_creates():
    def change(raw):
        raw["services"]["gateway"]["env"] = {
            "HF_MODEL_REPO": "${models.flux.repo}",
            "HF_MODEL_REVISION": "${models.flux.sha}",
            "ARTIFACTS": "gs://${buckets.artifacts.name}/in/${stack}",
            "FLUX_URL": "${endpoints.flux.url}",
            "LITERAL": "$${not.a.reference}",
        }

    run = run_program("dev", stack_file=stack_file(mutated(change)), preview=False, mocks=DeployedMocks)
    env = {e["name"]: e.get("value") for e in container(run)["envs"]}
    pin = run.named("modelstack-model-flux-pin")
    assert env["HF_MODEL_REPO"] == "black-forest-labs/FLUX.1-schnell"
    assert env["HF_MODEL_REVISION"] == pin.outputs["sha"]
    assert env["ARTIFACTS"] == "gs://acme-ml-dev-dev-artifacts/in/dev"
    assert env["FLUX_URL"] == run.named("modelstack-endpoint-flux-endpoint").outputs["url"]
    assert env["LITERAL"] == "${not.a.reference}"


def test_workers_see_a_services_url_before_it_exists():
    def change(raw):
        raw["models"]["flux"]["endpoint"]["env"] = {"API": "${services.gateway.url}/v1"}
        raw["models"]["flux"]["endpoint"]["image"] = "us-docker.pkg.dev/acme/worker@sha256:" + "a" * 64

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    env = run.named("modelstack-endpoint-flux-template").value("env")
    assert env["API"] == "https://gateway-dev-123456789012.us-central1.run.app/v1"


@pytest.mark.parametrize(
    ("owner", "value", "message"),
    [
        ("services.gateway.env", "${buckets.nope.name}", "${buckets.nope.name}: no bucket 'nope' in modelstack:buckets"),
        ("services.gateway.env", "${models.flux.weights}", "${models.flux.weights}: models have no field 'weights' (fields: manifest, repo, sha)"),
        ("services.gateway.env", "${flux}", "${flux} is not a reference modelstack knows; use ${stack}, ${project}, ${region}, ${buckets.<key>.name}, ${models.<key>.sha}, ${endpoints.<key>.url}, ${services.<key>.url} or ${templates.<key>.id}"),
        ("services.gateway.env", "${models.flux.manifest}", "${models.flux.manifest}: model 'flux' has no mirror:, so it has no manifest"),
        ("services.gateway.env", "${buckets.artifacts.endpoint}", "${buckets.artifacts.endpoint}: endpoint is only defined for kind: s3 buckets"),
        ("models.flux.endpoint.env", "${endpoints.flux.url}", "${endpoints.flux.url}: workers cannot refer to GPU endpoints; route through a service instead"),
    ],
)
def test_bad_references_are_config_errors(owner, value, message):
    def change(raw):
        node = raw
        for part in owner.split("."):
            node = node.setdefault(part, {})
        node["X"] = value

    with pytest.raises(ConfigError) as info:
        check(mutated(change))
    assert info.value.problems == [f"modelstack:{owner}.X: {message}"]


# ------------------------------------------------------------------ credentials for workers


def test_workers_can_get_a_credential_as_a_provider_secret():
    def change(raw):
        raw["models"]["flux"]["endpoint"]["secretEnv"] = {"HF_TOKEN": "credentials.hfToken"}
        raw["models"]["flux"]["endpoint"]["image"] = "us-docker.pkg.dev/acme/worker@sha256:" + "a" * 64

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    secret = run.named("modelstack-endpoint-flux-secret-hf-token")
    assert is_secret(secret.inputs["value"]) and unwrap(secret.inputs["value"]) == "hf-test"
    assert "hf-test" not in json.dumps(run.named("modelstack-endpoint-flux-template").value("env"), default=repr)


def test_a_missing_credential_reference_is_reported():
    def change(raw):
        raw["models"]["flux"]["endpoint"]["secretEnv"] = {"R2_KEY": "credentials.s3.r2.accessKeyId"}

    with pytest.raises(ConfigError) as info:
        check(mutated(change))
    assert info.value.problems == [
        "modelstack:models.flux.endpoint.secretEnv.R2_KEY: credentials.s3.r2.accessKeyId is not set; set it with "
        "pulumi config set --secret --path credentials.s3.r2.accessKeyId <value> (or its environment fallback)"
    ]


def test_services_may_only_use_stack_secrets():
    with pytest.raises(ConfigError) as info:
        check(mutated(lambda raw: raw["services"]["gateway"]["secretEnv"].update(HF="credentials.hfToken")))
    assert info.value.problems[0].startswith(
        "modelstack:services.gateway.secretEnv.HF: names secret 'credentials.hfToken', which is not in modelstack:secrets"
    )


# ------------------------------------------------------------------ volumes and Redis


def test_a_service_mounts_a_gcs_bucket_as_a_volume():
    def change(raw):
        raw["services"]["gateway"]["volumes"] = {"/cache": {"bucket": "artifacts"}}

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    service = run.named("modelstack-service-gateway-service")
    template = service.value("template")
    assert template["executionEnvironment"] == "EXECUTION_ENVIRONMENT_GEN2"
    assert template["volumes"] == [{"name": "volume-0", "gcs": {"bucket": "acme-ml-dev-dev-artifacts", "readOnly": False}}]
    assert template["containers"][0]["volumeMounts"] == [{"name": "volume-0", "mountPath": "/cache"}]
    grant = run.named("modelstack-service-gateway-volume-0")
    assert (grant.value("bucket"), grant.value("role")) == ("acme-ml-dev-dev-artifacts", "roles/storage.objectAdmin")


def test_volumes_must_be_gcs_buckets_of_the_stack():
    with pytest.raises(ConfigError) as info:
        check(mutated(lambda raw: raw["services"]["gateway"].update(volumes={"/cache": {"bucket": "nope"}})))
    assert info.value.problems == [
        "modelstack:services.gateway.volumes./cache.bucket: 'nope' is not a kind: gcs bucket of this stack; "
        "Cloud Run mounts GCS buckets only"
    ]


def test_redis_is_reached_over_the_vpc_with_its_url_in_secret_manager():
    def change(raw):
        raw["redis"] = {"memorySizeGb": 1}
        raw["services"]["gateway"]["redis"] = True

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    instance = run.named("modelstack-redis-instance")
    assert (instance.value("tier"), instance.value("memorySizeGb"), instance.value("authEnabled")) == ("BASIC", 1, True)
    assert instance.value("connectMode") == "DIRECT_PEERING"
    template = run.named("modelstack-service-gateway-service").value("template")
    assert template["vpcAccess"]["egress"] == "PRIVATE_RANGES_ONLY"
    envs = {e["name"]: e for e in template["containers"][0]["envs"]}
    assert envs["REDIS_URL"]["valueSource"]["secretKeyRef"]["secret"] == "modelstack-dev-url"
    apis = {r.value("service") for r in run.of_type("gcp:projects/service:Service")}
    assert {"redis.googleapis.com", "compute.googleapis.com"} <= apis


def test_redis_needs_the_stack_level_instance():
    with pytest.raises(ConfigError) as info:
        check(mutated(lambda raw: raw["services"]["gateway"].update(redis=True)))
    assert info.value.problems == [
        "modelstack:services.gateway.redis: the stack has no modelstack:redis; add it (e.g. {memorySizeGb: 1})"
    ]


# ------------------------------------------------------------------ stacks without Google Cloud


def modal_only() -> dict:
    raw = mutated(lambda r: None)
    raw.pop("services")
    raw.pop("buckets")
    raw["models"] = {
        "chat": {"source": "hf://acme/chat", "endpoint": {"provider": "modal", "gpu": {"type": "T4"}}},
    }
    return raw


def test_a_modal_only_stack_needs_no_gcp_project():
    config = check(modal_only(), project=None, region=None)
    assert config.project == ""
    run = run_program("dev", stack_file=stack_file(modal_only(), project=None))
    assert not [r for r in run.resources if r.type.startswith("gcp:")]
    assert run.named("modelstack-endpoint-chat-app").type == "pulumi-python:dynamic/modal:App"


def test_endpoint_modal_proxy_auth_reaches_the_app():
    assert check(modal_only(), project=None).modelstack.models["chat"].endpoint.modal is None
    run = run_program("dev", stack_file=stack_file(modal_only(), project=None))
    assert run.named("modelstack-endpoint-chat-app").value("proxyAuth") is True  # no modal: block, still guarded

    public = modal_only()
    public["models"]["chat"]["endpoint"]["modal"] = {"proxyAuth": False}
    assert check(public, project=None).modelstack.models["chat"].endpoint.modal.proxy_auth is False
    run = run_program("dev", stack_file=stack_file(public, project=None))
    assert run.named("modelstack-endpoint-chat-app").value("proxyAuth") is False


def test_gcp_project_is_still_required_when_gcp_is_used():
    with pytest.raises(ConfigError) as info:
        check(VALID, project=None)
    assert info.value.problems == ["gcp:project: is required; set it with: pulumi config set gcp:project <id>"]


def test_redis_is_priced_by_provisioned_capacity():
    from components.cost import estimate

    config = check(mutated(lambda raw: raw.update(redis={"memorySizeGb": 2, "tier": "standard"})))
    item = next(i for i in estimate(config).items if i.kind == "redis")
    assert item.monthly.expected == pytest.approx(2 * 0.064 * 730)
    assert item.sources[0].name == "Memorystore"


# ------------------------------------------------------------------ external buckets, bucket checkpoints, app names

EXTERNAL = {"kind": "s3", "external": True, "name": "captionacc-prod", "endpoint": "https://s3.us-east-1.wasabisys.com",
            "region": "us-east-1", "credential": "wasabi"}


def with_wasabi(raw: dict) -> None:
    raw["buckets"]["wasabi"] = dict(EXTERNAL)
    raw["credentials"]["s3"] = {"wasabi": {"accessKeyId": "AKIAWASABI", "secretAccessKey": "wasabi-secret"}}


def test_an_external_bucket_is_read_but_never_managed():
    def change(raw):
        with_wasabi(raw)
        raw["services"]["gateway"]["env"] = {"DATA": "${buckets.wasabi.name}"}

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    assert [r for r in run.of_type("pulumi-python:dynamic/s3:Bucket") if "wasabi" in r.name] == []
    env = {e["name"]: e.get("value") for e in container(run)["envs"]}
    assert env["DATA"] == "captionacc-prod"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("name"), "modelstack:buckets.wasabi.name: is required for an external bucket (the stack cannot derive it)"),
        (lambda b: b.update(versioning=True), "modelstack:buckets.wasabi.external: the stack does not manage an external bucket; remove versioning"),
    ],
)
def test_external_bucket_mistakes(change, message):
    def edit(raw):
        with_wasabi(raw)
        change(raw["buckets"]["wasabi"])

    with pytest.raises(ConfigError) as info:
        check(mutated(edit))
    assert info.value.problems == [message]


def test_a_model_may_come_from_a_bucket_checkpoint():
    def change(raw):
        with_wasabi(raw)
        raw["models"]["boundaries"] = {
            "source": "s3://wasabi/models/caption_boundaries/",
            "task": "custom",
            "endpoint": {
                "provider": "modal",
                "gpu": {"type": "A10G"},
                "env": {"MODELSTACK_CUSTOM_CLASS": "boundaries.model:Boundaries"},  # task custom on our worker
                "modal": {"appName": "boundary-inference"},
            },
        }

    run = run_program("dev", stack_file=stack_file(mutated(change)))
    assert "modelstack-model-boundaries-pin" not in {r.name for r in run.resources}  # nothing to pin on the Hub
    app = run.named("modelstack-endpoint-boundaries-app")
    assert app.value("name") == "boundary-inference"
    assert app.value("env")["MODELSTACK_MODEL_ID"] == "s3://wasabi/models/caption_boundaries/"
    assert "MODELSTACK_MODEL_REVISION" not in app.value("env")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"source": "s3://nope/x/"}, "modelstack:models.ckpt.source: s3://nope/... names no kind: s3 bucket of this stack; declare it under modelstack:buckets (external: true if another system owns it)"),
        ({"source": "s3://wasabi/x/", "endpoint": {"provider": "modal", "gpu": {"minVramGb": "auto"}}},
         "modelstack:models.ckpt.endpoint.gpu.minVramGb: auto sizes from the Hub's metadata; give a number for a bucket checkpoint"),
        ({"source": "hf://a/b", "endpoint": {"provider": "modal", "gpu": {"type": "T4"}, "modal": {"appName": "Bad_Name"}}},
         "modelstack:models.ckpt.endpoint.modal.appName: appName 'Bad_Name' must be up to 48 lowercase letters, digits and hyphens (it is part of web URLs)"),
    ],
)
def test_bucket_checkpoint_and_app_name_mistakes(model, message):
    def change(raw):
        with_wasabi(raw)
        raw["models"]["ckpt"] = model

    with pytest.raises(ConfigError) as info:
        check(mutated(change))
    assert info.value.problems == [message]
