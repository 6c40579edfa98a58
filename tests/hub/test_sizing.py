"""`minVramGb: auto`: the VRAM estimate and the choice of GPUs from the shared catalog."""

from __future__ import annotations

from typing import get_args

import pytest
from pulumi.output import Unknown

from components.config import Task
from components.gpu.catalog import GpuChoiceError, catalog_for
from components.gpu.sizing import (
    GIB,
    HEADROOM,
    RUNTIME_OVERHEAD_GB,
    GpuSizingProvider,
    auto_gpu_ids,
    effective_task,
    estimate_vram,
)


def test_every_config_task_has_a_documented_headroom() -> None:
    assert set(get_args(Task)) == set(HEADROOM)
    assert all(1.0 < factor <= 2.0 for factor in HEADROOM.values())
    # generation holds a KV cache, so it needs more than a single encoder pass
    assert HEADROOM["text-generation"] > HEADROOM["feature-extraction"]


@pytest.mark.parametrize(
    ("weights_gib", "task", "need"),
    [
        (10, "text-generation", 15.0),  # 10 x 1.4 + 1
        (10, "text-to-image", 13.5),  # 10 x 1.25 + 1
        (10, "feature-extraction", 12.5),
        (10, "custom", 16.0),
        (10, "something-else", 16.0),  # unknown tasks size as custom
        (0, "text-generation", RUNTIME_OVERHEAD_GB),
        (0.123, "feature-extraction", 1.2),  # 1.14145 rounds *up* to a tenth
    ],
)
def test_estimate(weights_gib: float, task: str, need: float) -> None:
    estimate = estimate_vram(int(weights_gib * GIB), task)
    assert estimate.need_gb == need
    assert estimate.need_gb >= estimate.weights_gb * estimate.headroom + RUNTIME_OVERHEAD_GB - 1e-9
    assert f"{estimate.headroom:g} headroom for {estimate.task}" in estimate.basis


def test_flux_sized_pipeline_lands_on_48_gb() -> None:
    # FLUX.1-schnell in diffusers: transformer 23.8 GB + T5 9.5 GB + CLIP 0.25 GB + VAE 0.17 GB (bf16)
    weights = int((23.8 + 9.52 + 0.246 + 0.168) * 1e9)
    need = estimate_vram(weights, "text-to-image").need_gb
    assert 24 < need <= 48
    assert auto_gpu_ids("runpod", need)[0] == "AMPERE_48"
    assert auto_gpu_ids("modal", need)[0] == "L40S"


def test_task_defaults_to_the_pipeline_tag() -> None:
    assert effective_task(None, "sentence-similarity") == "feature-extraction"
    assert effective_task(None, "text2text-generation") == "text-generation"
    assert effective_task(None, "automatic-speech-recognition") == "custom"
    assert effective_task(None, None) == "custom"
    assert effective_task("text-to-image", "text-generation") == "text-to-image"


@pytest.mark.parametrize("provider", ["runpod", "modal"])
def test_auto_picks_every_gpu_that_fits_cheapest_first(provider: str) -> None:
    ids = auto_gpu_ids(provider, 20.0)
    catalog = catalog_for(provider)
    gpus = [catalog.find(i) for i in ids]
    assert all(g is not None and g.vram_gb >= 20 for g in gpus)
    prices = [g.usd_per_hour for g in gpus]
    assert prices == sorted(prices)
    assert set(ids) == {g.id for g in catalog.gpus if g.vram_gb >= 20}


def test_runpod_and_modal_names() -> None:
    assert auto_gpu_ids("runpod", 20.0)[:2] == ["AMPERE_24", "ADA_24"]
    assert auto_gpu_ids("modal", 20.0)[:2] == ["L4", "A10G"]
    assert "T4" not in auto_gpu_ids("modal", 20.0)


def test_nothing_fits_names_the_need_and_the_largest_gpu() -> None:
    with pytest.raises(GpuChoiceError) as exc:
        auto_gpu_ids("runpod", 230.5, model="acme/huge", basis="165.9 GB of weights x 1.4 headroom")
    message = str(exc.value)
    assert "model acme/huge needs an estimated 230.5 GB" in message
    assert "165.9 GB of weights" in message
    assert "the largest is HOPPER_141 with 141 GB" in message
    # two GPUs per worker do fit
    assert auto_gpu_ids("runpod", 230.5, count=2) == ["HOPPER_141"]


def _check(**news: object) -> tuple[dict, list]:
    base = {"provider": "runpod", "needGb": 20.0, "count": 1, "model": "acme/m", "basis": "b", "gpuIds": None}
    result = GpuSizingProvider().check({}, {**base, **news})
    return result.inputs, [(f.property, f.reason) for f in result.failures]


def test_sizing_resource_check_chooses_in_preview_and_fails_clearly() -> None:
    inputs, failures = _check()
    assert failures == [] and inputs["gpuIds"][0] == "AMPERE_24"

    inputs, failures = _check(needGb=Unknown())  # a model not pinned yet, in preview
    assert failures == [] and isinstance(inputs["gpuIds"], Unknown)

    inputs, failures = _check(needGb=500.0, provider="modal", model="acme/huge")
    assert [p for p, _ in failures] == ["needGb"]
    assert "acme/huge needs an estimated 500 GB" in failures[0][1] and "B200 with 180 GB" in failures[0][1]

    _, failures = _check(provider="lambda", count=0)
    assert {p for p, _ in failures} == {"provider", "count"}

    _, failures = _check(needGb=None, basis="no weight files recognised")  # a repo without weights
    assert [p for p, _ in failures] == ["needGb"]
    assert "no weight files recognised" in failures[0][1] and "set gpu.minVramGb" in failures[0][1]


def test_sizing_resource_diff_shows_a_changed_choice() -> None:
    p = GpuSizingProvider()
    small, _ = _check(needGb=10.0)
    big, _ = _check(needGb=30.0)
    assert p.diff("x", p.create(small).outs, small).changes is False
    assert p.diff("x", p.create(small).outs, big).changes is True
