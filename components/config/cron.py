"""Five-field cron expressions (`modal.warmSchedule`): validated offline, and expanded for pricing.

Modal runs `modal.Cron` schedules in UTC with the standard five fields, which is what this module
accepts: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC) and day of week
(0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is `*` or a comma-separated list of numbers,
names and ranges (`a-b`), each optionally stepped (`*/15`, `8-18/2`, `5/15` = from 5 to the top of
the range). As in Vixie cron, when both day fields are restricted a day matches either of them.

`parse` raises `CronError` naming the field, the part and the fix; `firing_minutes_per_year` expands
a schedule over a reference (non-leap) year for the cost model.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

EXAMPLE = "*/15 8-18 * * 1-5"
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_RANGES = {"minute": (0, 59), "hour": (0, 23), "day-of-month": (1, 31), "month": (1, 12), "day-of-week": (0, 7)}
_NAMES = {
    "month": {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1)},
    "day-of-week": {d: i for i, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))},
}
REFERENCE_YEAR = 2025
"""A non-leap year (365 days = 12 x 730 hours, the cost model's months); it starts on a Wednesday."""


class CronError(ValueError):
    """Not a valid five-field cron expression; the message names the field and the part."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    """0 = Sunday ... 6 = Saturday (a 7 in the expression is folded into 0)."""
    days_restricted: bool
    weekdays_restricted: bool

    def runs_on(self, day: dt.date) -> bool:
        if day.month not in self.months:
            return False
        weekday = (day.weekday() + 1) % 7  # date.weekday(): Monday = 0; cron: Sunday = 0
        by_day, by_weekday = day.day in self.days, weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return by_day or by_weekday
        return by_day and by_weekday

    @property
    def hours_span(self) -> int:
        """Distinct hours of the day in which it fires."""
        return len(self.hours)


def _value(token: str, field: str) -> int:
    names = _NAMES.get(field, {})
    if token.upper() in names:
        return names[token.upper()]
    if not token.isdigit():
        hint = f" or a name such as {next(iter(names))}" if names else ""
        raise CronError(f"{field} {token!r} is not a number{hint}")
    low, high = _RANGES[field]
    number = int(token)
    if not low <= number <= high:
        raise CronError(f"{field} {number} is out of range {low}-{high}")
    return number


def _field(text: str, field: str) -> tuple[frozenset[int], bool]:
    """The values a field allows, and whether it restricts anything (is not a bare `*`)."""
    low, high = _RANGES[field]
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field} {text!r} has an empty list item")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise CronError(f"{field} step {step_text!r} in {part!r} must be a whole number of at least 1")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _value(first, field), _value(last, field)
            if start > end:
                raise CronError(f"{field} range {base!r} runs backwards; write it low-high")
        else:
            start = _value(base, field)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    if field == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}
    return frozenset(values), text != "*"


def parse(expression: str) -> Cron:
    fields = expression.split()
    if len(fields) != 5:
        raise CronError(f"it has {len(fields)} field{'s' if len(fields) != 1 else ''}, not 5")
    parsed = [_field(text, name) for text, name in zip(fields, FIELDS, strict=True)]
    cron = Cron(
        minutes=parsed[0][0],
        hours=parsed[1][0],
        days=parsed[2][0],
        months=parsed[3][0],
        weekdays=parsed[4][0],
        days_restricted=parsed[2][1],
        weekdays_restricted=parsed[4][1],
    )
    # 31 February: valid fields that name no real day (2024 is a leap year, so 29 February counts).
    if not cron.weekdays_restricted and not any(_exists(2024, m, d) for m in cron.months for d in cron.days):
        raise CronError(f"day-of-month {fields[2]!r} never occurs in month {fields[3]!r}, so it never runs")
    return cron


def _exists(year: int, month: int, day: int) -> bool:
    try:
        dt.date(year, month, day)
    except ValueError:
        return False
    return True


def problem(expression: str) -> str | None:
    """Why `expression` is not a valid schedule, in words a user can act on; None when it is."""
    try:
        parse(expression)
    except CronError as exc:
        return f"{expression!r} is not a valid cron schedule ({exc}); fields are {' '.join(FIELDS)}, in UTC, e.g. {EXAMPLE!r}"
    return None


def firing_minutes_per_year(cron: Cron, year: int = REFERENCE_YEAR) -> list[int]:
    """Minutes since the year's start at which the schedule fires, in order."""
    day_minutes = sorted(h * 60 + m for h in cron.hours for m in cron.minutes)
    out: list[int] = []
    day = dt.date(year, 1, 1)
    for index in range((dt.date(year + 1, 1, 1) - day).days):
        if cron.runs_on(day + dt.timedelta(days=index)):
            base = index * 1440
            out.extend(base + m for m in day_minutes)
    return out


def covered_hours_per_year(cron: Cron, window_seconds: float, year: int = REFERENCE_YEAR) -> float:
    """Hours a year inside [firing, firing + window) for some firing: the time a container kept
    warm by the schedule is up, when each firing keeps it for `window_seconds`."""
    firings = firing_minutes_per_year(cron, year)
    if not firings:
        return 0.0
    window = window_seconds / 60.0
    covered = sum(min(window, later - earlier) for earlier, later in itertools.pairwise(firings))
    return (covered + window) / 60.0


def active_days_per_year(cron: Cron, year: int = REFERENCE_YEAR) -> int:
    day = dt.date(year, 1, 1)
    return sum(1 for i in range((dt.date(year + 1, 1, 1) - day).days) if cron.runs_on(day + dt.timedelta(days=i)))
