"""Config that is valid but probably not what the user meant: warnings, not errors.

The program emits each with `pulumi.log.warn` (so `pulumi preview` shows it) and the offline plan
lists the warnings the program emitted and marks its status `warning`.

- A bucket the stack creates (not `external: true`) that seeds a Modal volume or holds a model's
  checkpoint is empty on the first deploy: the volume is seeded with nothing, the worker finds no
  weights. A key that looks like a real bucket name (`captionacc-prod`) silently creates a new
  `<project>-<stack>-captionacc-prod` instead of reading the existing one.
"""

from __future__ import annotations

from components.config.base import NAMESPACE
from components.config.buckets import S3Bucket, physical_bucket_name
from components.config.stack import StackConfig


def _new_bucket_warning(config: StackConfig, where: str, key: str, reads: str) -> str | None:
    bucket = config.modelstack.buckets.get(key)
    if not isinstance(bucket, S3Bucket) or bucket.external:
        return None
    name = physical_bucket_name(config.project, config.stack, key, bucket)
    return (
        f"{where}: bucket {key!r} is created by this stack ({name}), so it is empty on the first deploy and "
        f"{reads}; to read a bucket that already exists, point at it: "
        f"modelstack:buckets.{key}: {{name: <existing bucket name>, external: true}}"
    )


def config_warnings(config: StackConfig) -> list[str]:
    warnings: list[str] = []
    for key, model in config.modelstack.models.items():
        if model.bucket_source is not None:
            found = _new_bucket_warning(
                config, f"{NAMESPACE}models.{key}.source", model.bucket_source[0], "the worker finds no checkpoint in it"
            )
            if found:
                warnings.append(found)
        modal = model.endpoint.modal if model.endpoint is not None else None
        for mount, volume in (modal.volumes.items() if modal is not None else ()):
            if volume.seed_bucket is None:
                continue
            found = _new_bucket_warning(
                config,
                f"{NAMESPACE}models.{key}.endpoint.modal.volumes.{mount}.seedBucket",
                volume.seed_bucket,
                f"the volume at {mount} is seeded with nothing",
            )
            if found:
                warnings.append(found)
    return warnings
