"""The vendor limit tables (components/limits) agree with the vendors' own sources, and the config
and the providers' checks enforce them with the same words."""

from __future__ import annotations

import json
from pathlib import Path

import modal
import pytest

from components.config import ConfigError, validate
from components.limits import cloudrun, max_gpu_count
from components.limits import modal as modal_limits
from components.limits import runpod as runpod_limits
from components.providers.modal.app import AppProvider
from components.providers.runpod.endpoint import EndpointProvider

REPO = Path(__file__).resolve().parents[2]
RUNPOD_OPENAPI = REPO / "tests" / "fakes" / "specs" / "runpod" / "runpod-rest-v2.openapi.json"
MODAL_CREDENTIALS = {"MODAL_TOKEN_ID": "ak-test", "MODAL_TOKEN_SECRET": "as-test"}


# ----------------------------------------------------------------------------- the vendors' sources


def _modal_client_accepts(**settings: int) -> bool:
    """Whether the `modal` client itself lets a function be declared with these settings (it
    validates at decoration time, before any network call)."""
    app = modal.App("limits-probe")
    try:
        app.function(serialized=True, name=f"probe-{abs(hash(tuple(settings.items())))}", **settings)(lambda: None)
    except modal.exception.InvalidError:
        return False
    return True


def test_modal_scaledown_window_is_the_bound_the_modal_client_enforces() -> None:
    bound = modal_limits.SCALEDOWN_WINDOW
    assert _modal_client_accepts(scaledown_window=int(bound.minimum))
    assert _modal_client_accepts(scaledown_window=int(bound.maximum))
    assert not _modal_client_accepts(scaledown_window=int(bound.minimum) - 1)
    assert not _modal_client_accepts(scaledown_window=int(bound.maximum) + 1)


def _openapi_property(schema: str, prop: str) -> dict:
    spec = json.loads(RUNPOD_OPENAPI.read_text())
    return spec["components"]["schemas"][schema]["properties"][prop]


@pytest.mark.parametrize(
    ("bound", "schema", "prop"),
    [
        (runpod_limits.IDLE_TIMEOUT, "EndpointWorkers", "idleTimeout"),
        (runpod_limits.QUEUE_DELAY, "QueueDelayScaling", "queueDelay"),
        (runpod_limits.REQUEST_COUNT, "RequestCountScaling", "requestCount"),
        (runpod_limits.NETWORK_VOLUME_SIZE, "NetworkVolume", "size"),
        (runpod_limits.CPU_VCPUS, "BaseCpuConfig", "vcpuCount"),
    ],
)
def test_runpod_bounds_match_the_openapi_schema(bound, schema: str, prop: str) -> None:
    declared = _openapi_property(schema, prop)
    assert bound.minimum == declared["minimum"]
    assert bound.maximum == declared.get("maximum")


@pytest.mark.parametrize(
    ("bound", "schema", "prop"),
    [
        (runpod_limits.WORKERS, "EndpointWorkers", "max"),
        (runpod_limits.GPU_COUNT, "BaseEndpointGpuConfig", "count"),
        (runpod_limits.CONTAINER_DISK, "BaseContainerConfig", "disk"),
    ],
)
def test_runpod_bounds_the_schema_leaves_open_are_inside_it(bound, schema: str, prop: str) -> None:
    """Where the schema gives only a minimum, our table may only be stricter, never looser."""
    declared = _openapi_property(schema, prop)
    assert bound.minimum >= declared["minimum"]
    assert "maximum" not in declared or bound.maximum <= declared["maximum"]


def test_modal_gpu_caps_per_type() -> None:
    assert max_gpu_count("modal", "A10G") == 4
    assert max_gpu_count("modal", "H100") == 8
    assert max_gpu_count("runpod", "ADA_24") == runpod_limits.GPU_COUNT.maximum


# ----------------------------------------------------------------------------- one wording


def _config_problems(endpoint: dict) -> list[str]:
    raw = {"models": {"m": {"source": "hf://org/name", "endpoint": endpoint}}}
    with pytest.raises(ConfigError) as info:
        # A config that does not parse is assumed to need GCP, so give a project and region.
        validate(raw, project="my-project", region="us-central1", stack="dev", environ=MODAL_CREDENTIALS, root=REPO)
    return info.value.problems


def _check_reasons(provider, news: dict) -> dict[str, str]:
    return {f.property: f.reason for f in provider.check({}, news).failures}


@pytest.mark.parametrize("seconds", [1, 3601])
def test_modal_scaledown_window_out_of_range_reads_the_same_in_config_and_provider(seconds: int) -> None:
    problem = modal_limits.SCALEDOWN_WINDOW.problem(seconds)
    assert problem == f"must be between 2 and 3600, not {seconds}"
    config = _config_problems({"provider": "modal", "gpu": {"type": "T4"}, "idleTimeoutSeconds": seconds})
    assert config == [f"modelstack:models.m.endpoint.idleTimeoutSeconds: {problem} (Modal's scaledown window)"]
    provider = _check_reasons(AppProvider(), {"name": "app", "environment": "main", "scaledownWindow": seconds})
    assert provider["scaledownWindow"] == problem


def test_a_value_modal_accepts_passes_both_the_config_and_the_provider() -> None:
    """The defect this table fixes: 1800 s passed Modal and the config but failed the provider (max 1200)."""
    raw = {"models": {"m": {"source": "hf://org/name", "endpoint": {"provider": "modal", "gpu": {"type": "T4"}, "idleTimeoutSeconds": 1800}}}}
    validate(raw, project=None, region=None, stack="dev", environ=MODAL_CREDENTIALS, root=REPO)
    assert "scaledownWindow" not in _check_reasons(AppProvider(), {"name": "app", "environment": "main", "scaledownWindow": 1800})
    assert _modal_client_accepts(scaledown_window=1800)


def test_modal_timeout_above_24_hours_is_refused_offline() -> None:
    config = _config_problems({"provider": "modal", "gpu": {"type": "T4"}, "executionTimeoutSeconds": 48 * 3600})
    assert config == [
        "modelstack:models.m.endpoint.executionTimeoutSeconds: must be between 1 and 86400, not 172800 (Modal's function timeout)"
    ]
    assert _check_reasons(AppProvider(), {"name": "app", "environment": "main", "timeout": 48 * 3600})["timeout"] == (
        "must be between 1 and 86400, not 172800"
    )


def test_runpod_idle_timeout_reads_the_same_in_config_and_provider() -> None:
    problem = runpod_limits.IDLE_TIMEOUT.problem(4000)
    config = _config_problems({"provider": "runpod", "gpu": {"type": "ADA_24"}, "idleTimeoutSeconds": 4000})
    assert f"modelstack:models.m.endpoint.idleTimeoutSeconds: {problem} (Runpod's idle timeout)" in config
    assert _check_reasons(EndpointProvider(), {"name": "e", "gpuPools": ["ADA_24"], "image": "x@sha256:" + "0" * 64,
                                               "idleTimeoutSeconds": 4000})["idleTimeoutSeconds"] == problem


def test_a10g_count_above_modals_cap_is_refused_offline() -> None:
    config = _config_problems({"provider": "modal", "gpu": {"type": "A10G", "count": 8}})
    assert config == [
        "modelstack:models.m.endpoint.gpu.count: A10G take at most 4 GPUs per worker on modal, not 8; "
        "lower count or choose a larger GPU"
    ]
    validate({"models": {"m": {"source": "hf://org/name", "endpoint": {"provider": "modal", "gpu": {"type": "A10G", "count": 4}}}}},
             project=None, region=None, stack="dev", environ=MODAL_CREDENTIALS, root=REPO)


def test_cloud_run_limits_feed_the_service_schema() -> None:
    raw = {"services": {"api": {"image": "images/gateway", "timeoutSeconds": 3601, "concurrency": 1001}}}
    with pytest.raises(ConfigError) as info:
        validate(raw, project="my-project", region="us-central1", stack="dev", root=REPO)
    assert info.value.problems == [
        f"modelstack:services.api.concurrency: {cloudrun.CONCURRENCY.problem(1001)}",
        f"modelstack:services.api.timeoutSeconds: {cloudrun.REQUEST_TIMEOUT.problem(3601)}",
    ]
