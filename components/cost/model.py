"""The monthly cost of a stack, from its validated config and the price tables, as a range.

Each priced thing (a model's GPU endpoint, a Cloud Run service, a bucket) becomes a `LineItem` with
a low, expected and high monthly figure in USD, plus a ceiling (the most it could ever cost). The
stack's total is their sum. The model works from `StackConfig` alone, never from resources, so it
prices a config before anything is deployed and before every provider exists.

GPU endpoints (worker-hours times the hourly price of the GPU, see `gpus.py` for which GPU):

- A month is 730 hours (8,760 / 12); a day is 24 of them, so a month has 30.42 days.
- Always-on workers are billed 24/7: `workers.min`, plus `workers.buffer` on Modal, whose buffer
  containers are kept warm and billed like minimum containers (Runpod has no buffer setting).
- Busy time comes from the model's `usage:` block: `requestsPerDay x secondsPerRequest`,
  `activeHoursPerDay`, or `unitsPerMonth x secondsPerUnit`.
- Every burst of work is followed by an idle tail of `idleTimeoutSeconds` (Modal's scaledown
  window) before the worker scales to zero, and the tail is billed. Bursts per day are
  `usage.burstsPerDay` when given. Otherwise: for requests, requests are assumed spread evenly over
  the day, so each request's tail is cut short by the next request when they are closer together
  than the timeout (sparse requests each bring a full tail; dense ones keep one worker up all
  day); for active hours, one burst a day (a working session); for units, one burst per unit.
- Busy time first fills the always-on workers, which are paid for anyway; only what exceeds their
  730 hours a month is billed again (with its share of tails).
- Billed worker-hours never exceed `workers.max x 730`.

The three figures:
- expected: the usage as written, on the GPU the provider tries first;
- low: the cheapest acceptable GPU, and at most one burst (one tail) a day;
- high: the priciest acceptable GPU, every request its own burst (spread evenly), and no overlap
  with always-on workers (peaks arrive when the warm workers are already busy);
- ceiling: every worker (`workers.max`) busy 24/7 on the priciest GPU: what the config permits.

Without a `usage:` block only always-on workers are priced and the item says so.

Cloud Run services: `minInstances x (vCPU x price per vCPU-second + GiB x price per GiB-second)`
for 730 hours; request traffic above the minimum is not priced (cents at these volumes, and it
depends on concurrency). Ceiling: `maxInstances` instances all month.

Buckets: `storedGb x` the store's price per GB-month (GCS by location and class; R2, Wasabi and
AWS S3 recognised by the endpoint's host). Without `storedGb` a bucket is priced at $0 and says so.

Not priced: Firestore, Secret Manager, Artifact Registry, network egress, cold starts, free tiers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from components.config import App, Endpoint, GcsBucket, Redis, S3Bucket, Service, StackConfig, Usage
from components.cost.gpus import GpuPricing, price_gpus
from components.cost.prices import Prices, PriceSource, load_prices
from components.cost.warm import warm_schedule_hours
from components.gpu.catalog import catalog_for

HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
SECONDS_PER_DAY = 86_400.0

Kind = Literal["endpoint", "app", "service", "bucket", "redis"]


@dataclass(frozen=True)
class Range:
    low: float
    expected: float
    high: float

    def __add__(self, other: Range) -> Range:
        return Range(self.low + other.low, self.expected + other.expected, self.high + other.high)

    def scaled(self, factor: float) -> Range:
        return Range(self.low * factor, self.expected * factor, self.high * factor)

    @staticmethod
    def flat(value: float) -> Range:
        return Range(value, value, value)


ZERO = Range(0.0, 0.0, 0.0)


@dataclass
class LineItem:
    kind: Kind
    key: str
    """The key in the stack config (`models.<key>`, `services.<key>`, `buckets.<key>`)."""
    basis: str
    """One line saying what is priced, for the cost table."""
    monthly: Range
    ceiling: float
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Machine-readable inputs of the figure (hours, prices, GPUs), for the JSON plan."""
    sources: tuple[PriceSource, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.kind} {self.key}"


@dataclass
class CostEstimate:
    items: list[LineItem]

    @property
    def total(self) -> Range:
        total = ZERO
        for item in self.items:
            total = total + item.monthly
        return total

    @property
    def ceiling(self) -> float:
        return sum(item.ceiling for item in self.items)

    @property
    def sources(self) -> list[PriceSource]:
        seen: dict[tuple[str, str, str], PriceSource] = {}
        for item in self.items:
            for source in item.sources:
                seen.setdefault((source.name, source.source, source.as_of), source)
        return list(seen.values())

    def item(self, kind: Kind, key: str) -> LineItem:
        for item in self.items:
            if item.kind == kind and item.key == key:
                return item
        raise KeyError(f"{kind} {key}")


# --------------------------------------------------------------------------------------------
# GPU endpoints
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkHours:
    """Busy worker-hours a month and the idle-tail hours each scenario adds to them."""

    busy: float
    tail_low: float
    tail_expected: float
    tail_high: float
    bursts_per_month: float
    """Expected bursts a month (each followed by one idle tail)."""


def work_hours(usage: Usage, idle_timeout_seconds: float) -> WorkHours:
    """Busy hours and idle tails a month for a usage block (see the module docstring)."""
    idle = float(idle_timeout_seconds)
    if usage.requests_per_day is not None:
        assert usage.seconds_per_request is not None  # validated together
        per_day = usage.requests_per_day
        seconds = usage.seconds_per_request
        busy_day = per_day * seconds
        # Spread evenly, the next request arrives `gap` seconds after this one started: a tail
        # longer than the silence in between is cut short by it.
        gap = SECONDS_PER_DAY / per_day if per_day else 0.0
        even_tail_day = per_day * min(idle, max(0.0, gap - seconds))
        if usage.bursts_per_day is not None:
            bursts_day = min(usage.bursts_per_day, per_day)
            expected_tail_day = bursts_day * idle
        else:
            # In full tails: sparse requests are a burst each; dense ones merge into fewer.
            bursts_day = even_tail_day / idle if idle else 0.0
            expected_tail_day = even_tail_day
        one_burst_day = idle if per_day else 0.0
        return WorkHours(
            busy=busy_day * DAYS_PER_MONTH / 3600,
            tail_low=min(expected_tail_day, one_burst_day) * DAYS_PER_MONTH / 3600,
            tail_expected=expected_tail_day * DAYS_PER_MONTH / 3600,
            tail_high=max(expected_tail_day, even_tail_day) * DAYS_PER_MONTH / 3600,
            bursts_per_month=bursts_day * DAYS_PER_MONTH,
        )
    if usage.active_hours_per_day is not None:
        active = usage.active_hours_per_day
        bursts_day = usage.bursts_per_day if usage.bursts_per_day is not None else (1.0 if active else 0.0)
        # Tails cannot make a day longer than 24 hours.
        room = max(0.0, 24 - active) * 3600
        expected_tail_day = min(bursts_day * idle, room)
        low_tail_day = min(expected_tail_day, idle if active else 0.0)
        return WorkHours(
            busy=active * DAYS_PER_MONTH,
            tail_low=low_tail_day * DAYS_PER_MONTH / 3600,
            tail_expected=expected_tail_day * DAYS_PER_MONTH / 3600,
            tail_high=expected_tail_day * DAYS_PER_MONTH / 3600,
            bursts_per_month=bursts_day * DAYS_PER_MONTH,
        )
    assert usage.units_per_month is not None and usage.seconds_per_unit is not None
    units = usage.units_per_month
    bursts = usage.bursts_per_day * DAYS_PER_MONTH if usage.bursts_per_day is not None else units
    bursts = min(bursts, units)
    return WorkHours(
        busy=units * usage.seconds_per_unit / 3600,
        tail_low=min(bursts, DAYS_PER_MONTH if units else 0.0) * idle / 3600,
        tail_expected=bursts * idle / 3600,
        tail_high=max(bursts, units) * idle / 3600,
        bursts_per_month=bursts,
    )


def always_on_workers(endpoint: Endpoint) -> int:
    """Workers billed 24/7: the minimum, plus Modal's buffer containers."""
    buffer = endpoint.workers.buffer if endpoint.provider == "modal" else 0
    return endpoint.workers.min + buffer


def per_unit_usd(gpu_usd_per_hour: float, seconds: float) -> float:
    """The GPU cost of `seconds` of work at an hourly price (no idle tail): the seeds' calculators."""
    return gpu_usd_per_hour * seconds / 3600


def _on_demand(work: WorkHours, tail: float, capacity: float) -> float:
    """Busy hours (and their tails) left over once always-on workers absorbed what they can."""
    if work.busy <= capacity:
        return 0.0
    spill = work.busy - capacity
    return spill + tail * (spill / work.busy)


def _money(hours: float, usd_per_hour: float) -> float:
    return hours * usd_per_hour


def endpoint_item(key: str, endpoint: Endpoint, usage: Usage | None, vram_need_gb: float | None = None) -> LineItem:
    gpus: GpuPricing = price_gpus(endpoint, vram_need_gb)
    warm = always_on_workers(endpoint)
    always_on = warm * HOURS_PER_MONTH
    cap = max(endpoint.workers.max, warm) * HOURS_PER_MONTH
    prices = {name: gpus.hourly(getattr(gpus, name)) for name in ("low", "expected", "high")}
    catalog = catalog_for(endpoint.provider)
    source = PriceSource(f"{endpoint.provider} GPUs", catalog.source, catalog.as_of)

    notes: list[str] = []
    details: dict[str, Any] = {
        "provider": endpoint.provider,
        "gpu": {"low": gpus.low.id, "expected": gpus.expected.id, "high": gpus.high.id, "count": gpus.count},
        "gpuKnown": gpus.known,
        "usdPerHour": prices,
        "alwaysOnWorkers": warm,
        "maxWorkers": endpoint.workers.max,
        "idleTimeoutSeconds": endpoint.idle_timeout_seconds,
    }
    if not gpus.known:
        notes.append(gpus.rule)

    if usage is None:
        hours = {name: min(always_on, cap) for name in ("low", "expected", "high")}
        notes.append(f"no usage: block, so only always-on workers are priced; add models.{key}.usage to price traffic")
    else:
        work = work_hours(usage, endpoint.idle_timeout_seconds)
        hours = {
            "low": always_on + _on_demand(work, work.tail_low, always_on),
            "expected": always_on + _on_demand(work, work.tail_expected, always_on),
            "high": always_on + work.busy + work.tail_high,
        }
        hours = {name: min(value, cap) for name, value in hours.items()}
        details.update(
            busyHoursPerMonth=work.busy,
            idleTailHoursPerMonth={"low": work.tail_low, "expected": work.tail_expected, "high": work.tail_high},
            burstsPerMonth=work.bursts_per_month,
        )
        if usage.seconds_per_unit is not None:
            details["perUnitUsd"] = {n: per_unit_usd(p, usage.seconds_per_unit) for n, p in prices.items()}
        if usage.seconds_per_request is not None:
            details["perRequestUsd"] = {n: per_unit_usd(p, usage.seconds_per_request) for n, p in prices.items()}
        if work.busy + work.tail_high + always_on > cap:
            notes.append(f"usage exceeds workers.max ({endpoint.workers.max}) running 24/7; capped at that")
    busy = work_hours(usage, endpoint.idle_timeout_seconds).busy if usage is not None else 0.0
    scheduled = warm_schedule_hours(endpoint, usage, busy)
    if scheduled is not None:
        hours = {name: min(hours[name] + getattr(scheduled, name), cap) for name in hours}
        notes.append(scheduled.note)
        details["warmSchedule"] = {
            "schedule": scheduled.schedule,
            "warmHoursPerMonth": scheduled.warm_hours,
            "extraHoursPerMonth": {"low": scheduled.low, "expected": scheduled.expected, "high": scheduled.high},
        }
    details["billedHoursPerMonth"] = hours

    monthly = Range(*(_money(hours[n], prices[n]) for n in ("low", "expected", "high")))
    ceiling = _money(cap, prices["high"])
    return LineItem(
        kind="endpoint",
        key=key,
        basis=_endpoint_basis(endpoint, gpus, warm, usage, prices["expected"]),
        monthly=monthly,
        ceiling=ceiling,
        notes=notes,
        details=details,
        sources=(source,),
    )


def _endpoint_basis(endpoint: Endpoint, gpus: GpuPricing, warm: int, usage: Usage | None, hourly: float) -> str:
    count = f"{gpus.count}x " if gpus.count > 1 else ""
    gpu = f"{endpoint.provider} {count}{gpus.expected.id}{'?' if not gpus.known else ''} (${hourly:.2f}/h)"
    parts = [gpu]
    if warm:
        parts.append(f"{warm} always-on worker{'s' if warm != 1 else ''}")
    if usage is None:
        parts.append("no usage block")
    elif usage.requests_per_day is not None:
        parts.append(f"{usage.requests_per_day:g} req/day x {usage.seconds_per_request:g} s")
    elif usage.active_hours_per_day is not None:
        parts.append(f"{usage.active_hours_per_day:g} h/day active")
    else:
        parts.append(f"{usage.units_per_month:g} units/month x {usage.seconds_per_unit:g} s")
    if usage is not None:
        parts.append(f"idle tail {endpoint.idle_timeout_seconds} s")
    if endpoint.provider == "modal" and endpoint.modal is not None and endpoint.modal.warm_schedule:
        parts.append(f"warm {endpoint.modal.warm_schedule}")
    return ", ".join(parts)


# --------------------------------------------------------------------------------------------
# Cloud Run services and buckets
# --------------------------------------------------------------------------------------------


def memory_gib(memory: str) -> float:
    """`512Mi` -> 0.5, `2Gi` -> 2.0 (the validated config only allows these two suffixes)."""
    number = float(memory[:-2])
    return number / 1024 if memory.endswith("Mi") else number


def service_item(key: str, service: Service, prices: Prices, region: str = "") -> LineItem:
    run = prices.cloud_run
    tier = run.multiplier(region)
    per_instance_hour = (float(service.cpu) * run.vcpu_second + memory_gib(service.memory) * run.gib_second) * 3600 * tier
    monthly = service.min_instances * per_instance_hour * HOURS_PER_MONTH
    notes = ["request traffic above minInstances is not priced"] if service.max_instances > service.min_instances else []
    sources: tuple[PriceSource, ...] = (run.origin,)
    if tier != 1.0:
        notes.append(f"{region} is a Cloud Run Tier 2 region: {tier:g}x the Tier 1 rate")
        sources += (run.tier2_origin,) if run.tier2_origin else ()
    return LineItem(
        kind="service",
        key=key,
        basis=f"Cloud Run {service.min_instances} min instance{'s' if service.min_instances != 1 else ''} x {service.cpu} vCPU, {service.memory}",
        monthly=Range.flat(monthly),
        ceiling=service.max_instances * per_instance_hour * HOURS_PER_MONTH,
        notes=notes,
        details={
            "minInstances": service.min_instances,
            "maxInstances": service.max_instances,
            "vcpu": float(service.cpu),
            "memoryGib": memory_gib(service.memory),
            "usdPerInstanceHour": per_instance_hour,
            "regionMultiplier": tier,
        },
        sources=sources,
    )


def bucket_item(key: str, bucket: GcsBucket | S3Bucket, prices: Prices) -> LineItem:
    notes: list[str] = []
    if isinstance(bucket, GcsBucket):
        price = prices.gcs(bucket.location, bucket.storage_class)
        where = f"GCS {bucket.storage_class.lower()} {bucket.location}"
    else:
        found = prices.s3_store(bucket.endpoint)
        where = f"S3 {bucket.endpoint}"
        if found is None:
            notes.append(f"no price for the store at {bucket.endpoint}; not priced")
        price = found
        if found is not None:
            where = found.origin.name
    gb = bucket.stored_gb
    if gb is None:
        notes.append("storedGb not set; priced at $0")
    usd_per_gb = price.usd_per_gb_month if price else 0.0
    monthly = (gb or 0.0) * usd_per_gb
    if bucket.versioning:
        notes.append("noncurrent versions are not priced")
    return LineItem(
        kind="bucket",
        key=key,
        basis=f"{where}, {gb:g} GB" if gb is not None else where,
        monthly=Range.flat(monthly),
        ceiling=monthly,
        notes=notes,
        details={"storedGb": gb, "usdPerGbMonth": usd_per_gb},
        sources=(price.origin,) if price else (),
    )


# --------------------------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------------------------


def estimate(
    config: StackConfig,
    *,
    vram_needs: Mapping[str, float] | None = None,
    prices: Prices | None = None,
) -> CostEstimate:
    """Price every endpoint, service and bucket of a validated stack config.

    `vram_needs` maps model keys to a known VRAM need in GB, for `minVramGb: auto` endpoints.
    """
    prices = prices or load_prices()
    vram_needs = vram_needs or {}
    cfg = config.modelstack
    items: list[LineItem] = []
    for key, model in cfg.models.items():
        if model.endpoint is not None:
            items.append(endpoint_item(key, model.endpoint, model.usage, vram_needs.get(key)))
    items.extend(app_item(key, app) for key, app in cfg.apps.items())
    items.extend(service_item(key, service, prices, config.region) for key, service in cfg.services.items())
    items.extend(bucket_item(key, bucket, prices) for key, bucket in cfg.buckets.items())
    if cfg.redis is not None:
        items.append(redis_item(cfg.redis, prices, config.region))
    return CostEstimate(items)


def app_item(key: str, app: App) -> LineItem:
    """An app (modelstack:apps) is priced as the endpoint it is: its GPU, workers and usage."""
    item = endpoint_item(key, app, app.usage)
    notes = [n.replace(f"models.{key}.usage", f"apps.{key}.usage") for n in item.notes]
    return replace(item, kind="app", notes=notes)


def redis_item(redis: Redis, prices: Prices, region: str = "") -> LineItem:
    """Memorystore bills provisioned GB-hours, busy or not."""
    rate = prices.redis.basic_gb_hour if redis.tier == "basic" else prices.redis.standard_gb_hour
    monthly = redis.memory_size_gb * rate * HOURS_PER_MONTH
    priced_at = sorted(prices.redis.priced_regions)
    notes = (
        [f"priced at the {', '.join(priced_at)} rate: components/cost/prices.yaml has no Memorystore rate for {region}"]
        if region and region not in prices.redis.priced_regions
        else []
    )
    return LineItem(
        kind="redis",
        key="redis",
        basis=f"Memorystore {redis.tier} {redis.memory_size_gb} GB",
        monthly=Range.flat(monthly),
        ceiling=monthly,
        notes=notes,
        details={"memorySizeGb": redis.memory_size_gb, "tier": redis.tier, "usdPerGbHour": rate},
        sources=(prices.redis.origin,),
    )


def dominant(items: Iterable[LineItem], share: float = 0.8, at_most: int = 3) -> list[LineItem]:
    """The few items that make up most (`share`) of the expected total, biggest first."""
    ranked = sorted((i for i in items if i.monthly.expected > 0), key=lambda i: -i.monthly.expected)
    total = sum(i.monthly.expected for i in ranked)
    chosen: list[LineItem] = []
    running = 0.0
    for item in ranked:
        if len(chosen) >= at_most or (chosen and running >= share * total):
            break
        chosen.append(item)
        running += item.monthly.expected
    return chosen
