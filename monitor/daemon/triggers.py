"""APScheduler triggers for sweeps: randomised samples, and surge days that run more often.

Both are stateless (every answer is computed from the arguments), like APScheduler's own cron
and interval triggers, so a restart or a reload gives the same times.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from monitor.daemon.sampling import RunsOn, SamplePlan, sample_times
from monitor.program.calendar import SurgeCalendar

#: how far ahead a trigger looks for its next time before it gives up
HORIZON = timedelta(days=400)
TICK = timedelta(microseconds=1)


class SampledTrigger(BaseTrigger):
    """Fires at the times of `sample_times` for one key (a job and market) in `zone`;
    `runs_on` sets a day's number of runs when it is not the plan's (surge days)."""

    def __init__(
        self, plan: SamplePlan, seed: str, key: str, zone: ZoneInfo, runs_on: RunsOn | None = None
    ) -> None:
        self.plan, self.seed, self.key, self.zone = plan, seed, key, zone
        self.runs_on = runs_on

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = previous_fire_time + TICK if previous_fire_time else now
        # days without runs (a surge-only job between surges) are skipped quickly
        for moment in sample_times(self.plan, self.seed, self.key, self.zone, start,
                                   start + HORIZON, self.runs_on):
            return moment.astimezone(self.zone)
        return None

    def __str__(self) -> str:
        return f"sample[{self.plan.runs}/day, {self.key}, {self.zone.key}]"


class SurgeTrigger(BaseTrigger):
    """For cron and interval jobs: `base`'s times, with `factor - 1` more spread evenly before
    each of them on the surge days of `market` (its local date in `zone`). With
    `include_base` False it fires only the extra times: a surge-only job beside a base job
    that spans several markets."""

    def __init__(
        self,
        base: BaseTrigger,
        calendar: SurgeCalendar,
        market: str | None,
        zone: ZoneInfo,
        *,
        include_base: bool = True,
        jitter: int = 0,
    ) -> None:
        self.base, self.calendar, self.market, self.zone = base, calendar, market, zone
        self.include_base, self.jitter = include_base, jitter

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time if previous_fire_time else now - TICK
        found = self.next_after(after)
        return self._apply_jitter(found, self.jitter, now)

    def next_after(self, after: datetime) -> datetime | None:
        """The first time strictly after `after` (no jitter): the pure part, for the tests."""
        limit = after + HORIZON
        while after < limit:
            upcoming = self.base.get_next_fire_time(None, after + TICK)
            if upcoming is None:
                return None
            following = self.base.get_next_fire_time(None, upcoming + TICK)
            gap = (following - upcoming) if following else timedelta(0)
            candidates = [t for t in self._extra_times(upcoming, gap) if t > after]
            if self.include_base:
                candidates.append(upcoming)
            if candidates:
                return min(candidates)
            resume = self._skip_quiet_days(upcoming, gap)
            if resume is None:
                return None
            after = resume
        return None

    def _extra_times(self, upcoming: datetime, gap: timedelta) -> list[datetime]:
        factor = self.calendar.factor
        points = [upcoming - gap * k / factor for k in range(factor - 1, 0, -1)] if gap else []
        return [p for p in points if self.calendar.is_surge(self._day(p), self.market)]

    def _skip_quiet_days(self, upcoming: datetime, gap: timedelta) -> datetime | None:
        """Where to look next when only surge times count: just before the next surge day."""
        if self.include_base:
            return upcoming
        day = self._day(upcoming)
        for _ in range(HORIZON.days):
            if self.calendar.is_surge(day, self.market):
                start = datetime.combine(day, time(0), self.zone)
                return max(upcoming, start - gap)
            day += timedelta(days=1)
        return None

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def __str__(self) -> str:
        kind = "and" if self.include_base else "only on"
        return f"{self.base} {kind} surge x{self.calendar.factor} ({self.market or 'any market'})"
