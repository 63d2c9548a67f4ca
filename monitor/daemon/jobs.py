"""The program's schedule as scheduler jobs: which tasks each sweep runs, and when.

Pure: a program and a seed in, `SweepSpec`s out. The runner adds them to APScheduler.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.daemon.sampling import RunsOn, SamplePlan, parse_windows
from monitor.daemon.triggers import SampledTrigger, SurgeTrigger
from monitor.models import SearchTask
from monitor.plan import plan_tasks
from monitor.program import Program
from monitor.program.calendar import SurgeCalendar, SurgeRule
from monitor.program.schedule import MARKET_ZONE, Sample, SweepJob
from monitor.program.schedule import Surge as SurgeSettings

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class SweepSpec:
    """One scheduler job: a sweep job of the program, narrowed to `markets` when set."""

    job_id: str
    job: SweepJob
    markets: tuple[str, ...] | None
    trigger: BaseTrigger

    def tasks(self, program: Program) -> list[SearchTask]:
        return job_tasks(program, self.job, self.markets)


def job_tasks(
    program: Program, job: SweepJob, markets: Sequence[str] | None = None
) -> list[SearchTask]:
    """The search tasks of one run of `job` (its filters; `markets` narrows further)."""
    chosen = list(markets) if markets is not None else list(job.markets or [])
    tasks = plan_tasks(program, engines=list(job.engines or []), markets=chosen,
                       devices=list(job.devices or []))
    if job.brands:
        tasks = [t for t in tasks if t.brand in job.brands]
    if job.term_groups:
        tasks = [t for t in tasks if t.term_group in job.term_groups]
    return tasks


def surge_calendar(surge: SurgeSettings) -> SurgeCalendar:
    rules = tuple(
        SurgeRule(e.name, frozenset(e.markets) if e.markets else None, e.from_, e.to)
        for e in surge.events
    )
    return SurgeCalendar(rules, surge.factor, surge.days_before, surge.days_after)


def sample_plan(sample: Sample) -> SamplePlan:
    return SamplePlan(sample.runs_per_day, parse_windows(sample.windows),
                      tuple(sorted(WEEKDAYS.index(d) for d in sample.days)))


def sweep_specs(program: Program, seed: str) -> list[SweepSpec]:
    """Every sweep job of the program, expanded per market where the job runs in market time,
    with surge-only companions per market where it runs in one zone for several."""
    calendar = surge_calendar(program.schedule.surge)
    specs: list[SweepSpec] = []
    for job in program.schedule.jobs():
        zone = job.zone(program.schedule.office_zone)
        markets = job.markets or [m.id for m in program.markets]
        if zone == MARKET_ZONE:
            specs += [_market_spec(program, job, m, calendar, seed) for m in markets]
            continue
        base = base_trigger(job, ZoneInfo(zone), seed, job.id, jitter=job.jitter_seconds)
        specs.append(SweepSpec(f"sweep:{job.id}", job, None, base))
        if job.surge and calendar.factor > 1:
            specs += _surge_companions(program, job, markets, calendar, seed, ZoneInfo(zone))
    return specs


def _market_spec(
    program: Program, job: SweepJob, market_id: str, calendar: SurgeCalendar, seed: str
) -> SweepSpec:
    zone = _market_zone(program, market_id)
    key = f"{job.id}:{market_id}"
    trigger: BaseTrigger
    if not (job.surge and calendar.factor > 1 and _concerns(calendar, market_id)):
        trigger = base_trigger(job, zone, seed, key, jitter=job.jitter_seconds)
    elif job.sample is not None:
        # more random runs inside the job's windows, rather than runs squeezed between them
        runs = job.sample.runs_per_day
        trigger = SampledTrigger(sample_plan(job.sample), seed, key, zone,
                                 lambda day: runs * calendar.multiplier(day, market_id))
    else:
        base = base_trigger(job, zone, seed, key, jitter=0)
        trigger = SurgeTrigger(base, calendar, market_id, zone, jitter=job.jitter_seconds)
    return SweepSpec(f"sweep:{key}", job, (market_id,), trigger)


def _surge_companions(
    program: Program,
    job: SweepJob,
    markets: Sequence[str],
    calendar: SurgeCalendar,
    seed: str,
    zone: ZoneInfo,
) -> list[SweepSpec]:
    """Extra runs, market by market: a surge in one market does not sweep all the others."""
    specs = []
    for market_id in markets:
        if not _concerns(calendar, market_id):
            continue
        key = f"{job.id}:surge:{market_id}"
        trigger: BaseTrigger
        if job.sample is not None:
            extra = job.sample.runs_per_day * (calendar.factor - 1)
            trigger = SampledTrigger(sample_plan(job.sample), seed, key, zone,
                                     _surge_only(calendar, market_id, extra))
        else:
            base = base_trigger(job, zone, seed, job.id, jitter=0)
            trigger = SurgeTrigger(base, calendar, market_id, _market_zone(program, market_id),
                                   include_base=False, jitter=job.jitter_seconds)
        specs.append(SweepSpec(f"sweep:{key}", job, (market_id,), trigger))
    return specs


def _surge_only(calendar: SurgeCalendar, market_id: str, extra: int) -> RunsOn:
    return lambda day: extra if calendar.is_surge(day, market_id) else 0


def _concerns(calendar: SurgeCalendar, market_id: str) -> bool:
    return any(rule.concerns(market_id) for rule in calendar.rules)


def _market_zone(program: Program, market_id: str) -> ZoneInfo:
    market = program.market(market_id)
    return ZoneInfo(market.timezone if market else "UTC")


def base_trigger(job: SweepJob, zone: ZoneInfo, seed: str, key: str, *, jitter: int) -> BaseTrigger:
    """The job's own trigger (cron, interval or sample) in `zone`."""
    if job.cron is not None:
        cron = CronTrigger.from_crontab(job.cron, timezone=zone)
        cron.jitter = jitter or None  # from_crontab takes no jitter
        return cron
    if job.interval_minutes is not None:
        return IntervalTrigger(minutes=job.interval_minutes, timezone=zone, jitter=jitter or None)
    if job.interval_seconds is not None:
        return IntervalTrigger(seconds=job.interval_seconds, timezone=zone, jitter=jitter or None)
    assert job.sample is not None  # the model checks exactly one trigger is set
    return SampledTrigger(sample_plan(job.sample), seed, key, zone)


def daily_trigger(at: str, zone: str) -> CronTrigger:
    """Every day at HH:MM local time in `zone`."""
    clock = time.fromisoformat(at)
    return CronTrigger(hour=clock.hour, minute=clock.minute, timezone=ZoneInfo(zone))
