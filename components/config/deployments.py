"""Cross-section checks for what is deployed beside models' endpoints: apps, Runpod templates, named
Modal secrets, uptime monitors and run-time budget guards. Run once the whole config parsed, after
`crossrefs` (which checks models, endpoints, buckets and services)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from components import naming, references
from components.config.base import NAMESPACE
from components.config.buckets import S3Bucket
from components.config.crossrefs import image_problems
from components.config.endpoints import ModalSettings
from components.config.secrets import credential_value, plain_credentials
from components.config.stack import ModelstackConfig, uses_gcp
from components.providers import credentials as creds

ns = NAMESPACE


def modal_app_name(stack: str, key: str, settings: ModalSettings | None) -> str:
    """The Modal app a model endpoint or an app deploys as (components/gpu/modal_backend.py)."""
    return (settings.app_name if settings and settings.app_name else None) or naming.modal_app_name(stack, key)


def modal_deployments(cfg: ModelstackConfig) -> dict[str, ModalSettings]:
    """Config path -> Modal settings of every Modal deployment (model endpoints and apps)."""
    found: dict[str, ModalSettings] = {}
    for key, model in cfg.models.items():
        if model.endpoint is not None and model.endpoint.provider == "modal":
            found[f"models.{key}.endpoint"] = model.endpoint.modal or ModalSettings()
    for key, app in cfg.apps.items():
        found[f"apps.{key}"] = app.modal or ModalSettings()
    return found


def _secret_ref_problems(
    cfg: ModelstackConfig, path: str, secret_env: Mapping[str, str], environ: Mapping[str, str]
) -> list[str]:
    problems = []
    plain = plain_credentials(cfg)
    for var, name in secret_env.items():
        if name.startswith("credentials."):
            if credential_value(plain, name, environ) is None:
                problems.append(
                    f"{ns}{path}.{var}: {name} is not set; set it with pulumi config set --secret --path "
                    f"{name} <value> (or its environment fallback)"
                )
        elif name not in cfg.secrets:
            known = ", ".join(sorted(cfg.secrets)) or "none are defined"
            problems.append(
                f"{ns}{path}.{var}: names secret {name!r}, which is not in modelstack:secrets ({known}); "
                "add it or fix the name"
            )
    return problems


def _app_file_problems(cfg: ModelstackConfig, path: str, modal: ModalSettings, root: Path) -> list[str]:
    problems = []
    for file in (modal.app_file, *modal.include):
        if not (root / file).exists():
            problems.append(
                f"{ns}{path}.modal: {file} does not exist in this repository; fix the path (relative to Pulumi.yaml)"
            )
    for mount, volume in modal.volumes.items():
        if volume.seed_dir is not None and not (root / volume.seed_dir).is_dir():
            problems.append(
                f"{ns}{path}.modal.volumes.{mount}.seedDir: {volume.seed_dir} is not a directory in this repository"
            )
        if volume.seed_bucket is not None and not isinstance(cfg.buckets.get(volume.seed_bucket), S3Bucket):
            s3_keys = ", ".join(k for k, b in cfg.buckets.items() if isinstance(b, S3Bucket)) or "none"
            problems.append(
                f"{ns}{path}.modal.volumes.{mount}.seedBucket: {volume.seed_bucket!r} is not a kind: s3 bucket "
                f"of this stack (s3 buckets: {s3_keys}); declare it under modelstack:buckets"
            )
    return problems


def deployment_problems(cfg: ModelstackConfig, stack: str, environ: Mapping[str, str], root: Path) -> list[str]:
    problems: list[str] = []
    plain = plain_credentials(cfg)

    for key, app in cfg.apps.items():
        path = f"apps.{key}"
        unknown = [m for m in app.models if m not in cfg.models]
        if unknown:
            problems.append(
                f"{ns}{path}.models: {', '.join(unknown)} is not in modelstack:models "
                f"(models: {', '.join(sorted(cfg.models)) or 'none'}); declare it there (source: hf://org/name@<sha>)"
            )
        problems.extend(_secret_ref_problems(cfg, f"{path}.secretEnv", app.secret_env, environ))
        problems.extend(references.problems_in(app.env, cfg, "endpoint", f"{ns}{path}.env"))
        assert app.modal is not None  # App requires modal.appFile
        problems.extend(_app_file_problems(cfg, path, app.modal, root))
    if cfg.apps and not any(m.endpoint and m.endpoint.provider == "modal" for m in cfg.models.values()):
        # (crossrefs asks for the token when a model endpoint is on Modal; once is enough)
        users = f"apps {', '.join(cfg.apps)} deploy to Modal"
        for spec in (creds.MODAL_TOKEN_ID, creds.MODAL_TOKEN_SECRET):
            if creds.resolve(spec, plain, environ) is None:
                problems.append(
                    f"{ns}credentials.{spec.config_field}: is required because {users}; "
                    f"set it with: {spec.set_command} (or export {spec.env_var})"
                )

    # Modal names are global within an environment: two deployments under one name would redeploy
    # each other, and two secrets under one name would overwrite each other.
    apps_seen: dict[tuple[str, str], str] = {}
    secrets_seen: dict[tuple[str, str], str] = {}
    for path, modal in modal_deployments(cfg).items():
        key = path.split(".")[1]
        name = (modal.environment, modal_app_name(stack, key, modal))
        if name in apps_seen:
            problems.append(
                f"{ns}{path}.modal.appName: {path} and {apps_seen[name]} both deploy Modal app {name[1]!r} in "
                f"environment {name[0]!r}; give one of them another appName"
            )
        apps_seen.setdefault(name, path)
        for secret_name, secret in modal.named_secrets.items():
            where = f"{path}.modal.namedSecrets.{secret_name}"
            if (modal.environment, secret_name) in secrets_seen:
                problems.append(
                    f"{ns}{where}: {secrets_seen[(modal.environment, secret_name)]} already creates Modal secret "
                    f"{secret_name!r} in environment {modal.environment!r}; declare it once and list it in the "
                    "other's modal.secrets"
                )
            secrets_seen.setdefault((modal.environment, secret_name), where)
            problems.extend(_secret_ref_problems(cfg, f"{where}.secretEnv", secret.secret_env, environ))
            problems.extend(references.problems_in(secret.env, cfg, "endpoint", f"{ns}{where}.env"))

    for key, template in cfg.templates.items():
        problems.extend(image_problems(f"{ns}templates.{key}.image", template.image, root))
        problems.extend(references.problems_in(template.env, cfg, "endpoint", f"{ns}templates.{key}.env"))
        for var, value in template.env.items():
            if any(ref.startswith("templates.") for ref in references.references(value)):
                problems.append(
                    f"{ns}templates.{key}.env.{var}: a template cannot refer to a template (they are created "
                    "side by side); give the value in the other template's env"
                )
    if cfg.templates and not any(m.endpoint and m.endpoint.provider == "runpod" for m in cfg.models.values()):
        spec = creds.RUNPOD_API_KEY
        if creds.resolve(spec, plain, environ) is None:
            problems.append(
                f"{ns}credentials.{spec.config_field}: is required because templates "
                f"{', '.join(cfg.templates)} are created on Runpod; set it with: {spec.set_command} "
                f"(or export {spec.env_var})"
            )

    for key, service in cfg.services.items():
        if service.monitor is None:
            continue
        if not service.public:
            problems.append(
                f"{ns}services.{key}.monitor: uptime checks call the service from the internet without "
                "credentials, so they only work on public: true services; make it public or remove monitor"
            )
        if not cfg.alerts.emails:
            problems.append(
                f"{ns}services.{key}.monitor: its alert goes to modelstack:alerts.emails, which lists no "
                "address; add one (modelstack:alerts: {emails: [ops@example.com]})"
            )

    budget = cfg.budget
    if budget is not None and budget.gcp_billing_account is not None and not uses_gcp(cfg):
        problems.append(
            f"{ns}budget.gcpBillingAccount: this stack creates nothing on Google Cloud, so a billing "
            "budget for its project would watch nothing; remove it (Modal and Runpod caps are set in their "
            "dashboards, see the README's Budget section)"
        )
    return problems
