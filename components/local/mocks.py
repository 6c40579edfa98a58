"""Pulumi mocks that stand in for a finished deploy, for `capture`.

`components.offline.PlanMocks` answers as `pulumi preview` would: what a provider only learns while
deploying stays unknown. Running a stack locally needs those values (endpoint ids and URLs, the
pinned model sha, the ids Runpod gives secrets), so these mocks invent them, deterministically and
shaped like the real providers' outputs (components/providers/*).
"""

from __future__ import annotations

import hashlib
from typing import Any

from components.gpu.sizing import auto_gpu_ids
from components.offline import PlanMocks
from components.providers.runpod import secret as runpod_secret
from components.providers.runpod import settings as runpod_settings

PROJECT_NUMBER = "123456789012"
"""What the mocked `gcp.organizations.get_project` answers; predicted Cloud Run URLs contain it."""


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


class LocalDeployMocks(PlanMocks):
    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        name, typ, inputs = args.name, args.typ, args.inputs
        if typ == "random:index/randomId:RandomId":
            state["hex"] = _hex(name, 2 * int(inputs.get("byteLength", 8)))
        elif typ == "pulumi-python:dynamic/huggingface:Model":
            # The Hub would resolve an unpinned revision to a commit; any 40-hex sha stands in.
            state.setdefault("sha", _hex(f"{inputs.get('repoId')}@{inputs.get('revision')}", 40))
            state.update(vramGb=1.0, vramBasis="local run", effectiveTask=inputs.get("task") or "custom")
        elif typ == "pulumi-python:dynamic/gpu:Sizing":
            state["gpuIds"] = auto_gpu_ids(inputs["provider"], float(inputs.get("needGb") or 1.0))
        elif typ == "pulumi-python:dynamic/s3:ModelMirror":
            state["manifestUri"] = f"s3://{inputs['bucket']}/models/{_hex(name, 8)}/manifest.json"
        elif typ == "pulumi-python:dynamic/runpod:Endpoint":
            state.update(endpointId=f"ep{_hex(name, 10)}", version="1")
            state["url"] = f"{runpod_settings.DEFAULT_ENDPOINT_BASE_URL}/{state['endpointId']}"
        elif typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            state["uptimeCheckId"] = f"{name}-{_hex(name, 6)}"
            state["name"] = f"projects/{inputs.get('project')}/uptimeCheckConfigs/{state['uptimeCheckId']}"
        elif typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            state["name"] = f"projects/{inputs.get('project')}/notificationChannels/{int(_hex(name, 8), 16)}"
        elif typ == "pulumi-python:dynamic/runpod:Template":
            state.update(templateId=f"tpl{_hex(name, 8)}", revision=_hex(name, 12))
        elif typ == "pulumi-python:dynamic/runpod:Secret":
            # The provider's own reference format, which Runpod substitutes in template env at boot.
            state.update(secretId=f"sec{_hex(name, 8)}", reference=runpod_secret.reference(str(inputs.get("name"))))
        elif typ == "pulumi-python:dynamic/runpod:NetworkVolume":
            state["volumeId"] = f"vol{_hex(name, 8)}"
        elif typ == "pulumi-python:dynamic/runpod:RegistryAuth":
            state["registryAuthId"] = f"reg{_hex(name, 8)}"
        elif typ == "pulumi-python:dynamic/modal:App":
            state.update(appId=f"ap-{_hex(name, 12)}", version=1)
            state["webUrl"] = f"https://local--{inputs.get('name')}-model-web.modal.run"
        elif typ == "pulumi-python:dynamic/modal:Secret":
            state["secretId"] = f"st-{_hex(name, 12)}"
        elif typ == "gcp:redis/instance:Instance":
            state.update(host="10.0.0.3", port=6378, authString=_hex(name, 32))
        elif typ == "pulumi-python:dynamic/modal:Volume":
            state["volumeId"] = f"vo-{_hex(name, 12)}"
        return resource_id, state

    def call(self, args: Any) -> dict[str, Any]:
        answer = super().call(args)
        if args.token == "gcp:organizations/getProject:getProject":
            answer["number"] = PROJECT_NUMBER
        return answer
