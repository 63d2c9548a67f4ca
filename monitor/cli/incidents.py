"""`bidwatch incidents`, `explain` and `digest`: what was found, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli import notify as notify_cli
from monitor.cli.app import app, incidents_app
from monitor.cli.output import (
    INCIDENT_CSV,
    emit_csv,
    emit_json,
    emit_json_lines,
    friendly_errors,
    known_values,
    one_format,
    out,
    print_incident_table,
    program_partners,
    short_time,
)

#: a case's statuses (monitor.judge.incidents.IncidentStatus, checked equal by the tests):
#: written here so that `--help` lists them without importing the judge
INCIDENT_STATUSES = ("new", "notified", "acknowledged", "resolved", "false_positive", "expired")

# -- incidents -----------------------------------------------------------------------------


@incidents_app.callback()
@friendly_errors
def incidents_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(
        help=f"Only this status: {', '.join(INCIDENT_STATUSES)}.", show_default=False)] = None,
    partner: Annotated[str | None, typer.Option(
        help="Only this partner id.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header.")] = False,
) -> None:
    """List incidents, most recently seen first."""
    if ctx.invoked_subcommand is not None:
        return
    from monitor.services.commands import incident_summaries
    from monitor.settings import Settings

    one_format(as_json, as_csv)
    if status is not None:
        known_values("--status", [status], INCIDENT_STATUSES)
    rows = incident_summaries(Settings(), status=status, partner=partner, headlines=True)
    if partner is not None and not rows:  # a partner no longer in the program may have cases
        stored = [r["partner"] for r in incident_summaries(Settings()) if r["partner"]]
        known_values("--partner", [partner], [*program_partners(), *sorted(set(stored))])
    if as_json:
        emit_json_lines("incident/1", rows)
    elif as_csv:
        emit_csv(INCIDENT_CSV, [{**r, "policies": [c["policy"] for c in r["clauses"]]}
                                for r in rows])
    else:
        print_incident_table(rows)


@incidents_app.command("show")
@friendly_errors
def incidents_show(
    incident_id: int,
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """One incident with its sightings (their ids are what `explain` takes), ads, chains and
    evidence."""
    from monitor.services.commands import incident_document
    from monitor.settings import Settings

    document = incident_document(Settings(), incident_id)
    document["sighting_ids"] = [s["id"] for s in document["sightings"]]
    if as_json:
        emit_json("incident-detail/1", document, indent=2)
        return
    _print_incident(document)


@incidents_app.command("export")
@friendly_errors
def incidents_export(
    incident_id: int,
    out_file: Annotated[Path | None, typer.Option(
        "--out", metavar="FILE", show_default=False,
        help="The ZIP to write (default: INC-NNNNN.zip here).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="What went in, as JSON.")] = False,
) -> None:
    """The case's evidence pack: a ZIP of every screenshot (the ad outlined; query, market,
    device and time written above it), the saved result pages, the chains, the facts as
    JSON, a printable summary and the sha256 of each file (docs/evidence.md)."""
    from monitor.cli.progress import CountProgress
    from monitor.services.evidence_pack import export_evidence_pack
    from monitor.settings import Settings

    target = out_file or Path(f"INC-{incident_id:05d}.zip")
    with CountProgress("evidence pack") as progress:
        pack = export_evidence_pack(Settings(), incident_id, target,
                                    progress=lambda done, total: progress.update(done, total))
    if as_json:
        emit_json("evidence-pack/1", {
            "incident": pack.case_id, "reference": pack.reference, "out": str(pack.out),
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in pack.files],
            "missing": pack.missing}, indent=2)
        return
    size = sum(f.size for f in pack.files)
    out.print(f"{pack.out}: {pack.reference}, {len(pack.files)} files, {size / 1e6:.1f} MB",
              markup=False, highlight=False)
    for name in pack.missing:
        out.print(f"  not on disk (pruned or never saved): {name}", markup=False,
                  highlight=False)


@incidents_app.command("set")
@friendly_errors
def incidents_set(
    ids_and_status: Annotated[list[str], typer.Argument(
        help="One or more case ids, then the status: acknowledged, resolved, "
             "false_positive, new (reopen)…", metavar="ID... STATUS")],
    note: Annotated[str, typer.Option(help="Why (kept in each case's history).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="The cases changed, as JSON.")] = False,
) -> None:
    """Change the status of one or several cases (all or none), keeping the change and the
    note in each case's history: `bidwatch incidents set 3 5 8 acknowledged`."""
    from monitor.errors import BidwatchError
    from monitor.services.commands import incident_summary, set_incident_status
    from monitor.settings import Settings

    *raw_ids, status = ids_and_status
    if not raw_ids:
        raise BidwatchError("give one or more case ids, then the status")
    try:
        ids = [int(x.removeprefix("INC-")) for x in raw_ids]
    except ValueError:
        raise BidwatchError(f"not case ids: {' '.join(raw_ids)}") from None
    if status not in INCIDENT_STATUSES:
        known_values("status", [status], INCIDENT_STATUSES)
    changed = set_incident_status(Settings(), ids, status, note)
    if as_json:
        emit_json("status-change/1", {"cases": [incident_summary(r) for r in changed]})
        return
    for row in changed:
        out.print(f"{row.reference}: {row.status}", markup=False)


@incidents_app.command("allow")
@friendly_errors
def incidents_allow(
    incident_id: Annotated[int, typer.Argument(help="The case to clear.")],
    note: Annotated[str, typer.Option(help="Why the advertiser may run this ad (kept).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="The case and entry, as JSON.")] = False,
) -> None:
    """A false positive, carried forward: mark the case false_positive and put its
    advertiser and destination on the allowlist, so later sweeps find no breach in them."""
    from monitor.services.commands import allow_incident
    from monitor.settings import Settings

    result = allow_incident(Settings(), incident_id, note)
    if as_json:
        emit_json("allowed/1", {"incident": result.case.id, "reference": result.case.reference,
                                "status": result.case.status,
                                "entry": _allow_document(result.entry)})
        return
    out.print(f"{result.case.reference}: false_positive; allowlisted {result.entry.advertiser}"
              f" → {result.entry.destination} (entry {result.entry.id})", markup=False)


@incidents_app.command("allowlist")
@friendly_errors
def incidents_allowlist(
    remove: Annotated[int | None, typer.Option(help="Remove this entry id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV with a header.")] = False,
) -> None:
    """The advertisers and destinations staff have cleared (`incidents allow` adds them)."""
    from monitor.services.commands import allowlist_entries, remove_allowlist_entry
    from monitor.settings import Settings

    one_format(as_json, as_csv)
    settings = Settings()
    if remove is not None:
        remove_allowlist_entry(settings, remove)
        out.print(f"allowlist entry {remove} removed", markup=False)
        return
    entries = allowlist_entries(settings)
    if as_json:
        emit_json_lines("allowlist-entry/1", map(_allow_document, entries))
        return
    if as_csv:
        emit_csv(ALLOW_CSV, map(_allow_document, entries))
        return
    if not entries:
        out.print("the allowlist is empty", markup=False)
    for e in entries:
        source = f" (from INC-{e.from_incident:05d})" if e.from_incident else ""
        out.print(f"{e.id}: {e.advertiser} → {e.destination}{source} · "
                  f"{e.created_at:%Y-%m-%d} · {e.note}", markup=False)


ALLOW_CSV = ("id", "advertiser", "destination", "note", "from_incident", "created_at")


def _allow_document(e: Any) -> dict[str, Any]:
    return {"id": e.id, "advertiser": e.advertiser, "destination": e.destination,
            "note": e.note, "from_incident": e.from_incident,
            "created_at": e.created_at.isoformat()}


def _print_incident(doc: dict[str, Any]) -> None:
    i = doc["incident"]
    if "folded_from" in doc:
        out.print(f"incident {doc['folded_from']} (from before cases) is part of this case",
                  markup=False)
    out.print(f"[bold]Case {i['reference']}[/] {i['status']} · level {i['level']} · "
              f"{i['severity']}", highlight=False)
    out.print(f"offender {i['offender']} · partner {i['partner'] or '-'} → "
              f"{i['destination']} via {i['network'] or 'a direct link'} · "
              f"{', '.join(i['engines'])} · seen {i['sighting_count']}×", markup=False)
    for c in i["clauses"]:
        version = f" · agreement {c['agreement_version']}" if c["agreement_version"] else ""
        out.print(f"  clause {c['policy']} ({c['severity']}): {c['title']} · "
                  f"{c['sighting_count']}× {short_time(c['first_seen'])} – "
                  f"{short_time(c['last_seen'])}{version}", markup=False)
    ids = " ".join(str(s["id"]) for s in doc["sightings"])
    out.print(f"sightings: {ids or 'none'} (bidwatch explain ID says why)", markup=False)
    for s in doc["sightings"]:
        ad = s["ad"]
        out.print(f"\nsighting {s['id']} · {s['seen_at']} {s['engine']} {s['market']} "
                  f"{s['device']} q={s['query']!r}", markup=False)
        out.print(f"  {ad['headline']} | {ad['display_url']}", markup=False)
        for clause in s["clauses"]:
            facts = "; ".join(f"{f['condition']}: {f['detail']}" for f in clause["facts"])
            out.print(f"  {clause['policy']} because {facts}", markup=False)
        for hop in s["chain"]:
            out.print(f"  → [{hop['how']}] {hop['status'] or ''} {hop['url']}", markup=False)
        if s["chain_followed"]:
            out.print(f"  {s['chain_followed']}", markup=False)
        out.print(f"  evidence: {s['html_path']} {s['screenshot_path']}", markup=False)
    if doc["history"]:
        out.print("\nhistory:", markup=False)
    for e in doc["history"]:
        out.print(f"  {e['at'][:16]} {e['from'] or '-'} → {e['to']}  {e['note']}", markup=False)


# -- explain -------------------------------------------------------------------------------


@app.command()
@friendly_errors
def explain(
    sighting_id: Annotated[int, typer.Argument(help="A sighting id (incidents show lists them).")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON.")] = False,
) -> None:
    """Why a sighting was (or was not) a breach: the ad, its chain, who placed it, the facts."""
    from monitor.services.explain import explain_sighting
    from monitor.settings import Settings

    document = explain_sighting(Settings(), sighting_id)
    if as_json:
        emit_json("explanation/1", document, indent=2)
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
    if d["chain_followed"]:
        out.print(f"  {d['chain_followed']}", markup=False)
    out.print(f"placed by: {who['advertiser_class']} {who['partner'] or ''} "
              f"({who['reason']})", markup=False)
    for exempt in d["exempted"]:
        out.print(f"exempted from {exempt['policy']}: agreement {exempt['agreement_version']} "
                  f"{exempt['permission']}", markup=False)
    if not d["findings"] and not d["exempted"]:
        out.print("no finding: no policy matched", markup=False)
    for finding in d["findings"]:
        version = f", agreement {finding['agreement_version']}" \
            if finding["agreement_version"] else ""
        out.print(f"finding: {finding['policy']} ({finding['severity']}{version}) → case "
                  f"INC-{finding['incident']:05d}", markup=False)
        for fact in finding["facts"]:
            out.print(f"  because {fact['condition']}: {fact['detail']}", markup=False)
    for case in d["cases"]:
        out.print(f"case {case['reference']} ({case['status']}): {case['offender']} → "
                  f"{case['destination']}, {len(case['clauses'])} clause(s)", markup=False)
        for clause in case["clauses"]:
            out.print(f"  {clause['policy']} ({clause['severity']}): {clause['title']} · "
                      f"seen {clause['sightings']}×", markup=False)
    out.print(f"evidence: {d['evidence']['html']} {d['evidence']['screenshot']}", markup=False)


# -- digest --------------------------------------------------------------------------------

app.command("digest")(notify_cli.digest)
