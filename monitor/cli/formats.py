"""`bidwatch schema`: the shapes `--json` prints, as JSON Schema (docs/cli.md)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from monitor.cli.app import app
from monitor.cli.output import friendly_errors, known_values, out


@app.command()
@friendly_errors
def schema(
    name: Annotated[str | None, typer.Argument(
        help="A schema name (as in a JSON object's `schema`); none: list them.",
        show_default=False)] = None,
) -> None:
    """The JSON Schema of a `--json` output, e.g. `bidwatch schema sweep/1`."""
    from monitor.cli.schemas import SCHEMAS, json_schema

    if name is None:
        for known, model in SCHEMAS.items():
            doc = (model.__doc__ or "").strip().splitlines()
            out.print(f"{known:20} {doc[0] if doc else ''}", markup=False, highlight=False)
        return
    known_values("schema", [name], SCHEMAS)
    sys.stdout.write(json.dumps(json_schema(name), indent=2) + "\n")
