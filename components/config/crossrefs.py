"""Checks across sections, once the whole config parsed: names that must exist, credentials a
provider needs, images and paths in the repository, tokens a route needs."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from components import references
from components.config.base import DIGEST_REF, NAMESPACE
from components.config.buckets import GcsBucket, S3Bucket, bucket_name_problem, physical_bucket_name
from components.config.endpoints import ModalSettings
from components.config.models import Model
from components.config.secrets import credential_value, plain_credentials
from components.config.services import Service
from components.config.stack import ModelstackConfig, uses_gcp
from components.providers import credentials as creds
from inference import contract

PROXY_TOKEN_ENV = (contract.MODAL_PROXY_TOKEN_ID, contract.MODAL_PROXY_TOKEN_SECRET)
"""The variables the gateway reads the Modal proxy auth token from (named in inference/contract.py)."""


def requires_proxy_auth(model: Model) -> bool:
    """Whether the model's Modal web endpoint turns away requests without the workspace proxy token."""
    endpoint = model.endpoint
    if endpoint is None or endpoint.provider != "modal":
        return False
    modal = endpoint.modal or ModalSettings()
    return modal.proxy_auth and bool(modal.web_endpoints)


def _proxy_token_problems(cfg: ModelstackConfig, key: str, service: Service, routed: list[str]) -> list[str]:
    """A service routing to a proxy-authenticated Modal endpoint must hold the token, or every call is refused."""
    guarded = [m for m in routed if requires_proxy_auth(cfg.models[m])]
    missing = [var for var in PROXY_TOKEN_ENV if var not in service.secret_env]
    if not guarded or not missing:
        return []
    models = ", ".join(guarded)
    public = " and ".join(f"models.{m}.endpoint.modal.proxyAuth: false" for m in guarded)
    return [
        f"{NAMESPACE}services.{key}.secretEnv: routes to Modal model(s) {models}, whose web endpoint requires "
        f"Modal proxy auth, but does not map {' and '.join(missing)}; create a proxy auth token (Modal dashboard, "
        "or modal workspace proxy-tokens create), declare two modelstack:secrets (e.g. modalProxyTokenId: "
        "{version: 1} and modalProxyTokenSecret: {version: 1}), set them with pulumi config set --secret --path "
        "secrets.modalProxyTokenId.value <wk-...> and pulumi config set --secret --path "
        f"secrets.modalProxyTokenSecret.value <ws-...>, and map them here as {PROXY_TOKEN_ENV[0]} and "
        f"{PROXY_TOKEN_ENV[1]} (or, to make the endpoint public, set {public})"
    ]


def cross_reference_problems(
    cfg: ModelstackConfig, project: str, stack: str, environ: Mapping[str, str], root: Path
) -> list[str]:
    problems: list[str] = []
    ns = NAMESPACE
    plain_creds = plain_credentials(cfg)

    def need(spec: creds.CredentialSpec, used_by: str) -> None:
        if creds.resolve(spec, plain_creds, environ) is None:
            problems.append(
                f"{ns}credentials.{spec.config_field}: is required because {used_by}; "
                f"set it with: {spec.set_command} (or export {spec.env_var})"
            )

    providers = {m.endpoint.provider for m in cfg.models.values() if m.endpoint}
    if "runpod" in providers:
        users = [k for k, m in cfg.models.items() if m.endpoint and m.endpoint.provider == "runpod"]
        need(creds.RUNPOD_API_KEY, f"models {', '.join(users)} deploy to Runpod")
    if "modal" in providers:
        users = [k for k, m in cfg.models.items() if m.endpoint and m.endpoint.provider == "modal"]
        need(creds.MODAL_TOKEN_ID, f"models {', '.join(users)} deploy to Modal")
        need(creds.MODAL_TOKEN_SECRET, f"models {', '.join(users)} deploy to Modal")

    for key, bucket in cfg.buckets.items():
        name = physical_bucket_name(project, stack, key, bucket)
        # A derived name is only meaningful once the project id is valid (reported above).
        problem = bucket_name_problem(name, bucket.kind) if (project or bucket.name) else None
        if problem:
            hint = "" if bucket.name else " (derived from <project>-<stack>-<key>; set name: to override)"
            problems.append(f"{ns}buckets.{key}.name: {problem}{hint}")
        elif not project and not bucket.name and not uses_gcp(cfg):
            # A stack with nothing on Google Cloud needs no gcp:project, so the default name has no prefix.
            problems.append(
                f"{ns}buckets.{key}.name: is required in a stack without a valid gcp:project (the default is "
                "<project>-<stack>-<key>); set name: to the bucket's name"
            )
        if isinstance(bucket, S3Bucket) and creds.resolve_s3(bucket.credential, plain_creds, environ) is None:
            env = creds.s3_env_vars(bucket.credential)
            problems.append(
                f"{ns}buckets.{key}.credential: S3 credential {bucket.credential!r} is not set; "
                f"set credentials.s3.{bucket.credential}.accessKeyId and .secretAccessKey with "
                f"pulumi config set --secret --path (or export {env['accessKeyId']} and "
                f"{env['secretAccessKey']})"
            )
        if isinstance(bucket, S3Bucket) and bucket.external:
            continue  # not managed by the stack: no name rules of ours, no force-destroy question
        if bucket.force_destroy and cfg.environment == "prod":
            problems.append(
                f"{ns}buckets.{key}.forceDestroy: is not allowed in prod, where data buckets "
                "are protected; remove it"
            )

    def check_secret_refs(owner: str, secret_env: Mapping[str, str], credentials_ok: bool = False) -> None:
        for var, secret in secret_env.items():
            if credentials_ok and secret.startswith("credentials."):
                if credential_value(plain_creds, secret, environ) is None:
                    problems.append(
                        f"{ns}{owner}.secretEnv.{var}: {secret} is not set; set it with pulumi config set "
                        f"--secret --path {secret} <value> (or its environment fallback)"
                    )
                continue
            if secret not in cfg.secrets:
                known = ", ".join(sorted(cfg.secrets)) or "none are defined"
                problems.append(
                    f"{ns}{owner}.secretEnv.{var}: names secret {secret!r}, which is not in "
                    f"modelstack:secrets ({known}); add it or fix the name"
                )

    endpoint_models = {k for k, m in cfg.models.items() if m.endpoint is not None}
    routed_by: dict[str, str] = {}
    for key, service in cfg.services.items():
        check_secret_refs(f"services.{key}", service.secret_env)
        problems.extend(references.problems_in(service.env, cfg, "service", f"{ns}services.{key}.env"))
        for mount, volume in service.volumes.items():
            if not isinstance(cfg.buckets.get(volume.bucket), GcsBucket):
                problems.append(
                    f"{ns}services.{key}.volumes.{mount}.bucket: {volume.bucket!r} is not a kind: gcs bucket "
                    "of this stack; Cloud Run mounts GCS buckets only"
                )
        if service.redis and cfg.redis is None:
            problems.append(f"{ns}services.{key}.redis: the stack has no modelstack:redis; add it (e.g. {{memorySizeGb: 1}})")
        if service.callback_secret is not None:
            check_secret_refs(f"services.{key}", {"callbackSecret": service.callback_secret})
            if not service.models:
                problems.append(
                    f"{ns}services.{key}.callbackSecret: only applies with models: (the workers that call back)"
                )
        routed = sorted(endpoint_models) if service.models == "all" else list(service.models)
        problems.extend(_proxy_token_problems(cfg, key, service, [k for k in routed if k in endpoint_models]))
        for model_key in routed:
            if model_key not in endpoint_models:
                problems.append(
                    f"{ns}services.{key}.models: {model_key!r} is not a model with an endpoint "
                    f"(models with endpoints: {', '.join(sorted(endpoint_models)) or 'none'})"
                )
            elif service.callback_secret is not None:
                if model_key in routed_by:
                    problems.append(
                        f"{ns}services.{key}.models: workers of {model_key!r} already call back to "
                        f"service {routed_by[model_key]!r}; only one service may set callbackSecret for a model"
                    )
                routed_by[model_key] = key
        for bucket_key in service.buckets:
            bucket = cfg.buckets.get(bucket_key)
            if bucket is None:
                problems.append(
                    f"{ns}services.{key}.buckets.{bucket_key}: no such bucket in modelstack:buckets"
                )
            elif not isinstance(bucket, GcsBucket):
                problems.append(
                    f"{ns}services.{key}.buckets.{bucket_key}: only GCS buckets can be granted by "
                    "IAM; pass an S3 bucket's credentials through secretEnv instead"
                )
        problems.extend(image_problems(f"{ns}services.{key}.image", service.image, root))
    for key, model in cfg.models.items():
        if model.endpoint:
            check_secret_refs(f"models.{key}.endpoint", model.endpoint.secret_env, credentials_ok=True)
            problems.extend(
                references.problems_in(model.endpoint.env, cfg, "endpoint", f"{ns}models.{key}.endpoint.env")
            )
            if model.endpoint.provider == "runpod":
                problems.extend(image_problems(f"{ns}models.{key}.endpoint.image", model.endpoint.image, root))
            modal = model.endpoint.modal
            if modal is not None:
                for path in (modal.app_file, *modal.include):
                    if not (root / path).exists():
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal: {path} does not exist in this repository; "
                            "fix the path (relative to Pulumi.yaml)"
                        )
                for mount, volume in modal.volumes.items():
                    if volume.seed_dir is not None and not (root / volume.seed_dir).is_dir():
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal.volumes.{mount}.seedDir: {volume.seed_dir} "
                            "is not a directory in this repository"
                        )
                    if volume.seed_bucket is not None and not isinstance(cfg.buckets.get(volume.seed_bucket), S3Bucket):
                        s3_keys = ", ".join(k for k, b in cfg.buckets.items() if isinstance(b, S3Bucket)) or "none"
                        problems.append(
                            f"{ns}models.{key}.endpoint.modal.volumes.{mount}.seedBucket: {volume.seed_bucket!r} "
                            f"is not a kind: s3 bucket of this stack (s3 buckets: {s3_keys}); declare it under "
                            "modelstack:buckets"
                        )
        if model.bucket_source is not None:
            source_key = model.bucket_source[0]
            if not isinstance(cfg.buckets.get(source_key), S3Bucket):
                problems.append(
                    f"{ns}models.{key}.source: s3://{source_key}/... names no kind: s3 bucket of this "
                    "stack; declare it under modelstack:buckets (external: true if another system owns it)"
                )
        if model.mirror is not None:
            target = cfg.buckets.get(model.mirror.bucket)
            if isinstance(target, S3Bucket) and target.external:
                problems.append(
                    f"{ns}models.{key}.mirror.bucket: {model.mirror.bucket!r} is external; mirrors write, "
                    "so they need a bucket this stack manages"
                )
            elif not isinstance(target, S3Bucket):
                s3_keys = ", ".join(k for k, b in cfg.buckets.items() if isinstance(b, S3Bucket)) or "none"
                problems.append(
                    f"{ns}models.{key}.mirror.bucket: {model.mirror.bucket!r} is not a kind: s3 bucket "
                    f"of this stack (s3 buckets: {s3_keys}); declare it under modelstack:buckets"
                )
    return problems


def image_problems(path: str, image: str, root: Path) -> list[str]:
    if "@sha256:" in image:
        if not DIGEST_REF.match(image):
            return [f"{path}: {image!r} is not a valid image reference pinned by digest"]
        return []
    if re.match(r"^[a-z0-9.-]+\.[a-z]+(:\d+)?/", image) or ":" in image:
        return [
            f"{path}: image {image!r} is referenced by a mutable tag; pin it by digest "
            "(registry/name@sha256:...) or give a build directory such as images/gateway"
        ]
    if not (root / image / "Dockerfile").is_file():
        return [
            f"{path}: no Dockerfile at {image}/Dockerfile; create it or reference an image "
            "pinned by digest (registry/name@sha256:...)"
        ]
    return []
