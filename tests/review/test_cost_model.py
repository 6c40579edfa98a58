"""The cost model's rules, one behaviour per test, on configs built for the purpose."""

from __future__ import annotations

import pytest

from components.config import ConfigError, Endpoint, Usage, validate_flat
from components.cost import HOURS_PER_MONTH, estimate
from components.cost.model import endpoint_item, work_hours
from components.offline import load_stack_file
from tests.foundation.configs import check, mutated

DAYS = HOURS_PER_MONTH / 24


def endpoint(provider="runpod", gpu=None, **fields) -> Endpoint:
    return Endpoint.model_validate({"provider": provider, "gpu": gpu or {"type": "ADA_24"}, **fields})


def committed(stack: str):
    stack_file = load_stack_file(stack)
    return validate_flat(stack_file.config, stack=stack, secret_keys=stack_file.secret_keys)


def test_always_on_workers_are_billed_every_hour_of_the_month():
    item = endpoint_item("flux", endpoint(workers={"min": 2, "max": 3}), None)
    assert item.monthly.expected == pytest.approx(2 * 1.12 * 730)
    assert item.ceiling == pytest.approx(3 * 1.12 * 730)
    assert any("no usage: block" in n for n in item.notes)


def test_modal_buffer_containers_are_billed_like_minimum_ones_runpod_has_none():
    modal = endpoint_item("e", endpoint("modal", {"type": "T4"}, workers={"min": 1, "buffer": 1, "max": 4}), None)
    assert modal.monthly.expected == pytest.approx(2 * 0.59 * 730)
    runpod = endpoint_item("e", endpoint(workers={"min": 1, "buffer": 1, "max": 4}), None)
    assert runpod.monthly.expected == pytest.approx(1 * 1.12 * 730)


def test_pool_prices_expected_on_first_choice_and_high_on_the_priciest():
    item = endpoint_item("flux", endpoint(gpu={"types": ["ADA_24", "AMPERE_48", "AMPERE_24"]}, workers={"min": 1, "max": 2}), None)
    assert item.details["gpu"] == {"low": "AMPERE_24", "expected": "ADA_24", "high": "AMPERE_48", "count": 1}
    assert (item.monthly.low, item.monthly.expected, item.monthly.high) == pytest.approx((0.68 * 730, 1.12 * 730, 1.22 * 730))


def test_min_vram_prices_the_cheapest_fit_and_the_priciest_fallback():
    item = endpoint_item("m", endpoint(gpu={"minVramGb": 40}, workers={"min": 1, "max": 1}), None)
    assert item.details["gpu"]["expected"] == "AMPERE_48"  # $1.22, the cheapest with >= 40 GB
    assert item.details["gpu"]["high"] == "HOPPER_141"
    two = endpoint_item("m", endpoint(gpu={"minVramGb": 40, "count": 2}, workers={"min": 1, "max": 1}), None)
    assert two.details["gpu"]["expected"] == "AMPERE_24"  # 2 x 24 GB fits; priced for both GPUs
    assert two.monthly.expected == pytest.approx(2 * 0.68 * 730)


def test_auto_gpu_is_flagged_as_assumed_unless_the_need_is_known():
    auto = endpoint(gpu={"minVramGb": "auto"}, workers={"min": 1, "max": 1})
    unknown = endpoint_item("m", auto, None)
    assert unknown.details["gpuKnown"] is False
    assert unknown.details["gpu"]["expected"] == "AMPERE_16"  # cheapest runpod GPU: a floor
    assert unknown.details["gpu"]["high"] == "HOPPER_141"  # the largest
    assert any("sized from the model at deploy time" in n for n in unknown.notes)
    assert "AMPERE_16?" in unknown.basis
    known = endpoint_item("m", auto, None, vram_need_gb=30)
    assert known.details["gpuKnown"] is True
    assert known.details["gpu"]["expected"] == "AMPERE_48"


def test_sparse_requests_each_bring_a_full_idle_tail():
    work = work_hours(Usage(requestsPerDay=10, secondsPerRequest=6), idle_timeout_seconds=300)
    assert work.busy == pytest.approx(10 * 6 / 3600 * DAYS)
    assert work.tail_expected == pytest.approx(10 * 300 / 3600 * DAYS)
    assert work.tail_low == pytest.approx(300 / 3600 * DAYS)  # all ten in one burst
    assert work.bursts_per_month == pytest.approx(10 * DAYS)


def test_dense_requests_keep_the_worker_up_all_day_but_no_longer():
    # a request every 8.64 s with a 60 s timeout: the worker never scales down
    work = work_hours(Usage(requestsPerDay=10_000, secondsPerRequest=2), idle_timeout_seconds=60)
    assert work.busy + work.tail_expected == pytest.approx(24 * DAYS)


def test_bursts_per_day_overrides_the_even_spread():
    work = work_hours(Usage(requestsPerDay=1000, secondsPerRequest=5, burstsPerDay=4), idle_timeout_seconds=60)
    assert work.tail_expected == pytest.approx(4 * 60 / 3600 * DAYS)
    # high still assumes the even spread, which is what happens if the bursts don't materialise
    assert work.tail_high > work.tail_expected


def test_busy_time_first_fills_always_on_workers():
    warm = endpoint(workers={"min": 1, "max": 3}, idleTimeoutSeconds=60)
    item = endpoint_item("e", warm, Usage(activeHoursPerDay=6))
    # six busy hours a day fit in the warm worker: expected is the warm worker alone
    assert item.monthly.expected == pytest.approx(1.12 * 730)
    # high assumes the peaks land when the warm worker is already busy
    assert item.monthly.high == pytest.approx(1.12 * (730 + 6 * DAYS + 60 / 3600 * DAYS))


def test_billed_hours_never_exceed_max_workers_all_month():
    item = endpoint_item("e", endpoint(workers={"min": 0, "max": 1}), Usage(requestsPerDay=100_000, secondsPerRequest=3))
    assert item.monthly.high == pytest.approx(1.12 * 730)
    assert any("exceeds workers.max" in n for n in item.notes)


def test_per_request_cost_is_reported():
    item = endpoint_item("e", endpoint(), Usage(requestsPerDay=10, secondsPerRequest=36))
    assert item.details["perRequestUsd"]["expected"] == pytest.approx(1.12 / 100)


def test_committed_prod_stack_prices_warm_worker_and_gateway():
    cost = estimate(committed("prod"))
    flux = cost.item("endpoint", "flux")
    # 3000 requests x 2.5 s a day fit in the always-on ADA_24 worker; high prices the pricier pool
    # (AMPERE_48) with every request its own burst, whose idle tails keep a second worker up.
    assert (flux.monthly.low, flux.monthly.expected, flux.monthly.high) == pytest.approx((817.6, 817.6, 1781.2))
    gateway = cost.item("service", "gateway")
    # 1 instance x (2 vCPU x $0.000018 + 1 GiB x $0.000002) per second, 730 hours
    assert gateway.monthly.expected == pytest.approx((2 * 0.000018 + 0.000002) * 3600 * 730)
    assert gateway.ceiling == pytest.approx(20 * gateway.monthly.expected)
    assert cost.total.expected == pytest.approx(817.6 + 99.864)
    assert {s.name for s in cost.sources} == {"runpod GPUs", "Cloud Run", "Cloud Storage"}
    assert all(s.as_of for s in cost.sources)


def test_committed_dev_stack_scales_to_zero():
    cost = estimate(committed("dev"))
    assert cost.total.expected == 0
    assert cost.ceiling > 0  # but max workers could still run up a bill


def bucket_cost(bucket: dict) -> float:
    raw = mutated(lambda r: r["buckets"].update({"data": bucket}))
    if bucket.get("kind") == "s3":
        raw["credentials"]["s3"] = {"default": {"accessKeyId": "a", "secretAccessKey": "b"}}
    return estimate(check(raw)).item("bucket", "data").monthly.expected


def test_buckets_are_priced_per_gb_month_by_store():
    assert bucket_cost({"kind": "gcs", "location": "US", "storedGb": 100}) == pytest.approx(2.6)
    assert bucket_cost({"kind": "gcs", "location": "us-central1", "storageClass": "COLDLINE", "storedGb": 100}) == pytest.approx(0.4)
    r2 = {"kind": "s3", "endpoint": "https://acct.r2.cloudflarestorage.com", "storedGb": 100}
    assert bucket_cost(r2) == pytest.approx(1.5)
    wasabi = {"kind": "s3", "endpoint": "https://s3.us-east-1.wasabisys.com", "storedGb": 1000}
    assert bucket_cost(wasabi) == pytest.approx(6.99)
    assert bucket_cost({"kind": "s3", "endpoint": "https://minio.internal:9000", "storedGb": 100}) == 0


def test_usage_config_errors_name_the_key():
    def usage(value):
        return mutated(lambda r: r["models"]["flux"].update({"usage": value}))

    cases = {
        "modelstack:models.flux.usage.secondsPerRequest: is required with requestsPerDay; add it": {"requestsPerDay": 10},
        "modelstack:models.flux.usage: set exactly one of requestsPerDay (with secondsPerRequest), "
        "activeHoursPerDay, or unitsPerMonth (with secondsPerUnit); got requestsPerDay, activeHoursPerDay": {
            "requestsPerDay": 10, "secondsPerRequest": 1, "activeHoursPerDay": 2
        },
        "modelstack:models.flux.usage.activeHoursPerDay: must be between 0 and 24, not 25": {"activeHoursPerDay": 25},
    }
    for expected, value in cases.items():
        with pytest.raises(ConfigError) as err:
            check(usage(value))
        assert err.value.problems == [expected]

    no_endpoint = mutated(lambda r: r["models"].update({"bare": {"source": "hf://org/model", "usage": {"activeHoursPerDay": 1}}}))
    with pytest.raises(ConfigError) as err:
        check(no_endpoint)
    assert err.value.problems == [
        "modelstack:models.bare.usage: prices an endpoint, and this model has none; add endpoint: or remove usage:"
    ]
    with pytest.raises(ConfigError) as err:
        check(mutated(lambda r: r["buckets"]["artifacts"].update({"storedGb": -1})))
    assert err.value.problems == ["modelstack:buckets.artifacts.storedGb: must be at least 0, not -1"]


def test_dominant_items_are_the_few_that_make_most_of_the_cost():
    from components.cost import LineItem, Range, dominant

    def item(key, usd):
        return LineItem("endpoint", key, "", Range.flat(usd), usd)

    items = [item("a", 10), item("b", 450), item("c", 0), item("d", 400), item("e", 140)]
    # b + d = 850 of 1000: the first pair past 80%
    assert [i.key for i in dominant(items)] == ["b", "d"]
    assert [i.key for i in dominant(items, share=0.99)] == ["b", "d", "e"]  # at most three
    assert dominant([item("z", 0)]) == []
