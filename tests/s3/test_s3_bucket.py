"""S3Bucket against moto (server mode) through real boto3: the whole lifecycle and its refusals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.providers import s3_client
from components.providers.s3 import S3BucketProvider
from tests.fakes.provider_config import configured
from tests.s3.conftest import CREDENTIALS, REGION, SECRET_KEY

NAME = "acme-ml-dev-results"


def provider(credentials: dict | None = CREDENTIALS) -> S3BucketProvider:
    return configured(S3BucketProvider(), credentials)


def inputs(at: str, **overrides: Any) -> dict[str, Any]:
    news = {
        "bucketName": NAME,
        "endpoint": at,
        "region": REGION,
        "credential": "default",
        "versioning": False,
        "expireDays": None,
        "cors": [],
        "forceDestroy": False,
        **overrides,
    }
    result = S3BucketProvider().check({}, news)
    assert result.failures == []
    return result.inputs


def store_state(s3: Any) -> dict[str, Any]:
    """What the store says, independently of the provider."""
    state: dict[str, Any] = {"versioning": s3.get_bucket_versioning(Bucket=NAME).get("Status")}
    try:
        state["lifecycle"] = s3.get_bucket_lifecycle_configuration(Bucket=NAME)["Rules"]
    except s3.exceptions.ClientError:
        state["lifecycle"] = None
    try:
        state["cors"] = s3.get_bucket_cors(Bucket=NAME)["CORSRules"]
    except s3.exceptions.ClientError:
        state["cors"] = None
    return state


def test_lifecycle_create_noop_update_rollback_drift_delete(endpoint: str, s3: Any) -> None:
    p = provider()
    first = inputs(endpoint)
    created = p.create(first)
    assert created.id == NAME and created.outs["uri"] == f"s3://{NAME}"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [NAME]
    assert store_state(s3) == {"versioning": None, "lifecycle": None, "cors": None}
    state = created.outs

    assert p.diff(NAME, state, first).changes is False  # no-op

    cors = [{"origins": ["https://app.acme-ml.com"], "methods": ["GET", "PUT"]}]
    second = inputs(endpoint, versioning=True, expireDays=30.0, cors=cors)  # mocks send floats
    assert second["expireDays"] == 30
    diff = p.diff(NAME, state, second)
    assert diff.changes and diff.replaces == []
    state = p.update(NAME, state, second).outs
    now = store_state(s3)
    assert now["versioning"] == "Enabled"
    assert now["lifecycle"][0]["Expiration"] == {"Days": 30} and now["lifecycle"][0]["ID"] == "modelstack-expire"
    assert now["cors"][0]["AllowedOrigins"] == ["https://app.acme-ml.com"]
    assert now["cors"][0]["AllowedMethods"] == ["GET", "PUT"] and now["cors"][0]["MaxAgeSeconds"] == 3600

    state = p.update(NAME, state, first).outs  # rollback to the first inputs
    assert store_state(s3) == {"versioning": "Suspended", "lifecycle": None, "cors": None}
    assert p.read(NAME, state).outs["versioning"] is False

    # drift made in the console shows up on refresh and is a diff on the next up
    s3.put_bucket_cors(Bucket=NAME, CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]})
    s3.put_bucket_versioning(Bucket=NAME, VersioningConfiguration={"Status": "Enabled"})
    refreshed = p.read(NAME, state)
    assert refreshed.outs["cors"][0]["origins"] == ["*"] and refreshed.outs["versioning"] is True
    assert refreshed.inputs["cors"] == refreshed.outs["cors"]
    diff = p.diff(NAME, refreshed.outs, first)
    assert diff.changes and diff.replaces == []
    state = p.update(NAME, refreshed.outs, first).outs
    assert store_state(s3)["cors"] is None

    p.delete(NAME, state)
    assert s3.list_buckets()["Buckets"] == []
    p.delete(NAME, state)  # already gone is success
    assert p.read(NAME, state).id == ""  # refresh drops it


def test_a_non_empty_bucket_is_not_deleted_without_force_destroy(endpoint: str, s3: Any) -> None:
    p = provider()
    state = p.create(inputs(endpoint, versioning=True)).outs
    s3.put_object(Bucket=NAME, Key="results/1.json", Body=b"{}")
    s3.put_object(Bucket=NAME, Key="results/1.json", Body=b"{ }")  # a second version
    s3.create_multipart_upload(Bucket=NAME, Key="partial.bin")

    with pytest.raises(s3_client.S3Error) as exc:
        p.delete(NAME, state)
    message = str(exc.value)
    assert f"s3:Bucket {NAME}" in message and "delete" in message
    assert "not empty" in message and "'results/1.json'" in message and "forceDestroy: true" in message
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [NAME]

    forced = inputs(endpoint, versioning=True, forceDestroy=True)
    assert p.diff(NAME, state, forced).replaces == []
    state = p.update(NAME, state, forced).outs
    p.delete(NAME, state)
    assert s3.list_buckets()["Buckets"] == []


def test_create_adopts_a_bucket_an_earlier_attempt_made(endpoint: str, s3: Any) -> None:
    s3.create_bucket(Bucket=NAME)
    s3.put_object(Bucket=NAME, Key="keep.txt", Body=b"x")
    created = provider().create(inputs(endpoint, expireDays=7))
    assert created.id == NAME
    assert s3.get_object(Bucket=NAME, Key="keep.txt")["Body"].read() == b"x"
    assert store_state(s3)["lifecycle"][0]["Expiration"] == {"Days": 7}


def test_diff_replaces_on_identity_and_updates_credentials_in_place(endpoint: str) -> None:
    p = provider()
    old = inputs(endpoint)
    renamed = p.diff(NAME, old, inputs(endpoint, bucketName="acme-ml-dev-other"))
    assert renamed.replaces == ["bucketName"] and renamed.delete_before_replace is False
    moved = p.diff(NAME, old, inputs(endpoint, region="eu-central-1"))
    assert moved.replaces == ["region"] and moved.delete_before_replace is True  # same name must be freed first
    rekeyed = p.diff(NAME, old, inputs(endpoint, credential="r2"))
    assert rekeyed.changes and rekeyed.replaces == []


@pytest.mark.parametrize(
    ("field", "value", "property"),
    [
        ("bucketName", "Bad_Name", "bucketName"),
        ("bucketName", "ab", "bucketName"),
        ("endpoint", "r2.cloudflarestorage.com", "endpoint"),
        ("credential", "R2-Key", "credential"),
        ("expireDays", 0, "expireDays"),
        ("cors", [{"origins": ["*"], "methods": ["PATCH"]}], "cors"),
    ],
)
def test_check_rejects_bad_inputs_offline(field: str, value: Any, property: str) -> None:
    news = {"bucketName": NAME, "endpoint": "https://x.r2.cloudflarestorage.com", field: value}
    failures = S3BucketProvider().check({}, news).failures
    assert [f.property for f in failures] == [property]


def test_check_fills_defaults_explicitly() -> None:
    checked = S3BucketProvider().check({}, {"bucketName": NAME, "endpoint": "https://acct.r2.cloudflarestorage.com/"}).inputs
    assert checked == {
        "bucketName": NAME,
        "endpoint": "https://acct.r2.cloudflarestorage.com",
        "region": "auto",
        "credential": "default",
        "versioning": False,
        "expireDays": None,
        "cors": [],
        "forceDestroy": False,
    }


def test_missing_credential_says_how_to_set_it(endpoint: str) -> None:
    with pytest.raises(s3_client.S3Error) as exc:
        provider({}).create(inputs(endpoint, credential="r2"))
    message = str(exc.value)
    assert "credentials.s3.r2.accessKeyId" in message and "MODELSTACK_S3_R2_ACCESS_KEY_ID" in message


def test_keys_never_reach_outputs_or_errors(endpoint: str, s3: Any) -> None:
    p = provider()
    state = p.create(inputs(endpoint)).outs
    assert SECRET_KEY not in json.dumps(state) and "accessKeyId" not in json.dumps(state)
    s3.put_object(Bucket=NAME, Key="a", Body=b"a")
    with pytest.raises(s3_client.S3Error) as exc:
        p.delete(NAME, state)
    assert SECRET_KEY not in str(exc.value)
    # an API error carries the resource, the operation, and the store's code and message
    s3.delete_object(Bucket=NAME, Key="a")
    s3.delete_bucket(Bucket=NAME)
    with pytest.raises(s3_client.S3Error) as api_error:
        p.update(NAME, state, inputs(endpoint, versioning=True))
    assert str(api_error.value) == (
        f"s3:Bucket {NAME} ({endpoint}): configure versioning/lifecycle/CORS: "
        "NoSuchBucket: The specified bucket does not exist (HTTP 404)"
    )
