"""HuggingFaceModel and GpuSizing through the SDK's own provider server, as `pulumi` drives them."""

from __future__ import annotations

import json

import pytest
from pulumi.runtime import rpc

from components.gpu.sizing import GpuSizingProvider
from components.providers.huggingface import HuggingFaceModelProvider
from tests.fakes.checkpoints import model_repo
from tests.fakes.hub_server import FakeHub
from tests.hub.conftest import TOKEN_OK
from tests.support.dynamic_engine import DynamicEngine, ProviderError

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def engine_for(hub: FakeHub, token: str | None) -> DynamicEngine:
    credentials = {"hfToken": token} if token else {}
    return DynamicEngine(
        {"modelstack:credentials": json.dumps(credentials)},
        env={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_TELEMETRY": "1"},
    )


def test_pin_lifecycle_and_sizing_through_the_provider_server(hub: FakeHub) -> None:
    hub.add_repo("google/gemma-tiny", gated="manual", access={TOKEN_OK}, pipeline_tag="text-generation", license="gemma")
    first = hub.commit("google/gemma-tiny", model_repo(seed=0))
    model, sizing = HuggingFaceModelProvider(), GpuSizingProvider()

    with engine_for(hub, TOKEN_OK) as engine:
        assert engine.preview(model, {"source": rpc.UNKNOWN, "task": None}) is None  # unknowns pass check
        assert engine.preview(model, {"source": "hf://google/gemma-tiny", "task": None}) is None

        state = engine.up(model, {"source": "hf://google/gemma-tiny", "task": None})
        assert state.id == "google/gemma-tiny"
        out = state.outputs
        assert (out["sha"], out["gated"], out["hasAccess"], out["license"]) == (first, True, True, "gemma")
        assert out["weightFiles"][0]["path"] == "model.safetensors" and out["parameters"] > 0

        assert engine.up(model, {"source": "hf://google/gemma-tiny", "task": None}, state) is state  # no-op

        moved = hub.commit("google/gemma-tiny", model_repo(seed=1))
        assert engine.up(model, {"source": "hf://google/gemma-tiny", "task": None}, state) is state  # still pinned
        refreshed = engine.refresh(model, state)
        assert refreshed is not None
        assert refreshed.outputs["sha"] == first and refreshed.outputs["latestSha"] == moved
        assert refreshed.outputs["upstreamMoved"] is True
        assert engine.preview(model, {"source": "hf://google/gemma-tiny", "task": None}, refreshed).changes is False

        updated = engine.up(model, {"source": f"hf://google/gemma-tiny@{moved}", "task": None}, refreshed)
        assert updated.id == state.id and updated.outputs["sha"] == moved  # in place
        rolled_back = engine.up(model, {"source": "hf://google/gemma-tiny", "task": None}, updated)
        assert rolled_back.outputs["sha"] == first

        # minVramGb: auto, with the model's need as the engine passes it once the model is pinned
        need = rolled_back.outputs["vramGb"]
        args = {"provider": "modal", "needGb": need, "count": 1, "model": "google/gemma-tiny", "basis": rolled_back.outputs["vramBasis"]}
        assert engine.preview(sizing, {**args, "needGb": rpc.UNKNOWN}) is None
        chosen = engine.up(sizing, args)
        assert chosen.outputs["gpuIds"][0] == "T4" and "B200" in chosen.outputs["gpuIds"]
        assert engine.up(sizing, args, chosen) is chosen
        with pytest.raises(ProviderError) as too_big:
            engine.preview(sizing, {**args, "needGb": 321.5}, chosen)
        assert too_big.value.method == "Check"
        assert "needGb: model google/gemma-tiny needs an estimated 321.5 GB" in too_big.value.details
        assert "the largest is B200 with 180 GB" in too_big.value.details
        engine.destroy(sizing, chosen)
        engine.destroy(model, rolled_back)
    assert TOKEN_OK not in engine.server_log()

    # Without a token, create fails with the licence hint, as `pulumi up` would print it.
    with engine_for(hub, None) as anonymous, pytest.raises(ProviderError) as denied:
        anonymous.up(model, {"source": "hf://google/gemma-tiny", "task": None})
    assert denied.value.method == "Create"
    assert f"accept the licence at {hub.url}/google/gemma-tiny" in denied.value.details


def test_check_rejects_a_malformed_id_through_the_provider_server(hub: FakeHub) -> None:
    with engine_for(hub, None) as engine:
        _, failures = engine.check(HuggingFaceModelProvider(), {}, {"source": "hf://not a repo", "task": None})
    assert [p for p, _ in failures] == ["source"]
    assert hub.requests == []
