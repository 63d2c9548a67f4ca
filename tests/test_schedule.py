"""The schedule: surge calendar dates, randomised samples that cover every hour of the week,
the triggers built from them, and the program's `schedule:` validation. Pure, fixed dates."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from monitor.daemon.jobs import job_tasks, surge_calendar, sweep_specs
from monitor.daemon.sampling import SamplePlan, hour_of_week, parse_windows, sample_times
from monitor.daemon.triggers import SampledTrigger, SurgeTrigger
from monitor.program import check_program, load_program
from monitor.program.calendar import (
    SurgeCalendar,
    SurgeRule,
    black_friday,
    cyber_monday,
    eid_al_adha,
    eid_al_fitr,
    ramadan,
)
from tests.conftest import RULES

# -- the surge calendar -------------------------------------------------------------------------


def test_western_shopping_days() -> None:
    assert black_friday(2026)[0].start == date(2026, 11, 27)
    assert cyber_monday(2026)[0].start == date(2026, 11, 30)
    assert black_friday(2027)[0].start == date(2027, 11, 26)


def test_ramadan_and_eid_follow_umm_al_qura() -> None:
    (fast,) = ramadan(2027)
    assert fast.start == date(2027, 2, 8) and fast.end == date(2027, 3, 8)
    assert eid_al_fitr(2027)[0].start == fast.end + timedelta(days=1)
    assert ramadan(2026)[0].start == date(2026, 2, 18)
    assert eid_al_adha(2026)[0].start == date(2026, 5, 27)
    # Ramadan falls twice in 2030 (January and December)
    assert [s.start.month for s in ramadan(2030)] == [1, 12]


def test_calendar_widens_events_and_keeps_to_their_markets() -> None:
    calendar = SurgeCalendar((SurgeRule("black_friday"),
                              SurgeRule("ramadan", frozenset({"ae-ar"}))),
                             factor=3, days_before=2, days_after=1)
    assert calendar.events_on(date(2026, 11, 25)) == ["black_friday"]
    assert calendar.events_on(date(2026, 11, 28)) == ["black_friday"]
    assert not calendar.is_surge(date(2026, 11, 29))
    assert calendar.is_surge(date(2027, 2, 20), "ae-ar")
    assert not calendar.is_surge(date(2027, 2, 20), "us-en")
    assert calendar.multiplier(date(2027, 2, 20), "ae-ar") == 3


def test_program_dates_span_a_new_year() -> None:
    calendar = SurgeCalendar((SurgeRule("winter sale", None, date(2026, 12, 30),
                                        date(2027, 1, 2)),), factor=2)
    assert calendar.is_surge(date(2027, 1, 1)) and not calendar.is_surge(date(2027, 1, 3))


# -- randomised samples ---------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Dubai", "America/New_York", "Asia/Jakarta"])
@pytest.mark.parametrize("runs", [1, 4, 5])
def test_every_hour_of_the_week_is_covered(zone: str, runs: int) -> None:
    plan = SamplePlan(runs)
    tz = ZoneInfo(zone)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # two cycles: a daylight-saving change may swallow one dealt hour in the first
    times = list(sample_times(plan, "seed", "job:m", tz, start,
                              start + timedelta(weeks=2 * plan.cycle_weeks + 1)))
    assert {hour_of_week(t, tz) for t in times} == set(range(168))
    # and it is a sample, not a sweep every hour: `runs` a day
    days = (times[-1] - times[0]).days
    assert len(times) <= runs * (days + 2)


def test_a_cycle_covers_its_window_and_days_only() -> None:
    plan = SamplePlan(3, parse_windows(["18-24", "0-2"]), (4, 5, 6))
    tz = ZoneInfo("Europe/London")
    start = datetime(2026, 5, 4, tzinfo=UTC)  # a Monday, no DST change in the period
    wanted = {d * 24 + h for d in (4, 5, 6) for h in (18, 19, 20, 21, 22, 23, 0, 1)}
    assert plan.cycle_weeks == 3

    def hours_in(weeks: int) -> set[int]:
        end = start + timedelta(weeks=weeks)
        return {hour_of_week(t, tz) for t in sample_times(plan, "s", "k", tz, start, end)}

    # cycles count from a fixed Monday: any 2 x 3 - 1 weeks hold a whole one
    assert hours_in(3) < wanted
    assert hours_in(5) == wanted


def test_the_same_seed_gives_the_same_times_and_another_does_not() -> None:
    plan, tz = SamplePlan(4), ZoneInfo("UTC")
    start = datetime(2026, 3, 2, tzinfo=UTC)
    end = start + timedelta(days=7)
    assert list(sample_times(plan, "a", "k", tz, start, end)) == \
        list(sample_times(plan, "a", "k", tz, start, end))
    assert list(sample_times(plan, "a", "k", tz, start, end)) != \
        list(sample_times(plan, "b", "k", tz, start, end))


def test_windows_wrap_past_midnight() -> None:
    assert parse_windows(["22-2"]) == (0, 1, 22, 23)
    assert parse_windows(["0-24"]) == tuple(range(24))


# -- triggers -------------------------------------------------------------------------------


def test_sampled_trigger_runs_more_on_surge_days() -> None:
    tz = ZoneInfo("Asia/Dubai")
    calendar = SurgeCalendar((SurgeRule("ramadan"),), factor=3)
    trigger = SampledTrigger(SamplePlan(2), "s", "k", tz,
                             lambda day: 2 * calendar.multiplier(day))

    def runs_on(day: date) -> int:
        moment = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(seconds=1)
        count = 0
        while True:
            moment = trigger.get_next_fire_time(moment, moment)
            if moment.date() != day:
                return count
            count += 1

    assert runs_on(date(2027, 1, 20)) == 2
    assert runs_on(date(2027, 2, 20)) == 6


def test_surge_trigger_adds_runs_between_cron_times_only_on_surge_days() -> None:
    from apscheduler.triggers.cron import CronTrigger

    tz = ZoneInfo("America/New_York")
    base = CronTrigger.from_crontab("0 */6 * * *", timezone=tz)
    calendar = SurgeCalendar((SurgeRule("black_friday"),), factor=3)
    both = SurgeTrigger(base, calendar, "us-en", tz)
    only = SurgeTrigger(base, calendar, "us-en", tz, include_base=False)

    def day_of(trigger: SurgeTrigger, day: date) -> list[int]:
        moment = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(seconds=1)
        hours = []
        while (moment := trigger.next_after(moment)) and moment.date() == day:
            hours.append(moment.astimezone(tz).hour)
        return hours

    assert day_of(both, date(2026, 11, 20)) == [0, 6, 12, 18]
    assert day_of(both, date(2026, 11, 27)) == list(range(0, 24, 2))
    assert day_of(only, date(2026, 11, 27)) == [h for h in range(0, 24, 2) if h % 6]
    # a surge-only trigger finds the next surge day months ahead
    first = only.next_after(datetime(2027, 1, 1, tzinfo=UTC))
    assert first is not None and first.astimezone(tz).date() == date(2027, 11, 26)


# -- the program's schedule -----------------------------------------------------------------


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def set_schedule(rules: Path, schedule: str) -> None:
    program = rules / "program.yaml"
    text = program.read_text()
    start, end = text.index("schedule:"), text.index("# Never follow the engines'")
    program.write_text(text[:start] + schedule + "\n" + text[end:])


def test_the_shipped_schedule_expands_per_market() -> None:
    program = load_program(RULES)
    ids = [spec.job_id for spec in sweep_specs(program, "seed")]
    assert ids[0] == "sweep:all"
    assert "sweep:round-the-clock:ae-ar" in ids and "sweep:all:surge:id-id" in ids
    evenings = next(s for s in sweep_specs(program, "seed")
                    if s.job_id == "sweep:evenings-and-weekends:gb-en")
    tasks = evenings.tasks(program)
    assert tasks and {t.market.id for t in tasks} == {"gb-en"}
    assert {t.term_group for t in tasks} == {"brand+coupon", "brand+promo code",
                                             "brand+discount"}


def test_the_original_form_stays_valid(rules: Path) -> None:
    set_schedule(rules, "schedule:\n  interval_minutes: 60\n")
    program = load_program(rules)
    (job,) = program.schedule.jobs()
    assert job.id == "all" and len(job_tasks(program, job)) == 208


def test_schedule_errors_name_the_file_and_line(rules: Path) -> None:
    set_schedule(rules, """schedule:
  sweeps:
    - id: night
      cron: "0 2 * * *"
      sample: {runs_per_day: 2}
    - id: far
      interval_minutes: 5
      markets: [fr-fr]
  surge:
    events: [boxing_day, {name: ramadan, markets: [xx-yy]}]
""")
    program, issues = check_program(rules)
    assert program is None
    found = {(i.path, i.line) for i in issues}
    program_file = str(rules / "program.yaml")
    assert all(i.file == program_file for i in issues)
    text = (rules / "program.yaml").read_text().splitlines()
    assert ("schedule.sweeps[0]", text.index("    - id: night") + 1) in found
    assert ("schedule.surge.events[0]", text.index("  surge:") + 2) in found
    messages = "\n".join(str(i) for i in issues)
    assert "exactly one of cron, interval_minutes, interval_seconds or sample" in messages
    assert "unknown event 'boxing_day'" in messages
    # cross-references are checked once the structure is valid
    set_schedule(rules, "schedule:\n  sweeps:\n    - id: far\n      interval_minutes: 5\n"
                        "      markets: [fr-fr]\n")
    _program, issues = check_program(rules)
    assert [str(i).split(": ", 1)[1] for i in issues] == [
        "schedule.sweeps[0].markets[0]: unknown market 'fr-fr'"]


def test_a_schedule_needs_some_sweep(rules: Path) -> None:
    set_schedule(rules, "schedule:\n  digest_at: '06:30'\n")
    _program, issues = check_program(rules)
    assert len(issues) == 1 and "list sweeps" in issues[0].message


def test_surge_calendar_from_the_program() -> None:
    calendar = surge_calendar(load_program(RULES).schedule.surge)
    assert calendar.is_surge(date(2027, 2, 20), "id-id")
    assert not calendar.is_surge(date(2027, 2, 20), "us-en")
    assert calendar.is_surge(date(2027, 4, 2), "us-en")  # the program's own sale
