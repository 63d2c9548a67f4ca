"""`bidwatch sweep`, `sweeps`, `run` and `demo`: sweeping, once or on the schedule."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.cli.app import app
from monitor.cli.output import err, friendly_errors, out, print_incident_table
from monitor.models import Capture, Device
from monitor.settings import Settings

log = logging.getLogger(__name__)

# -- sweep ---------------------------------------------------------------------------------

#: exit statuses of a sweep stopped by a signal (the shell's 128 + signal number)
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


@app.command()
@friendly_errors
def sweep(
    engine: Annotated[list[str] | None, typer.Option(help="Only this engine (repeatable).")] = None,
    market: Annotated[list[str] | None, typer.Option(help="Only this market (repeatable).")] = None,
    term: Annotated[list[str] | None, typer.Option(help="Only this query (repeatable).")] = None,
    device: Annotated[list[Device] | None, typer.Option(help="Only this device.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Capture and judge, but queue no notice.")] = False,
    rules: Annotated[Path | None, typer.Option(help="Program directory (BIDWATCH_RULES).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Run the tasks an interrupted or killed sweep left pending (the "
                         "newest such sweep, or SWEEP_ID), under that sweep.")] = False,
    sweep_id: Annotated[int | None, typer.Argument(
        metavar="SWEEP_ID", help="With --resume: the sweep to resume.",
        show_default=False)] = None,
) -> None:
    """Run one ad-hoc sweep now and print its summary (--resume: finish a stopped one).

    Ctrl-C or SIGTERM stops it cleanly: finished tasks stored, the rest pending for --resume.
    """
    from monitor.services.commands import run_sweep_command

    settings = Settings() if rules is None else Settings(rules=rules)
    if sweep_id is not None and not resume:
        raise typer.BadParameter("a sweep id goes with --resume", param_hint="SWEEP_ID")
    if resume:
        if engine or market or term or device or dry_run:
            raise typer.BadParameter("a resumed sweep runs its own pending tasks: no filters "
                                     "or --dry-run with --resume", param_hint="--resume")
        with _stopped_cleanly():
            summary = _resume(settings, sweep_id)
    else:
        with _stopped_cleanly():
            summary = run_sweep_command(
                settings, engines=engine or [], markets=market or [], terms=term or [],
                devices=device or [], dry_run=dry_run, progress_factory=_progress,
            )
    print_summary(summary)


def _resume(settings: Settings, sweep_id: int | None) -> Any:
    """Resume a sweep (the newest one with tasks never asked when no id is given: stopped,
    killed or failed, as the daemon picks them), queue its alerts as every run of a sweep
    does, then deliver."""
    from monitor.daemon.tasks import resumable_sweeps
    from monitor.errors import BidwatchError
    from monitor.services.commands import SweepSummary, after_sweep, deliver_now
    from monitor.services.wiring import build_deps
    from monitor.sweep import resume_sweep

    deps = build_deps(settings)
    try:
        if sweep_id is None:
            resumable = resumable_sweeps(deps.store, deps.program.name)
            if not resumable:
                raise BidwatchError(f"no sweep of {deps.program.name!r} has tasks never asked")
            sweep_id = resumable[-1]
        pending = len(deps.store.pending_tasks(sweep_id, deps.program))
        progress, advance = _progress(pending)
        try:
            with progress:
                report = asyncio.run(resume_sweep(deps, sweep_id, progress=advance))
        except BaseException:
            try:  # the alerts for what it recorded, never raised over why it stopped
                after_sweep(deps, sweep_id)
            except Exception:
                log.exception("sweep %d: its alerts could not be queued", sweep_id)
            raise
        after_sweep(deps, sweep_id)
    finally:
        deps.store.close()
    return SweepSummary(report, deliver_now(settings))


@contextmanager
def _stopped_cleanly() -> Iterator[None]:
    """A sweep stopped by Ctrl-C (KeyboardInterrupt) or SIGTERM (the sweep cancels itself)
    has stored its finished tasks and marked itself interrupted: say so and how to go on,
    and exit as a signalled process does."""
    try:
        yield
    except (KeyboardInterrupt, asyncio.CancelledError) as stop:
        err.print("sweep interrupted: finished tasks are stored, the rest are pending; "
                  "`bidwatch sweep --resume` runs them", markup=False)
        code = EXIT_SIGINT if isinstance(stop, KeyboardInterrupt) else EXIT_SIGTERM
        raise typer.Exit(code) from None


@app.command()
@friendly_errors
def sweeps(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Recent sweeps and their coverage: asked, captured, blocked by kind, failed."""
    from monitor.services.commands import sweep_summaries

    rows = sweep_summaries(Settings(), limit)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    table = Table("sweep", "status", "started (UTC)", "asked", "captured", "blocked", "failed",
                  "not asked", "ads", "new incidents")
    for r in rows:
        blocked = ", ".join(f"{kind} {n}" for kind, n in r["blocked"].items()) or "0"
        table.add_row(str(r["id"]), r["status"], r["started_at"][:19].replace("T", " "),
                      str(r["asked"]), str(r["captured"]), blocked, str(r["failed"]),
                      str(r["never_asked"]), str(r["ads"]), str(r["incidents_new"]))
    out.print(table)


def _progress(total: int) -> tuple[Progress, Callable[[Capture, int], None]]:
    progress = Progress(
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}"), console=err, transient=True,
    )
    bar = progress.add_task("", total=total)

    def advance(capture: Capture, ads: int) -> None:
        task = capture.task
        progress.update(bar, advance=1, description=(
            f"{task.engine} {task.market.id} {task.device} {task.query!r}: "
            f"{capture.status} ({ads} ads)"))

    return progress, advance


def print_summary(summary: Any) -> None:
    table = Table(title=f"Sweep {summary.sweep_id}: {summary.status}", show_header=False)
    for label, value in summary.rows():
        table.add_row(label, str(value))
    out.print(table)


# -- run -----------------------------------------------------------------------------------


@app.command()
@friendly_errors
def run(
    log_json: Annotated[bool | None, typer.Option(
        "--log-json/--log-text", help="Log lines as JSON (BIDWATCH_LOG_JSON).")] = None,
    rules: Annotated[Path | None, typer.Option(help="Program directory (BIDWATCH_RULES).")] = None,
) -> None:
    """Run the daemon: sweeps, notices, digest and retention on the program's schedule."""
    from monitor.daemon.runner import run_daemon

    settings = Settings() if rules is None else Settings(rules=rules)
    raise typer.Exit(run_daemon(settings, log_json=log_json))


# -- demo ----------------------------------------------------------------------------------


@app.command()
@friendly_errors
def demo(
    home: Annotated[Path, typer.Option(help="Where the demo keeps its state.")] = Path("var/demo"),
    fresh: Annotated[bool, typer.Option(help="Forget the previous demo run first.")] = False,
) -> None:
    """Sweep the example program against the local simulator, mail to a local sink."""
    from monitor.dev.demo import run_demo
    from monitor.services.commands import incident_summaries

    result = run_demo(home, fresh=fresh, progress_factory=_progress)
    print_summary(result.summary)
    print_incident_table(incident_summaries(result.settings))
    home_dir = result.settings.home
    out.print(f"evidence (HTML + screenshots): {home_dir / 'evidence'}", markup=False)
    out.print(f"notices as .eml (what partners get): {home_dir / 'outbox'}", markup=False)
    out.print(f"mail received by the local SMTP sink this run: {len(result.mail)} in "
              f"{result.mail_dir}", markup=False)
    out.print(f"digest: {result.summary.digest_html} and {result.summary.digest_text}",
              markup=False)
    out.print(f"look closer: BIDWATCH_HOME={home_dir} bidwatch incidents show ID",
              markup=False)
