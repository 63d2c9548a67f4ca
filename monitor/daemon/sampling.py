"""Randomised sweep times that still cover every hour of the week.

Partners who evade watch for a pattern: a sweep at :15 every three hours is easy to dodge.
Here each day of a market gets `runs` sweeps at random minutes inside its time windows, in
the market's own time zone, and the hours are drawn so that coverage is guaranteed rather
than likely: for each weekday the window's hours are shuffled once per cycle of
ceil(hours / runs) weeks and dealt out `runs` at a time, one deal per week. Over each cycle
(counted from a fixed Monday, so any 2 x cycle - 1 consecutive weeks hold a whole one) every
hour of every chosen weekday is swept at least once.

Pure functions of (seed, market, dates): the same seed gives the same times, so a restart
does not reshuffle, while a secret seed keeps the times unpredictable from outside.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Monday of ISO week 1, 2001: weeks are counted from here so cycles line up for everyone
EPOCH_MONDAY = date(2001, 1, 1)


@dataclass(frozen=True)
class SamplePlan:
    """`runs` sweeps a day at random minutes within `hours` (local hours, 0-23) on `weekdays`
    (0 = Monday)."""

    runs: int
    hours: tuple[int, ...] = tuple(range(24))
    weekdays: tuple[int, ...] = tuple(range(7))

    @property
    def cycle_weeks(self) -> int:
        """Weeks after which every hour of every chosen weekday has been swept."""
        return math.ceil(len(self.hours) / min(self.runs, len(self.hours)))


def parse_windows(windows: Sequence[str]) -> tuple[int, ...]:
    """["18-24", "0-6"] -> the hours 18..23 and 0..5. Each window is START-END in whole
    hours, END exclusive; an END before START wraps past midnight ("22-6")."""
    hours: set[int] = set()
    for window in windows:
        start, end = (int(part) for part in window.split("-"))
        span = (end - start) % 24 or 24
        hours.update((start + step) % 24 for step in range(span))
    return tuple(sorted(hours))


def _rng(seed: str, *parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


#: a day's number of runs, when it is not the plan's (surge days run more)
RunsOn = Callable[[date], int]


def hours_for_day(
    plan: SamplePlan, seed: str, key: str, day: date, runs: int | None = None
) -> list[int]:
    """The local hours of `day`'s sweeps: this week's deal of the weekday's shuffled hours,
    topped up with random other hours to make `runs` (the plan's by default)."""
    if day.weekday() not in plan.weekdays or runs == 0:
        return []
    per_deal = min(plan.runs, len(plan.hours))
    week = (day - EPOCH_MONDAY).days // 7
    cycle, deal = divmod(week, plan.cycle_weeks)
    order = list(plan.hours)
    _rng(seed, key, cycle, day.weekday()).shuffle(order)
    chosen = order[deal * per_deal:(deal + 1) * per_deal]
    rest = [h for h in plan.hours if h not in chosen]
    extra = _rng(seed, key, day.isoformat(), "extra")
    extra.shuffle(rest)
    wanted = min(plan.runs if runs is None else runs, len(plan.hours))
    return sorted(chosen[:wanted] + rest[:max(0, wanted - len(chosen))])


def times_for_day(
    plan: SamplePlan, seed: str, key: str, day: date, zone: ZoneInfo, runs: int | None = None
) -> list[datetime]:
    """`day`'s sweep times in UTC: one at a random second of each chosen local hour."""
    rng = _rng(seed, key, day.isoformat(), "minutes")
    out = []
    for hour in hours_for_day(plan, seed, key, day, runs):
        offset = timedelta(seconds=rng.randrange(3600))
        local = datetime.combine(day, time(hour), zone) + offset
        out.append(_to_utc(local))
    return sorted(out)


def _to_utc(local: datetime) -> datetime:
    """UTC of a local wall time; a time skipped by a DST change moves forward past the gap."""
    utc = local.astimezone(UTC)
    if utc.astimezone(local.tzinfo).replace(tzinfo=None) != local.replace(tzinfo=None):
        utc = (local + timedelta(hours=1)).astimezone(UTC)
    return utc


def sample_times(
    plan: SamplePlan,
    seed: str,
    key: str,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    runs_on: RunsOn | None = None,
) -> Iterator[datetime]:
    """Every sweep time in [start, end), in order, UTC. `runs_on(day)` gives a day's number
    of runs when it differs from the plan's (a surge day's more, a surge-only job's none)."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    while datetime.combine(day, time(0), zone) < end:
        runs = runs_on(day) if runs_on else None
        for moment in times_for_day(plan, seed, key, day, zone, runs):
            if start <= moment < end:
                yield moment
        day += timedelta(days=1)


def hour_of_week(moment: datetime, zone: ZoneInfo) -> int:
    """0 (Monday 00:00-00:59 local) to 167 (Sunday 23:00-23:59 local)."""
    local = moment.astimezone(zone)
    return local.weekday() * 24 + local.hour
