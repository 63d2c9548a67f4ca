"""`bidwatch notices preview`: the notice a partner would receive, and the digest, rendered."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.notify import notices_app
from monitor.cli.output import emit_json, err, friendly_errors, out
from monitor.errors import BidwatchError


@notices_app.command("preview")
@friendly_errors
def notices_preview(
    partner: Annotated[str | None, typer.Option(
        help="The partner whose notice to render (a partner id of the program).",
        metavar="ID", show_default=False)] = None,
    level: Annotated[int | None, typer.Option(
        help="1 warning, 2 final warning, 3 termination (default: the level its cases "
             "reached; 1 for a sample).", show_default=False, min=1, max=3)] = None,
    language: Annotated[str | None, typer.Option(
        help="Render in this language (default: the partner's).", metavar="L",
        show_default=False)] = None,
    out_file: Annotated[Path | None, typer.Option(
        "--out", help="Write the HTML here and the text beside it (FILE.txt).", metavar="FILE",
        show_default=False)] = None,
    digest: Annotated[bool, typer.Option(
        "--digest", help="The digest instead (the last day's cases, else a sample).")] = False,
    sample: Annotated[bool, typer.Option(
        "--sample", help="A sample case built from the program, even if the store has cases."
    )] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Subject, text and HTML as JSON.")
                       ] = False,
) -> None:
    """Render the notice a partner would receive for its open cases (or a sample case when
    it has none), or the digest, without queueing or sending anything. The text goes to
    stdout; --out FILE.html writes the HTML and FILE.txt."""
    from monitor.services.preview import preview_digest, preview_notice, write_preview
    from monitor.settings import Settings

    settings = Settings()
    if digest:
        preview = preview_digest(settings, sample=sample)
    elif partner is None:
        raise BidwatchError("say whose notice with --partner ID (or ask for --digest)")
    else:
        preview = preview_notice(settings, partner, level=level, language=language,
                                 sample=sample)
    files = write_preview(preview, out_file) if out_file is not None else None
    if as_json:
        emit_json("notice-preview/1", preview.as_json() | {
            "files": [str(f) for f in files] if files else []}, indent=2)
        return
    if files is not None:
        err.print(f"{preview.kind} ({preview.source}) written to {files[0]} and {files[1]}",
                  markup=False, highlight=False, soft_wrap=True)
        return
    out.print(f"Subject: {preview.message.subject}\n", markup=False, highlight=False,
              soft_wrap=True)
    out.print(preview.message.text, markup=False, highlight=False, soft_wrap=True)
