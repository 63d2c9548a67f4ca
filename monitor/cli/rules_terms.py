"""`bidwatch rules terms`: the queries a sweep would ask, per engine and market."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.app import rules_app
from monitor.cli.output import emit_csv, emit_json, friendly_errors, one_format, out

if TYPE_CHECKING:
    from monitor.daemon.forecast import JobLoad
    from monitor.plan import AskedQuery
    from monitor.program import Program

#: the columns of `--csv`, one row per query asked (the `queries` items of `--json`)
TERMS_CSV = ("engine", "market", "language", "brand", "query", "term_group", "family")
TERMS_SCHEMA = "rules-terms/1"


@rules_app.command("terms")
@friendly_errors
def rules_terms(
    directory: Annotated[Path | None, typer.Argument(
        help="Program directory (default: BIDWATCH_RULES).", show_default=False)] = None,
    engine: Annotated[list[str] | None, typer.Option(
        "--engine", help="Only this engine (repeatable).", show_default=False)] = None,
    market: Annotated[list[str] | None, typer.Option(
        "--market", help="Only this market id (repeatable).", show_default=False)] = None,
    day: Annotated[str | None, typer.Option(
        help="Count the captures of this day, YYYY-MM-DD (default: today).", metavar="DATE",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="The queries as CSV.")] = False,
) -> None:
    """The queries a sweep asks per engine and market, with their term group and the
    family that made them, and the captures per day the schedule implies."""
    from monitor.daemon.forecast import day_load
    from monitor.plan import asked_queries
    from monitor.program import load_program

    one_format(as_json, as_csv)
    path = directory or _default_rules()
    program = load_program(path)
    engines, markets = list(engine or []), list(market or [])
    asked = asked_queries(program, engines=engines, markets=markets)
    if as_csv:
        emit_csv(TERMS_CSV, [_query_row(a) for a in asked])
        return
    on = _day(day, program)
    loads = day_load(program, on, lambda t: (not engines or t.engine in engines)
                     and (not markets or t.market.id in markets))
    if as_json:
        emit_json(TERMS_SCHEMA, _document(path, program, asked, on, loads), indent=2)
        return
    _print(program, asked, on, loads)


def _default_rules() -> Path:
    from monitor.settings import Settings

    return Settings().rules


def _day(text: str | None, program: Program) -> date:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from monitor.errors import ConfigError

    if text is None:
        return datetime.now(ZoneInfo(program.schedule.office_zone)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--day {text!r} is not a date (YYYY-MM-DD)") from None


def _query_row(asked: AskedQuery) -> dict[str, Any]:
    q = asked.query
    return {"engine": asked.engine, "market": asked.market, "language": asked.language,
            "brand": q.brand, "query": q.query, "term_group": q.term_group, "family": q.family}


def _document(path: Path, program: Program, asked: list[AskedQuery], on: date,
              loads: list[JobLoad]) -> dict[str, Any]:
    return {
        "directory": str(path), "program": program.name,
        "devices": [str(d) for d in program.devices],
        "queries": [_query_row(a) for a in asked],
        "day": on.isoformat(), "timezone": program.schedule.office_zone,
        "sweeps": [{"job": j.job_id, "runs": j.runs, "tasks_per_run": j.tasks_per_run,
                    "captures": j.captures} for j in loads],
        "captures_per_day": sum(j.captures for j in loads),
    }


def _print(program: Program, asked: list[AskedQuery], on: date, loads: list[JobLoad]) -> None:
    def say(text: str) -> None:
        out.print(text, markup=False, highlight=False, soft_wrap=True)

    devices = ", ".join(str(d) for d in program.devices)
    by_market: dict[tuple[str, str], list[AskedQuery]] = {}
    engines_of: dict[tuple[str, str], list[str]] = {}
    first_engine = asked[0].engine if asked else ""
    for a in asked:
        key = (a.market, a.language)
        if a.engine == first_engine:  # an engine asks what the others ask
            by_market.setdefault(key, []).append(a)
        engines_of.setdefault(key, [])
        if a.engine not in engines_of[key]:
            engines_of[key].append(a.engine)
    for (market_id, language), rows in by_market.items():
        engines = ", ".join(engines_of[(market_id, language)])
        say(f"{market_id} ({language}) on {engines}, each on {devices}: {len(rows)} queries")
        for a in rows:
            say(f"  {a.query.term_group:<20} {a.query.family:<13} {a.query.query}")
    total = sum(j.captures for j in loads)
    say(f"captures on {on.isoformat()}: {total} (a day in {program.schedule.office_zone}; "
        "a market's own sweeps, its local day)")
    for j in loads:
        if j.runs:
            say(f"  {j.job_id:<40} {j.runs:>4} runs x {j.tasks_per_run:>5} = {j.captures}")
