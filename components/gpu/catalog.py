"""The GPU catalog: which GPUs each provider offers, their memory and list price.

Loaded from `catalog.yaml` next to this file. Used to resolve an endpoint's `gpu:` config
(`minVramGb`, `types`, `type`) into the ids a provider's API takes, in price order, and by the cost
model. Pure data and functions: safe to import from the program, providers and tests.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from components.limits import max_gpu_count

Provider = Literal["runpod", "modal"]
PROVIDERS: tuple[Provider, ...] = ("runpod", "modal")

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")


@dataclass(frozen=True)
class Gpu:
    provider: Provider
    id: str
    vram_gb: float
    usd_per_hour: float
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProviderCatalog:
    provider: Provider
    source: str
    as_of: str
    gpus: tuple[Gpu, ...]

    def by_price(self) -> list[Gpu]:
        """Cheapest first; ties broken by more memory, then id, so the order is stable."""
        return sorted(self.gpus, key=lambda g: (g.usd_per_hour, -g.vram_gb, g.id))

    def largest(self) -> Gpu:
        return max(self.gpus, key=lambda g: (g.vram_gb, -g.usd_per_hour))

    def find(self, name: str) -> Gpu | None:
        """A GPU by its provider id (`ADA_24`, `A10G`) or, for Runpod, a member type name.

        Matching ignores case and surrounding whitespace, as both vendors do.
        """
        wanted = name.strip().lower()
        for gpu in self.gpus:
            if gpu.id.lower() == wanted:
                return gpu
        for gpu in self.gpus:
            if any(t.lower() == wanted for t in gpu.types):
                return gpu
        return None

    def names(self) -> list[str]:
        return [g.id for g in self.gpus]


class GpuChoiceError(ValueError):
    """A `gpu:` setting that no GPU in the catalog satisfies; the message says what would."""


@functools.lru_cache(maxsize=4)
def load_catalog(path: Path = CATALOG_PATH) -> dict[Provider, ProviderCatalog]:
    data = yaml.safe_load(path.read_text())
    catalogs: dict[Provider, ProviderCatalog] = {}
    for provider in PROVIDERS:
        section = data[provider]
        gpus = tuple(
            Gpu(
                provider=provider,
                id=str(entry["id"]),
                vram_gb=float(entry["vramGb"]),
                usd_per_hour=float(entry["usdPerHour"]),
                types=tuple(entry.get("types", ())),
            )
            for entry in section["gpus"]
        )
        catalogs[provider] = ProviderCatalog(
            provider=provider,
            source=str(section["source"]),
            as_of=str(section["asOf"]),
            gpus=gpus,
        )
    return catalogs


def catalog_for(provider: Provider) -> ProviderCatalog:
    return load_catalog()[provider]


def gpus_with_min_vram(provider: Provider, min_vram_gb: float, count: int = 1) -> list[Gpu]:
    """Every GPU whose memory (times `count` GPUs per worker) fits the need, cheapest first; GPUs
    the provider cannot attach `count` of to one worker (Modal's A10G: 4) are left out."""
    catalog = catalog_for(provider)
    fitting = [
        g for g in catalog.by_price() if g.vram_gb * count >= min_vram_gb and count <= max_gpu_count(provider, g.id)
    ]
    if not fitting:
        largest = catalog.largest()
        raise GpuChoiceError(
            f"no {provider} GPU has {min_vram_gb:g} GB of memory"
            + (f" across {count} GPUs" if count > 1 else "")
            + f"; the largest is {largest.id} with {largest.vram_gb:g} GB. "
            "Use a smaller model or dtype, raise gpu.count, or pick another provider"
        )
    return fitting


def gpus_named(provider: Provider, names: Sequence[str]) -> list[Gpu]:
    """The catalog entries for explicit GPU names, in the order given, duplicates removed."""
    catalog = catalog_for(provider)
    resolved: list[Gpu] = []
    unknown: list[str] = []
    for name in names:
        gpu = catalog.find(name)
        if gpu is None:
            unknown.append(name)
        elif gpu not in resolved:
            resolved.append(gpu)
    if unknown:
        raise GpuChoiceError(
            f"unknown {provider} GPU {', '.join(repr(n) for n in unknown)}; "
            f"choose from {', '.join(catalog.names())}"
        )
    return resolved


def explicit_gpu_ids(provider: Provider, min_vram_gb: float | None, names: Sequence[str], count: int = 1) -> list[str]:
    """GPU ids for a `gpu:` config that does not need the model's size (`auto` is resolved elsewhere)."""
    if names:
        return [g.id for g in gpus_named(provider, names)]
    if min_vram_gb is None:
        raise GpuChoiceError("gpu needs minVramGb, types or type")
    return [g.id for g in gpus_with_min_vram(provider, min_vram_gb, count)]
