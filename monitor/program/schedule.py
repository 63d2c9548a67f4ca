"""When the daemon sweeps: triggers, named sweeps, sampling and surge days (docs/scheduling.md)."""

from __future__ import annotations

from datetime import date
from typing import (
    Annotated,
    Any,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.models import (
    Device,
)
from monitor.program.calendar import SURGE_EVENTS
from monitor.program.fields import EngineName, Model, Slug, Text, Weekday, unique

_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Clock = Annotated[str, Field(pattern=_CLOCK)]
Window = Annotated[str, Field(pattern=r"^([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-4])$")]
#: `timezone: market` runs a job once per market, each in the market's own time zone
MARKET_ZONE = "market"


def _zone_or_market(value: str) -> str:
    if value == MARKET_ZONE:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London) "
                         f"nor '{MARKET_ZONE}'") from None
    return value


class Sample(Model):
    """`runs_per_day` sweeps at random minutes inside `windows` on `days`, so that over
    ceil(window hours / runs_per_day) weeks every hour of those days is swept."""

    runs_per_day: int = Field(ge=1, le=24)
    windows: list[Window] = Field(default=["0-24"], min_length=1)
    days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                min_length=1)


class Trigger(Model):
    """When a sweep runs: exactly one of cron, interval_minutes, interval_seconds or sample."""

    cron: Text | None = None
    interval_minutes: int | None = Field(default=None, ge=1)
    #: for tests and demos: a real engine must not be swept every few seconds
    interval_seconds: int | None = Field(default=None, ge=1)
    sample: Sample | None = None
    #: a random delay of up to this many seconds before each run (cron and interval)
    jitter_seconds: int = Field(default=0, ge=0)
    #: the zone the cron and sample times are read in; `market` = each market in its own
    timezone: str | None = None

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value.split()) != 5:
            raise ValueError("cron needs 5 fields: minute hour day-of-month month day-of-week")
        # APScheduler (and the asyncio it imports) only for a program that has a cron job
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as err:
            raise ValueError(f"not a valid cron expression: {err}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone_or_market(value)

    def trigger_kinds(self) -> list[str]:
        return [k for k in ("cron", "interval_minutes", "interval_seconds", "sample")
                if getattr(self, k) is not None]

    def zone(self, default: str) -> str:
        """The job's zone: its own, else `market` for samples, else the schedule's."""
        return self.timezone or (MARKET_ZONE if self.sample is not None else default)


class SweepJob(Trigger):
    """A named sweep of part of the program; every filter left out means all."""

    id: Slug
    engines: list[EngineName] | None = None
    markets: list[Slug] | None = None
    devices: list[Device] | None = None
    brands: list[Slug] | None = None
    term_groups: list[Text] | None = None
    #: run `surge.factor` times as often on the surge calendar's days
    surge: bool = True

    @model_validator(mode="after")
    def _one_way(self) -> SweepJob:
        if len(self.trigger_kinds()) != 1:
            raise ValueError("set exactly one of cron, interval_minutes, interval_seconds or "
                             "sample")
        return self


class SurgeEvent(Model):
    """A built-in shopping event, or the program's own dates (`name` with `from`/`to`)."""

    # dumped as `from`, as written, so a dumped program validates again
    model_config = ConfigDict(serialize_by_alias=True)
    name: Text
    markets: list[Slug] | None = None
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_or_dated(self) -> SurgeEvent:
        if self.from_ is None:
            if self.to is not None:
                raise ValueError("'to' needs 'from'")
            if self.name not in SURGE_EVENTS:
                raise ValueError(f"unknown event '{self.name}'; built-in events are "
                                 f"{', '.join(SURGE_EVENTS)} (or give 'from' and 'to' dates)")
        elif self.to is not None and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self


class Surge(Model):
    """Days around key shopping events when sweeps run `factor` times as often."""

    factor: int = Field(default=3, ge=1, le=24)
    days_before: int = Field(default=1, ge=0, le=30)
    days_after: int = Field(default=1, ge=0, le=30)
    events: list[SurgeEvent] = []


class Schedule(Trigger):
    """The daemon's jobs. The top-level trigger (the original `cron` / `interval_minutes`
    form) sweeps the whole program; `sweeps` adds named sweeps of parts of it."""

    sweeps: list[SweepJob] = []
    #: how often the outbox is delivered
    outbox_every_seconds: int = Field(default=60, ge=1)
    #: the daily digest, reminders and evidence retention, at `timezone`'s local time
    digest_at: Clock = "07:00"
    reminders_at: Clock = "08:00"
    retention_at: Clock = "03:30"
    surge: Surge = Surge()

    @field_validator("timezone")
    @classmethod
    def _office_zone(cls, value: str | None) -> str | None:
        if value == MARKET_ZONE:
            raise ValueError("the schedule's own timezone is an IANA zone (the office's); "
                             f"'{MARKET_ZONE}' is for a sweep")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Schedule:
        kinds = self.trigger_kinds()
        if len(kinds) > 1:
            raise ValueError(f"set only one of {' or '.join(kinds)}")
        if not kinds and not self.sweeps:
            raise ValueError("set exactly one of cron or interval_minutes (or sample), "
                             "or list sweeps")
        unique((s.id for s in self.sweeps), "sweep id")
        if kinds and any(s.id == "all" for s in self.sweeps):
            raise ValueError("sweep id 'all' is the top-level sweep's; name this one otherwise")
        return self

    @property
    def office_zone(self) -> str:
        return self.timezone or "UTC"

    def jobs(self) -> list[SweepJob]:
        """Every sweep job: the top-level one as `all` (when it has a trigger), then `sweeps`."""
        jobs = list(self.sweeps)
        if self.trigger_kinds():
            fields = {k: getattr(self, k) for k in Trigger.model_fields}
            jobs.insert(0, SweepJob(id="all", **fields))
        return jobs
