"""The root `bidwatch` Typer app and its command groups; the command modules register on them."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from monitor.cli import notify as notify_cli
from monitor.engines import ENGINES

app = typer.Typer(
    name="bidwatch",
    help="Paid-search brand-bidding compliance monitor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(help="Check the compliance program.", no_args_is_help=True)
incidents_app = typer.Typer(help="List, show and work incidents.", no_args_is_help=False,
                            invoke_without_command=True)
evidence_app = typer.Typer(help="Evidence on disk.", no_args_is_help=True)


#: what a bidwatch process never lets its files have: group and other permission bits. The
#: database, evidence, outbox and digests hold partners' names and addresses and pages seen;
#: outside systemd (whose unit sets a UMask) they were created 0644 and 0755.
PRIVATE_UMASK = 0o077


@app.callback()
def _private_files() -> None:
    """Paid-search brand-bidding compliance monitor."""
    # every command runs this first, `bidwatch run` (the daemon) too: a file or directory
    # any of them makes is 0600 or 0700, whichever code makes it (evidence, outbox, digests)
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


app.add_typer(rules_app, name="rules")
app.add_typer(evidence_app, name="evidence")
app.add_typer(incidents_app, name="incidents")
app.add_typer(notify_cli.outbox_app, name="outbox")
app.add_typer(notify_cli.notices_app, name="notices")

#: `--engine` of the commands that read a saved page: a registered engine, or `auto` to detect it
if TYPE_CHECKING:
    EngineOrAuto = str
else:
    EngineOrAuto = StrEnum("EngineOrAuto", [("auto", "auto"), *((name, name) for name in ENGINES)])
