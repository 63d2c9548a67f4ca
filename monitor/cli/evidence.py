"""`bidwatch evidence`: the evidence kept on disk."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from monitor.cli.app import evidence_app
from monitor.cli.output import emit_json, friendly_errors, out
from monitor.cli.progress import working
from monitor.errors import BidwatchError

# -- evidence ------------------------------------------------------------------------------


@evidence_app.command("prune")
@friendly_errors
def evidence_prune(
    older_than: Annotated[int | None, typer.Option(
        help="Days to keep, 0 or more (default BIDWATCH_EVIDENCE_DAYS).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="What was deleted, as JSON.")] = False,
) -> None:
    """Delete page HTML and screenshots past retention (open incidents keep theirs)."""
    from monitor.services.retention import prune_evidence
    from monitor.services.wiring import opened_store
    from monitor.settings import Settings

    settings = Settings()
    # 0 is 0 (everything not held by an open case), not "the default": `or` made it 180
    days = settings.evidence_days if older_than is None else older_than
    if days < 0:
        raise BidwatchError(f"--older-than {days}: give a number of days, 0 or more")
    with opened_store(settings) as store, working("pruning evidence"):
        report = prune_evidence(store, settings.home, timedelta(days=days))
    if as_json:
        emit_json("prune/1", {"older_than_days": days, "files_deleted": report.files_deleted,
                              "bytes_freed": report.bytes_freed,
                              "files_kept_shared": report.files_kept_shared})
        return
    out.print(f"evidence older than {days} days: {report.files_deleted} files deleted "
              f"({report.bytes_freed / 1e6:.1f} MB), {report.files_kept_shared} kept because "
              "newer captures share them", markup=False)
