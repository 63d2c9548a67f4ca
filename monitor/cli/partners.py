"""`bidwatch partners import`: a network's publisher export merged into the program's partners."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from monitor.cli.app import partners_app
from monitor.cli.output import emit_json, friendly_errors, out

if TYPE_CHECKING:
    from monitor.program.partners_import import Change, ImportResult

@partners_app.command("import")
@friendly_errors
def partners_import(
    csv_file: Annotated[Path, typer.Argument(
        metavar="FILE.csv", help="The network's publisher export (CSV).")],
    network: Annotated[str, typer.Option(
        help="The network it comes from (a name the recognisers report: awin, cj, impact…).")],
    rules: Annotated[Path | None, typer.Option(
        help="Program directory (default: BIDWATCH_RULES).", show_default=False)] = None,
    language: Annotated[str | None, typer.Option(
        help="New partners' language (default: the program's default_language).",
        show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Say what would change; write nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Merge a publisher export into the partner file: partners holding the network's id
    are updated, new publishers added; ids given twice, rows without an id and bad cells
    are reported with their line and left out. Comments and order are kept; the result
    must pass `rules check` or nothing is written."""
    from monitor.program.partners_import import plan_import, write_result

    if rules is None:
        from monitor.settings import Settings

        rules = Settings().rules
    result = plan_import(rules, csv_file, network, language)
    if not dry_run:
        write_result(result)
    if as_json:
        emit_json("partners-import/1", {**result.document(), "dry_run": dry_run}, indent=2)
        return
    _report(result, dry_run)


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _report(result: ImportResult, dry_run: bool) -> None:
    columns = ", ".join(f"{what} ← {header!r}" for what, header in result.columns.found.items()
                        if header is not None)
    _say(f"{result.csv}: {result.rows} rows from {result.network}; columns: {columns}")
    missing = [what for what, header in result.columns.found.items() if header is None]
    if missing:
        _say(f"  no column for: {', '.join(missing)}")
    if result.columns.ignored:
        _say(f"  not used: {', '.join(repr(h) for h in result.columns.ignored)}")
    _changes("added", result.added)
    _changes("updated", result.updated)
    _changes("unchanged", result.unchanged, listed=False)
    if result.left_out:
        _say(f"left out {len(result.left_out)}:")
        for row in sorted(result.left_out, key=lambda r: r.line):
            who = f" ({result.network} id {row.publisher_id})" if row.publisher_id else ""
            _say(f"  {result.csv}:{row.line}{who}: {row.reason}")
    for note in result.notes:
        _say(f"note: {result.csv}:{note.line}: {note.message}")
    if not result.changed:
        _say(f"{result.file}: nothing to change")
    elif dry_run:
        _say(f"{result.file}: not written (--dry-run)")
    else:
        _say(f"{result.file}: written; the program validates")


def _changes(what: str, changes: list[Change], listed: bool = True) -> None:
    if not changes:
        return
    _say(f"{what} {len(changes)}" + (":" if listed else ""))
    if listed:
        for change in changes:
            fields = f": {', '.join(change.fields)}" if change.fields else ""
            _say(f"  {change.partner} ({change.publisher_id}, line {change.line}){fields}")
