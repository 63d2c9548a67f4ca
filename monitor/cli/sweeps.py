"""`bidwatch sweep`, `sweeps`, `run` and `demo`: sweeping, once or on the schedule."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from monitor.cli.app import FailOn, app
from monitor.cli.output import (
    ExitCode,
    emit_csv,
    emit_json,
    emit_json_lines,
    err,
    friendly_errors,
    one_format,
    out,
    print_incident_table,
)
from monitor.cli.progress import sweep_progress
from monitor.models import Device

if TYPE_CHECKING:
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
    fail_on: Annotated[FailOn | None, typer.Option(
        help="Exit 1 if the sweep opened cases (new) or found any breach (any).",
        show_default=False)] = None,
    min_coverage: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, metavar="SHARE", show_default=False,
        help="Exit 1 if fewer than this share of tasks were captured (e.g. 0.8).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False,
) -> None:
    """Run one ad-hoc sweep now and print its summary (--resume: finish a stopped one).

    Exit 0 done; 1 with --fail-on or --min-coverage when met; 3 when the sweep failed or
    captured no page at all (engines down, every page blocked); 130/143 when stopped.
    Ctrl-C or SIGTERM stops it cleanly: finished tasks stored, the rest pending for --resume.
    """
    from monitor.services.commands import run_sweep_command
    from monitor.settings import Settings

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
                devices=device or [], dry_run=dry_run, progress_factory=sweep_progress,
            )
    code = sweep_exit_code(summary, fail_on, min_coverage)
    if as_json:
        emit_json("sweep/1", {**summary.document(), "exit_code": int(code)}, indent=2)
    else:
        print_summary(summary)
        if code is not ExitCode.OK:
            err.print(f"exit {int(code)}: {_why(summary, code)}", markup=False, highlight=False)
    raise typer.Exit(int(code))


def sweep_exit_code(summary: Any, fail_on: FailOn | None,
                    min_coverage: float | None) -> ExitCode:
    """3 when the sweep could not do its job (it failed, or not one page was captured: the
    engines down or every page blocked); else 1 when asked to fail on what it found or on
    its coverage; else 0. A run that could not complete outranks its findings."""
    r = summary.report
    if r.status == "failed" or (r.tasks and not r.captured):
        return ExitCode.INCOMPLETE
    if min_coverage is not None and summary.coverage < min_coverage:
        return ExitCode.FINDINGS
    if fail_on is FailOn.new and r.incidents_new:
        return ExitCode.FINDINGS
    if fail_on is FailOn.any and (r.incidents_new or r.incidents_seen_again or r.clauses_new):
        return ExitCode.FINDINGS
    return ExitCode.OK


def _why(summary: Any, code: ExitCode) -> str:
    r = summary.report
    if code is ExitCode.INCOMPLETE:
        return f"sweep {r.status}, {r.captured} of {r.tasks} pages captured"
    return (f"coverage {summary.coverage:.0%}, {len(r.incidents_new)} new cases, "
            f"{len(r.incidents_seen_again - r.incidents_new)} seen again")


def _resume(settings: Settings, sweep_id: int | None) -> Any:
    """Resume a sweep (the newest one with tasks never asked when no id is given: stopped,
    killed or failed, as the daemon picks them), queue its alerts as every run of a sweep
    does, then deliver."""
    import asyncio

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
        resumed = sweep_id

        def new_cases() -> int:
            return len(deps.store.incidents_first_seen_in_sweep(resumed))

        progress, advance = sweep_progress(pending, new_cases)
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
    import asyncio

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
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header.")] = False,
) -> None:
    """Recent sweeps and their coverage: asked, captured, blocked by kind, failed."""
    from monitor.services.commands import sweep_summaries
    from monitor.settings import Settings

    one_format(as_json, as_csv)
    rows = sweep_summaries(Settings(), limit)
    if as_json:
        emit_json_lines("sweeps/1", rows)
        return
    if as_csv:
        emit_csv(SWEEP_CSV, rows)
        return
    from rich.table import Table

    table = Table("sweep", "status", "started (UTC)", "asked", "captured", "blocked", "failed",
                  "not asked", "ads", "new cases")
    for r in rows:
        blocked = ", ".join(f"{kind} {n}" for kind, n in r["blocked"].items()) or "0"
        table.add_row(str(r["id"]), r["status"], r["started_at"][:16].replace("T", " "),
                      str(r["asked"]), str(r["captured"]), blocked, str(r["failed"]),
                      str(r["never_asked"]), str(r["ads"]), str(r["incidents_new"]))
    for column in (0, 2):  # the sweep id and its start: wrapped, never cut
        table.columns[column].no_wrap = True
    out.print(table)


SWEEP_CSV = ("id", "status", "program", "started_at", "finished_at", "asked", "captured",
             "blocked", "failed", "never_asked", "ads", "incidents_new", "dry_run")


def print_summary(summary: Any) -> None:
    from rich.table import Table

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
    from monitor.settings import Settings

    settings = Settings() if rules is None else Settings(rules=rules)
    raise typer.Exit(run_daemon(settings, log_json=log_json))


# -- demo ----------------------------------------------------------------------------------


@app.command()
@friendly_errors
def demo(
    ctx: typer.Context,
    home: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="Where the demo keeps its state (default: the global --home, else "
             "var/demo).")] = None,
    fresh: Annotated[bool, typer.Option(help="Forget the previous demo run first.")] = False,
    rules: Annotated[Path | None, typer.Option(
        metavar="DIR", show_default=False,
        help="Your program instead of the example: swept whole (every term, engine, "
             "market and device) against the simulator.")] = None,
    scenario: Annotated[Path | None, typer.Option(
        metavar="FILE", show_default=False,
        help="What the simulator shows (docs/simulator.md; default: the demo's).")] = None,
    fail_on: Annotated[FailOn | None, typer.Option(
        help="Exit 1 if the sweep opened cases (new) or found any breach (any).",
        show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False,
) -> None:
    """Sweep the example program (or --rules DIR) against the local simulator, mail to a
    local sink: nothing leaves this machine."""
    from monitor.dev.demo import run_demo
    from monitor.services.commands import incident_summaries

    given = (ctx.obj or {}).get("home") if isinstance(ctx.obj, dict) else None
    home = home or given or Path("var/demo")
    result = run_demo(home, fresh=fresh, progress_factory=sweep_progress, rules=rules,
                      scenario=scenario)
    code = sweep_exit_code(result.summary, fail_on, None)
    if as_json:
        emit_json("sweep/1", {**result.summary.document(), "exit_code": int(code)}, indent=2)
        raise typer.Exit(int(code))
    print_summary(result.summary)
    print_incident_table(incident_summaries(result.settings, headlines=True))
    home_dir = result.settings.home
    out.print(f"evidence (HTML + screenshots): {home_dir / 'evidence'}", markup=False)
    out.print(f"notices as .eml (what partners get): {home_dir / 'outbox'}", markup=False)
    out.print(f"mail received by the local SMTP sink this run: {len(result.mail)} in "
              f"{result.mail_dir}", markup=False)
    out.print(f"digest: {result.summary.digest_html} and {result.summary.digest_text}",
              markup=False)
    out.print(f"look closer: bidwatch --home {home_dir} incidents show ID", markup=False)
    raise typer.Exit(int(code))
