"""`RunpodEndpoint`: a serverless endpoint, changed in place wherever REST v2 allows it.

In place (one PATCH with only what changed): name, GPU pools / count / excluded types, CPU flavors,
workers min/max, idle timeout, scaler type and value, execution timeout, FlashBoot, network
volumes, data centers, and the container settings (re-applying the template, or inline fields).
Replaced: the endpoint `type` (QUEUE / LOAD_BALANCER) and the compute family (GPU / CPU), which
`PATCH /v2/serverless/{id}` cannot change.

Container settings come from exactly one place:
- a template (`templateId`): Runpod copies it into the endpoint once, at create or when a PATCH
  names it again. `templateRevision` (the template's `revision` output) makes the endpoint re-apply
  the template whenever its content changes; or
- inline fields (`image`, `args`, `containerDiskGb`, `env`, `registryAuthId`).

`containerDigest` fingerprints the container settings the endpoint had after the last apply.
`read` makes one GET; when the endpoint's container no longer matches it (someone edited the image
in the console), it reports `templateRevision` as drifted, so the next `pulumi up` re-applies the
template. `version` is the endpoint's configuration version from its release history, fetched after
create and update (refresh keeps one GET per resource and does not re-read it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import pulumi
import pulumi.dynamic
from pulumi.dynamic import CheckResult, CreateResult, ReadResult, UpdateResult

from components.limits import runpod as runpod_limits
from components.providers.http import ApiError, create_once, retry_while_in_use
from components.providers.inputs import (
    Field,
    integer,
    is_env_name,
    number,
    one_of,
    optional,
    string_list,
    string_map,
    text,
)
from components.providers.runpod import settings
from components.providers.runpod.base import RunpodProvider, has_unknown, in_use
from components.providers.runpod.client import ENDPOINTS, RunpodClient
from components.providers.runpod.template import api_container, container_revision

QUEUE_DELAY = "QUEUE_DELAY"
REQUEST_COUNT = "REQUEST_COUNT"
FLASHBOOT_MODES = ("OFF", "FLASHBOOT", "PRIORITY_FLASHBOOT")
INLINE_KEYS = ("image", "args", "containerDiskGb", "env", "registryAuthId")
INLINE_DEFAULTS = {"args": "", "containerDiskGb": 20, "env": {}, "registryAuthId": None}
GPU_KEYS = ("gpuPools", "gpuCount", "excludedGpuTypes")
WORKER_KEYS = ("workersMin", "workersMax", "idleTimeoutSeconds")
SCALING_KEYS = ("scalerType", "scalerValue")
DRIFTED = "drifted-"


def _flashboot(value: Any) -> str:
    if value is True:
        return "FLASHBOOT"
    if value is False:
        return "OFF"
    return one_of(*FLASHBOOT_MODES)(value)


def _cpu_flavors(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("must be a non-empty list of {id, vcpuCount}")
    flavors = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"id", "vcpuCount"}:
            raise ValueError("entries must be {id, vcpuCount}")
        count = integer(runpod_limits.CPU_VCPUS)(item["vcpuCount"])
        if count & (count - 1):
            raise ValueError(f"vcpuCount must be a power of two, not {count}")
        flavors.append({"id": text()(item["id"]), "vcpuCount": count})
    return flavors


def _seconds(milliseconds: Any) -> int | float | None:
    if milliseconds is None:
        return None
    seconds = milliseconds / 1000
    return int(seconds) if float(seconds).is_integer() else seconds


class EndpointProvider(RunpodProvider):
    kind = "Endpoint"
    fields = (
        Field("name", text(max_len=200)),
        Field("type", one_of("QUEUE", "LOAD_BALANCER"), default="QUEUE", replace=True),
        Field("templateId", optional(text()), default=None),
        Field("templateRevision", optional(text(allow_empty=True)), default=None),
        Field("image", optional(text(max_len=500)), default=None, compare=False),
        Field("args", optional(text(allow_empty=True)), default=None, compare=False),
        Field("containerDiskGb", optional(integer(runpod_limits.CONTAINER_DISK)), default=None, compare=False),
        Field("env", optional(string_map(key_pattern=is_env_name, what="environment variable")), default=None,
              compare=False),
        Field("registryAuthId", optional(text()), default=None, compare=False),
        Field("gpuPools", optional(string_list(min_items=1, unique=True)), default=None),
        Field("gpuCount", optional(integer(runpod_limits.GPU_COUNT)), default=None),
        Field("excludedGpuTypes", optional(string_list(unique=True)), default=None),
        Field("cpu", optional(_cpu_flavors), default=None),
        Field("workersMin", integer(runpod_limits.WORKERS), default=0),
        Field("workersMax", integer(runpod_limits.WORKERS), default=1),
        Field("idleTimeoutSeconds", optional(integer(runpod_limits.IDLE_TIMEOUT)), default=5),
        Field("scalerType", one_of(QUEUE_DELAY, REQUEST_COUNT), default=QUEUE_DELAY),
        Field("scalerValue", number(runpod_limits.QUEUE_DELAY), default=4),
        Field("executionTimeoutSeconds", integer(runpod_limits.EXECUTION_TIMEOUT), default=600),
        Field("flashboot", _flashboot, default="OFF"),
        Field("networkVolumeIds", string_list(unique=True), default=[]),
        Field("dataCenterIds", string_list(unique=True), default=[]),
    )
    outputs = ("endpointId", "url", "version", "containerDigest")

    # ------------------------------------------------------------------ check

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        result = super().check(olds, news)
        inputs = result.inputs
        if not has_unknown(inputs.get("gpuPools")) and inputs.get("gpuPools") is not None:
            inputs["gpuCount"] = 1 if inputs.get("gpuCount") is None else inputs["gpuCount"]
            inputs["excludedGpuTypes"] = inputs.get("excludedGpuTypes") or []
        if inputs.get("templateId") is None and inputs.get("image") is not None:
            for key, default in INLINE_DEFAULTS.items():
                if inputs.get(key) is None:
                    inputs[key] = default
        if inputs.get("type") == "QUEUE" and inputs.get("scalerType") == REQUEST_COUNT:
            inputs["idleTimeoutSeconds"] = None  # not applicable; the API rejects it
        return CheckResult(inputs, result.failures)

    def validate(self, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []

        def known(key: str) -> bool:
            return not has_unknown(inputs.get(key))

        if known("gpuPools") and known("cpu") and (inputs["gpuPools"] is None) == (inputs["cpu"] is None):
            problems.append(("gpuPools", "set exactly one of gpuPools (a GPU endpoint) or cpu (a CPU endpoint)"))
        if known("cpu") and inputs.get("cpu") is not None and (inputs.get("gpuCount") or inputs.get("excludedGpuTypes")):
            problems.append(("gpuCount", "gpuCount and excludedGpuTypes apply to GPU endpoints only"))
        if known("templateId") and known("image"):
            if inputs.get("templateId") is None and inputs.get("image") is None:
                problems.append(("image", "set templateId (a serverless template) or image (inline settings)"))
            if inputs.get("templateId") is not None:
                extra = [k for k in INLINE_KEYS if inputs.get(k) is not None]
                if extra:
                    problems.append((extra[0], f"{', '.join(extra)} cannot be combined with templateId; put "
                                               "container settings in the template"))
        if known("workersMin") and known("workersMax") and inputs["workersMax"] < inputs["workersMin"]:
            problems.append(("workersMax", f"must be >= workersMin ({inputs['workersMin']}); raise workersMax or lower workersMin"))
        if known("scalerType") and known("scalerValue"):
            value = inputs["scalerValue"]
            if inputs["scalerType"] == REQUEST_COUNT and (not isinstance(value, int) or value < 1):
                problems.append(("scalerValue", runpod_limits.REQUEST_COUNT.problem(value) or "must be a whole number of requests for a REQUEST_COUNT scaler"))
        if known("type") and known("scalerType") and inputs["type"] == "LOAD_BALANCER" \
                and inputs["scalerType"] != REQUEST_COUNT:
            problems.append(("scalerType", "a LOAD_BALANCER endpoint scales on REQUEST_COUNT"))
        return problems

    # ------------------------------------------------------------------ diff

    def extra_diff(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        changed: list[str] = []
        replaces: list[str] = []
        family = _family(news)
        if family != _family(olds):
            key = "cpu" if family in ("cpu", None) else "gpuPools"
            changed.append(key)
            if family is not None:  # an unknown family is shown as a change, not a certain replacement
                replaces.append(key)
        if news.get("templateId") is None:
            for f in self.fields:
                if f.key in INLINE_KEYS and self.differs(f, olds.get(f.key), news.get(f.key)):
                    changed.append(f.key)
        return changed, replaces

    # ------------------------------------------------------------------ lifecycle

    def create(self, props: dict[str, Any]) -> CreateResult:
        label = self.label(props)
        with self.client(props) as api:
            existing = api.find_by_name(ENDPOINTS, props["name"], resource=label, operation="create")
            if existing is not None:
                endpoint = self._adopt(api, existing, props)
            else:
                endpoint = create_once(
                    lambda: api.create(ENDPOINTS, _create_body(props), resource=label),
                    lambda: api.find_by_name(ENDPOINTS, props["name"], resource=label, operation="create"),
                    policy=api.policy,
                    resource=label,
                )
            version = api.endpoint_version(endpoint["id"], resource=self.label(props, endpoint["id"]),
                                           operation="create")
        return CreateResult(endpoint["id"], self._outputs(endpoint, props, version))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        with self.client(props) as api:
            endpoint = api.get(ENDPOINTS, id_, resource=self.label(props, id_))
        if endpoint is None:
            return ReadResult("", {})
        outputs = self._outputs(endpoint, props, props.get("version") or "", applied=props.get("containerDigest"))
        return ReadResult(id_, outputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        label = self.label(news, id_)
        body = self._patch_body(olds, news)
        with self.client(news) as api:
            if body:
                endpoint = api.patch(ENDPOINTS, id_, body, resource=label)
            else:
                endpoint = api.get(ENDPOINTS, id_, resource=label, operation="update")
                if endpoint is None:
                    raise ApiError(label, "update", "the endpoint no longer exists; run `pulumi refresh`")
            version = api.endpoint_version(id_, resource=label, operation="update")
        return UpdateResult(self._outputs(endpoint, news, version))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        label = self.label(props, id_)
        with self.client(props) as api:
            retry_while_in_use(lambda: api.delete(ENDPOINTS, id_, resource=label), in_use, policy=api.policy)

    # ------------------------------------------------------------------ helpers

    def _adopt(self, api: RunpodClient, endpoint: dict[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
        """Make an endpoint an interrupted earlier create left behind ours, if it can be."""
        label = self.label(props, endpoint["id"])
        view = _view(endpoint)
        if view["type"] != props["type"] or _family(view) != _family(props):
            raise ApiError(label, "create", f"an endpoint named {props['name']!r} already exists with a different "
                           "type or compute family; delete it or choose another name")
        body = _create_body(props)
        body.pop("type")
        return api.patch(ENDPOINTS, endpoint["id"], body, resource=label, operation="create")

    def _patch_body(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> dict[str, Any]:
        def changed(*keys: str) -> bool:
            return any(self.differs(self._field(k), olds.get(k), news.get(k)) for k in keys)

        full = _create_body(news)
        body: dict[str, Any] = {}
        if changed("name"):
            body["name"] = news["name"]
        if news.get("gpuPools") is not None and changed(*GPU_KEYS):
            body["gpu"] = full["gpu"]  # pools and exclusions are one selection: always sent together
        if news.get("cpu") is not None and changed("cpu"):
            body["cpu"] = full["cpu"]
        if changed(*WORKER_KEYS):
            body["workers"] = full["workers"]
        if changed(*SCALING_KEYS):
            body["scaling"] = full["scaling"]
        for key, api_key in (("executionTimeoutSeconds", "timeout"), ("flashboot", "flashboot"),
                             ("networkVolumeIds", "networkVolumes"), ("dataCenterIds", "dataCenterIds")):
            if changed(key):
                body[api_key] = full[api_key]
        if news.get("templateId") is not None:
            if changed("templateId", "templateRevision"):
                body["templateId"] = news["templateId"]
        else:
            for key, api_key in _INLINE_API_KEYS.items():
                if changed(key) and key in news:
                    body[api_key] = full.get(api_key)
        return body

    def _field(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)

    def _outputs(self, endpoint: Mapping[str, Any], props: Mapping[str, Any], version: str,
                 applied: str | None = None) -> dict[str, Any]:
        view = _view(endpoint)
        observed = container_revision(view)
        revision = props.get("templateRevision")
        if applied is not None and observed != applied:
            # The container changed behind Pulumi's back: make the next diff re-apply the template.
            revision = f"{DRIFTED}{observed}"
        return {
            **view,
            "templateId": props.get("templateId"),
            "templateRevision": revision,
            "endpointId": endpoint["id"],
            "url": _job_url(endpoint),
            "version": version,
            "containerDigest": applied if applied is not None else observed,
        }


_INLINE_API_KEYS = {"image": "image", "args": "args", "containerDiskGb": "disk", "env": "env",
                    "registryAuthId": "registry"}


def _family(props: Mapping[str, Any]) -> str | None:
    """GPU or CPU; None only when that is not known yet. Unknown GPU pools are still a GPU endpoint."""
    if has_unknown(props.get("cpu")):
        return None
    return "cpu" if props.get("cpu") is not None else "gpu"


def _create_body(props: Mapping[str, Any]) -> dict[str, Any]:
    workers: dict[str, Any] = {"min": props["workersMin"], "max": props["workersMax"]}
    if props.get("idleTimeoutSeconds") is not None:
        workers["idleTimeout"] = props["idleTimeoutSeconds"]
    value = props["scalerValue"]
    scaling = ({"type": QUEUE_DELAY, "queueDelay": value} if props["scalerType"] == QUEUE_DELAY
               else {"type": REQUEST_COUNT, "requestCount": int(value)})
    body: dict[str, Any] = {
        "name": props["name"],
        "type": props["type"],
        "workers": workers,
        "scaling": scaling,
        "timeout": int(props["executionTimeoutSeconds"] * 1000),
        "flashboot": props["flashboot"],  # always explicit: the API's default is OFF
        "networkVolumes": list(props.get("networkVolumeIds") or []),
        "dataCenterIds": list(props.get("dataCenterIds") or []),
    }
    if props.get("cpu") is not None:
        body["cpu"] = [dict(c) for c in props["cpu"]]
    else:
        body["gpu"] = {"pools": list(props["gpuPools"]), "count": props.get("gpuCount") or 1,
                       "excludedTypes": list(props.get("excludedGpuTypes") or [])}
    if props.get("templateId") is not None:
        body["templateId"] = props["templateId"]
    else:
        for key, api_key in _INLINE_API_KEYS.items():
            if props.get(key) is not None:
                body[api_key] = props[key]
    return body


def _view(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    """An API endpoint in input shape, so stored outputs compare directly with inputs."""
    gpu = endpoint.get("gpu") or None
    workers = endpoint.get("workers") or {}
    scaling = endpoint.get("scaling") or {}
    scaler = scaling.get("type")
    cpu = endpoint.get("cpu")
    return {
        "name": endpoint.get("name"),
        "type": endpoint.get("type") or "QUEUE",
        **api_container(endpoint),
        "gpuPools": list(gpu["pools"]) if gpu else None,
        "gpuCount": gpu.get("count", 1) if gpu else None,
        "excludedGpuTypes": list(gpu.get("excludedTypes") or []) if gpu else None,
        "cpu": [{"id": c["id"], "vcpuCount": c["vcpuCount"]} for c in cpu] if cpu else None,
        "workersMin": workers.get("min"),
        "workersMax": workers.get("max"),
        "idleTimeoutSeconds": workers.get("idleTimeout"),
        "scalerType": scaler,
        "scalerValue": scaling.get("queueDelay") if scaler == QUEUE_DELAY else scaling.get("requestCount"),
        "executionTimeoutSeconds": _seconds(endpoint.get("timeout")),
        "flashboot": endpoint.get("flashboot"),
        "networkVolumeIds": list(endpoint.get("networkVolumes") or []),
        "dataCenterIds": list(endpoint.get("dataCenterIds") or []),
    }


def _job_url(endpoint: Mapping[str, Any]) -> str:
    """Where jobs go: from the API's requestUrls when present, else the documented job API base."""
    urls = endpoint.get("requestUrls") or {}
    if isinstance(urls.get("run"), str) and urls["run"].endswith("/run"):
        return urls["run"][: -len("/run")]
    if isinstance(urls.get("base"), str):
        return urls["base"]
    return f"{settings.endpoint_base_url()}/{endpoint['id']}"


# --------------------------------------------------------------------------------------------
# the resource the program creates
# --------------------------------------------------------------------------------------------


class RunpodEndpointArgs(TypedDict, total=False):
    name: pulumi.Input[str]
    """Endpoint name; keep it unique, `create` adopts an existing endpoint of that name."""
    type: pulumi.Input[str]
    """QUEUE (default) or LOAD_BALANCER. Changing it replaces the endpoint."""
    template_id: pulumi.Input[str]
    """Serverless template to take container settings from (or give `image` instead)."""
    template_revision: pulumi.Input[str]
    """The template's `revision` output, so a template change is re-applied to the endpoint."""
    image: pulumi.Input[str]
    args: pulumi.Input[str]
    container_disk_gb: pulumi.Input[int]
    env: pulumi.Input[Mapping[str, pulumi.Input[str]]]
    registry_auth_id: pulumi.Input[str]
    gpu_pools: pulumi.Input[Sequence[str]]
    """Runpod GPU pool ids in priority order (ADA_24, AMPERE_48, ...)."""
    gpu_count: pulumi.Input[int]
    excluded_gpu_types: pulumi.Input[Sequence[str]]
    """GPU type ids to subtract from the pools (e.g. to pin one card of a pool)."""
    cpu: pulumi.Input[Sequence[Mapping[str, Any]]]
    """CPU flavors [{id, vcpuCount}] instead of GPU pools (a CPU endpoint)."""
    workers_min: pulumi.Input[int]
    workers_max: pulumi.Input[int]
    idle_timeout_seconds: pulumi.Input[int]
    scaler_type: pulumi.Input[str]
    """QUEUE_DELAY (seconds of queueing) or REQUEST_COUNT (in-flight requests per worker)."""
    scaler_value: pulumi.Input[float]
    execution_timeout_seconds: pulumi.Input[int]
    flashboot: pulumi.Input[str | bool]
    """OFF, FLASHBOOT or PRIORITY_FLASHBOOT (True/False mean FLASHBOOT/OFF); always sent explicitly."""
    network_volume_ids: pulumi.Input[Sequence[str]]
    data_center_ids: pulumi.Input[Sequence[str]]


_ARG_KEYS = {
    "name": "name", "type": "type", "template_id": "templateId", "template_revision": "templateRevision",
    "image": "image", "args": "args", "container_disk_gb": "containerDiskGb", "env": "env",
    "registry_auth_id": "registryAuthId", "gpu_pools": "gpuPools", "gpu_count": "gpuCount",
    "excluded_gpu_types": "excludedGpuTypes", "cpu": "cpu", "workers_min": "workersMin",
    "workers_max": "workersMax", "idle_timeout_seconds": "idleTimeoutSeconds", "scaler_type": "scalerType",
    "scaler_value": "scalerValue", "execution_timeout_seconds": "executionTimeoutSeconds",
    "flashboot": "flashboot", "network_volume_ids": "networkVolumeIds", "data_center_ids": "dataCenterIds",
}


class RunpodEndpoint(pulumi.dynamic.Resource, module="runpod", name="Endpoint"):
    endpoint_id: pulumi.Output[str]
    url: pulumi.Output[str]
    """Job API base URL, https://api.runpod.ai/v2/<id> (append /run, /runsync, /health)."""
    version: pulumi.Output[str]
    """The endpoint's configuration version (release) after the last create or update."""

    def __init__(self, name: str, args: RunpodEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        props: dict[str, Any] = {prop: args.get(arg) for arg, prop in _ARG_KEYS.items()}  # type: ignore[misc]
        props.update({"endpointId": None, "url": None, "version": None, "containerDigest": None})
        super().__init__(EndpointProvider(), name, props, opts)
        self.endpoint_id = self.endpointId  # type: ignore[attr-defined]



