"""Mocks that pretend a deploy happened: every output a provider computes at deploy time gets a
plausible, deterministic value, so a test can run the program with `preview=False` and assert on
values that a preview only shows as unknown (endpoint URLs, the gateway's model routes...)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from components.gpu.sizing import auto_gpu_ids
from components.limits.runpod import CONTAINER_DISK_DEFAULT_GB
from components.offline import PlanMocks


def _hex(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


class DeployedMocks(PlanMocks):
    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        resource_id, state = super().new_resource(args)
        name, typ, inputs = args.name, args.typ, args.inputs
        if typ == "random:index/randomId:RandomId":
            state["hex"] = _hex(name, 2 * int(inputs.get("byteLength", 8)))
        elif typ == "pulumi-python:dynamic/huggingface:Model":
            state.setdefault("sha", _hex(f"{inputs.get('repoId')}@{inputs.get('revision')}", 40))
            state.update(vramGb=12.5, vramBasis="test weights", effectiveTask=inputs.get("task") or "custom")
        elif typ == "pulumi-python:dynamic/gpu:Sizing":
            state["gpuIds"] = auto_gpu_ids(inputs["provider"], float(inputs.get("needGb") or 12.5))
        elif typ == "pulumi-python:dynamic/gpu:Disk":
            state["diskGb"] = inputs.get("configuredGb") or CONTAINER_DISK_DEFAULT_GB
        elif typ == "pulumi-python:dynamic/s3:ModelMirror":
            state["manifestUri"] = f"s3://{inputs['bucket']}/models/{_hex(name, 8)}/manifest.json"
        elif typ == "pulumi-python:dynamic/runpod:Endpoint":
            state.update(endpointId=f"ep{_hex(name, 10)}", version="1")
            state["url"] = f"https://api.runpod.ai/v2/{state['endpointId']}"
        elif typ == "gcp:monitoring/uptimeCheckConfig:UptimeCheckConfig":
            state["uptimeCheckId"] = f"{name}-{_hex(name, 6)}"
            state["name"] = f"projects/{inputs.get('project')}/uptimeCheckConfigs/{state['uptimeCheckId']}"
        elif typ == "gcp:monitoring/notificationChannel:NotificationChannel":
            state["name"] = f"projects/{inputs.get('project')}/notificationChannels/{int(_hex(name, 8), 16)}"
        elif typ == "gcp:artifactregistry/repository:Repository":
            state.setdefault("name", inputs.get("repositoryId"))  # the provider's name is the short id
        elif typ == "gcp:serviceaccount/key:Key":
            # A key file as Google hands it out, base64-encoded (the privateKey output's form).
            key_file = {"type": "service_account", "private_key_id": _hex(name, 40), "private_key": f"fake-key-{_hex(name, 16)}"}
            state["privateKey"] = base64.b64encode(json.dumps(key_file).encode()).decode()
        elif typ == "pulumi-python:dynamic/runpod:Template":
            state.update(templateId=f"tpl{_hex(name, 8)}", revision=_hex(name, 12))
        elif typ == "pulumi-python:dynamic/runpod:Secret":
            state.update(secretId=f"sec{_hex(name, 8)}", reference=f"{{{{ RUNPOD_SECRET_{inputs.get('name')} }}}}")
        elif typ == "pulumi-python:dynamic/runpod:NetworkVolume":
            state["volumeId"] = f"vol{_hex(name, 8)}"
        elif typ == "pulumi-python:dynamic/runpod:RegistryAuth":
            state["registryAuthId"] = f"reg{_hex(name, 8)}"
        elif typ == "pulumi-python:dynamic/modal:App":
            state.update(appId=f"ap-{_hex(name, 12)}", version="1")
            state["webUrl"] = f"https://acme--{inputs.get('name')}-model-web.modal.run"
        elif typ == "pulumi-python:dynamic/modal:Secret":
            state["secretId"] = f"st-{_hex(name, 12)}"
        elif typ == "pulumi-python:dynamic/modal:Volume":
            state["volumeId"] = f"vo-{_hex(name, 12)}"
        return resource_id, state
