"""The whole stack, wired from a validated `StackConfig`.

`Platform` is the one component `__main__.py` creates. It decides which Google APIs the stack needs,
creates buckets, secrets, the Firestore database, images and Cloud Run services in dependency
order, and collects the stack outputs. Everything environment-specific (protection, force-destroy,
deletion policies) is decided here from `config.protected`, so the components stay mechanical.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import budget
from components.apis import ProjectApis
from components.cloudrun import CloudRunService
from components.config import GcsBucket as GcsBucketConfig
from components.config import StackConfig, physical_bucket_name
from components.firestore import FirestoreDatabase
from components.images import ImageBuild, Registry
from components.naming import labels, physical_name
from components.secrets import ManagedSecret
from components.storage import GcsBucket

RUN = "run.googleapis.com"
ARTIFACT_REGISTRY = "artifactregistry.googleapis.com"
SECRET_MANAGER = "secretmanager.googleapis.com"
FIRESTORE = "firestore.googleapis.com"
IAM = "iam.googleapis.com"
STORAGE = "storage.googleapis.com"


def required_apis(config: StackConfig) -> list[str]:
    cfg = config.modelstack
    apis = {IAM}
    if any(b.kind == "gcs" for b in cfg.buckets.values()):
        apis.add(STORAGE)
    if cfg.secrets:
        apis.add(SECRET_MANAGER)
    if cfg.services:
        apis |= {RUN, ARTIFACT_REGISTRY}
    if needs_firestore(config):
        apis.add(FIRESTORE)
    return sorted(apis)


def needs_firestore(config: StackConfig) -> bool:
    return any(s.firestore for s in config.modelstack.services.values())


def is_digest_ref(image: str) -> bool:
    return "@sha256:" in image


class Platform(pulumi.ComponentResource):
    service_urls: dict[str, pulumi.Output[str]]
    bucket_names: dict[str, pulumi.Output[str]]
    image_refs: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None):
        # The budget gate runs before the first registration, so an over-budget stack creates
        # nothing (components/budget.py; the offline plan makes the same decision).
        budget.enforce(config)
        super().__init__("modelstack:index:Platform", name, None, opts)
        self.config = config
        cfg = config.modelstack
        self._name = name

        self.apis = ProjectApis(
            f"{name}-apis",
            {"project": config.project, "apis": required_apis(config)},
            opts=pulumi.ResourceOptions(parent=self),
        )

        self.buckets: dict[str, GcsBucket] = {}
        for key, bucket in cfg.buckets.items():
            if isinstance(bucket, GcsBucketConfig):
                self.buckets[key] = self._gcs_bucket(key, bucket)

        self.secrets: dict[str, ManagedSecret] = {
            key: ManagedSecret(
                f"{name}-secret-{key}",
                {
                    "project": config.project,
                    "secret_id": physical_name(config.stack, key, max_len=255),
                    "value": pulumi.Output.secret(spec.value.get_secret_value()),
                    "version": spec.version,
                    "protect": config.protected,
                    "labels": labels(config.stack, config.environment, f"secret-{key}"),
                    "depends_on": self.apis.depends(SECRET_MANAGER),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
            for key, spec in cfg.secrets.items()
        }

        self.firestore: FirestoreDatabase | None = None
        if needs_firestore(config):
            self.firestore = FirestoreDatabase(
                f"{name}-firestore",
                {
                    "project": config.project,
                    "database_name": physical_name("modelstack", config.stack, max_len=63, min_len=4),
                    "location": (cfg.firestore.location if cfg.firestore else None) or config.region,
                    "protect": config.protected,
                    "depends_on": self.apis.depends(FIRESTORE),
                },
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.registry: Registry | None = None
        self.images: dict[str, ImageBuild] = {}
        self.services: dict[str, CloudRunService] = {
            key: self._service(key) for key in cfg.services
        }

        self.service_urls = {k: s.url for k, s in self.services.items()}
        self.bucket_names = {k: b.name for k, b in self.buckets.items()}
        self.image_refs = {Path(k).name: i.ref for k, i in self.images.items()}
        self.register_outputs(
            {
                "serviceUrls": self.service_urls,
                "buckets": self.bucket_names,
                "images": self.image_refs,
            }
        )

    # ----------------------------------------------------------------------------------------

    def _gcs_bucket(self, key: str, bucket: GcsBucketConfig) -> GcsBucket:
        config = self.config
        force_destroy = bucket.force_destroy
        if force_destroy is None:
            force_destroy = not config.protected
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
                "force_destroy": force_destroy,
                "protect": config.protected,
                "labels": labels(config.stack, config.environment, f"bucket-{key}"),
                "depends_on": self.apis.depends(STORAGE),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _image(self, image: str) -> pulumi.Input[str]:
        """A digest reference for a service's `image:`: as given, or built from its directory."""
        if is_digest_ref(image):
            return image
        if image not in self.images:
            config = self.config
            if self.registry is None:
                self.registry = Registry(
                    f"{self._name}-registry",
                    {
                        "project": config.project,
                        "region": config.region,
                        "repository_id": physical_name("modelstack", config.stack, max_len=63),
                        "labels": labels(config.stack, config.environment, "registry"),
                        "depends_on": self.apis.depends(ARTIFACT_REGISTRY),
                    },
                    opts=pulumi.ResourceOptions(parent=self),
                )
            image_name = physical_name(Path(image).name, max_len=63)
            self.images[image] = ImageBuild(
                f"{self._name}-image-{image_name}",
                {
                    "registry": self.registry,
                    "image": image_name,
                    # The repo root is the build context so images can copy shared code
                    # (inference/); each image's Dockerfile lives in its own directory.
                    "context": config.root,
                    "dockerfile": config.root / image / "Dockerfile",
                    "tag": physical_name(config.stack, max_len=128),
                },
                opts=pulumi.ResourceOptions(parent=self.registry),
            )
        return self.images[image].ref

    def _service(self, key: str) -> CloudRunService:
        config = self.config
        spec = config.modelstack.services[key]
        env: dict[str, pulumi.Input[str]] = {
            "MODELSTACK_STACK": config.stack,
            "MODELSTACK_ENVIRONMENT": config.environment,
            "GCP_PROJECT": config.project,
        }
        bucket_access: dict[str, tuple[pulumi.Input[str], str]] = {}
        for bucket_key, access in spec.buckets.items():
            bucket = self.buckets[bucket_key]
            bucket_access[bucket_key] = (bucket.name, access)
            env[f"BUCKET_{bucket_key.upper().replace('-', '_')}"] = bucket.name
        database = None
        if spec.firestore and self.firestore is not None:
            database = self.firestore.name
            env["FIRESTORE_DATABASE"] = database
        env.update(spec.env)
        return CloudRunService(
            f"{self._name}-service-{key}",
            {
                "project": config.project,
                "region": config.region,
                "service_name": physical_name(key, config.stack, max_len=49),
                "account_id": physical_name("svc", key, config.stack, max_len=30, min_len=6),
                "spec": spec,
                "image": self._image(spec.image),
                "env": env,
                "secrets": {var: self.secrets[name] for var, name in spec.secret_env.items()},
                "buckets": bucket_access,
                "firestore_database": database,
                "deletion_protection": config.protected,
                "labels": labels(config.stack, config.environment, f"service-{key}"),
                "depends_on": self.apis.depends(RUN, IAM),
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
