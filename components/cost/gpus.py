"""Which catalog GPU prices an endpoint's low, expected and high estimate.

An endpoint's `gpu:` config names a list of acceptable GPUs, not one GPU, so a price is a range:

- `type: T4`: one GPU; low = expected = high.
- `types: [ADA_24, AMPERE_48]`: a pool in priority order. Expected is the first choice (what the
  provider tries first); low is the cheapest listed; high the most expensive listed, because the
  provider falls back to any listed GPU when the first has no capacity.
- `minVramGb: 24`: every GPU with enough memory, cheapest first (the order the platform passes to
  the provider). Expected = low = the cheapest; high = the most expensive one that fits.
- `minVramGb: auto`: the GPU is sized from the pinned model at deploy time, which the offline
  estimate cannot see. Given a known VRAM need (the platform or plan may pass one) it is priced as
  `minVramGb: <need>`. Without one, low = expected = the provider's cheapest GPU and high = its
  largest, and the estimate is flagged as assuming the GPU, so a reviewer knows the expected figure
  is a floor rather than a forecast.

`gpu.count` multiplies every price.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import Endpoint
from components.gpu.catalog import Gpu, GpuChoiceError, catalog_for, gpus_named, gpus_with_min_vram


@dataclass(frozen=True)
class GpuPricing:
    provider: str
    count: int
    low: Gpu
    expected: Gpu
    high: Gpu
    known: bool
    """False when the GPU could not be determined offline (`minVramGb: auto` without a VRAM need)."""
    rule: str
    """How the three GPUs were chosen, in words, for the cost table's notes."""

    def hourly(self, gpu: Gpu) -> float:
        """USD per worker-hour on `gpu` (all of a worker's GPUs)."""
        return gpu.usd_per_hour * self.count


def _priciest(gpus: list[Gpu]) -> Gpu:
    return max(gpus, key=lambda g: (g.usd_per_hour, g.vram_gb))


def _cheapest(gpus: list[Gpu]) -> Gpu:
    return min(gpus, key=lambda g: (g.usd_per_hour, -g.vram_gb))


def _by_memory(provider: str, need_gb: float, count: int, what: str) -> GpuPricing:
    try:
        fitting = gpus_with_min_vram(provider, need_gb, count)  # type: ignore[arg-type]
    except GpuChoiceError as exc:
        largest = catalog_for(provider).largest()  # type: ignore[arg-type]
        return GpuPricing(provider, count, largest, largest, largest, False, f"{exc}; priced as {largest.id}")
    rule = f"cheapest GPU with >= {need_gb:g} GB ({what})"
    if len(fitting) > 1:
        rule += f"; high: {_priciest(fitting).id}, the priciest of {len(fitting)} that fit"
    return GpuPricing(provider, count, fitting[0], fitting[0], _priciest(fitting), True, rule)


def price_gpus(endpoint: Endpoint, vram_need_gb: float | None = None) -> GpuPricing:
    """The GPUs that price `endpoint`; `vram_need_gb` resolves `minVramGb: auto` when known."""
    spec = endpoint.gpu
    provider = endpoint.provider
    names = spec.names()
    if names:
        listed = gpus_named(provider, names)
        if len(listed) == 1:
            return GpuPricing(provider, spec.count, listed[0], listed[0], listed[0], True, f"{listed[0].id}")
        rule = f"first of {', '.join(g.id for g in listed)}; high: the priciest listed"
        return GpuPricing(provider, spec.count, _cheapest(listed), listed[0], _priciest(listed), True, rule)
    if spec.min_vram_gb == "auto":
        if vram_need_gb is not None:
            return _by_memory(provider, vram_need_gb, spec.count, "the model's measured need")
        catalog = catalog_for(provider)
        cheapest = catalog.by_price()[0]
        largest = catalog.largest()
        rule = (
            f"minVramGb: auto is sized from the model at deploy time; assumed {cheapest.id} "
            f"(the cheapest), high: {largest.id} (the largest)"
        )
        return GpuPricing(provider, spec.count, cheapest, cheapest, largest, False, rule)
    assert isinstance(spec.min_vram_gb, float)
    return _by_memory(provider, spec.min_vram_gb, spec.count, "minVramGb")
