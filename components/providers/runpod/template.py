"""`RunpodTemplate`: a serverless template (image, args, container disk, ports, env, registry auth).

Every field is PATCHable, so a template never needs replacing. Runpod applies a template to an
endpoint once, when the endpoint is created or patched with its `templateId`, so the template
exports `revision`, a fingerprint of its container settings: an endpoint that takes it as
`templateRevision` re-applies the template whenever it changes.

Runpod wants template names unique per account; `create` therefore looks the name up first and
adopts a template an earlier, interrupted attempt created instead of failing or duplicating it.

Env values are plain text on Runpod. Secrets belong in `RunpodSecret` and are referenced here as
`{{ RUNPOD_SECRET_<name> }}` (the secret's `reference` output), which Runpod substitutes at boot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CreateResult, ReadResult, UpdateResult

from components.limits import runpod as runpod_limits
from components.providers.http import create_once, retry_while_in_use
from components.providers.inputs import Field, integer, is_env_name, optional, string_list, string_map, text
from components.providers.runpod.base import RunpodProvider, digest, in_use
from components.providers.runpod.client import TEMPLATES

CONTAINER_KEYS = ("image", "args", "containerDiskGb", "ports", "env", "registryAuthId")


def container_revision(view: Mapping[str, Any]) -> str:
    """Fingerprint of what a template puts into an endpoint (shared with the endpoint provider)."""
    return digest({k: view.get(k) for k in CONTAINER_KEYS})


def api_container(body: Mapping[str, Any]) -> dict[str, Any]:
    """An API object's container settings in input shape (templates and endpoints share them)."""
    return {
        "image": body.get("image"),
        "args": body.get("args") or "",
        "containerDiskGb": body.get("disk"),
        "ports": list(body.get("ports") or []),
        "env": dict(sorted((body.get("env") or {}).items())),
        "registryAuthId": body.get("registry"),
    }


class TemplateProvider(RunpodProvider):
    kind = "Template"
    fields = (
        Field("name", text(max_len=200)),
        Field("image", text(max_len=500)),
        Field("args", text(allow_empty=True), default=""),
        Field("containerDiskGb", integer(runpod_limits.CONTAINER_DISK), default=20),
        Field("ports", string_list(unique=True), default=[]),
        Field("env", string_map(key_pattern=is_env_name, what="environment variable"), default={}),
        Field("registryAuthId", optional(text()), default=None),
    )
    outputs = ("templateId", "revision")

    # ------------------------------------------------------------------ lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = self.label(props)
        with self.client(props) as api:
            existing = api.find_by_name(TEMPLATES, props["name"], resource=label, operation="create")
            if existing is not None:
                # Left by an attempt that failed before Pulumi recorded it: make it ours.
                template = self._reconcile(api, existing, props)
            else:
                template = create_once(
                    lambda: api.create(TEMPLATES, self._create_body(props), resource=label),
                    lambda: api.find_by_name(TEMPLATES, props["name"], resource=label, operation="create"),
                    policy=api.policy,
                    resource=label,
                )
                template = self._reconcile(api, template, props)
        return CreateResult(template["id"], self._outputs(template))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client(props) as api:
            template = api.get(TEMPLATES, id_, resource=self.label(props, id_))
        if template is None:
            return ReadResult("", {})
        return ReadResult(id_, self._outputs(template))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        body = {api_key: news[key] for key, api_key in _API_KEYS.items() if self._changed(olds, news, key)}
        with self.client(news) as api:
            template = api.patch(TEMPLATES, id_, body, resource=self.label(news, id_)) if body else None
            if template is None:
                template = api.get(TEMPLATES, id_, resource=self.label(news, id_), operation="update")
        return UpdateResult(self._outputs(template))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        label = self.label(props, id_)
        with self.client(props) as api:
            # An endpoint created from the template may hold it for a while after it is gone.
            retry_while_in_use(lambda: api.delete(TEMPLATES, id_, resource=label), in_use, policy=api.policy)

    # ------------------------------------------------------------------ helpers

    def _changed(self, olds: Mapping[str, Any], news: Mapping[str, Any], key: str) -> bool:
        field = next(f for f in self.fields if f.key == key)
        return self.differs(field, olds.get(key), news.get(key))

    def _create_body(self, props: Mapping[str, Any]) -> dict[str, Any]:
        body = {api_key: props[key] for key, api_key in _API_KEYS.items() if props.get(key) is not None}
        # Fixed for a serverless worker template: SSH and Jupyter injection default to on and would
        # add PUBLIC_KEY / JUPYTER_PASSWORD to the worker's environment.
        body.update({"serverless": True, "public": False, "startSsh": False, "startJupyter": False})
        return body

    def _reconcile(self, api: Any, template: dict[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        """PATCH an adopted template to the inputs where it differs (nothing when it matches)."""
        observed = self._view(template)
        body = {api_key: props[key] for key, api_key in _API_KEYS.items()
                if key != "name" and props.get(key) != observed.get(key)}
        if not template.get("serverless"):
            body["serverless"] = True
        if not body:
            return template
        return api.patch(TEMPLATES, template["id"], body, resource=self.label(props, template["id"]), operation="create")

    @staticmethod
    def _view(template: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": template.get("name"), **api_container(template)}

    def _outputs(self, template: Mapping[str, Any]) -> dict[str, Any]:
        view = self._view(template)
        return {**view, "templateId": template["id"], "revision": container_revision(view)}


_API_KEYS = {
    "name": "name",
    "image": "image",
    "args": "args",
    "containerDiskGb": "disk",
    "ports": "ports",
    "env": "env",
    "registryAuthId": "registry",
}


# --------------------------------------------------------------------------------------------
# the resource the program creates
# --------------------------------------------------------------------------------------------


class RunpodTemplateArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """Unique template name (Runpod requires unique template names per account)."""
    image: pulumi.Input[str]
    """Container image; pin it by digest so a template revision is one exact image."""
    args: pulumi.Input[str]
    """Arguments to the image's entrypoint (default none)."""
    container_disk_gb: pulumi.Input[int]
    """Ephemeral container disk in GB (default 20)."""
    ports: pulumi.Input[list[str]]
    env: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    """Plain environment. Reference secrets as `{{ RUNPOD_SECRET_<name> }}`, never by value."""
    registry_auth_id: pulumi.Input[str]
    """Runpod container registry credential id, for private images."""


class RunpodTemplate(pulumi.dynamic.Resource, module="runpod", name="Template"):
    template_id: pulumi.Output[str]
    revision: pulumi.Output[str]
    """Fingerprint of the container settings; feed it to `RunpodEndpoint(template_revision=...)`."""

    def __init__(self, name: str, args: RunpodTemplateArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "name": args["name"],
            "image": args["image"],
            "args": args.get("args"),
            "containerDiskGb": args.get("container_disk_gb"),
            "ports": args.get("ports"),
            "env": args.get("env"),
            "registryAuthId": args.get("registry_auth_id"),
            "templateId": None,
            "revision": None,
        }
        super().__init__(TemplateProvider(), name, props, opts)
        self.template_id = self.templateId  # type: ignore[attr-defined]
