"""`bidwatch rules diff` and `bidwatch rules replay`: what a change to the program would do."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.app import rules_app
from monitor.cli.output import ExitCode, emit_csv, emit_json, friendly_errors, one_format, out
from monitor.errors import BidwatchError

#: `rules replay --csv`: one row per partner and policy that would change
REPLAY_CSV = ("offender", "partner", "policy", "appear", "disappear", "severity_changed",
              "severity_changes", "examples")


@rules_app.command("diff")
@friendly_errors
def rules_diff(
    old: Annotated[Path, typer.Argument(help="The program as it is (a rules directory).")],
    new: Annotated[Path, typer.Argument(help="The program as it would be.")],
    as_json: Annotated[bool, typer.Option("--json", help="The changes as JSON.")] = False,
) -> None:
    """Say in words what changes between two programs: brands and terms, markets, engines,
    partners, agreement versions and permissions, policies. Exit 0 when they are the same,
    1 when they differ (like diff), 2 when either is invalid."""
    from monitor.program import load_program
    from monitor.program.diff import diff_programs

    changes = diff_programs(load_program(old), load_program(new))
    code = ExitCode.FINDINGS if changes else ExitCode.OK
    if as_json:
        emit_json("rules-diff/1", {"old": str(old), "new": str(new), "equal": not changes,
                                   "changes": [c.as_json() for c in changes]}, indent=2)
        raise typer.Exit(int(code))
    if not changes:
        out.print(f"{old} and {new}: the same program", markup=False, highlight=False)
    for change in changes:
        out.print(change.text, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(int(code))


@rules_app.command("replay")
@friendly_errors
def rules_replay(
    directory: Annotated[Path, typer.Argument(help="The changed program (a rules directory).")],
    since: Annotated[str | None, typer.Option(
        help="First day (UTC, YYYY-MM-DD) of sightings to judge (default: all).",
        show_default=False)] = None,
    until: Annotated[str | None, typer.Option(
        help="Last day (UTC, YYYY-MM-DD, inclusive) (default: all).", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The differences as JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="One CSV row per partner and policy.")
                      ] = False,
) -> None:
    """Judge every stored sighting of the period under a changed program, without writing
    to the store, and list the findings that would appear, disappear or change severity,
    per partner and policy (with example sighting ids)."""
    from monitor.cli.progress import working
    from monitor.services.replay import replay_store
    from monitor.settings import Settings

    one_format(as_json, as_csv)
    first, last = _day("--since", since), _day("--until", until)
    with working("judging the stored sightings again"):
        report = replay_store(Settings(), directory, first, last)
    document = report.as_json()
    if as_json:
        emit_json("rules-replay/1", document, indent=2)
        return
    if as_csv:
        emit_csv(REPLAY_CSV, [row | {"severity_changes": _severities(row)}
                              for row in document["changes"]])
        return
    _print_replay(document)


def _day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BidwatchError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


def _severities(row: dict[str, Any]) -> str:
    """"high → critical ×3; …": a row's severity changes as one cell or phrase."""
    return "; ".join(f"{c['from']} → {c['to']} ×{c['count']}" for c in row["severity_changes"])


def _print_replay(document: dict[str, Any]) -> None:
    totals, period = document["totals"], document["period"]
    out.print(f"{document['sightings']} sightings judged again under {document['program']} "
              f"({period['since'] or 'first'} to {period['until'] or 'last'}):"
              f" {totals['appear']} findings would appear, {totals['disappear']} disappear, "
              f"{totals['severity_changed']} change severity", markup=False, highlight=False,
              soft_wrap=True)
    for row in document["changes"]:
        parts = [f"+{row['appear']} appear" if row["appear"] else "",
                 f"-{row['disappear']} disappear" if row["disappear"] else "",
                 f"severity {_severities(row)}" if row["severity_changed"] else ""]
        examples = ", ".join(str(i) for i in row["examples"])
        out.print(f"  {row['offender']} · {row['policy']}: "
                  f"{', '.join(p for p in parts if p)} (e.g. sightings {examples})",
                  markup=False, highlight=False, soft_wrap=True)
