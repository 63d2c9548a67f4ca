"""The root `bidwatch` Typer app, its global options and its command groups; the command
modules register on them.

Every command module imports only Typer and light modules at import: `bidwatch --help` and
`bidwatch rules check` start in a fraction of a second, and each command imports what it
needs (the store, the browser, the mailer) when it runs.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli import notify as notify_cli
from monitor.cli.output import Verbosity
from monitor.engines import ENGINES

# plain Click help: no Rich at start-up, no `<bool>` placeholders, and it fits 80 columns
app = typer.Typer(
    name="bidwatch",
    help="Paid-search brand-bidding compliance monitor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 80},
)
rules_app = typer.Typer(help="Check the compliance program.", no_args_is_help=True,
                        rich_markup_mode=None)
incidents_app = typer.Typer(help="List, show and work incidents.", no_args_is_help=False,
                            invoke_without_command=True, rich_markup_mode=None)
evidence_app = typer.Typer(help="Evidence on disk.", no_args_is_help=True,
                           rich_markup_mode=None)
partners_app = typer.Typer(help="The program's partners: import a network's publisher export.",
                           no_args_is_help=True, rich_markup_mode=None)
users_app = typer.Typer(help="The console's users and their API tokens.", no_args_is_help=True,
                        rich_markup_mode=None)


#: what a bidwatch process never lets its files have: group and other permission bits. The
#: database, evidence, outbox and digests hold partners' names and addresses and pages seen;
#: outside systemd (whose unit sets a UMask) they were created 0644 and 0755.
PRIVATE_UMASK = 0o077


def _version(shown: bool) -> None:
    if shown:
        from importlib.metadata import version

        typer.echo(f"bidwatch {version('bidwatch')}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        help="State directory for this run (sets BIDWATCH_HOME).", metavar="DIR",
        show_default=False)] = None,
    rules: Annotated[Path | None, typer.Option(
        help="Program directory for this run (sets BIDWATCH_RULES).", metavar="DIR",
        show_default=False)] = None,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="No progress; log errors only.")] = False,
    verbose: Annotated[int, typer.Option(
        "--verbose", "-v", count=True, help="Log more (-v info, -vv debug).")] = 0,
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """Paid-search brand-bidding compliance monitor. Exit status: 0 ok, 1 findings (when
    asked with --fail-on or --min-coverage), 2 usage or configuration error, 3 the run could
    not complete (docs/cli.md)."""
    # every command runs this first, `bidwatch run` (the daemon) too: a file or directory
    # any of them makes is 0600 or 0700, whichever code makes it (evidence, outbox, digests)
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)
    # the settings are read from the environment wherever a command builds them
    # what was given on this command line (the demo honours --home, but not a
    # BIDWATCH_HOME in the environment, which may be the production home)
    ctx.obj = {"home": home}
    if home is not None:
        os.environ["BIDWATCH_HOME"] = str(home)
    if rules is not None:
        os.environ["BIDWATCH_RULES"] = str(rules)
    Verbosity.set(quiet, verbose)


app.add_typer(rules_app, name="rules")
app.add_typer(evidence_app, name="evidence")
app.add_typer(incidents_app, name="incidents")
app.add_typer(partners_app, name="partners")
app.add_typer(users_app, name="users")
app.add_typer(notify_cli.outbox_app, name="outbox")
app.add_typer(notify_cli.notices_app, name="notices")

#: `--engine` of the commands that read a saved page: a registered engine, or `auto` to detect it
if TYPE_CHECKING:
    EngineOrAuto = str
else:
    EngineOrAuto = StrEnum("EngineOrAuto", [("auto", "auto"), *((name, name) for name in ENGINES)])


class FailOn(StrEnum):
    """What makes a command exit 1: new cases only, or any finding (new or seen again)."""

    new = "new"
    any = "any"
