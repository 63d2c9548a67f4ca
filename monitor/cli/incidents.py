"""`bidwatch incidents`, `explain` and `digest`: what was found, and why."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from monitor.cli import notify as notify_cli
from monitor.cli.app import app, incidents_app
from monitor.cli.output import friendly_errors, out, print_incident_table
from monitor.settings import Settings

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
    print_incident_table(rows)


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
