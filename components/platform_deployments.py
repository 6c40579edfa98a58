"""What `Platform` deploys beside model endpoints and services, kept out of platform.py:

- `modelstack:apps`: one `GpuApp` per app, fed the pinned repo and sha of each model it lists;
- `modelstack:templates`: one `GpuTemplate` per Runpod template (image built and pushed here);
- named Modal secrets of endpoints and apps (`modal.namedSecrets`), resolved to values;
- run-time guards on Google Cloud: alert email channels, uptime monitors of services, and the
  Cloud Billing budget (`budget.gcpBillingAccount`).

`Platform` inherits this mixin; the methods use its helpers (`_env`, `_worker_secret`, `_image`,
`_depends`...) so references and secrets resolve the same way everywhere.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_gcp as gcp

from components.config import ModalSettings, StackConfig, physical_bucket_name, uses_gcp
from components.gpu.app import GpuApp, PinnedModelRef
from components.gpu.catalog import explicit_gpu_ids
from components.gpu.modal_backend import ModalOptions
from components.gpu.template import GpuTemplate
from components.modal_options import modal_options as _modal_options
from components.monitoring import AlertChannels, BillingBudget, UptimeMonitor

if TYPE_CHECKING:
    from components.cloudrun import CloudRunService
    from components.gpu.endpoint import RegistryCredential
    from components.models import ModelSupply

MONITORING = "monitoring.googleapis.com"
BILLING_BUDGETS = "billingbudgets.googleapis.com"


def guard_apis(config: StackConfig) -> set[str]:
    """Google APIs the run-time guards need (monitoring for uptime checks and email channels)."""
    cfg = config.modelstack
    if not uses_gcp(cfg):
        return set()
    apis: set[str] = set()
    if any(s.monitor is not None for s in cfg.services.values()):
        apis.add(MONITORING)
    if cfg.budget is not None and cfg.budget.gcp_billing_account is not None:
        apis.add(BILLING_BUDGETS)
        if cfg.alerts.emails:
            apis.add(MONITORING)
    return apis


def templates_build_images(config: StackConfig) -> bool:
    return any("@sha256:" not in t.image for t in config.modelstack.templates.values())


class DeploymentsMixin:
    config: StackConfig
    _name: str
    supplies: dict[str, ModelSupply]
    services: dict[str, CloudRunService]

    if TYPE_CHECKING:  # provided by Platform

        def _env(self, env: dict[str, str], for_worker: bool) -> dict[str, pulumi.Input[str]]: ...
        def _worker_secret(self, name: str) -> pulumi.Output[str]: ...
        def _image(self, image: str) -> pulumi.Input[str]: ...
        def _depends(self, *apis: str) -> list[pulumi.Resource]: ...
        def _pull_credential(self) -> RegistryCredential: ...

    # ------------------------------------------------------------------------------ Modal secrets

    def _with_named_secrets(self, options: ModalOptions, settings: ModalSettings | None) -> ModalOptions:
        """`options` plus the values of the settings' named Modal secrets (plain and secret keys)."""
        if settings is None or not settings.named_secrets:
            return options
        named: dict[str, dict[str, pulumi.Input[str]]] = {}
        for secret_name, spec in settings.named_secrets.items():
            values: dict[str, pulumi.Input[str]] = dict(self._env(spec.env, for_worker=True))
            values.update({var: self._worker_secret(ref) for var, ref in spec.secret_env.items()})
            named[secret_name] = values
        return replace(options, named_secrets=named)

    # ------------------------------------------------------------------------------ apps

    def _apps(self) -> dict[str, GpuApp]:
        config = self.config
        apps: dict[str, GpuApp] = {}
        for key, app in config.modelstack.apps.items():
            models = {
                model_key: PinnedModelRef(
                    repo_id=self._model_location(model_key),
                    sha=self.supplies[model_key].sha,
                    task=config.modelstack.models[model_key].task or "",
                )
                for model_key in app.models
            }
            min_vram = app.gpu.min_vram_gb if isinstance(app.gpu.min_vram_gb, float) else None
            options = self._with_named_secrets(_modal_options(app.modal, config), app.modal)
            seeds = self._seed_bucket_resources(app.modal)
            apps[key] = GpuApp(
                f"{self._name}-app-{key}",
                {
                    "stack": config.stack,
                    "environment": config.environment,
                    "app_key": key,
                    "app": app,
                    "models": models,
                    "gpu_ids": explicit_gpu_ids("modal", min_vram, app.gpu.names(), app.gpu.count),
                    "env": self._env(app.env, for_worker=True),
                    "secret_env": {var: self._worker_secret(ref) for var, ref in app.secret_env.items()},
                    "modal": options,
                    "protect": config.protected,
                },
                opts=pulumi.ResourceOptions(
                    parent=self,  # type: ignore[arg-type]
                    depends_on=[*(self.supplies[m] for m in app.models), *seeds],
                ),
            )
        return apps

    def _model_location(self, key: str) -> pulumi.Input[str]:
        """A Hub model's repo id, or for a bucket checkpoint the s3:// URI of its physical bucket."""
        config = self.config
        model = config.modelstack.models[key]
        if model.bucket_source is None:
            return self.supplies[key].repo_id
        bucket_key, path = model.bucket_source
        bucket = config.modelstack.buckets[bucket_key]
        return f"s3://{physical_bucket_name(config.project, config.stack, bucket_key, bucket)}/{path}"

    def _seed_bucket_resources(self, settings: ModalSettings | None) -> list[pulumi.Resource]:
        if settings is None:
            return []
        buckets: dict[str, Any] = getattr(self, "s3_buckets", {})
        keys = {v.seed_bucket for v in settings.volumes.values() if v.seed_bucket}
        return [buckets[k].bucket for k in sorted(keys) if k in buckets]

    # ------------------------------------------------------------------------------ templates

    def _templates(self) -> dict[str, GpuTemplate]:
        config = self.config
        templates: dict[str, GpuTemplate] = {}
        for key, spec in config.modelstack.templates.items():
            built_here = "@sha256:" not in spec.image
            templates[key] = GpuTemplate(
                f"{self._name}-template-{key}",
                {
                    "stack": config.stack,
                    "template_key": key,
                    "spec": spec,
                    "image": self._image(spec.image),
                    "env": self._env(spec.env, for_worker=True),
                    "registry": self._pull_credential() if built_here else None,
                    "protect": config.protected,
                },
                opts=pulumi.ResourceOptions(parent=self),  # type: ignore[arg-type]
            )
        return templates

    # ------------------------------------------------------------------------------ guards

    def _guards(self) -> None:
        config = self.config
        cfg = config.modelstack
        monitored = {k: s for k, s in cfg.services.items() if s.monitor is not None}
        billing = cfg.budget is not None and cfg.budget.gcp_billing_account is not None
        self.alert_channels: AlertChannels | None = None
        if cfg.alerts.emails and (monitored or billing):
            self.alert_channels = AlertChannels(
                f"{self._name}-alerts",
                {"project": config.project, "emails": cfg.alerts.emails, "depends_on": self._depends(MONITORING)},
                opts=pulumi.ResourceOptions(parent=self),  # type: ignore[arg-type]
            )
        channels = self.alert_channels.ids if self.alert_channels is not None else []
        self.monitors: dict[str, UptimeMonitor] = {}
        for key, spec in monitored.items():
            assert spec.monitor is not None
            self.monitors[key] = UptimeMonitor(
                f"{self._name}-monitor-{key}",
                {
                    "project": config.project,
                    "service_name": key,
                    "url": self.services[key].url,
                    "monitor": spec.monitor,
                    "channels": channels,
                    "depends_on": [*self._depends(MONITORING), self.services[key]],
                },
                opts=pulumi.ResourceOptions(parent=self),  # type: ignore[arg-type]
            )
        self.billing_budget: BillingBudget | None = None
        if billing:
            assert cfg.budget is not None
            project = gcp.organizations.get_project_output(
                project_id=config.project, opts=pulumi.InvokeOutputOptions(parent=self)  # type: ignore[arg-type]
            )
            self.billing_budget = BillingBudget(
                f"{self._name}-billing-budget",
                {
                    "stack": config.stack,
                    "project_number": project.number,
                    "budget": cfg.budget,
                    "channels": channels,
                    "depends_on": self._depends(BILLING_BUDGETS),
                },
                opts=pulumi.ResourceOptions(parent=self),  # type: ignore[arg-type]
            )
