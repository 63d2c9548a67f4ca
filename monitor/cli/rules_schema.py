"""`bidwatch rules schema`: the program's JSON Schema, from the models that validate it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.app import rules_app
from monitor.cli.output import friendly_errors


@rules_app.command("schema")
@friendly_errors
def rules_schema(
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write to FILE instead of printing.", metavar="FILE",
        show_default=False)] = None,
    markdown: Annotated[bool, typer.Option(
        "--markdown", help="The field reference (docs/program.md) instead of the schema.")
    ] = False,
) -> None:
    """The JSON Schema of one program file, for editors (yaml-language-server): put
    `# yaml-language-server: $schema=program.schema.json` on a file's first line."""
    if markdown:
        from monitor.program.reference import reference_markdown

        text = reference_markdown()
    else:
        from monitor.program.jsonschema import schema_text

        text = schema_text()
    if out_file is None:
        sys.stdout.write(text)
        return
    from monitor.errors import ConfigError

    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{out_file}: cannot write: {err.strerror}") from None
