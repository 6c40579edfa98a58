"""The hours a Modal `warmSchedule` keeps a container up, for the cost model.

The schedule's function pings the model on every cron firing (inference/modal_app.py `keep_warm`),
so a container starts, if none runs, and stays up for the scale-down window
(`idleTimeoutSeconds`) after each ping. The warm time of a month is therefore the union of
`[firing, firing + idleTimeoutSeconds)` over the schedule's firings in a reference year, / 12
(components/config/cron.py), billed on the endpoint's GPU.

Overlap with real use: while someone uses the endpoint its container is up and paid for anyway, so
pings inside that time cost nothing extra.
- high: no overlap (use happens outside the warm windows);
- expected: `activeHoursPerDay` use is assumed to fall inside the schedule's hours (people use an
  interactive app during the hours it is kept warm for), so a share `min(1, active / schedule
  hours)` of the warm time is already paid; request and batch usage is spread over the day, so no
  overlap is assumed;
- low: the same overlap for every kind of usage.
With always-on workers (`workers.min`, `workers.buffer`) the pings land on a container that is up
anyway: nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import Endpoint, Usage
from components.config import cron as cron_schedule

DAYS_PER_MONTH = 730.0 / 24


@dataclass(frozen=True)
class WarmHours:
    low: float
    expected: float
    high: float
    schedule: str
    warm_hours: float
    """Hours a month the schedule alone keeps a container up."""
    note: str


def warm_schedule_hours(endpoint: Endpoint, usage: Usage | None, busy_hours_per_month: float) -> WarmHours | None:
    modal = endpoint.modal
    if endpoint.provider != "modal" or modal is None or not modal.warm_schedule:
        return None
    always_on = endpoint.workers.min + endpoint.workers.buffer
    cron = cron_schedule.parse(modal.warm_schedule)
    warm = cron_schedule.covered_hours_per_year(cron, endpoint.idle_timeout_seconds) / 12
    if always_on:
        return WarmHours(0.0, 0.0, 0.0, modal.warm_schedule, warm, "warmSchedule pings an always-on worker: nothing extra")
    busy_per_day = busy_hours_per_month / DAYS_PER_MONTH
    overlap = min(1.0, busy_per_day / cron.hours_span) if cron.hours_span else 0.0
    interactive = usage is not None and usage.active_hours_per_day is not None
    expected = warm * (1 - overlap) if interactive else warm
    note = (
        f"warmSchedule {modal.warm_schedule!r} (UTC) keeps a container up {warm:.1f} h/month "
        f"({endpoint.idle_timeout_seconds} s after each firing); "
        + (
            f"expected assumes the {busy_per_day:g} h/day of use fall inside its {cron.hours_span} hours, "
            f"so {expected:.1f} h are extra; high: all {warm:.1f} h"
            if interactive
            else f"all of it is priced as extra (low: {warm * (1 - overlap):.1f} h if use falls inside its hours)"
        )
    )
    return WarmHours(warm * (1 - overlap), expected, warm, modal.warm_schedule, warm, note)
