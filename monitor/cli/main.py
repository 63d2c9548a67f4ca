"""The `bidwatch` command. Thin: parse arguments, call a service, print with Rich."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from monitor.cli import notify as notify_cli
from monitor.cli.output import err, friendly_errors, out
from monitor.models import Capture, Device
from monitor.settings import Settings

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


class EngineChoice(StrEnum):
    auto = "auto"
    google = "google"
    bing = "bing"
    duckduckgo = "duckduckgo"
    yahoo = "yahoo"


# -- sweep ---------------------------------------------------------------------------------


@app.command()
@friendly_errors
def sweep(
    engine: Annotated[list[str] | None, typer.Option(help="Only this engine (repeatable).")] = None,
    market: Annotated[list[str] | None, typer.Option(help="Only this market (repeatable).")] = None,
    term: Annotated[list[str] | None, typer.Option(help="Only this query (repeatable).")] = None,
    device: Annotated[list[Device] | None, typer.Option(help="Only this device.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Capture and judge, but queue no notice.")] = False,
    rules: Annotated[Path | None, typer.Option(help="Program directory (BIDWATCH_RULES).")] = None,
) -> None:
    """Run one ad-hoc sweep now and print its summary."""
    from monitor.services.commands import run_sweep_command

    settings = Settings() if rules is None else Settings(rules=rules)
    summary = run_sweep_command(
        settings, engines=engine or [], markets=market or [], terms=term or [],
        devices=device or [], dry_run=dry_run, progress_factory=_progress,
    )
    print_summary(summary)


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
    _print_incident_table(incident_summaries(result.settings))
    home_dir = result.settings.home
    out.print(f"evidence (HTML + screenshots): {home_dir / 'evidence'}", markup=False)
    out.print(f"notices as .eml (what partners get): {home_dir / 'outbox'}", markup=False)
    out.print(f"mail received by the local SMTP sink this run: {len(result.mail)} in "
              f"{result.mail_dir}", markup=False)
    out.print(f"digest: {result.summary.digest_html} and {result.summary.digest_text}",
              markup=False)
    out.print(f"look closer: BIDWATCH_HOME={home_dir} bidwatch incidents show ID",
              markup=False)


# -- incidents -----------------------------------------------------------------------------


@incidents_app.callback()
@friendly_errors
def incidents_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    partner: Annotated[str | None, typer.Option(help="Only this partner id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """List incidents, most recently seen first."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.services.commands import incident_summaries

    rows = incident_summaries(Settings(), status=status, partner=partner)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        return
    _print_incident_table(rows)


def _print_incident_table(rows: list[dict[str, Any]]) -> None:
    table = Table("id", "status", "lvl", "severity", "offender", "policy", "engine",
                  "term group", "seen", "first seen", "last seen", title="Incidents")
    for r in rows:
        table.add_row(str(r["id"]), r["status"], str(r["level"]), r["severity"],
                      escape(r["offender"]), r["policy"], r["engine"], escape(r["term_group"]),
                      str(r["sighting_count"]),
                      _short(r["first_seen"]), _short(r["last_seen"]))
    out.print(table)


@incidents_app.command("show")
@friendly_errors
def incidents_show(
    incident_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """One incident with its sightings, ads, chains and evidence."""
    from monitor.services.commands import incident_document

    document = incident_document(Settings(), incident_id)
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str, indent=2) + "\n")
        return
    _print_incident(document)


@incidents_app.command("set")
@friendly_errors
def incidents_set(
    incident_id: int,
    status: Annotated[str, typer.Argument(help="acknowledged, resolved, false_positive…")],
    note: Annotated[str, typer.Option(help="Why (kept in the history).")] = "",
) -> None:
    """Change an incident's status, keeping the change and the note in its history."""
    from monitor.services.commands import set_incident_status

    row = set_incident_status(Settings(), incident_id, status, note)
    out.print(f"incident {row.id}: {row.status}")


def _print_incident(doc: dict[str, Any]) -> None:
    i = doc["incident"]
    out.print(f"[bold]Incident {i['id']}[/] {i['status']} · level {i['level']} · "
              f"{i['severity']} · {i['policy']}", highlight=False)
    out.print(f"offender {i['offender']} · partner {i['partner'] or '-'} · engine {i['engine']}"
              f" · {i['term_group']} · seen {i['sighting_count']}×", markup=False)
    for s in doc["sightings"]:
        ad = s["ad"]
        out.print(f"\n{s['seen_at']} {s['engine']} {s['market']} {s['device']} "
                  f"q={s['query']!r}", markup=False)
        out.print(f"  {ad['headline']} | {ad['display_url']}", markup=False)
        out.print(f"  why: {s['reason']}", markup=False)
        for hop in s["chain"]:
            out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
        out.print(f"  evidence: {s['html_path']} {s['screenshot_path']}", markup=False)


def _short(value: Any) -> str:
    return str(value)[:16]


# -- explain -------------------------------------------------------------------------------


@app.command()
@friendly_errors
def explain(
    sighting_id: Annotated[int, typer.Argument(help="A sighting id (incidents show lists them).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Why a sighting was (or was not) a breach: the ad, its chain, who placed it, the facts."""
    from monitor.services.explain import explain_sighting

    document = explain_sighting(Settings(), sighting_id)
    if as_json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return
    _print_explanation(document)


def _print_explanation(d: dict[str, Any]) -> None:
    ad, who = d["ad"], d["attribution"]
    out.print(f"Sighting {d['sighting']} · {d['seen_at']} · {d['engine']} {d['market']} "
              f"{d['device']} · query {d['query']!r} ({d['term_group']})", markup=False)
    out.print(f"ad ({ad['position']} #{ad['rank']}): {ad['headline']} | {ad['display_url']}",
              markup=False)
    for hop in d["chain"]:
        out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
    out.print(f"placed by: {who['advertiser_class']} {who['partner'] or ''} "
              f"({who['reason']})", markup=False)
    if not d["findings"]:
        out.print("no finding: no policy matched, or the partner's agreement permits it",
                  markup=False)
    for finding in d["findings"]:
        out.print(f"finding: {finding['policy']} ({finding['severity']}) → incident "
                  f"{finding['incident']}", markup=False)
        for fact in finding["facts"]:
            out.print(f"  because {fact['condition']}: {fact['detail']}", markup=False)
    out.print(f"evidence: {d['evidence']['html']} {d['evidence']['screenshot']}", markup=False)


# -- digest --------------------------------------------------------------------------------

app.command("digest")(notify_cli.digest)


# -- rules ---------------------------------------------------------------------------------


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Program directory.")] = None,
) -> None:
    """Validate the program: every error as FILE:LINE: field.path: message."""
    from monitor.notify.render import check_templates
    from monitor.program import check_program
    from monitor.resources import templates_dir

    path = directory or Settings().rules
    program, issues = check_program(path, templates_dir())
    problems = [str(issue) for issue in issues]
    problems += [f"templates/{p}" for p in check_templates(templates_dir())]
    for problem in problems:
        out.print(problem, markup=False, highlight=False, soft_wrap=True)
    if problems or program is None:
        raise typer.Exit(1)
    out.print(
        f"{path}: ok — program {program.name!r}: {len(program.brands)} brands, "
        f"{len(program.partners)} partners, {len(program.policies)} policies, "
        f"{len(program.agreements)} agreements, {len(program.markets)} markets, "
        f"{len(program.engines)} engines", markup=False, highlight=False)


@rules_app.command("test")
@friendly_errors
def rules_test(
    directory: Annotated[Path, typer.Argument(help="Program directory (maybe changed).")],
    capture: Annotated[Path, typer.Option(help="A saved result page (.html or .html.gz).")],
    engine: Annotated[EngineChoice, typer.Option(help="The engine's reader.")] = EngineChoice.auto,
    query: Annotated[str | None, typer.Option(help="What was searched (default: page).")] = None,
    market: Annotated[str | None, typer.Option(help="Market id (default: the first).")] = None,
    device: Annotated[Device, typer.Option(help="Device.")] = Device.desktop,
    at: Annotated[str | None, typer.Option(help="When it was seen, ISO 8601 (else: now).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Judge a saved page under a program, offline, without touching the store."""
    from monitor.services.explain import PageTest, judge_saved_page

    when = datetime.fromisoformat(at) if at else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    result = judge_saved_page(directory, capture, PageTest(
        engine=str(engine), query=query, market=market, device=device, at=when))
    if as_json:
        sys.stdout.write(json.dumps(result, ensure_ascii=False, indent=2) + "\n")
        return
    out.print(f"{result['page']}: {result['engine']}, query {result['query']!r} "
              f"({result['term_group']}), {result['market']} {result['device']}", markup=False)
    for ad in result["ads"]:
        verdict = ", ".join(f["policy"] for f in ad["findings"]) or "no finding"
        out.print(f"{ad['position']} #{ad['rank']} {ad['headline']} | {ad['display_url']} → "
                  f"{ad['advertiser_class']} {ad['partner'] or ''}: {verdict}", markup=False)
        for finding in ad["findings"]:
            for fact in finding["facts"]:
                out.print(f"    {finding['policy']} because {fact['condition']}: "
                          f"{fact['detail']}", markup=False)


# -- evidence ------------------------------------------------------------------------------


@evidence_app.command("prune")
@friendly_errors
def evidence_prune(
    older_than: Annotated[int | None, typer.Option(
        help="Days to keep (default BIDWATCH_EVIDENCE_DAYS).")] = None,
) -> None:
    """Delete page HTML and screenshots past retention (open incidents keep theirs)."""
    from monitor.services.retention import prune_evidence
    from monitor.services.wiring import opened_store

    settings = Settings()
    days = older_than or settings.evidence_days
    with opened_store(settings) as store:
        report = prune_evidence(store, settings.home, timedelta(days=days))
    out.print(f"evidence older than {days} days: {report.files_deleted} files deleted "
              f"({report.bytes_freed / 1e6:.1f} MB), {report.files_kept_shared} kept because "
              "newer captures share them", markup=False)


# -- attribute -----------------------------------------------------------------------------


@app.command()
@friendly_errors
def attribute(
    urls: Annotated[list[str], typer.Argument(help="Ad, click or landing URLs.")],
    follow: Annotated[bool, typer.Option(help="Follow each chain live (the browser).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per URL.")] = False,
) -> None:
    """Which network and publisher a URL names; offline unless --follow."""
    from monitor.services.inspect import attribute_live, attribute_offline

    documents = attribute_live(urls, Settings()) if follow else attribute_offline(urls)
    for document in documents:
        if as_json:
            sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
            continue
        ids = " ".join(f"{k}={document[k]}" for k in ("network", "publisher_id", "advertiser_id",
                       "creative_id", "sub_id", "click_id") if document[k])
        out.print(f"{document['url']}\n  {ids or 'no affiliate network recognised'}\n"
                  f"  lands on {document['landing_url'] or '?'}", markup=False)
        for hop in document.get("hops", []):
            out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
        if document.get("error"):
            out.print(f"  stopped: {document['error']}", markup=False)


# -- parse ---------------------------------------------------------------------------------


@app.command()
@friendly_errors
def parse(
    files: Annotated[list[Path], typer.Argument(help="Saved result pages.")],
    engine: Annotated[EngineChoice, typer.Option(help="The engine's reader.")] = EngineChoice.auto,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Read the paid ads of saved result pages."""
    from monitor.services.commands import parse_file

    for path in files:
        document = parse_file(path, str(engine))
        if as_json:
            sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
        else:
            _print_ads(path, document)


def _print_ads(path: Path, document: dict[str, Any]) -> None:
    table = Table("pos", "#", "headline", "display URL", "link", title=(
        f"{escape(str(path))}: {document['engine'] or 'unknown engine'}, "
        f"{len(document['ads'])} ads"))
    for ad in document["ads"]:
        # ad text is a stranger's: shown as text, never read as Rich markup
        table.add_row(ad["position"], str(ad["rank"]), escape(ad["headline"]),
                      escape(ad["display_url"]), escape(ad["link"]))
    out.print(table)

