"""Cloud Run and object storage prices, loaded from `prices.yaml` next to this file.

GPU prices live in the GPU catalog (components/gpu/catalog.yaml) because the providers use them
to order GPU choices; everything else the cost model prices is here. Pure data and lookups.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import yaml

PRICES_PATH = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class PriceSource:
    """Where a price came from, printed under every estimate."""

    name: str
    source: str
    as_of: str


@dataclass(frozen=True)
class CloudRunPrices:
    vcpu_second: float
    gib_second: float
    origin: PriceSource
    tier2_multiplier: float = 1.0
    tier2_regions: frozenset[str] = frozenset()
    tier2_origin: PriceSource | None = None

    def multiplier(self, region: str) -> float:
        """Cloud Run's regional price tier: Tier 1 (the rates above) or Tier 2."""
        return self.tier2_multiplier if region in self.tier2_regions else 1.0


@dataclass(frozen=True)
class RedisPrices:
    basic_gb_hour: float
    standard_gb_hour: float
    origin: PriceSource
    priced_regions: frozenset[str] = frozenset({"us-central1"})
    """Regions whose rate these are; elsewhere the estimate uses them and says so."""


@dataclass(frozen=True)
class StoragePrice:
    usd_per_gb_month: float
    origin: PriceSource


@dataclass(frozen=True)
class Prices:
    cloud_run: CloudRunPrices
    gcs_region: dict[str, float]
    gcs_multi_region: dict[str, float]
    gcs_origin: PriceSource
    s3: tuple[tuple[str, StoragePrice], ...]
    """(host suffix, price) for each S3-compatible store we recognise."""
    redis: RedisPrices

    def gcs(self, location: str, storage_class: str) -> StoragePrice:
        # Multi-regions are upper-case in the validated config (US, EU, ASIA); regions lower-case.
        table = self.gcs_multi_region if location.isupper() else self.gcs_region
        return StoragePrice(table[storage_class], self.gcs_origin)

    def s3_store(self, endpoint: str) -> StoragePrice | None:
        """The price of the S3-compatible store behind `endpoint`, or None for one we don't know."""
        host = (urlparse(endpoint).hostname or "").lower()
        for suffix, price in self.s3:
            if host == suffix or host.endswith("." + suffix):
                return price
        return None


@functools.lru_cache(maxsize=2)
def load_prices(path: Path = PRICES_PATH) -> Prices:
    data = yaml.safe_load(path.read_text())
    run = data["cloudRun"]
    tier2 = run.get("tier2") or {}
    gcs = data["storage"]["gcs"]
    return Prices(
        cloud_run=CloudRunPrices(
            vcpu_second=float(run["vcpuSecond"]),
            gib_second=float(run["gibSecond"]),
            origin=PriceSource("Cloud Run", str(run["source"]), str(run["asOf"])),
            tier2_multiplier=float(tier2.get("multiplier", 1.0)),
            tier2_regions=frozenset(str(r) for r in tier2.get("regions", [])),
            tier2_origin=PriceSource("Cloud Run Tier 2", str(tier2["source"]), str(tier2["asOf"])) if tier2 else None,
        ),
        gcs_region={k: float(v) for k, v in gcs["region"].items()},
        gcs_multi_region={k: float(v) for k, v in gcs["multiRegion"].items()},
        gcs_origin=PriceSource("Cloud Storage", str(gcs["source"]), str(gcs["asOf"])),
        redis=RedisPrices(
            basic_gb_hour=float(data["redis"]["basicGbHour"]),
            standard_gb_hour=float(data["redis"]["standardGbHour"]),
            origin=PriceSource("Memorystore", str(data["redis"]["source"]), str(data["redis"]["asOf"])),
            priced_regions=frozenset(str(r) for r in data["redis"].get("pricedRegions", ["us-central1"])),
        ),
        s3=tuple(
            (
                str(store["hostSuffix"]).lower(),
                StoragePrice(
                    float(store["usdPerGbMonth"]),
                    PriceSource(str(store["name"]), str(store["source"]), str(store["asOf"])),
                ),
            )
            for store in data["storage"]["s3"]
        ),
    )
