"""Bad stack configs fail before anything registers, with one exact, actionable message per problem."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.offline import StackFile, run_program
from tests.foundation.configs import VALID, check, mutated


def put(path: str, value):
    def change(raw):
        node = raw
        *parents, last = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value

    return change


def drop(path: str):
    def change(raw):
        node = raw
        *parents, last = path.split(".")
        for part in parents:
            node = node[part]
        del node[last]

    return change


def both(first, second):
    def change(raw):
        first(raw)
        second(raw)

    return change


CASES = {
    "max below min": (
        put("models.flux.endpoint.workers", {"min": 3, "max": 1}),
        "modelstack:models.flux.endpoint.workers.max: must be >= min (3); raise max or lower min",
    ),
    "network volume outside the endpoint's data centers": (
        both(
            put("models.flux.endpoint.dataCenters", ["US-TX-3"]),
            put("models.flux.endpoint.runpod", {"networkVolume": {"sizeGb": 80, "dataCenter": "EU-RO-1"}}),
        ),
        "modelstack:models.flux.endpoint.runpod.networkVolume.dataCenter: EU-RO-1 is not in dataCenters (US-TX-3); "
        "workers can only mount the volume in its own data center, so add it to dataCenters or remove dataCenters",
    ),
    "network volume too small for Runpod": (
        put("models.flux.endpoint.runpod", {"networkVolume": {"sizeGb": 5, "dataCenter": "EU-RO-1"}}),
        "modelstack:models.flux.endpoint.runpod.networkVolume.sizeGb: must be between 10 and 4096, not 5",
    ),
    "negative size": (
        put("buckets.artifacts.expireDays", -1),
        "modelstack:buckets.artifacts.expireDays: must be between 1 and 36500, not -1",
    ),
    "wrong type": (
        put("models.flux.endpoint.workers.max", "lots"),
        "modelstack:models.flux.endpoint.workers.max: input should be a valid integer, "
        "unable to parse string as an integer",
    ),
    "unknown top-level key": (
        put("modles", {}),
        "modelstack:modles: unknown key; remove it or fix its spelling (allowed: environment, budget, "
        "credentials, buckets, secrets, firestore, redis, models, apps, templates, services, alerts)",
    ),
    "unknown nested key": (
        put("models.flux.endpoint.idleTimeout", 30),
        "modelstack:models.flux.endpoint.idleTimeout: unknown key; remove it or fix its spelling "
        "(allowed: provider, gpu, workers, idleTimeoutSeconds, executionTimeoutSeconds, scaling, "
        "flashboot, env, secretEnv, image, dataCenters, modal, runpod)",
    ),
    "missing credential for a used provider": (
        drop("credentials.runpodApiKey"),
        "modelstack:credentials.runpodApiKey: is required because models flux deploy to Runpod; set it "
        "with: pulumi config set --secret --path credentials.runpodApiKey <value> (or export RUNPOD_API_KEY)",
    ),
    "bad bucket name": (
        put("buckets.artifacts.name", "My_Bucket"),
        "modelstack:buckets.artifacts.name: bucket name 'My_Bucket' may only contain lowercase letters, "
        "digits, '-', '_' and '.'",
    ),
    "bucket name too long once derived": (
        put("buckets", {"a-very-long-bucket-key-for-logs": {"kind": "gcs"}}),
        "modelstack:buckets.a-very-long-bucket-key-for-logs.name: bucket name "
        "'acme-ml-dev-a-very-long-stack-name-for-review-a-very-long-bucket-key-for-logs' must be 3-63 "
        "characters long (derived from <project>-<stack>-<key>; set name: to override)",
    ),
    "unknown provider": (
        put("models.flux.endpoint.provider", "lambda"),
        "modelstack:models.flux.endpoint.provider: must be one of 'runpod' or 'modal'",
    ),
    "two GPU choices": (
        put("models.flux.endpoint.gpu", {"minVramGb": 24, "type": "ADA_24"}),
        "modelstack:models.flux.endpoint.gpu: set exactly one of minVramGb (a number or 'auto'), types "
        "(a list) or type (one GPU); got minVramGb, type",
    ),
    "unknown GPU": (
        put("models.flux.endpoint.gpu", {"type": "RTX9090"}),
        "modelstack:models.flux.endpoint.gpu: unknown runpod GPU 'RTX9090'; choose from AMPERE_16, "
        "AMPERE_24, ADA_24, ADA_32_PRO, AMPERE_48, ADA_48_PRO, AMPERE_80, ADA_80_PRO, HOPPER_141",
    ),
    "secret reference to nothing": (
        put("services.gateway.secretEnv", {"GATEWAY_API_KEYS": "apiKey"}),
        "modelstack:services.gateway.secretEnv.GATEWAY_API_KEYS: names secret 'apiKey', which is not in "
        "modelstack:secrets (apiKeys); add it or fix the name",
    ),
    "image by mutable tag": (
        put("services.gateway.image", "gcr.io/acme/gateway:latest"),
        "modelstack:services.gateway.image: image 'gcr.io/acme/gateway:latest' is referenced by a mutable "
        "tag; pin it by digest (registry/name@sha256:...) or give a build directory such as images/gateway",
    ),
    "image directory without Dockerfile": (
        put("services.gateway.image", "images/nothing"),
        "modelstack:services.gateway.image: no Dockerfile at images/nothing/Dockerfile; create it or "
        "reference an image pinned by digest (registry/name@sha256:...)",
    ),
    "malformed model id": (
        put("models.flux.source", "black forest/flux"),
        "modelstack:models.flux.source: source 'black forest/flux' must look like hf://org/name or "
        "hf://org/name@revision (or s3://<bucket key>/<path> for a private checkpoint in one of the stack's buckets)",
    ),
    "bad memory": (
        put("services.gateway.memory", "512MB"),
        "modelstack:services.gateway.memory: memory '512MB' must be like 512Mi or 2Gi",
    ),
    "unknown bucket kind": (
        put("buckets.artifacts.kind", "azure"),
        "modelstack:buckets.artifacts.kind: must be 'gcs' or 's3'",
    ),
    "reserved env var": (
        put("services.gateway.env", {"PORT": "9000"}),
        "modelstack:services.gateway.env: PORT is set by Cloud Run itself; remove it (use `port:` for PORT)",
    ),
    "keys differing only in case": (
        put("models.Flux", {"source": "hf://a/b"}),
        "modelstack:models: model names 'flux' and 'Flux' differ only in case and would get the same "
        "cloud resource names; rename one",
    ),
    "min instances above max": (
        put("services.gateway", {"image": "images/gateway", "minInstances": 5, "maxInstances": 2}),
        "modelstack:services.gateway.maxInstances: must be >= minInstances (5); raise maxInstances or "
        "lower minInstances",
    ),
    "secret without its value": (
        put("secrets.apiKeys", {"version": 2}),
        "modelstack:secrets.apiKeys.value: is required; set it with: pulumi config set --secret --path "
        "secrets.apiKeys.value <value>",
    ),
    "CORS origin with no scheme": (
        put("buckets.artifacts.cors", [{"origins": ["app.example.com"]}]),
        "modelstack:buckets.artifacts.cors[0].origins: origin 'app.example.com' must be '*' or a scheme "
        "and host such as https://app.example.com (no path)",
    ),
    "S3 bucket naming a credential that is not set": (
        put("buckets.results", {"kind": "s3", "endpoint": "https://acct.r2.cloudflarestorage.com", "credential": "r2"}),
        "modelstack:buckets.results.credential: S3 credential 'r2' is not set; set "
        "credentials.s3.r2.accessKeyId and .secretAccessKey with pulumi config set --secret --path (or "
        "export MODELSTACK_S3_R2_ACCESS_KEY_ID and MODELSTACK_S3_R2_SECRET_ACCESS_KEY)",
    ),
    "unknown environment": (
        put("environment", "production"),
        "modelstack:environment: must be one of 'dev', 'staging' or 'prod'",
    ),
    "non-positive budget": (
        put("budget", {"monthlyUsd": -5}),
        "modelstack:budget.monthlyUsd: must be greater than 0, not -5",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_config_has_exact_message(case):
    change, expected = CASES[case]
    stack = "a-very-long-stack-name-for-review" if "derived" in case else "dev"
    with pytest.raises(ConfigError) as info:
        check(mutated(change), stack=stack)
    assert info.value.problems == [expected]


def test_bad_region():
    with pytest.raises(ConfigError) as info:
        check(VALID, region="us-centrall1")
    assert info.value.problems == [
        "gcp:region: unknown region 'us-centrall1'; use a Cloud Run region such as us-central1 or europe-west1"
    ]


def test_missing_project_is_one_problem_not_a_cascade():
    with pytest.raises(ConfigError) as info:
        check(VALID, project=None)
    assert info.value.problems == ["gcp:project: is required; set it with: pulumi config set gcp:project <id>"]


def test_secrets_given_in_plaintext_are_rejected_per_key():
    with pytest.raises(ConfigError) as info:
        check(VALID, secret_keys=set())
    assert info.value.problems == [
        f"modelstack:{path}: is stored in plaintext; set it with: pulumi config set --secret --path {path} <value>"
        for path in (
            "credentials.runpodApiKey",
            "credentials.modalTokenId",
            "credentials.modalTokenSecret",
            "credentials.hfToken",
            "secrets.apiKeys.value",
        )
    ]


def test_force_destroy_is_refused_in_prod():
    raw = mutated(put("environment", "prod"))
    raw["buckets"]["artifacts"]["forceDestroy"] = True
    with pytest.raises(ConfigError) as info:
        check(raw)
    assert info.value.problems == [
        "modelstack:buckets.artifacts.forceDestroy: is not allowed in prod, where data buckets are "
        "protected; remove it"
    ]


def test_credentials_may_come_from_the_environment_instead():
    raw = mutated(drop("credentials.runpodApiKey"))
    assert check(raw, environ={"RUNPOD_API_KEY": "from-env"}).modelstack.models["flux"].endpoint


def test_every_problem_is_reported_at_once():
    def many(raw):
        raw["models"]["flux"]["endpoint"]["workers"] = {"min": 3, "max": 1}
        raw["buckets"]["artifacts"]["expireDays"] = 0
        raw["services"]["gateway"]["memory"] = "lots"
        raw["typo"] = 1

    with pytest.raises(ConfigError) as info:
        check(mutated(many), region="mars-north1")
    assert len(info.value.problems) == 5
    assert str(info.value).startswith("invalid stack config (5 problems):\n  - gcp:region:")


def test_errors_never_echo_secret_values():
    def leaky(raw):
        raw["credentials"]["runpodApiKey"] = 12345  # wrong type, carrying a "secret"
        raw["credentials"]["s3"] = {"r2": {"accessKeyId": "AKIA-SHOULD-NOT-LEAK"}}
        raw["secrets"]["apiKeys"]["value"] = ["super-secret-value"]

    with pytest.raises(ConfigError) as info:
        check(mutated(leaky))
    text = str(info.value)
    for secret in ("12345", "AKIA-SHOULD-NOT-LEAK", "super-secret-value"):
        assert secret not in text
    assert "modelstack:credentials.s3.r2.secretAccessKey: is required; add it" in info.value.problems


def test_validation_runs_before_any_resource_registers():
    bad = StackFile(
        stack="dev",
        config={
            "gcp:project": "acme-ml-dev",
            "gcp:region": "us-central1",
            "modelstack:buckets": '{"artifacts": {"kind": "gcs", "expireDays": -1}}',
        },
        secret_keys=set(),
    )
    registered = []
    with pytest.raises(ConfigError):
        run = run_program("dev", stack_file=bad)
        registered = run.resources
    assert registered == []


def test_valid_config_fills_explicit_defaults():
    config = check(VALID)
    endpoint = config.modelstack.models["flux"].endpoint
    assert (endpoint.idle_timeout_seconds, endpoint.execution_timeout_seconds, endpoint.flashboot) == (60, 600, True)
    gateway = config.modelstack.services["gateway"]
    assert (gateway.min_instances, gateway.max_instances, gateway.public, gateway.port) == (0, 10, False, 8080)
    assert config.protected is False
    assert "rpa-test-key" not in repr(config)


# ------------------------------------------------------------------ Modal proxy auth


def routes_a_modal_model(raw):
    """VALID plus a Modal embedder the gateway routes to, with the defaults (proxy auth on)."""
    raw["models"]["embedder"] = {
        "source": "hf://sentence-transformers/all-MiniLM-L6-v2",
        "endpoint": {"provider": "modal", "gpu": {"type": "T4"}},
    }
    raw["services"]["gateway"]["models"] = "all"
    # routing the Runpod model too: the gateway calls Runpod's job API with this key
    raw["secrets"]["runpodInvokeKey"] = {"value": "rp-invoke-value", "version": 1}
    raw["services"]["gateway"]["secretEnv"]["RUNPOD_API_KEY"] = "runpodInvokeKey"


def with_proxy_token(*variables: str):
    def change(raw):
        routes_a_modal_model(raw)
        names = {"MODAL_PROXY_TOKEN_ID": "modalProxyTokenId", "MODAL_PROXY_TOKEN_SECRET": "modalProxyTokenSecret"}
        for var in variables:
            raw["secrets"][names[var]] = {"value": f"{var.lower()}-value", "version": 1}
            raw["services"]["gateway"]["secretEnv"][var] = names[var]

    return change


def proxy_token_problem(missing: str) -> str:
    return (
        "modelstack:services.gateway.secretEnv: routes to Modal model(s) embedder, whose web endpoint requires "
        f"Modal proxy auth, but does not map {missing}; create a proxy auth token (Modal dashboard, or modal "
        "workspace proxy-tokens create), declare two modelstack:secrets (e.g. modalProxyTokenId: {version: 1} "
        "and modalProxyTokenSecret: {version: 1}), set them with pulumi config set --secret --path "
        "secrets.modalProxyTokenId.value <wk-...> and pulumi config set --secret --path "
        "secrets.modalProxyTokenSecret.value <ws-...>, and map them here as MODAL_PROXY_TOKEN_ID and "
        "MODAL_PROXY_TOKEN_SECRET (or, to make the endpoint public, set "
        "models.embedder.endpoint.modal.proxyAuth: false)"
    )


@pytest.mark.parametrize(
    ("mapped", "missing"),
    [
        ((), "MODAL_PROXY_TOKEN_ID and MODAL_PROXY_TOKEN_SECRET"),
        (("MODAL_PROXY_TOKEN_ID",), "MODAL_PROXY_TOKEN_SECRET"),
        (("MODAL_PROXY_TOKEN_SECRET",), "MODAL_PROXY_TOKEN_ID"),
    ],
)
def test_routing_to_a_proxy_authenticated_modal_endpoint_needs_the_token(mapped, missing):
    with pytest.raises(ConfigError) as info:
        check(mutated(with_proxy_token(*mapped)))
    assert info.value.problems == [proxy_token_problem(missing)]


def test_a_service_holding_the_proxy_token_may_route_to_modal():
    config = check(mutated(with_proxy_token("MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET")))
    assert config.modelstack.services["gateway"].secret_env["MODAL_PROXY_TOKEN_ID"] == "modalProxyTokenId"


@pytest.mark.parametrize(
    "change",
    [
        put("models.embedder.endpoint.modal", {"proxyAuth": False}),  # public on purpose
        put("services.gateway.models", ["flux"]),  # routes only the Runpod model
    ],
    ids=["proxyAuth false", "not routed"],
)
def test_no_token_is_needed_where_nothing_routed_is_guarded(change):
    def both(raw):
        routes_a_modal_model(raw)
        change(raw)

    check(mutated(both))
