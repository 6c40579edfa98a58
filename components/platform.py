"""The whole stack, wired from a validated `StackConfig`.

`Platform` is the one component `__main__.py` creates. It decides which Google APIs the stack needs
and creates, in dependency order: buckets (GCS and S3-compatible), Secret Manager secrets, the
Firestore database, each model's supply chain (pinned to a commit, sized, mirrored), the GPU
endpoints serving them, images, and the Cloud Run services in front. Everything
environment-specific (protection, force-destroy, deletion policies) is decided here from
`config.protected`, so the components stay mechanical.

One cycle is broken on purpose: a service routes to GPU endpoints (it needs their URLs), and those
endpoints' workers call the service back when they are ready (they need its URL). Cloud Run URLs
are deterministic (`https://<service>-<project number>.<region>.run.app`), so the workers get the
predicted URL and no resource waits on the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from components import budget, references
from components.apis import ProjectApis
from components.cloudrun import CloudRunService
from components.config import (
    Endpoint,
    Service,
    StackConfig,
    credential_value,
    physical_bucket_name,
    plain_credentials,
    uses_gcp,
)
from components.config import GcsBucket as GcsBucketConfig
from components.config import S3Bucket as S3BucketConfig
from components.config.warnings import config_warnings
from components.firestore import FirestoreDatabase
from components.gpu.endpoint import GpuEndpoint, RegistryCredential
from components.gpu.modal_backend import ModalOptions
from components.images import ImageBuild, Registry, RegistryPullAccess
from components.modal_options import modal_options as _modal_options
from components.models import ModelSupply
from components.naming import labels, physical_name
from components.platform_deployments import DeploymentsMixin, guard_apis, templates_build_images
from components.redis import RedisQueue
from components.secrets import ManagedSecret
from components.storage import GcsBucket, S3CompatibleBucket
from inference import contract

RUN = "run.googleapis.com"
ARTIFACT_REGISTRY = "artifactregistry.googleapis.com"
SECRET_MANAGER = "secretmanager.googleapis.com"
FIRESTORE = "firestore.googleapis.com"
IAM = "iam.googleapis.com"
STORAGE = "storage.googleapis.com"

CALLBACK_PATH = "/internal/ready"
"""Where the gateway takes workers' readiness callbacks (inference/gateway)."""


REDIS = "redis.googleapis.com"
COMPUTE = "compute.googleapis.com"


def required_apis(config: StackConfig) -> list[str]:
    cfg = config.modelstack
    if not uses_gcp(cfg):
        return []  # e.g. a Modal-only stack: nothing on Google Cloud at all
    apis = {IAM}
    if any(b.kind == "gcs" for b in cfg.buckets.values()):
        apis.add(STORAGE)
    if service_secret_names(config):
        apis.add(SECRET_MANAGER)
    if cfg.services or runpod_builds_images(config) or templates_build_images(config):
        apis.add(ARTIFACT_REGISTRY)
    if cfg.services:
        apis.add(RUN)
    if needs_firestore(config):
        apis.add(FIRESTORE)
    if cfg.redis is not None:
        apis |= {REDIS, COMPUTE}
    apis |= guard_apis(config)
    return sorted(apis)


def needs_firestore(config: StackConfig) -> bool:
    return any(s.firestore for s in config.modelstack.services.values())


def runpod_builds_images(config: StackConfig) -> bool:
    return any(
        m.endpoint is not None and m.endpoint.provider == "runpod" and not is_digest_ref(m.endpoint.image)
        for m in config.modelstack.models.values()
    )


def service_secret_names(config: StackConfig) -> set[str]:
    """Secrets Cloud Run reads: only these get Secret Manager copies (workers get theirs directly)."""
    names: set[str] = set()
    for service in config.modelstack.services.values():
        names |= set(service.secret_env.values())
        if service.callback_secret:
            names.add(service.callback_secret)
    return names


def routed_models(config: StackConfig, service: Service) -> list[str]:
    with_endpoint = [k for k, m in config.modelstack.models.items() if m.endpoint is not None]
    return with_endpoint if service.models == "all" else list(service.models)


def is_digest_ref(image: str) -> bool:
    return "@sha256:" in image


class Platform(DeploymentsMixin, pulumi.ComponentResource):
    service_urls: dict[str, pulumi.Output[str]]
    bucket_names: dict[str, pulumi.Output[str]]
    image_refs: dict[str, pulumi.Output[str]]
    endpoints: dict[str, dict[str, pulumi.Output[str]]]
    models: dict[str, dict[str, pulumi.Output[str]]]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        # The budget gate runs before the first registration, so an over-budget stack creates
        # nothing (components/budget.py; the offline plan makes the same decision).
        budget.enforce(config)
        super().__init__("modelstack:index:Platform", name, None, opts)
        for warning in config_warnings(config):
            pulumi.log.warn(warning, resource=self)
        self.config = config
        cfg = config.modelstack
        self._name = name

        apis = required_apis(config)
        self.apis: ProjectApis | None = (
            ProjectApis(f"{name}-apis", {"project": config.project, "apis": apis}, opts=pulumi.ResourceOptions(parent=self))
            if apis
            else None
        )

        self.buckets: dict[str, GcsBucket] = {}
        self.s3_buckets: dict[str, S3CompatibleBucket] = {}
        for key, bucket in cfg.buckets.items():
            if isinstance(bucket, GcsBucketConfig):
                self.buckets[key] = self._gcs_bucket(key, bucket)
            elif not bucket.external:  # external buckets are only read, never managed
                self.s3_buckets[key] = self._s3_bucket(key, bucket)

        used_by_services = service_secret_names(config)
        self.secrets: dict[str, ManagedSecret] = {
            key: ManagedSecret(
                f"{name}-secret-{key}",
                {
                    "project": config.project,
                    "secret_id": physical_name(config.stack, key, max_len=255),
                    "value": self._secret_value(key),
                    "version": spec.version,
                    "protect": config.protected,
                    "labels": labels(config.stack, config.environment, f"secret-{key}"),
                    "depends_on": self._depends(SECRET_MANAGER),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, spec in cfg.secrets.items()
            if key in used_by_services
        }

        self.firestore: FirestoreDatabase | None = None
        if needs_firestore(config):
            self.firestore = FirestoreDatabase(
                f"{name}-firestore",
                {
                    "project": config.project,
                    "database_name": (cfg.firestore.database if cfg.firestore else None)
                    or physical_name("modelstack", config.stack, max_len=63, min_len=4),
                    "location": (cfg.firestore.location if cfg.firestore else None) or config.region,
                    "protect": config.protected,
                    "depends_on": self._depends(FIRESTORE),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.redis: RedisQueue | None = None
        if cfg.redis is not None:
            self.redis = RedisQueue(
                f"{name}-redis",
                {
                    "project": config.project,
                    "region": config.region,
                    "name": physical_name("modelstack", config.stack, max_len=40),
                    "spec": cfg.redis,
                    "protect": config.protected,
                    "labels": labels(config.stack, config.environment, "redis"),
                    "depends_on": self._depends(REDIS, COMPUTE, SECRET_MANAGER),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.registry: Registry | None = None
        self.images: dict[str, ImageBuild] = {}
        self.pull_access: RegistryPullAccess | None = None

        self.supplies: dict[str, ModelSupply] = {
            key: ModelSupply(
                f"{name}-model-{key}",
                {
                    "key": key,
                    "model": model,
                    "mirror_bucket": self.s3_buckets[model.mirror.bucket] if model.mirror else None,
                    "protect": config.protected,
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, model in cfg.models.items()
        }
        # Templates before endpoints and apps: their env may name a template (${templates.<key>.id}).
        self.templates = self._templates()
        self.gpu_endpoints: dict[str, GpuEndpoint] = {
            key: self._endpoint(key) for key, model in cfg.models.items() if model.endpoint is not None
        }
        self.apps = self._apps()

        self.services: dict[str, CloudRunService] = {key: self._service(key) for key in cfg.services}
        self._guards()

        self.service_urls = {k: s.url for k, s in self.services.items()}
        self.bucket_names = {k: b.name for k, b in {**self.buckets, **self.s3_buckets}.items()}
        self.image_refs = {Path(k).name: i.ref for k, i in self.images.items()}
        self.endpoints = {
            k: {"provider": pulumi.Output.from_input(e.provider), "id": e.endpoint_id, "url": e.url, "version": e.version}
            for k, e in self.gpu_endpoints.items()
        }
        self.models = {
            k: {"repo": s.repo_id, "sha": s.sha, **({"manifest": s.manifest_uri} if s.manifest_uri is not None else {})}
            for k, s in self.supplies.items()
        }
        self.app_outputs = {k: {"name": pulumi.Output.from_input(a.name), "id": a.app_id, "url": a.url} for k, a in self.apps.items()}
        self.template_ids = {k: t.template_id for k, t in self.templates.items()}
        self.register_outputs(
            {
                "serviceUrls": self.service_urls,
                "buckets": self.bucket_names,
                "images": self.image_refs,
                "endpoints": self.endpoints,
                "models": self.models,
                "apps": self.app_outputs,
                "templates": self.template_ids,
            }
        )

    # ----------------------------------------------------------------------------------------
    # buckets, secrets, images

    def _depends(self, *apis: str) -> list[pulumi.Resource]:
        return self.apis.depends(*apis) if self.apis is not None else []

    def _reference(self, ref: str, for_worker: bool) -> pulumi.Input[str]:
        """The value of one `${...}` reference (components/references.py), validated by the config."""
        config = self.config
        scalars = {"stack": config.stack, "project": config.project, "region": config.region}
        if ref in scalars:
            return scalars[ref]
        section, key, field = ref.split(".")
        if section == "buckets":
            if key in self.buckets:
                return self.buckets[key].name
            spec = config.modelstack.buckets[key]
            assert isinstance(spec, S3BucketConfig)
            managed = self.s3_buckets.get(key)
            return {
                "name": managed.name if managed else physical_bucket_name(config.project, config.stack, key, spec),
                "endpoint": spec.endpoint,
                "region": spec.region,
                "publicUrl": spec.public_url or "",
            }[field]
        if section == "models":
            supply = self.supplies[key]
            return {"repo": supply.repo_id, "sha": supply.sha, "manifest": supply.manifest_uri or ""}[field]
        if section == "endpoints":
            endpoint = self.gpu_endpoints[key]
            return endpoint.url if field == "url" else endpoint.endpoint_id
        if section == "templates":
            template = self.templates[key]
            return {"id": template.template_id, "name": template.template_name, "image": template.image}[field]
        # services: workers get the predicted URL (the service may not exist yet); services the real one
        if for_worker or key not in getattr(self, "services", {}):
            return self._predicted_service_url(key)
        return self.services[key].url

    def _env(self, env: dict[str, str], for_worker: bool) -> dict[str, pulumi.Input[str]]:
        return {var: references.resolve(value, lambda ref: self._reference(ref, for_worker)) for var, value in env.items()}

    def _force_destroy(self, configured: bool | None) -> bool:
        return (not self.config.protected) if configured is None else configured

    def _gcs_bucket(self, key: str, bucket: GcsBucketConfig) -> GcsBucket:
        config = self.config
        return GcsBucket(
            f"{self._name}-bucket-{key}",
            {
                "project": config.project,
                "bucket_name": physical_bucket_name(config.project, config.stack, key, bucket),
                "location": bucket.location,
                "storage_class": bucket.storage_class,
                "versioning": bucket.versioning,
                "expire_days": bucket.expire_days,
                "cors": bucket.cors,
                "public": bucket.public,
                "force_destroy": self._force_destroy(bucket.force_destroy),
                "protect": config.protected,
                "labels": labels(config.stack, config.environment, f"bucket-{key}"),
                "depends_on": self._depends(STORAGE),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _s3_bucket(self, key: str, bucket: S3BucketConfig) -> S3CompatibleBucket:
        config = self.config
        return S3CompatibleBucket(
            f"{self._name}-bucket-{key}",
            {
                "bucket_name": physical_bucket_name(config.project, config.stack, key, bucket),
                "spec": bucket,
                "force_destroy": self._force_destroy(bucket.force_destroy),
                "protect": config.protected,
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _secret_value(self, key: str) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.config.modelstack.secrets[key].value.get_secret_value())

    def _registry(self) -> Registry:
        if self.registry is None:
            config = self.config
            self.registry = Registry(
                f"{self._name}-registry",
                {
                    "project": config.project,
                    "region": config.region,
                    "repository_id": physical_name("modelstack", config.stack, max_len=63),
                    "labels": labels(config.stack, config.environment, "registry"),
                    "depends_on": self._depends(ARTIFACT_REGISTRY),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
        return self.registry

    def _image(self, image: str) -> pulumi.Input[str]:
        """A digest reference for an `image:` setting: as given, or built from its directory."""
        if is_digest_ref(image):
            return image
        if image not in self.images:
            config = self.config
            registry = self._registry()
            image_name = physical_name(Path(image).name, max_len=63)
            self.images[image] = ImageBuild(
                f"{self._name}-image-{image_name}",
                {
                    "registry": registry,
                    "image": image_name,
                    # The repo root is the build context so images can copy shared code
                    # (inference/); each image's Dockerfile lives in its own directory.
                    "context": config.root,
                    "dockerfile": config.root / image / "Dockerfile",
                    "tag": physical_name(config.stack, max_len=128),
                },
                opts=pulumi.ResourceOptions(parent=registry),
            )
        return self.images[image].ref

    # ----------------------------------------------------------------------------------------
    # GPU endpoints

    def _callback_service(self, model_key: str) -> tuple[str, str] | None:
        """(service key, callback secret) of the service this model's workers report ready to."""
        for key, service in self.config.modelstack.services.items():
            if service.callback_secret and model_key in routed_models(self.config, service):
                return key, service.callback_secret
        return None

    def _service_name(self, key: str) -> str:
        return physical_name(key, self.config.stack, max_len=49)

    def _predicted_service_url(self, key: str) -> pulumi.Output[str]:
        project = gcp.organizations.get_project_output(
            project_id=self.config.project, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return pulumi.Output.concat(
            "https://", self._service_name(key), "-", project.number, ".", self.config.region, ".run.app"
        )

    def _seed_buckets(self, endpoint: Endpoint) -> list[pulumi.Resource]:
        if endpoint.modal is None:
            return []
        keys = {v.seed_bucket for v in endpoint.modal.volumes.values() if v.seed_bucket}
        return [self.s3_buckets[k].bucket for k in sorted(keys) if k in self.s3_buckets]

    def _worker_secret(self, name: str) -> pulumi.Output[str]:
        """A `secretEnv` value for a worker: a stack secret, or a credential it needs at run time."""
        if name.startswith("credentials."):
            value = credential_value(plain_credentials(self.config.modelstack), name, os.environ)
            return pulumi.Output.secret(value or "")
        return self._secret_value(name)

    def _mirror_access(self, key: str) -> tuple[dict[str, pulumi.Input[str]], dict[str, pulumi.Input[str]]]:
        """Env and secret env a worker needs to read its model's mirror (boto3's own variables)."""
        model = self.config.modelstack.models[key]
        supply = self.supplies[key]
        if model.mirror is None or supply.manifest_uri is None:
            return {}, {}
        bucket = self.s3_buckets[model.mirror.bucket].spec
        credential = f"credentials.s3.{bucket.credential}"
        env: dict[str, pulumi.Input[str]] = {
            contract.MODEL_MANIFEST: supply.manifest_uri,
            "AWS_ENDPOINT_URL": bucket.endpoint,
            "AWS_REGION": bucket.region,
        }
        secret_env: dict[str, pulumi.Input[str]] = {
            "AWS_ACCESS_KEY_ID": self._worker_secret(f"{credential}.accessKeyId"),
            "AWS_SECRET_ACCESS_KEY": self._worker_secret(f"{credential}.secretAccessKey"),
        }
        return env, secret_env

    def _endpoint(self, key: str) -> GpuEndpoint:
        config = self.config
        model = config.modelstack.models[key]
        endpoint = model.endpoint
        assert endpoint is not None
        supply = self.supplies[key]

        env = self._env(endpoint.env, for_worker=True)
        if model.task is None and model.on_hub:
            # The worker refuses to start without a task; without `task:` it is the Hub's pipeline tag.
            env.setdefault(contract.MODEL_TASK, supply.task)
        secret_env: dict[str, pulumi.Input[str]] = {
            var: self._worker_secret(name) for var, name in endpoint.secret_env.items()
        }
        mirror_env, mirror_secrets = self._mirror_access(key)
        env.update(mirror_env)
        secret_env.update(mirror_secrets)
        callback = self._callback_service(key)
        if callback is not None:
            service_key, secret_name = callback
            env[contract.CALLBACK_URL] = pulumi.Output.concat(self._predicted_service_url(service_key), CALLBACK_PATH)
            secret_env[contract.CALLBACK_SECRET] = self._secret_value(secret_name)

        return GpuEndpoint(
            f"{self._name}-endpoint-{key}",
            {
                "stack": config.stack,
                "environment": config.environment,
                "model_key": key,
                "model": model,
                "endpoint": endpoint,
                "revision": supply.sha,
                "gpu_ids": supply.gpu_ids or [],
                "image": self._image(endpoint.image) if endpoint.provider == "runpod" else None,
                **self._registry_credential(endpoint),
                "env": env,
                "secret_env": secret_env,
                "protect": config.protected,
                "modal": (
                    self._with_named_secrets(_modal_options(endpoint.modal, config), endpoint.modal)
                    if endpoint.modal is not None
                    else ModalOptions()
                ),
                "container_disk_gb": supply.disk_gb,
            },
            # Volumes seeded from a bucket this stack creates must wait for it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[supply, *self._seed_buckets(endpoint)]),
        )

    def _registry_credential(self, endpoint: Endpoint) -> dict[str, RegistryCredential]:
        """Runpod pulls images we build from the stack's private registry with a read-only key."""
        if endpoint.provider != "runpod" or is_digest_ref(endpoint.image):
            return {}
        return {"registry": self._pull_credential()}

    def _pull_credential(self) -> RegistryCredential:
        """The read-only key Runpod pulls images from the stack's registry with (one per stack)."""
        if self.pull_access is None:
            self.pull_access = RegistryPullAccess(
                f"{self._name}-registry-pull",
                {
                    "registry": self._registry(),
                    "account_id": physical_name("pull", self.config.stack, max_len=30, min_len=6),
                    "rotation": "1",
                },
                opts=pulumi.ResourceOptions(parent=self._registry()),
            )
        return RegistryCredential(self.pull_access.username, self.pull_access.password)

    # ----------------------------------------------------------------------------------------
    # Cloud Run services

    def _service(self, key: str) -> CloudRunService:
        config = self.config
        spec = config.modelstack.services[key]
        env: dict[str, pulumi.Input[str]] = {
            contract.SERVICE_STACK: config.stack,
            contract.SERVICE_ENVIRONMENT: config.environment,
            contract.GCP_PROJECT: config.project,
        }
        bucket_access: dict[str, tuple[pulumi.Input[str], str]] = {}
        for bucket_key, access in spec.buckets.items():
            bucket = self.buckets[bucket_key]
            bucket_access[bucket_key] = (bucket.name, access)
            env[f"BUCKET_{bucket_key.upper().replace('-', '_')}"] = bucket.name
        database = None
        if spec.firestore and self.firestore is not None:
            database = self.firestore.name
            env[contract.FIRESTORE_DATABASE] = database
        routed = routed_models(config, spec)
        if routed:
            env[contract.SERVICE_MODELS] = self._routes(routed)
        secrets = {var: self.secrets[name] for var, name in spec.secret_env.items()}
        if spec.callback_secret:
            secrets[contract.WORKER_CALLBACK_KEY] = self.secrets[spec.callback_secret]
        vpc = None
        if spec.redis and self.redis is not None:
            env[contract.REDIS_HOST] = self.redis.host
            env[contract.REDIS_PORT] = self.redis.port.apply(str)
            secrets[contract.REDIS_URL] = self.redis.url_secret
            vpc = (self.redis.network, self.redis.subnetwork)
        env.update(self._env(spec.env, for_worker=False))
        volumes = {path: (self.buckets[v.bucket].name, v.read_only) for path, v in spec.volumes.items()}
        return CloudRunService(
            f"{self._name}-service-{key}",
            {
                "project": config.project,
                "region": config.region,
                "service_name": self._service_name(key),
                "account_id": physical_name("svc", key, config.stack, max_len=30, min_len=6),
                "spec": spec,
                "image": self._image(spec.image),
                "env": env,
                "secrets": secrets,
                "buckets": bucket_access,
                "firestore_database": database,
                "volumes": volumes,
                "vpc": vpc,
                "deletion_protection": config.protected,
                "labels": labels(config.stack, config.environment, f"service-{key}"),
                "depends_on": self._depends(RUN, IAM),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _routes(self, model_keys: list[str]) -> pulumi.Output[str]:
        """MODELSTACK_MODELS for the gateway: where each model's endpoint answers, and how long it may take."""
        entries = {}
        for key in model_keys:
            endpoint = self.gpu_endpoints[key]
            spec = self.config.modelstack.models[key].endpoint
            assert spec is not None
            entries[key] = {
                "provider": spec.provider,
                "url": endpoint.url,
                "timeoutSeconds": spec.execution_timeout_seconds,
            }
        return pulumi.Output.from_input(entries).apply(lambda value: json.dumps(value, sort_keys=True))
