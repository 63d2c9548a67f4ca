"""What every `bidwatch` command shares: where it prints, its exit statuses, --json and --csv,
and how errors end it.

Start-up matters (scripts call bidwatch in loops): this module imports Rich and the settings
only when something is printed or read, never at import.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import IntEnum
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from monitor.errors import BidwatchError, SweepError

if TYPE_CHECKING:
    from rich.console import Console


class ExitCode(IntEnum):
    """`bidwatch`'s exit statuses (docs/cli.md). A sweep stopped by a signal exits 130/143."""

    OK = 0
    #: findings, or coverage below --min-coverage, when the command was asked to fail on them
    FINDINGS = 1
    #: bad usage, bad input or an invalid program/configuration
    USAGE = 2
    #: the run could not complete: engines down, store unreachable, the sweep failed
    INCOMPLETE = 3


class _LazyConsole:
    """A Rich console made on first use (Rich costs start-up that `--help` need not pay)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None
        self._made_for: tuple[bool, str | None] | None = None

    def _get(self) -> Console:
        stream = sys.stderr if self._stderr else sys.stdout
        made_for = (stream.isatty(), os.environ.get("COLUMNS"))
        if self._console is None or made_for != self._made_for:
            from rich.console import Console

            # a terminal's own width; in a pipe or a log COLUMNS, else wide enough for a table
            width = None if made_for[0] or made_for[1] else 160
            self._console = Console(stderr=self._stderr, width=width)
            self._made_for = made_for
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get(), name)


out: Console = _LazyConsole(stderr=False)  # type: ignore[assignment]
err: Console = _LazyConsole(stderr=True)  # type: ignore[assignment]
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("monitor.cli")


# -- verbosity -----------------------------------------------------------------------------


class Verbosity:
    """-q / -v of this run: progress shown or not, how much is logged."""

    level = 0  # -1 quiet, 0 normal, 1 -v, 2 -vv

    @classmethod
    def set(cls, quiet: bool, verbose: int) -> None:
        cls.level = -1 if quiet else min(verbose, 2)
        logging.basicConfig(
            level={-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
                cls.level, logging.DEBUG),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

    @classmethod
    def quiet(cls) -> bool:
        return cls.level < 0


def on_terminal() -> bool:
    """A live progress bar only when a person watches both streams; otherwise log lines."""
    return sys.stdout.isatty() and sys.stderr.isatty()


# -- errors --------------------------------------------------------------------------------


def _store_unreachable(error: BaseException) -> bool:
    """A database error (SQLAlchemy's DBAPIError: server down, locked, unwritable file),
    recognised by name: the CLI never imports SQLAlchemy (start-up, and the layer contract)."""
    return any(cls.__name__ == "DBAPIError" for cls in type(error).__mro__)


def _fail(message: str, code: ExitCode) -> typer.Exit:
    from rich.markup import escape

    # soft_wrap: a message (each issue of a program: FILE:LINE: field: message) stays on its
    # line, whatever the terminal width, so it can be grepped and clicked
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(int(code))


def friendly_errors(function: F) -> F:
    """Our errors become one clear message, never a traceback: exit 2 for what the user can
    fix (input, program, settings), 3 when the run could not complete (a failed sweep, the
    store unreachable, an OS error, a bug: its traceback on stderr). 1 stays "findings"."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except SweepError as error:
            raise _fail(str(error), ExitCode.INCOMPLETE) from None
        except BidwatchError as error:
            raise _fail(str(error), ExitCode.USAGE) from None
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as error:
            if _store_unreachable(error):
                raise _fail(f"the store could not be reached: {error}".splitlines()[0],
                            ExitCode.INCOMPLETE) from None
            if not isinstance(error, OSError):  # a bug: keep what is needed to fix it
                err.print(traceback.format_exc(), markup=False, highlight=False)
            raise _fail(f"the run could not complete: {type(error).__name__}: {error}",
                        ExitCode.INCOMPLETE) from None

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


def one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise BidwatchError("--json or --csv, not both")


def program_partners() -> list[str]:
    """The partner ids of the program in BIDWATCH_RULES (for checking `--partner`); none
    when it does not load (listing what is stored must not need a valid program)."""
    from monitor.program import ProgramError, load_program
    from monitor.settings import Settings

    try:
        return [p.id for p in load_program(Settings().rules).partners]
    except ProgramError:
        return []


# -- --json and --csv ------------------------------------------------------------------------


def emit_json(schema: str, document: Mapping[str, Any], *, indent: int | None = None) -> None:
    """One JSON object, `schema` (NAME/VERSION, monitor.cli.schemas) first."""
    sys.stdout.write(json.dumps({"schema": schema, **document}, ensure_ascii=False,
                                default=str, indent=indent) + "\n")


def emit_json_lines(schema: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """One JSON object a line (a list streams, and `jq -c`/`head` work on it)."""
    for row in rows:
        emit_json(schema, row)


def _cell(value: Any) -> str:
    """A value as one CSV cell: lists joined by ';', mappings as key=value;…, None empty."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return ";".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ";".join(_cell(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def emit_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    """A header, then one row per item: the columns of the item's --json (docs/cli.md)."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])


# -- tables ----------------------------------------------------------------------------------


def short_time(value: Any) -> str:
    """A timestamp to the minute, UTC, as `2026-11-20 14:05`."""
    return str(value)[:16].replace("T", " ")


INCIDENT_CSV = ("id", "reference", "status", "level", "severity", "offender", "partner",
                "destination", "network", "title", "headline", "policies", "engines", "markets",
                "devices", "term_groups", "sighting_count", "first_seen", "last_seen")


def print_incident_table(rows: list[dict[str, Any]]) -> None:
    """Cases, fitting 80 columns: ids and dates never cut (they are what a reader copies),
    the long text wrapped."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Cases (one per offending ad)", expand=False)
    table.add_column("id", no_wrap=True, justify="right")
    table.add_column("status · level", overflow="fold")
    table.add_column("offender → destination (network) · headline", overflow="fold", ratio=3)
    table.add_column("clauses", overflow="fold", ratio=1)
    table.add_column("engines · markets", overflow="fold", ratio=1)
    table.add_column("seen (UTC)", no_wrap=True)
    for r in rows:
        clauses = "\n".join(escape(c["policy"]) for c in r["clauses"])
        headline = f"\n{r['headline']}" if r.get("headline") else ""
        table.add_row(
            str(r["id"]), f"{r['status']}\n{r['level']} {r['severity']}",
            escape(f"{r['offender']} → {r['destination']} ({r['network'] or 'direct'})"
                   f"{headline}"),
            clauses, escape(f"{', '.join(r['engines'])}\n{', '.join(r['markets'])}"),
            f"{r['sighting_count']}×\n{short_time(r['first_seen'])}\n"
            f"{short_time(r['last_seen'])}")
    out.print(table)
