"""What every `bidwatch` command shares: where it prints, and how our errors end it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from monitor.errors import BidwatchError
from monitor.settings import Settings

# a wide table in a pipe or a log, the terminal's width in a terminal
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(function: F) -> F:
    """Our errors become one clear message and exit status 2, never a traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except BidwatchError as error:
            # soft_wrap: a message (each issue of a program: FILE:LINE: field: message) stays
            # on its line, whatever the terminal width, so it can be grepped and clicked
            err.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def known_values(option: str, given: Iterable[str], known: Iterable[str]) -> None:
    """Refuse a filter value nothing can have: an unknown `--status` listed nothing and
    exited 0, as if there were nothing of that status."""
    allowed = list(dict.fromkeys(known))
    unknown = [value for value in given if value not in allowed]
    if unknown:
        listed = ", ".join(allowed) if allowed else "none"
        raise BidwatchError(f"unknown {option} {', '.join(map(repr, unknown))}; "
                            f"known: {listed}")


def program_partners() -> list[str]:
    """The partner ids of the program in BIDWATCH_RULES (for checking `--partner`); none
    when it does not load (listing what is stored must not need a valid program)."""
    from monitor.program import ProgramError, load_program

    try:
        return [p.id for p in load_program(Settings().rules).partners]
    except ProgramError:
        return []


def short_time(value: Any) -> str:
    return str(value)[:16]


def print_incident_table(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "status", "lvl", "severity", "offender → destination (network)", "clauses",
                  "engines", "seen", "first seen", "last seen",
                  title="Cases (one per offending ad)")
    for r in rows:
        clauses = "\n".join(escape(c["policy"]) for c in r["clauses"])
        table.add_row(str(r["id"]), r["status"], str(r["level"]), r["severity"],
                      escape(f"{r['offender']} → {r['destination']} ({r['network'] or 'direct'})"),
                      clauses,
                      ", ".join(r["engines"]), str(r["sighting_count"]),
                      short_time(r["first_seen"]), short_time(r["last_seen"]))
    out.print(table)
