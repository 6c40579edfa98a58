"""The typed stack config: everything a user writes in `Pulumi.<stack>.yaml`, validated up front.

`load_stack_config()` reads the Pulumi config of the running program, validates all of it before a
single resource is registered, and either returns a frozen `StackConfig` or raises `ConfigError`
holding one message per problem, each naming the key path and the fix:

    modelstack:models.flux.endpoint.workers.max: must be >= min (2); raise max or lower min

Rules the models enforce beyond types:
- unknown keys are errors (a typo must never silently fall back to a default);
- credentials and secret values must be Pulumi secrets (`pulumi config set --secret --path ...`)
  and are held as `SecretStr`, so no repr, log or error message can print them;
- cross references (a service's `secretEnv` naming a secret, a bucket naming an S3 credential, an
  endpoint provider whose credentials are missing) are checked once the whole config parsed.

Layout (one module per concern; import from `components.config`, which re-exports the public names):
- `base`: namespace, the strict base model, naming patterns, GCP regions;
- `secrets`: vendor credentials and Secret Manager secrets;
- `buckets`: GCS and S3-compatible buckets and their naming rules;
- `endpoints`: GPU endpoints with their Modal and Runpod settings;
- `models`: a model's source, endpoint, usage and mirror;
- `apps`: Modal app files that serve several pinned models (or none) in one deployment;
- `templates`: Runpod templates with no endpoint (an image other code starts endpoints from);
- `services`: Cloud Run services, Redis and Firestore;
- `monitoring`: uptime checks that match JSON fields, and where alerts go;
- `stack`: the whole namespace (`ModelstackConfig`) and the validated `StackConfig`;
- `errors`: pydantic errors as one 'key.path: message' line each (`ConfigError`);
- `crossrefs`: checks across sections once the whole config parsed;
- `deployments`: the same for apps, templates, named Modal secrets, monitors and budget guards;
- `loading`: reading the Pulumi config and the `validate*` entry points.
"""

from components.config.apps import App
from components.config.base import (
    FIRESTORE_MULTI_REGIONS,
    GCP_REGIONS,
    GCS_MULTI_REGIONS,
    NAMESPACE,
    PROJECT,
    RESERVED_ENV,
    SECRET_TOP_LEVEL_KEYS,
    TOP_LEVEL_KEYS,
    StrictModel,
)
from components.config.buckets import (
    Bucket,
    CorsRule,
    GcsBucket,
    S3Bucket,
    bucket_name_problem,
    physical_bucket_name,
)
from components.config.crossrefs import PROXY_TOKEN_ENV, requires_proxy_auth
from components.config.endpoints import (
    Endpoint,
    GpuSpec,
    ModalSettings,
    ModalVolumeSettings,
    NamedModalSecret,
    RunpodSettings,
    Scaling,
    Workers,
    is_model_cache,
)
from components.config.errors import ConfigError
from components.config.loading import load_stack_config, read_pulumi_config, validate, validate_flat
from components.config.models import Mirror, Model, Task, Usage
from components.config.monitoring import Alerts, Monitor
from components.config.secrets import (
    Credentials,
    S3Credential,
    SecretSpec,
    credential_value,
    plain_credentials,
)
from components.config.services import Firestore, Probe, Probes, Redis, Service, ServiceVolume
from components.config.stack import Budget, Environment, ModelstackConfig, StackConfig, uses_gcp
from components.config.templates import Template

__all__ = [
    "FIRESTORE_MULTI_REGIONS", "GCP_REGIONS", "GCS_MULTI_REGIONS", "NAMESPACE", "PROJECT", "PROXY_TOKEN_ENV",
    "RESERVED_ENV", "SECRET_TOP_LEVEL_KEYS", "TOP_LEVEL_KEYS", "Alerts", "App", "Bucket", "Budget",
    "ConfigError", "CorsRule", "Credentials", "Endpoint", "Environment", "Firestore", "GcsBucket", "GpuSpec",
    "Mirror", "ModalSettings", "ModalVolumeSettings", "Model", "ModelstackConfig", "Monitor",
    "NamedModalSecret", "Probe", "Probes", "Redis", "RunpodSettings", "S3Bucket", "S3Credential", "Scaling",
    "SecretSpec", "Service", "ServiceVolume", "StackConfig", "StrictModel", "Task", "Template", "Usage",
    "Workers", "bucket_name_problem", "credential_value", "is_model_cache", "load_stack_config",
    "physical_bucket_name", "plain_credentials", "read_pulumi_config", "requires_proxy_auth", "uses_gcp",
    "validate", "validate_flat",
]
