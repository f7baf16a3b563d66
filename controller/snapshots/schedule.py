"""When a policy's snapshots are due: interval and cron schedules, in UTC. Pure.

Each schedule has slots. An interval's slots are the multiples of the interval since
the epoch; a cron expression's are the minutes it names (five fields: minute hour
day-of-month month day-of-week, with `*`, lists, ranges and steps; day-of-week 0-7,
Sunday both 0 and 7; when both day fields are restricted either may match, as cron
does). A policy is due when the latest slot at or before now is later than the slot
its last run was taken for, so a controller that was down through several slots takes
one snapshot when it comes back, not one per missed slot. This module must not do I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from controller.snapshots.spec import Schedule

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
MIN_INTERVAL = 60


class ScheduleError(ValueError):
    pass


def parse_duration(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        raise ScheduleError(f"{text!r} is not a duration such as 30m, 6h, 1d or 1w")
    seconds = int(match[1]) * _UNITS[match[2]]
    if seconds < MIN_INTERVAL:
        raise ScheduleError(f"{text!r} is shorter than a minute")
    return seconds


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else None
        if step_text and step is None:
            raise ScheduleError(f"bad step in {item!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            if not (first.isdigit() and last.isdigit()):
                raise ScheduleError(f"bad range {item!r}")
            start, end = int(first), int(last)
        elif body.isdigit():
            start = end = int(body)
            if step:
                end = high
        else:
            raise ScheduleError(f"bad cron field {item!r}")
        if not (low <= start <= end <= high):
            raise ScheduleError(f"{item!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step or 1))
    return frozenset(values)


class Cron:
    def __init__(self, expression: str) -> None:
        fields = expression.split()
        if len(fields) != 5:
            raise ScheduleError(f"{expression!r}: a cron expression has 5 fields (minute hour "
                                "day-of-month month day-of-week)")
        minute, hour, dom, month, dow = (
            _field(text, low, high) for text, (low, high) in zip(fields, _RANGES, strict=True))
        self.minutes, self.hours, self.days, self.months = minute, hour, dom, month
        self.weekdays = frozenset(d % 7 for d in dow)
        self._dom_any, self._dow_any = fields[2] == "*", fields[4] == "*"

    def _day_matches(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        in_dom, in_dow = day.day in self.days, (day.isoweekday() % 7) in self.weekdays
        if self._dom_any or self._dow_any:
            return in_dom and in_dow
        return in_dom or in_dow

    def previous(self, now: float) -> float | None:
        """The latest slot at or before `now`, within the last ~4 years."""
        moment = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
        day = moment.replace(hour=0, minute=0)
        for back in range(1500):
            candidate_day = day - timedelta(days=back)
            if not self._day_matches(candidate_day):
                continue
            for hour in sorted(self.hours, reverse=True):
                for minute in sorted(self.minutes, reverse=True):
                    slot = candidate_day.replace(hour=hour, minute=minute)
                    if slot <= moment:
                        return slot.timestamp()
        return None


def validate(schedule: Schedule) -> None:
    if schedule.cron is not None:
        Cron(schedule.cron)
    elif not schedule.every_seconds or schedule.every_seconds < MIN_INTERVAL:
        raise ScheduleError("a schedule needs `every` (at least a minute) or `cron`")


def latest_slot(schedule: Schedule, now: float) -> float | None:
    if schedule.cron is not None:
        return Cron(schedule.cron).previous(now)
    assert schedule.every_seconds
    return float(int(now // schedule.every_seconds) * schedule.every_seconds)


def period_seconds(schedule: Schedule, now: float) -> float:
    """The time between two slots (for a cron expression: between its last two slots)."""
    if schedule.cron is None:
        return float(schedule.every_seconds or 0)
    last = latest_slot(schedule, now)
    before = latest_slot(schedule, last - 60) if last is not None else None
    return (last - before) if last is not None and before is not None else 86400.0
