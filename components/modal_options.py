"""The Modal deploy options of a model endpoint or an app, from its `modal:` config."""

from __future__ import annotations

from dataclasses import replace

from components.config import (
    ModalSettings,
    ModalVolumeSettings,
    StackConfig,
    is_model_cache,
    physical_bucket_name,
)
from components.config import S3Bucket as S3BucketConfig
from components.gpu.args import ModalOptions, ModalVolumeSpec


def modal_options(settings: object, config: StackConfig | None = None) -> ModalOptions:
    assert isinstance(settings, ModalSettings)

    def volume(path: str, v: ModalVolumeSettings) -> ModalVolumeSpec:
        spec = ModalVolumeSpec(
            name=v.name or "", seed_dir=v.seed_dir or "", seed_path=v.seed_path, model_cache=is_model_cache(path, v)
        )
        if v.seed_bucket is None:
            return spec
        # A bucket seed names a bucket key; the volume gets what reading it takes (the physical
        # name, the store and the credential's name), never the keys themselves.
        assert config is not None, "a volume seeded from a bucket needs the stack config"
        bucket = config.modelstack.buckets[v.seed_bucket]
        assert isinstance(bucket, S3BucketConfig)  # components.config checked the reference
        return replace(
            spec,
            seed_bucket=physical_bucket_name(config.project, config.stack, v.seed_bucket, bucket),
            seed_endpoint=bucket.endpoint,
            seed_region=bucket.region,
            seed_credential=bucket.credential,
            seed_prefix=v.seed_prefix or "",
        )

    return ModalOptions(
        environment=settings.environment,
        app_name=settings.app_name or "",
        app_file=settings.app_file,
        include=tuple(settings.include),
        web_endpoints=tuple(settings.web_endpoints),
        volumes={path: volume(path, v) for path, v in settings.volumes.items()},
        secrets=tuple(settings.secrets),
        warm_schedule=settings.warm_schedule or "",
        proxy_auth=settings.proxy_auth,
        startup_timeout=settings.startup_timeout_seconds,
    )

