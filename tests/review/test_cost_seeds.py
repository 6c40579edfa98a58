"""The cost model reproduces the seeds' own hand-made cost tables, within the rounding they use."""

from __future__ import annotations

import pytest

from components.config import Endpoint, Usage
from components.cost import HOURS_PER_MONTH, per_unit_usd
from components.cost.model import endpoint_item
from components.gpu.catalog import catalog_for


def modal(gpu: str, idle: int, **workers) -> Endpoint:
    return Endpoint.model_validate(
        {"provider": "modal", "gpu": {"type": gpu}, "workers": {"min": 0, "max": 1, **workers}, "idleTimeoutSeconds": idle}
    )


# HatCat (Modal, T4, "Scales to zero when idle (5 min timeout)", "T4 GPU: $0.59/hr, billed per
# second"): Idle $0, Light (1hr/day) ~$20, Medium (3hr/day) ~$55, Heavy (8hr/day) ~$150.
HATCAT_ROWS = [(0, 0), (1, 20), (3, 55), (8, 150)]


@pytest.mark.parametrize(("hours_per_day", "seed_usd"), HATCAT_ROWS)
def test_hatcat_t4_table(hours_per_day, seed_usd):
    assert catalog_for("modal").find("T4").usd_per_hour == 0.59  # the seed's price
    item = endpoint_item("hatcat", modal("T4", idle=300), Usage(activeHoursPerDay=hours_per_day))
    got = item.monthly
    assert got.low == got.expected == got.high  # one GPU type, one session a day: a point
    if seed_usd == 0:
        assert got.expected == 0
        return
    # The seed writes "~$N" with N on a $5 grid: within $5 and 5% of the seed's figure.
    assert abs(got.expected - seed_usd) <= 5
    assert abs(got.expected - seed_usd) / seed_usd <= 0.05
    # the 5-minute scale-down tail is part of the bill: one session a day brings one tail
    tail = item.details["idleTailHoursPerMonth"]["expected"]
    assert tail == pytest.approx(300 / 3600 * HOURS_PER_MONTH / 24)


def test_hatcat_exact_figures():
    """The figures themselves, so a change to the model shows up as a deliberate test change."""
    figures = [
        round(endpoint_item("h", modal("T4", 300), Usage(activeHoursPerDay=h)).monthly.expected, 2)
        for h in (1, 3, 8)
    ]
    assert figures == [19.44, 55.33, 145.06]


def caption_boundary_seconds(video_minutes: float, fps: float = 10, pairs_per_second: float = 100) -> float:
    """The seed's calculator: minutes x fps = frames; frames - 1 = pairs; pairs / 100 per second."""
    frames = video_minutes * 60 * fps
    return (frames - 1) / pairs_per_second


def test_caption_boundaries_per_video():
    seconds = caption_boundary_seconds(60)
    assert seconds == pytest.approx(359.99)  # 35,999 pairs / 100
    a10g = catalog_for("modal").find("A10G")
    assert a10g.usd_per_hour == 1.10
    assert round(per_unit_usd(a10g.usd_per_hour, seconds), 2) == 0.11

    # The same figure through a stack's usage block: 100 videos a month, priced per unit.
    item = endpoint_item("boundaries", modal("A10G", idle=60), Usage(unitsPerMonth=100, secondsPerUnit=seconds))
    per_video = item.details["perUnitUsd"]
    assert round(per_video["expected"], 2) == 0.11
    # The seed's "100 videos/month: ~$10-15/month", idle tails included.
    assert 10 <= item.monthly.low <= item.monthly.expected <= item.monthly.high <= 15
    assert round(item.monthly.expected, 2) == 12.83


def test_caption_boundaries_free_credit_hours():
    """'Free tier includes $30/month credits (enough for ~27 hours of A10G GPU)'."""
    # idle=2: the shortest scaledown window Modal accepts (components/limits/modal.py).
    item = endpoint_item("b", modal("A10G", idle=2), Usage(activeHoursPerDay=27 / (HOURS_PER_MONTH / 24)))
    assert item.monthly.expected == pytest.approx(30, abs=0.5)
