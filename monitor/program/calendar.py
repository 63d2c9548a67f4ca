"""The surge calendar: key shopping days, when partners bid hardest and sweeps run more often.

Pure functions of a year: no clock, no I/O. Western dates follow fixed rules (Black Friday is
the day after the fourth Thursday of November); Ramadan and the two Eids follow the Umm
al-Qura calendar through `hijridate`, which covers 1343-1500 AH (1924-2077 CE). A country may
see the new moon a day apart from Umm al-Qura; the days around each event absorb that.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from hijridate import Gregorian, Hijri

#: shopping events the calendar knows, as a program names them
SURGE_EVENTS: tuple[str, ...] = (
    "black_friday", "cyber_monday", "christmas", "singles_day", "double_twelve",
    "ramadan", "eid_al_fitr", "eid_al_adha",
)
RAMADAN, SHAWWAL, DHU_AL_HIJJAH = 9, 10, 12
HIJRI_YEARS = range(1343, 1501)  # what the Umm al-Qura tables of hijridate cover


@dataclass(frozen=True, order=True)
class Span:
    """An event from its first to its last day, both included."""

    start: date
    end: date
    name: str

    def widened(self, before: int, after: int) -> Span:
        return Span(self.start - timedelta(days=before), self.end + timedelta(days=after),
                    self.name)

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


def thanksgiving(year: int) -> date:
    """The fourth Thursday of November (US)."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(weeks=3)


def black_friday(year: int) -> list[Span]:
    day = thanksgiving(year) + timedelta(days=1)
    return [Span(day, day, "black_friday")]


def cyber_monday(year: int) -> list[Span]:
    day = thanksgiving(year) + timedelta(days=4)
    return [Span(day, day, "cyber_monday")]


def christmas(year: int) -> list[Span]:
    """Christmas Eve to Boxing Day: the last orders and the first sales."""
    return [Span(date(year, 12, 24), date(year, 12, 26), "christmas")]


def singles_day(year: int) -> list[Span]:
    return [Span(date(year, 11, 11), date(year, 11, 11), "singles_day")]


def double_twelve(year: int) -> list[Span]:
    return [Span(date(year, 12, 12), date(year, 12, 12), "double_twelve")]


def _hijri_years(year: int) -> Iterator[int]:
    """Hijri years overlapping a Gregorian one (a Hijri year is 354 or 355 days)."""
    if not 1925 <= year <= 2076:
        return
    first = Gregorian(year, 1, 1).to_hijri().year
    last = Gregorian(year, 12, 31).to_hijri().year
    yield from (y for y in range(first - 1, last + 1) if y in HIJRI_YEARS)


def _hijri_span(year: int, month: int, first_day: int, days: int | None, name: str) -> list[Span]:
    """The span starting on a Hijri day in each Hijri year touching `year`; `days` None means
    to the end of that Hijri month."""
    spans = []
    for hijri_year in _hijri_years(year):
        first = Hijri(hijri_year, month, first_day)
        length = days if days is not None else first.month_length() - first_day + 1
        g = first.to_gregorian()
        start = date(g.year, g.month, g.day)
        span = Span(start, start + timedelta(days=length - 1), name)
        if year in (span.start.year, span.end.year):
            spans.append(span)
    return spans


def ramadan(year: int) -> list[Span]:
    """1 Ramadan to its last day (29 or 30 days, as Umm al-Qura has it)."""
    return _hijri_span(year, RAMADAN, 1, None, "ramadan")


def eid_al_fitr(year: int) -> list[Span]:
    """1-3 Shawwal."""
    return _hijri_span(year, SHAWWAL, 1, 3, "eid_al_fitr")


def eid_al_adha(year: int) -> list[Span]:
    """10-13 Dhu al-Hijjah."""
    return _hijri_span(year, DHU_AL_HIJJAH, 10, 4, "eid_al_adha")


EVENT_SPANS: dict[str, Callable[[int], list[Span]]] = {
    "black_friday": black_friday, "cyber_monday": cyber_monday, "christmas": christmas,
    "singles_day": singles_day, "double_twelve": double_twelve, "ramadan": ramadan,
    "eid_al_fitr": eid_al_fitr, "eid_al_adha": eid_al_adha,
}
assert set(EVENT_SPANS) == set(SURGE_EVENTS)


@dataclass(frozen=True)
class SurgeRule:
    """One event of a program's calendar: a built-in name or the program's own dates, and the
    markets it concerns (None: every market)."""

    name: str
    markets: frozenset[str] | None = None
    start: date | None = None  # the program's own dates; None for a built-in event
    end: date | None = None

    def spans(self, year: int) -> list[Span]:
        if self.start is not None:
            end = self.end or self.start
            overlaps = self.start.year <= year <= end.year
            return [Span(self.start, end, self.name)] if overlaps else []
        return EVENT_SPANS[self.name](year)

    def concerns(self, market: str | None) -> bool:
        return self.markets is None or market is None or market in self.markets


@dataclass(frozen=True)
class SurgeCalendar:
    """The days sweeps run `factor` times as often, per market (each in its own local date)."""

    rules: tuple[SurgeRule, ...] = ()
    factor: int = 1
    days_before: int = 0
    days_after: int = 0

    def events_on(self, day: date, market: str | None = None) -> list[str]:
        """Names of the events whose widened span covers `day` for `market`."""
        found = []
        for rule in self.rules:
            if not rule.concerns(market):
                continue
            # an event late in one year can widen into the next: look at both years
            for span in _spans_near(rule, day):
                if span.widened(self.days_before, self.days_after).covers(day):
                    found.append(span.name)
                    break
        return found

    def is_surge(self, day: date, market: str | None = None) -> bool:
        return self.factor > 1 and bool(self.events_on(day, market))

    def multiplier(self, day: date, market: str | None = None) -> int:
        return self.factor if self.is_surge(day, market) else 1


def _spans_near(rule: SurgeRule, day: date) -> Iterable[Span]:
    for year in (day.year - 1, day.year, day.year + 1):
        yield from rule.spans(year)
