"""Every input of a resource as `path: value` pairs, for `plan --against`'s changed list.

The engine diffs all of a resource's inputs, so the comparison must see all of them, not only the
few the resource tree prints (`components.plan.key_properties`). Nested inputs become dotted paths
(`template.scaling.maxInstanceCount`), lists of objects are indexed (`volumes[0].name`), and lists
of plain values stay one value. Secrets are `[secret]` (the values are redacted before they get
here).

Cloud Run's container environment is shown by variable name, the way a stack file writes it:
`env.DEFAULT_MODEL: mnist-relu-100`, and `secretEnv.HF_TOKEN: [secret] <secret>@<version>` for a
Secret Manager reference. A secret's value is never known to the plan, but its version is: a new
version means a new value, which `mark_secret_change` writes next to the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CLOUD_RUN = "gcp:cloudrunv2/service:Service"
HIDDEN = frozenset({"__provider"})
SECRET = "[secret]"


def _secret_ref(value_source: Any) -> str | None:
    ref = value_source.get("secretKeyRef") if isinstance(value_source, Mapping) else None
    if not isinstance(ref, Mapping):
        return None
    return f"{SECRET} {ref.get('secret')}@{ref.get('version')}"


def _container_env(inputs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(inputs without the containers' envs, the env as `env.NAME` / `secretEnv.NAME` pairs)."""
    template = inputs.get("template")
    containers = template.get("containers") if isinstance(template, Mapping) else None
    if not isinstance(containers, list):
        return dict(inputs), {}
    flat: dict[str, Any] = {}
    stripped = []
    for index, container in enumerate(containers):
        if not isinstance(container, Mapping):
            stripped.append(container)
            continue
        prefix = "" if len(containers) == 1 else f"containers[{index}]."
        for entry in container.get("envs") or []:
            if not isinstance(entry, Mapping) or "name" not in entry:
                continue
            secret = _secret_ref(entry.get("valueSource"))
            if secret is not None:
                flat[f"{prefix}secretEnv.{entry['name']}"] = secret
            else:
                flat[f"{prefix}env.{entry['name']}"] = entry.get("value")
        stripped.append({k: v for k, v in container.items() if k != "envs"})
    return {**inputs, "template": {**template, "containers": stripped}}, flat


def _flatten(value: Any, path: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            if key in HIDDEN or str(key).startswith("__"):
                continue
            _flatten(value[key], f"{path}.{key}" if path else str(key), out)
    elif isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        for index, item in enumerate(value):
            _flatten(item, f"{path}[{index}]", out)
    elif value not in (None, "", [], {}):
        out[path] = value


def comparable(typ: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """All of a resource's (already redacted) inputs as flat `path: value` pairs."""
    env: dict[str, Any] = {}
    if typ == CLOUD_RUN:
        inputs, env = _container_env(inputs)
    out: dict[str, Any] = {}
    _flatten(inputs, "", out)
    return {**env, **out}


def _version(shown: Any) -> str | None:
    if isinstance(shown, str) and shown.startswith(SECRET + " ") and "@" in shown:
        return shown.rsplit("@", 1)[1]
    return None


def mark_secret_change(path: str, before: Any, after: Any) -> tuple[Any, Any]:
    """A secretEnv change as the reviewer needs it: whether the value changed, which only its
    version tells (Secret Manager versions are immutable; a new value is a new version)."""
    if ".secretEnv." not in f".{path}" or before is None or after is None:
        return before, after
    changed = _version(before) != _version(after)
    return before, f"{after} (value {'changed' if changed else 'unchanged'})"
