"""`S3Bucket`: a bucket on any S3-compatible store (R2, Wasabi, MinIO, AWS), through boto3.

Registers as `pulumi-python:dynamic/s3:Bucket`. The bucket's identity is its endpoint and name
(and region); versioning, lifecycle expiry and CORS are updated in place, each with its own call
and only when it changed. `read` reports what the store has, so a rule changed in the console is
a diff on the next `pulumi up`. `delete` refuses a bucket that still holds objects unless
`forceDestroy` is set, then removes every object version, delete marker and unfinished upload.

Credentials: the `credential` input only *names* a pair under `modelstack:credentials.s3`; the
keys are read in `configure()` (or from the environment) and never enter inputs, outputs or state.
Changing which credential a bucket uses is an update that calls nothing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, TypedDict

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.providers import credentials as creds
from components.providers import s3_client
from components.providers.unknowns import is_unknown

EXPIRY_RULE_ID = "modelstack-expire"
INPUT_KEYS = ("bucketName", "endpoint", "region", "credential", "versioning", "expireDays", "cors", "forceDestroy")
REPLACE_KEYS = ("bucketName", "endpoint", "region")
CORS_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
DELETE_ATTEMPTS = 5
_ENDPOINT = re.compile(r"^https?://[^/\s]+/?$")


def _bucket_name_problem(name: str) -> str | None:
    from components.config import bucket_name_problem

    return bucket_name_problem(name, "s3")


def normalise_cors(rules: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """CORS rules in the config's shape (origins, methods, responseHeaders, maxAgeSeconds), with defaults."""
    if rules is None:
        return [], []
    if not isinstance(rules, (list, tuple)):
        return [], ["cors must be a list of rules"]
    out, problems = [], []
    for i, rule in enumerate(rules):
        if hasattr(rule, "model_dump"):  # a components.config.CorsRule
            rule = rule.model_dump(by_alias=True)
        if not isinstance(rule, dict) or not rule.get("origins"):
            problems.append(f"cors[{i}]: needs origins (a list)")
            continue
        methods = [str(m).upper() for m in rule.get("methods") or ["GET", "HEAD"]]
        bad = [m for m in methods if m not in CORS_METHODS]
        if bad:
            problems.append(f"cors[{i}].methods: {', '.join(bad)} not allowed; use {', '.join(CORS_METHODS)}")
        max_age = rule.get("maxAgeSeconds", 3600)
        out.append(
            {
                "origins": [str(o) for o in rule["origins"]],
                "methods": methods,
                "responseHeaders": [str(h) for h in rule.get("responseHeaders", ["Content-Type"])],
                "maxAgeSeconds": int(float(max_age)),
            }
        )
    return out, problems


def _to_api_cors(rules: Sequence[dict[str, Any]]) -> dict[str, Any]:
    # GCS's responseHeader both allows the request headers and exposes response headers; S3 splits
    # them, so the same list goes to both to keep one config meaning the same on either store.
    return {
        "CORSRules": [
            {
                "AllowedOrigins": r["origins"],
                "AllowedMethods": r["methods"],
                "AllowedHeaders": r["responseHeaders"],
                "ExposeHeaders": r["responseHeaders"],
                "MaxAgeSeconds": r["maxAgeSeconds"],
            }
            for r in rules
        ]
    }


def _from_api_cors(rules: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "origins": list(r.get("AllowedOrigins", [])),
            "methods": list(r.get("AllowedMethods", [])),
            "responseHeaders": list(r.get("ExposeHeaders") or r.get("AllowedHeaders") or []),
            "maxAgeSeconds": int(r.get("MaxAgeSeconds", 0)),
        }
        for r in rules
    ]


class S3BucketProvider(ResourceProvider):
    def __init__(self) -> None:
        self._credentials: dict[str, Any] = {}  # filled by configure() in the provider process

    def configure(self, req: Any) -> None:
        self._credentials = creds.from_provider_config(req.config)

    def _client(self, props: dict[str, Any]) -> Any:
        return s3_client.client(props["endpoint"], props["region"], props["credential"], self._credentials)

    def _what(self, props: dict[str, Any], operation: str) -> str:
        return f"s3:Bucket {props.get('bucketName')} ({props.get('endpoint')}): {operation}"

    def _secrets(self, props: dict[str, Any]) -> list[str]:
        pair = creds.resolve_s3(str(props.get("credential")), self._credentials) or {}
        return list(pair.values())

    # ---------------------------------------------------------------------------- check / diff

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        inputs: dict[str, Any] = {
            "bucketName": news.get("bucketName"),
            "endpoint": news.get("endpoint"),
            "region": news.get("region") or "auto",
            "credential": news.get("credential") or "default",
            "versioning": bool(news.get("versioning")) if not is_unknown(news.get("versioning")) else news.get("versioning"),
            "expireDays": news.get("expireDays"),
            "cors": news.get("cors") or [],
            "forceDestroy": bool(news.get("forceDestroy")) if not is_unknown(news.get("forceDestroy")) else news.get("forceDestroy"),
        }
        name = inputs["bucketName"]
        if not is_unknown(name):
            problem = _bucket_name_problem(name) if isinstance(name, str) else "bucketName must be a string"
            if problem:
                failures.append(CheckFailure("bucketName", problem))
        endpoint = inputs["endpoint"]
        if not is_unknown(endpoint):
            if not isinstance(endpoint, str) or not _ENDPOINT.match(endpoint):
                failures.append(
                    CheckFailure("endpoint", f"endpoint {endpoint!r} must be a URL with a scheme and host, e.g. https://<account>.r2.cloudflarestorage.com")
                )
            else:
                inputs["endpoint"] = endpoint.rstrip("/")
        credential = inputs["credential"]
        if not is_unknown(credential) and not creds.is_valid_s3_credential_name(str(credential)):
            failures.append(CheckFailure("credential", f"credential {credential!r} must be lowercase letters and digits"))
        expire = inputs["expireDays"]
        if expire is not None and not is_unknown(expire):
            try:
                inputs["expireDays"] = int(float(expire))  # mocks and JSON hand ints over as floats
                if not 1 <= inputs["expireDays"] <= 36500:
                    raise ValueError
            except (TypeError, ValueError):
                failures.append(CheckFailure("expireDays", "expireDays must be a whole number of days from 1 to 36500"))
        if not is_unknown(inputs["cors"]):
            inputs["cors"], problems = normalise_cors(inputs["cors"])
            failures.extend(CheckFailure("cors", p) for p in problems)
        return CheckResult(inputs, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in REPLACE_KEYS if olds.get(k) != news.get(k)]
        changed = [k for k in INPUT_KEYS if olds.get(k) != news.get(k)]
        # Same name on the same store must be freed before it can be created again.
        same_name = olds.get("bucketName") == news.get("bucketName") and olds.get("endpoint") == news.get("endpoint")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=bool(replaces) and same_name)

    # ---------------------------------------------------------------------------- lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        s3 = self._client(props)
        name, region = props["bucketName"], props["region"]
        request: dict[str, Any] = {"Bucket": name}
        if region not in ("auto", "us-east-1"):
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            s3.create_bucket(**request)
        except Exception as exc:
            code = s3_client.error_code(exc)
            if code == "BucketAlreadyOwnedByYou":
                pass  # an earlier attempt created it and failed before returning: adopt it
            elif code == "BucketAlreadyExists":
                raise s3_client.S3Error(
                    f"{self._what(props, 'create')}: the name is taken by another account on this store; "
                    "set name: in the bucket's config to pick another"
                ) from None
            else:
                raise s3_client.describe(exc, self._what(props, "create"), self._secrets(props)) from None
        self._apply(s3, props, versioning=props["versioning"], expiry=True, cors=True, fresh=True)
        return CreateResult(name, self._outputs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        s3 = self._client(news)
        self._apply(
            s3,
            news,
            versioning=news["versioning"] if olds.get("versioning") != news["versioning"] else None,
            expiry=olds.get("expireDays") != news.get("expireDays"),
            cors=olds.get("cors") != news.get("cors"),
            fresh=False,
        )
        return UpdateResult(self._outputs(news))

    def _apply(self, s3: Any, props: dict[str, Any], versioning: bool | None, expiry: bool, cors: bool, fresh: bool) -> None:
        name = props["bucketName"]
        try:
            # A new bucket is unversioned: only enabling needs a call (some stores, R2 among them,
            # do not implement versioning at all and must not be asked to suspend it).
            if versioning is not None and (versioning or not fresh):
                status = "Enabled" if versioning else "Suspended"
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
            if expiry:
                days = props.get("expireDays")
                if days:
                    s3.put_bucket_lifecycle_configuration(
                        Bucket=name,
                        LifecycleConfiguration={
                            "Rules": [
                                {
                                    "ID": EXPIRY_RULE_ID,
                                    "Filter": {"Prefix": ""},
                                    "Status": "Enabled",
                                    "Expiration": {"Days": int(days)},
                                }
                            ]
                        },
                    )
                elif not fresh:
                    s3.delete_bucket_lifecycle(Bucket=name)
            if cors:
                if props.get("cors"):
                    s3.put_bucket_cors(Bucket=name, CORSConfiguration=_to_api_cors(props["cors"]))
                elif not fresh:
                    s3.delete_bucket_cors(Bucket=name)
        except Exception as exc:
            raise s3_client.describe(exc, self._what(props, "configure versioning/lifecycle/CORS"), self._secrets(props)) from None

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        s3 = self._client(props)
        name = props.get("bucketName") or id_
        try:
            s3.head_bucket(Bucket=name)
        except Exception as exc:
            if s3_client.is_not_found(exc):
                return ReadResult("", {})  # deleted out of band: refresh drops it
            raise s3_client.describe(exc, self._what(props, "read"), self._secrets(props)) from None
        actual = dict(props)
        try:
            actual["versioning"] = self._read_versioning(s3, name)
            actual["expireDays"] = self._read_expiry(s3, name)
            actual["cors"] = self._read_cors(s3, name)
        except Exception as exc:
            raise s3_client.describe(exc, self._what(props, "read"), self._secrets(props)) from None
        outs = self._outputs(actual)
        return ReadResult(name, outs, {k: outs[k] for k in INPUT_KEYS})

    @staticmethod
    def _read_versioning(s3: Any, name: str) -> bool:
        try:
            return s3.get_bucket_versioning(Bucket=name).get("Status") == "Enabled"
        except Exception as exc:
            # Stores without versioning (R2 among them) may not implement the call at all.
            if s3_client.error_code(exc) in ("NotImplemented", "501"):
                return False
            raise

    @staticmethod
    def _read_expiry(s3: Any, name: str) -> int | None:
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=name).get("Rules", [])
        except Exception as exc:
            if s3_client.error_code(exc) in ("NoSuchLifecycleConfiguration", "NoSuchLifecycle"):
                return None
            raise
        for rule in rules:
            days = rule.get("Expiration", {}).get("Days")
            if rule.get("Status") == "Enabled" and days and (rule.get("ID") == EXPIRY_RULE_ID or len(rules) == 1):
                return int(days)
        return None

    @staticmethod
    def _read_cors(s3: Any, name: str) -> list[dict[str, Any]]:
        try:
            return _from_api_cors(s3.get_bucket_cors(Bucket=name).get("CORSRules", []))
        except Exception as exc:
            if s3_client.error_code(exc) in ("NoSuchCORSConfiguration", "NoSuchCors"):
                return []
            raise

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        s3 = self._client(props)
        name = props.get("bucketName") or id_
        try:
            if props.get("forceDestroy"):
                empty_bucket(s3, name)
            else:
                keys, more = sample_keys(s3, name)
                if keys:
                    raise s3_client.S3Error(
                        f"{self._what(props, 'delete')}: refusing to delete a bucket that is not empty "
                        f"(holds {', '.join(repr(k) for k in keys)}{' and more' if more else ''}); "
                        "empty it first, or set forceDestroy: true in its config to let pulumi destroy "
                        "delete the objects too"
                    )
            for attempt in range(DELETE_ATTEMPTS):
                try:
                    s3.delete_bucket(Bucket=name)
                    return
                except Exception as exc:
                    # Listings lag deletes on some stores: retry "not empty" for a bounded time.
                    if s3_client.error_code(exc) == "BucketNotEmpty" and attempt < DELETE_ATTEMPTS - 1 and props.get("forceDestroy"):
                        time.sleep(0.5 * 2**attempt)
                        empty_bucket(s3, name)
                        continue
                    raise
        except s3_client.S3Error:
            raise
        except Exception as exc:
            if s3_client.is_not_found(exc):
                return  # already gone
            raise s3_client.describe(exc, self._what(props, "delete"), self._secrets(props)) from None

    @staticmethod
    def _outputs(props: dict[str, Any]) -> dict[str, Any]:
        outs = {k: props.get(k) for k in INPUT_KEYS}
        outs["uri"] = f"s3://{props['bucketName']}"
        return outs


def _listing(s3: Any, name: str) -> tuple[str, Any]:
    """Object versions where the store supports them (R2 does not), else plain objects."""
    try:
        s3.list_object_versions(Bucket=name, MaxKeys=1)
        return "versions", s3.get_paginator("list_object_versions").paginate(Bucket=name)
    except Exception as exc:
        if s3_client.error_code(exc) not in ("NotImplemented", "501", "InvalidArgument"):
            raise
        return "objects", s3.get_paginator("list_objects_v2").paginate(Bucket=name)


def sample_keys(s3: Any, name: str, limit: int = 3) -> tuple[list[str], bool]:
    """Up to `limit` keys (or versions) still in the bucket, and whether there are more."""
    kind, pages = _listing(s3, name)
    keys: list[str] = []
    for page in pages:
        entries = page.get("Versions", []) + page.get("DeleteMarkers", []) if kind == "versions" else page.get("Contents", [])
        keys.extend(e["Key"] for e in entries)
        if len(keys) > limit:
            return keys[:limit], True
    return keys, False


def empty_bucket(s3: Any, name: str) -> int:
    """Delete every object version, delete marker and unfinished multipart upload; returns the count."""
    deleted = 0
    kind, pages = _listing(s3, name)
    for page in pages:
        if kind == "versions":
            batch = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
        else:
            batch = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        for i in range(0, len(batch), 1000):
            s3.delete_objects(Bucket=name, Delete={"Objects": batch[i : i + 1000], "Quiet": True})
        deleted += len(batch)
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    return deleted


class S3BucketArgs(TypedDict, total=False):
    bucket_name: pulumi.Input[str]
    """Physical name: <gcp project>-<stack>-<key> unless the config sets name:."""
    endpoint: pulumi.Input[str]
    """The store's S3 endpoint (part of the bucket's identity)."""
    region: pulumi.Input[str]
    credential: pulumi.Input[str]
    """Name of the `credentials.s3.<name>` pair to use; never the keys themselves."""
    versioning: pulumi.Input[bool]
    expire_days: pulumi.Input[int] | None
    cors: Sequence[Any]
    """CorsRule objects from the config, or dicts in the same camelCase shape."""
    force_destroy: pulumi.Input[bool]


class S3Bucket(pulumi.dynamic.Resource, module="s3", name="Bucket"):
    bucket_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    region: pulumi.Output[str]
    uri: pulumi.Output[str]

    def __init__(self, name: str, args: S3BucketArgs, opts: pulumi.ResourceOptions | None = None):
        cors, _ = normalise_cors(list(args.get("cors") or []))
        super().__init__(
            S3BucketProvider(),
            name,
            {
                "bucketName": args["bucket_name"],
                "endpoint": args["endpoint"],
                "region": args.get("region", "auto"),
                "credential": args.get("credential", "default"),
                "versioning": args.get("versioning", False),
                "expireDays": args.get("expire_days"),
                "cors": cors,
                "forceDestroy": args.get("force_destroy", False),
                "uri": None,
            },
            opts,
        )
        self.bucket_name = self.bucketName  # type: ignore[attr-defined]
