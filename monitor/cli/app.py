"""The root `bidwatch` Typer app and its command groups; the command modules register on them."""

from __future__ import annotations

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
