"""Issue 12's cost items: a warm schedule is priced, and Cloud Run / Memorystore by region."""

from __future__ import annotations

import pytest

from components.config import Endpoint, Redis, Service, Usage
from components.cost import estimate
from components.cost.model import endpoint_item, redis_item, service_item
from components.cost.prices import load_prices
from tests.foundation.configs import check

T4 = 0.59
HATCAT_WARM_HOURS = 261 * 44 * 300 / 3600 / 12  # weekday firings every 15 min, 8:00-18:45, 300 s each


def hatcat(**extra) -> Endpoint:
    return Endpoint.model_validate({
        "provider": "modal", "gpu": {"type": "T4"}, "workers": {"min": 0, "max": 1}, "idleTimeoutSeconds": 300,
        "modal": {"warmSchedule": "*/15 8-18 * * 1-5"}, **extra,
    })


def test_hatcats_warm_schedule_is_the_issues_34_to_47_dollars():
    with_schedule = endpoint_item("gemma3", hatcat(), Usage(activeHoursPerDay=3))
    without = endpoint_item("gemma3", hatcat(modal={}), Usage(activeHoursPerDay=3))
    extra = {n: getattr(with_schedule.monthly, n) - getattr(without.monthly, n) for n in ("low", "expected", "high")}
    assert pytest.approx(79.75) == HATCAT_WARM_HOURS
    assert extra["high"] == pytest.approx(HATCAT_WARM_HOURS * T4)  # $47.05: no overlap with use
    assert extra["expected"] == pytest.approx(HATCAT_WARM_HOURS * (1 - 3 / 11) * T4)  # $34.22: 3 of its 11 hours in use
    assert (round(extra["expected"], 2), round(extra["high"], 2)) == (34.22, 47.05)
    assert with_schedule.details["warmSchedule"]["warmHoursPerMonth"] == pytest.approx(79.75)
    assert "warmSchedule '*/15 8-18 * * 1-5' (UTC) keeps a container up 79.8 h/month" in with_schedule.notes[-1]
    assert with_schedule.basis.endswith("warm */15 8-18 * * 1-5")


def test_a_warm_schedule_on_an_always_on_worker_costs_nothing_extra():
    warm = endpoint_item("m", hatcat(workers={"min": 1, "max": 1}), Usage(activeHoursPerDay=3))
    cold = endpoint_item("m", hatcat(workers={"min": 1, "max": 1}, modal={}), Usage(activeHoursPerDay=3))
    assert warm.monthly == cold.monthly


def test_request_traffic_is_not_assumed_inside_the_warm_windows():
    item = endpoint_item("m", hatcat(), Usage(requestsPerDay=10, secondsPerRequest=10, burstsPerDay=10))
    base = endpoint_item("m", hatcat(modal={}), Usage(requestsPerDay=10, secondsPerRequest=10, burstsPerDay=10))
    assert item.monthly.expected - base.monthly.expected == pytest.approx(HATCAT_WARM_HOURS * T4)


def test_a_warm_schedule_never_bills_more_than_workers_max_all_month():
    always = endpoint_item("m", hatcat(modal={"warmSchedule": "* * * * *"}), None)
    assert always.monthly.high == pytest.approx(730 * T4)


def test_cloud_run_in_a_tier_2_region_costs_1_4_times_more():
    prices = load_prices()
    service = Service.model_validate({"image": "images/gateway", "minInstances": 1, "memory": "1Gi"})
    iowa, london = service_item("api", service, prices, "us-central1"), service_item("api", service, prices, "europe-west2")
    assert iowa.monthly.expected == pytest.approx((0.000018 + 0.000002) * 3600 * 730)  # $52.56
    assert london.monthly.expected == pytest.approx(iowa.monthly.expected * 1.4)  # $73.58
    assert london.notes[-1] == "europe-west2 is a Cloud Run Tier 2 region: 1.4x the Tier 1 rate"
    assert "Cloud Run Tier 2" in {s.name for s in london.sources}
    assert not any("Tier 2" in note for note in iowa.notes)
    assert service_item("api", service, prices, "europe-west1").monthly == iowa.monthly  # Belgium is Tier 1


def test_memorystore_outside_its_priced_region_says_so():
    prices = load_prices()
    redis = Redis()
    assert redis_item(redis, prices, "us-central1").notes == []
    assert redis_item(redis, prices, "europe-west2").notes == [
        "priced at the us-central1 rate: components/cost/prices.yaml has no Memorystore rate for europe-west2"
    ]


def test_the_stack_estimate_uses_the_stacks_region():
    raw = {"services": {"api": {"image": "ghcr.io/a/b@sha256:" + "a" * 64, "minInstances": 1}}}
    iowa = estimate(check(raw, region="us-central1")).item("service", "api")
    london = estimate(check(raw, region="europe-west2")).item("service", "api")
    assert london.monthly.expected == pytest.approx(1.4 * iowa.monthly.expected)


def test_every_tier_2_region_is_a_cloud_run_region():
    from components.limits.cloudrun import REGIONS

    assert load_prices().cloud_run.tier2_regions <= REGIONS
