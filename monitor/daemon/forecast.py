"""What the schedule implies: how many sweeps each job runs on a day, and the captures (search
pages) they ask for, counted from the very triggers the daemon runs (`rules terms`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

from monitor.daemon.jobs import sweep_specs
from monitor.models import SearchTask
from monitor.program import Program

#: the run count of a day does not depend on the seed (only the sampled minutes do)
FORECAST_SEED = "forecast"
#: a job firing more often than this in a day is reported at this bound (interval_seconds: 1)
MAX_RUNS_COUNTED = 100_000


@dataclass(frozen=True, slots=True)
class JobLoad:
    """One scheduler job on one day: its runs, the tasks of each run, and their product."""

    job_id: str
    runs: int
    tasks_per_run: int

    @property
    def captures(self) -> int:
        return self.runs * self.tasks_per_run


def runs_between(trigger: BaseTrigger, start: datetime, end: datetime) -> int:
    """How many times `trigger` fires in [start, end)."""
    count = 0
    moment = trigger.get_next_fire_time(None, start)
    while moment is not None and moment < end and count < MAX_RUNS_COUNTED:
        count += 1
        moment = trigger.get_next_fire_time(moment, moment)
    return count


def day_load(
    program: Program, day: date, keep: Callable[[SearchTask], bool] = lambda _task: True
) -> list[JobLoad]:
    """Every scheduler job's runs on `day` and the tasks each run asks that `keep` accepts
    (a filter on engine or market). The day runs midnight to midnight in the market's zone
    for a job of one market (sampled sweeps, surge runs: they follow the market's clock and
    dates), in the office's zone for the others."""
    loads = []
    for spec in sweep_specs(program, FORECAST_SEED):
        zone = ZoneInfo(_zone_of(program, spec.markets))
        start = datetime.combine(day, time(0), zone)
        end = datetime.combine(day + timedelta(days=1), time(0), zone)
        tasks = [t for t in spec.tasks(program) if keep(t)]
        loads.append(JobLoad(spec.job_id, runs_between(spec.trigger, start, end), len(tasks)))
    return loads


def _zone_of(program: Program, markets: tuple[str, ...] | None) -> str:
    market = program.market(markets[0]) if markets and len(markets) == 1 else None
    return market.timezone if market is not None else program.schedule.office_zone
