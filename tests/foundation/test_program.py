"""The real program with the committed dev and prod stack files, under Pulumi mocks."""

from __future__ import annotations

import json

import pytest

from components.offline import ProgramRun, is_secret, load_stack_file, redact, run_program

BUCKET = "gcp:storage/bucket:Bucket"
RUN_SERVICE = "gcp:cloudrunv2/service:Service"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
FIRESTORE = "gcp:firestore/database:Database"
API = "gcp:projects/service:Service"
IMAGE = "docker:index/image:Image"


def only(run: ProgramRun, typ: str):
    found = run.of_type(typ)
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_dev_registers_the_platform_tree(dev_run):
    platform = only(dev_run, "modelstack:index:Platform")
    assert platform.parent.endswith("::pulumi:pulumi:Stack::modelstack-dev")
    # every resource hangs off the platform, directly or through a component
    stack = only(dev_run, "pulumi:pulumi:Stack")
    for r in dev_run.resources:
        if r is stack or r is platform:
            continue
        chain = r
        while chain.parent != platform.urn:
            chain = dev_run.by_urn(chain.parent)
        assert chain.type.startswith("modelstack:"), r.name

    buckets = {b.value("name"): b for b in dev_run.of_type(BUCKET)}
    assert set(buckets) == {"acme-ml-dev-dev-artifacts", "acme-ml-dev-dev-results"}
    for bucket in buckets.values():
        component = dev_run.by_urn(bucket.parent)
        assert component.type == "modelstack:gcp:Bucket"
        assert bucket.value("uniformBucketLevelAccess") is True
        assert bucket.value("publicAccessPrevention") == "enforced"
    results = buckets["acme-ml-dev-dev-results"]
    assert results.value("lifecycleRules") == [{"action": {"type": "Delete"}, "condition": {"age": 7}}]
    assert results.value("cors")[0]["origins"] == ["http://localhost:3000"]


def test_apis_are_enabled_without_disabling_on_destroy(dev_run):
    apis = {r.value("service"): r for r in dev_run.of_type(API)}
    assert set(apis) == {
        "artifactregistry.googleapis.com",
        "firestore.googleapis.com",
        "iam.googleapis.com",
        "run.googleapis.com",
        "secretmanager.googleapis.com",
        "storage.googleapis.com",
    }
    assert all(a.value("disableOnDestroy") is False for a in apis.values())
    service = only(dev_run, RUN_SERVICE)
    assert apis["run.googleapis.com"].urn in service.depends_on
    assert apis["firestore.googleapis.com"].urn in only(dev_run, FIRESTORE).depends_on


def test_cloud_run_service_shape(dev_run):
    service = only(dev_run, RUN_SERVICE)
    assert service.value("name") == "gateway-dev"
    assert service.value("deletionProtection") is False
    template = service.value("template")
    assert template["scaling"] == {"minInstanceCount": 0, "maxInstanceCount": 2}
    container = template["containers"][0]
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["ports"]["containerPort"] == 8080
    # deployed by the digest the image build produced, never a tag
    image = dev_run.named("modelstack-image-gateway-image")
    assert container["image"] == image.outputs["repoDigest"]
    assert "@sha256:" in container["image"]
    env = {e["name"]: e for e in container["envs"]}
    assert env["BUCKET_RESULTS"]["value"] == "acme-ml-dev-dev-results"
    assert env["FIRESTORE_DATABASE"]["value"] == "modelstack-dev"
    key_ref = env["GATEWAY_API_KEYS"]["valueSource"]["secretKeyRef"]
    assert key_ref["secret"] == "dev-gatewayapikeys"
    assert key_ref["version"] == "1"  # pinned to the version the stack wrote, not "latest"
    # the embedder's Modal endpoint requires proxy auth: the gateway holds the workspace token
    proxy_token = {var: env[var]["valueSource"]["secretKeyRef"] for var in ("MODAL_PROXY_TOKEN_ID", "MODAL_PROXY_TOKEN_SECRET")}
    assert proxy_token == {
        "MODAL_PROXY_TOKEN_ID": {"secret": "dev-modalproxytokenid", "version": "1"},
        "MODAL_PROXY_TOKEN_SECRET": {"secret": "dev-modalproxytokensecret", "version": "1"},
    }
    assert "value" not in env["MODAL_PROXY_TOKEN_ID"] and "value" not in env["MODAL_PROXY_TOKEN_SECRET"]


def test_least_privilege_iam(dev_run):
    account = dev_run.named("modelstack-service-gateway-sa")
    member = f"serviceAccount:{account.outputs['email']}"
    readers = dev_run.of_type("gcp:secretmanager/secretIamMember:SecretIamMember")
    assert sorted(r.value("secretId") for r in readers) == [
        "dev-gatewayapikeys",
        "dev-modalproxytokenid",
        "dev-modalproxytokensecret",
        "dev-runpodinvokekey",
        "dev-webhooksigningkey",
        "dev-workercallbackkey",
    ]
    assert {r.value("member") for r in readers} == {member}
    assert {r.value("role") for r in readers} == {"roles/secretmanager.secretAccessor"}
    bucket_grants = dev_run.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    assert [(g.value("bucket"), g.value("role"), g.value("member")) for g in bucket_grants] == [
        ("acme-ml-dev-dev-results", "roles/storage.objectAdmin", member)
    ]
    signer = only(dev_run, "gcp:serviceaccount/iAMMember:IAMMember")
    # it may sign URLs for the results it writes, as itself and nobody else
    assert (signer.value("role"), signer.value("member")) == ("roles/iam.serviceAccountTokenCreator", member)
    assert signer.value("serviceAccountId") == account.outputs["name"]
    firestore = only(dev_run, "gcp:projects/iAMMember:IAMMember")
    assert firestore.value("role") == "roles/datastore.user"
    assert "databases/modelstack-dev" in firestore.value("condition")["expression"]
    invoker = only(dev_run, "gcp:cloudrunv2/serviceIamMember:ServiceIamMember")
    assert (invoker.value("role"), invoker.value("member")) == ("roles/run.invoker", "allUsers")
    # the service waits for its grants so the first revision can read its secrets
    service = only(dev_run, RUN_SERVICE)
    assert {r.urn for r in readers} <= set(service.depends_on)


def test_secret_values_stay_secret_and_write_only(dev_run):
    versions = dev_run.of_type(SECRET_VERSION)
    # the secrets Cloud Run reads (API keys, webhook and callback keys, the Runpod invoke key, the
    # Modal proxy token's id and secret); workers get theirs through their provider
    assert len(versions) == 6
    for version in versions:
        assert is_secret(version.inputs["secretDataWo"])
        assert "secretData" not in version.inputs
        assert version.value("secretDataWoVersion") == 1


def test_real_secret_values_never_appear_outside_secret_wrappers():
    stack_file = load_stack_file("dev")
    credentials = json.loads(stack_file.config["modelstack:credentials"])
    credentials["runpodApiKey"] = "rpa_PLAINTEXT_CANARY_1"
    stack_file.config["modelstack:credentials"] = json.dumps(credentials)
    secrets = json.loads(stack_file.config["modelstack:secrets"])
    secrets["gatewayApiKeys"]["value"] = "gw-PLAINTEXT-CANARY-2"
    stack_file.config["modelstack:secrets"] = json.dumps(secrets)
    run = run_program("dev", stack_file=stack_file)
    visible = json.dumps([redact(r.inputs) for r in run.resources] + [redact(r.outputs) for r in run.resources])
    visible += json.dumps({k: redact(v.value) for k, v in run.outputs.items() if not v.secret})
    assert "CANARY" not in visible
    # and the value did reach the secret version (wrapped), so the check above is not vacuous
    assert any("gw-PLAINTEXT-CANARY-2" in json.dumps(r.value("secretDataWo") or "") for r in run.of_type(SECRET_VERSION))


def test_stack_outputs(dev_run):
    assert dev_run.outputs["serviceUrls"].value["gateway"].startswith("https://gateway-dev-")
    assert dev_run.outputs["buckets"].value == {
        "artifacts": "acme-ml-dev-dev-artifacts",
        "models": "acme-ml-dev-dev-models",
        "results": "acme-ml-dev-dev-results",
    }
    assert "@sha256:" in dev_run.outputs["images"].value["gateway"]
    assert not any(o.secret for o in dev_run.outputs.values())


@pytest.mark.parametrize(
    ("stack", "protected"),
    [("dev", False), ("prod", True)],
)
def test_protection_follows_the_environment(stack, protected, dev_run, prod_run):
    run = dev_run if stack == "dev" else prod_run
    for bucket in run.of_type(BUCKET):
        assert bucket.protect is protected
        assert bucket.value("forceDestroy") is (not protected)
    database = only(run, FIRESTORE)
    assert database.protect is protected
    assert database.value("deleteProtectionState") == (
        "DELETE_PROTECTION_ENABLED" if protected else "DELETE_PROTECTION_DISABLED"
    )
    assert database.value("deletionPolicy") == ("ABANDON" if protected else "DELETE")
    assert all(s.protect is protected for s in run.of_type(SECRET))
    assert only(run, RUN_SERVICE).value("deletionProtection") is protected


def test_prod_shape(prod_run):
    service = only(prod_run, RUN_SERVICE)
    template = service.value("template")
    assert template["scaling"] == {"minInstanceCount": 1, "maxInstanceCount": 20}
    container = template["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert container["resources"]["cpuIdle"] is False  # warm instances keep CPU
    buckets = {b.value("name"): b for b in prod_run.of_type(BUCKET)}
    assert all(b.value("versioning") == {"enabled": True} for b in buckets.values())
    assert only(prod_run, FIRESTORE).value("locationId") == "nam5"
