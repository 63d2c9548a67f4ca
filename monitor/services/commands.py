"""What each command does, apart from printing: the CLI and the demo call these.

The heavy parts (the store, the sweep, the mailer, the judge) are imported by the functions
that use them: `bidwatch parse` and `bidwatch rules check` must not pay for them at start-up.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.errors import BidwatchError
from monitor.models import Capture  # the progress hook's alias is evaluated at import

if TYPE_CHECKING:
    from monitor.judge.incidents import IncidentStatus
    from monitor.models import Device, SearchTask
    from monitor.notify.outbox import DeliveryProgress, DeliveryReport
    from monitor.notify.render import TemplateSet
    from monitor.settings import Settings
    from monitor.store import AllowRecord, IncidentDetail, IncidentRecord
    from monitor.sweep import SweepDeps, SweepReport

log = logging.getLogger(__name__)

#: given the sweep's task count and a count of the cases it has opened so far (read from the
#: store), a context manager to run the sweep in and the sweep's progress hook
ProgressFactory = Callable[
    [int, Callable[[], int] | None],
    tuple[AbstractContextManager[Any], Callable[[Capture, int], None]],
]


@dataclass
class SweepSummary:
    """What `bidwatch sweep` and the demo print."""

    report: SweepReport
    delivery: DeliveryReport
    digest_html: Path | None = None
    digest_text: Path | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def sweep_id(self) -> int:
        return self.report.sweep_id

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def coverage(self) -> float:
        """The share of tasks whose page was captured (1.0 for a sweep of no task)."""
        return self.report.captured / self.report.tasks if self.report.tasks else 1.0

    def document(self) -> dict[str, Any]:
        """What `bidwatch sweep --json` prints (schema sweep/1, monitor.cli.schemas)."""
        r = self.report
        return {
            "sweep_id": r.sweep_id, "status": r.status, "tasks": r.tasks,
            "captured": r.captured, "blocked": dict(sorted(r.blocked.items())),
            "failed": r.failed, "coverage": round(self.coverage, 4), "ads": r.ads,
            "stray_clicks": r.stray_clicks, "incidents_new": sorted(r.incidents_new),
            "incidents_seen_again": sorted(r.incidents_seen_again - r.incidents_new),
            "clauses_new": [{"incident": case, "policy": policy}
                            for case, policy in sorted(r.clauses_new)],
            "notices_queued": r.notices_queued, "delivery": delivery_document(self.delivery),
            "digest_html": str(self.digest_html) if self.digest_html else None,
            "digest_text": str(self.digest_text) if self.digest_text else None,
            "extra": dict(self.extra),
        }

    def rows(self) -> list[tuple[str, object]]:
        r, d = self.report, self.delivery
        blocked = ", ".join(f"{k} {v}" for k, v in sorted(r.blocked.items())) or "0"
        return [
            ("tasks", r.tasks), ("captured", r.captured), ("blocked", blocked),
            ("failed", r.failed), ("ads", r.ads),
            ("ad clicks outside any ad read (markup changed?)", r.stray_clicks),
            ("tracking links no known network claims (new network?)", r.unrecognised_links),
            ("cases new (one per offending ad)", len(r.incidents_new)),
            ("cases seen again", len(r.incidents_seen_again - r.incidents_new)),
            ("clauses new on open cases", len(r.clauses_new)),
            ("notices queued", r.notices_queued), ("notices sent", d.sent),
            ("notices failed / dead", f"{d.failed} / {d.dead}"),
            ("notices waiting (no channel or dry run)", d.waiting),
            *self.extra.items(),
        ]


def delivery_document(report: DeliveryReport) -> dict[str, Any]:
    """A delivery's counts, as `outbox deliver --json` and `sweep --json` print them."""
    return {"sent": report.sent, "messages": report.messages, "failed": report.failed,
            "dead": report.dead, "waiting": report.waiting, "held": report.held,
            "interrupted": report.interrupted, "stopped": report.stopped}


def run_sweep_command(
    settings: Settings,
    *,
    engines: Sequence[str] = (),
    markets: Sequence[str] = (),
    terms: Sequence[str] = (),
    devices: Sequence[Device] = (),
    dry_run: bool = False,
    progress_factory: ProgressFactory | None = None,
) -> SweepSummary:
    """Plan, sweep, queue the sweep's alerts, deliver the outbox and write today's digest.
    A sweep cut short (Ctrl-C, SIGTERM, an error) still queues the alerts for what it
    recorded before the exception goes on."""
    from monitor.notify.digest import Period, render_digest, write_digest
    from monitor.notify.outbox import deliver_outbox
    from monitor.notify.reminders import queue_policy_reminders
    from monitor.notify.render import TemplateSet
    from monitor.plan import plan_tasks
    from monitor.resources import templates_dir
    from monitor.services.wiring import build_deps

    deps = build_deps(settings)
    try:
        tasks = plan_tasks(deps.program, engines=engines, markets=markets, devices=devices,
                           terms=terms)
        if not tasks:
            raise BidwatchError("nothing to do: the program and filters give no search task")
        sweep_id = begin_sweep(deps, tasks, dry_run=dry_run)
        try:
            report = _sweep_with_progress(deps, sweep_id, len(tasks), progress_factory)
        except BaseException:
            _after_cut_short(deps, sweep_id)
            raise
        templates = TemplateSet(templates_dir())
        after = after_sweep(deps, sweep_id, templates)
        reminders = queue_policy_reminders(deps.store, deps.program, datetime.now(UTC))
        delivery = deliver_outbox(deps.store, deps.program, settings, templates)
        message = render_digest(deps.store, deps.program, templates,
                                Period.ending_on(datetime.now(UTC).date(), 1),
                                evidence_home=settings.home, console=settings.public_url)
        html, text = write_digest(message, settings.home / "digest" /
                                  f"{datetime.now(UTC).date()}.html")
        return SweepSummary(report, delivery, html, text, extra={
            "cases expired": str(len(after.expired)), "alerts queued": str(len(after.alerts)),
            "policy reminders queued": str(len(reminders))})
    finally:
        deps.store.close()


def begin_sweep(deps: SweepDeps, tasks: Sequence[SearchTask], *, dry_run: bool = False) -> int:
    """A new sweep of `tasks`, every one pending, for `resume_sweep` to run (as it runs an
    interrupted one's). Begun apart from its run so that its id is known however the run
    ends (run_sweep gives it only with the report of a run that returned): the CLI and the
    daemon queue the alerts of a sweep cut short for what it recorded."""
    sweep_id, _ = deps.store.begin_sweep(deps.program.name, list(tasks), dry_run=dry_run,
                                         now=datetime.now(UTC))
    return sweep_id


@dataclass(frozen=True)
class AfterSweep:
    alerts: list[str]  # the outbox keys of the alerts newly queued
    expired: list[int]  # cases that expired


def after_sweep(
    deps: SweepDeps, sweep_id: int, templates: TemplateSet | None = None
) -> AfterSweep:
    """What follows every run of a sweep, in the CLI and the daemon alike, whether the run
    finished, was interrupted or failed: open cases past their time expire, and the sweep's
    alerts (new serious cases, coverage drops) are queued for what it has recorded. Alerts
    are keyed per sweep and reason, so a second call, or a resumed run, never repeats one."""
    from monitor.notify.alerts import queue_sweep_alerts
    from monitor.notify.render import TemplateSet
    from monitor.resources import templates_dir

    now = datetime.now(UTC)
    expired = deps.store.expire_incidents(
        now, timedelta(days=deps.program.incidents.expire_after_days))
    alerts = queue_sweep_alerts(deps.store, deps.program, deps.settings, sweep_id, now,
                                templates or TemplateSet(templates_dir()))
    return AfterSweep(alerts, expired)


def _after_cut_short(deps: SweepDeps, sweep_id: int) -> None:
    """after_sweep for a run that raised: a failure here is logged, never raised over the
    reason the sweep stopped."""
    try:
        after_sweep(deps, sweep_id)
    except Exception:
        log.exception("sweep %d: the alerts for what it recorded could not be queued", sweep_id)


def _sweep_with_progress(
    deps: SweepDeps,
    sweep_id: int,
    tasks: int,
    progress_factory: ProgressFactory | None,
) -> SweepReport:
    import asyncio

    from monitor.sweep import resume_sweep

    if progress_factory is None:
        return asyncio.run(resume_sweep(deps, sweep_id))

    def new_cases() -> int:  # read between tasks, in the sweep's thread, as it records
        return len(deps.store.incidents_first_seen_in_sweep(sweep_id))

    progress, advance = progress_factory(tasks, new_cases)
    with progress:
        return asyncio.run(resume_sweep(deps, sweep_id, progress=advance))


# -- outbox ----------------------------------------------------------------------------------


def deliver_now(settings: Settings, progress: DeliveryProgress | None = None) -> DeliveryReport:
    """Deliver every outbox item that is due (`bidwatch outbox deliver`, the daemon)."""
    from monitor.notify.outbox import deliver_outbox
    from monitor.notify.render import TemplateSet
    from monitor.program import load_program
    from monitor.resources import templates_dir
    from monitor.services.wiring import opened_store

    program = load_program(settings.rules)
    with opened_store(settings) as store:
        return deliver_outbox(store, program, settings, TemplateSet(templates_dir()),
                              progress=progress)


def remind_partners(
    settings: Settings, *, deliver: bool = True
) -> tuple[list[str], DeliveryReport | None]:
    """Queue this period's policy reminders (once per partner and period), then deliver."""
    from monitor.notify.outbox import deliver_outbox
    from monitor.notify.reminders import queue_policy_reminders
    from monitor.notify.render import TemplateSet
    from monitor.program import load_program
    from monitor.resources import templates_dir
    from monitor.services.wiring import opened_store

    program = load_program(settings.rules)
    if program.notices.reminder_every_days is None:
        raise BidwatchError("policy reminders are off: set notices.reminder_every_days in "
                            f"{settings.rules / 'program.yaml'}")
    with opened_store(settings) as store:
        keys = queue_policy_reminders(store, program, datetime.now(UTC))
        if not deliver:
            return keys, None
        return keys, deliver_outbox(store, program, settings, TemplateSet(templates_dir()))


# -- incidents -------------------------------------------------------------------------------


def sweep_summaries(settings: Settings, limit: int = 20) -> list[dict[str, Any]]:
    """Recent sweeps, newest first, each with its coverage by each task's last capture."""
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        rows = []
        for sweep in store.recent_sweeps(limit):
            coverage = store.sweep_coverage(sweep.id)
            rows.append({
                "id": sweep.id, "status": sweep.status, "program": sweep.program,
                "started_at": sweep.started_at.isoformat(),
                "finished_at": sweep.finished_at.isoformat() if sweep.finished_at else None,
                "asked": coverage.asked, "captured": coverage.captured,
                "blocked": dict(coverage.blocked), "failed": coverage.failed,
                "never_asked": coverage.never_asked, "ads": sweep.ads,
                "incidents_new": sweep.incidents_new, "dry_run": sweep.dry_run,
            })
        return rows


def incident_summary(row: IncidentRecord) -> dict[str, Any]:
    """A case as `incidents --json` prints it."""
    return {
        "id": row.id, "reference": row.reference, "status": row.status, "level": row.level,
        "severity": row.severity, "offender": row.offender, "partner": row.partner,
        "destination": row.destination, "network": row.network, "title": row.title,
        "clauses": [{"policy": c.policy, "title": c.title, "severity": c.severity,
                     "clause": c.clause, "agreement_version": c.agreement_version,
                     "first_seen": c.first_seen.isoformat(),
                     "last_seen": c.last_seen.isoformat(),
                     "sighting_count": c.sighting_count} for c in row.clauses],
        "engines": list(row.engines), "term_groups": list(row.term_groups),
        "sighting_count": row.sighting_count, "markets": list(row.markets),
        "devices": list(row.devices), "first_seen": row.first_seen.isoformat(),
        "last_seen": row.last_seen.isoformat(),
    }


def incident_summaries(
    settings: Settings, *, status: str | None = None, partner: str | None = None,
    headlines: bool = False,
) -> list[dict[str, Any]]:
    """Cases, most recently seen first; with `headlines`, each with the headline of its
    latest sighting's ad (what `bidwatch incidents` shows)."""
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        rows = [incident_summary(r) for r in store.incidents(status=status, partner=partner)]
        if headlines:
            latest = store.latest_headlines(row["id"] for row in rows)
            for row in rows:
                row["headline"] = latest.get(row["id"])
        return rows


def incident_document(settings: Settings, incident_id: int) -> dict[str, Any]:
    """A case with its clauses and every sighting: the ad, why it matched (each clause's
    facts), the chain and the evidence."""
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        case_id = store.case_of(incident_id)
        detail = store.incident(case_id) if case_id is not None else None
    if detail is None:
        raise BidwatchError(f"no incident {incident_id}")
    document = case_document(detail, settings.home)
    if case_id != incident_id:
        document["folded_from"] = incident_id
    return document


def case_document(detail: IncidentDetail, home: Path) -> dict[str, Any]:
    """`incidents show --json` of a case already read (evidence paths under `home`)."""
    from monitor.store import FindingRecord

    findings: dict[int, list[FindingRecord]] = defaultdict(list)
    for f in detail.findings:
        findings[f.sighting_id].append(f)
    sightings = []
    for s in detail.sightings:
        ad = detail.ads[s.ad_id]
        capture = detail.captures[s.capture_id]
        chain = detail.chains[s.ad_id]
        sightings.append({
            "id": s.id, "evidence": f"{detail.incident.reference} / {s.id}",
            "seen_at": s.seen_at.isoformat(), "engine": s.engine,
            "market": s.market, "device": s.device, "query": s.query,
            "term_group": s.term_group,
            "ad": {"headline": ad.headline, "description": ad.description,
                   "display_url": ad.display_url, "link": ad.link, "click_url": ad.click_url,
                   "position": ad.position, "rank": ad.rank},
            "clauses": [{"policy": f.policy, "agreement_version": f.agreement_version,
                         "facts": [{"condition": x.condition, "detail": x.detail}
                                   for x in f.facts]} for f in findings[s.id]],
            "chain": [{"url": h.url, "how": h.how, "status": h.status} for h in chain.hops],
            "landing_url": chain.landing_url, "chain_age_s": s.chain_age_s,
            "chain_followed": s.chain_reused,
            "html_path": str(home / capture.html_path) if capture.html_path else None,
            "screenshot_path": str(home / capture.screenshot_path)
            if capture.screenshot_path else None,
        })
    document: dict[str, Any] = {
        "incident": incident_summary(detail.incident),
        "history": [{"at": e.at.isoformat(), "from": e.status_from, "to": e.status_to,
                     "note": e.note} for e in detail.events],
        "sightings": sightings,
    }
    return document


def _status(status: str) -> IncidentStatus:
    from monitor.judge.incidents import IncidentStatus

    try:
        return IncidentStatus(status)
    except ValueError:
        known = ", ".join(s.value for s in IncidentStatus)
        raise BidwatchError(f"unknown status {status!r}; use one of: {known}") from None


def set_incident_status(
    settings: Settings, incident_ids: Sequence[int], status: str, note: str
) -> list[IncidentRecord]:
    """Change one or several cases' status (all or none). An id from before cases names the
    case it was folded into."""
    from monitor.services.wiring import opened_store

    new_status = _status(status)
    with opened_store(settings) as store:
        cases = []
        for incident_id in incident_ids:
            case_id = store.case_of(incident_id)
            if case_id is None:
                raise BidwatchError(f"no incident {incident_id}")
            cases.append(case_id)
        return store.set_incidents_status(list(dict.fromkeys(cases)), new_status, note,
                                          datetime.now(UTC))


@dataclass(frozen=True)
class AllowResult:
    case: IncidentRecord
    entry: AllowRecord


def allow_incident(settings: Settings, incident_id: int, note: str) -> AllowResult:
    """Mark a case a false positive and carry it forward: its advertiser and destination go
    on the allowlist, so the next sweep records their ads but finds no breach."""
    if not note.strip():
        raise BidwatchError("say why with --note: the allowlist entry keeps it")
    from monitor.judge.incidents import IncidentStatus
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        case_id = store.case_of(incident_id)
        if case_id is None:
            raise BidwatchError(f"no incident {incident_id}")
        now = datetime.now(UTC)
        case = store.set_incidents_status([case_id], IncidentStatus.false_positive,
                                          f"allowlisted: {note}", now)[0]
        entry = store.allow(case.offender, case.destination, note, now, from_incident=case_id)
        return AllowResult(case, entry)


def allowlist_entries(settings: Settings) -> list[AllowRecord]:
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        return store.allowlist()


def remove_allowlist_entry(settings: Settings, entry_id: int) -> None:
    from monitor.services.wiring import opened_store

    with opened_store(settings) as store:
        if not store.disallow(entry_id):
            raise BidwatchError(f"no allowlist entry {entry_id}")


# -- digest ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestResult:
    html_path: Path
    text_path: Path
    sent: bool = False
    error: str | None = None


def digest_command(
    settings: Settings, day: date, *, weekly: bool, out: Path | None, send: bool
) -> DigestResult:
    from monitor.notify.digest import Period, render_digest, write_digest
    from monitor.notify.email import send_email
    from monitor.notify.render import TemplateSet
    from monitor.notify.smtp import SmtpOptions
    from monitor.program import load_program
    from monitor.resources import templates_dir
    from monitor.services.wiring import opened_store

    program = load_program(settings.rules)
    with opened_store(settings) as store:
        period = Period.ending_on(day, 7 if weekly else 1)
        message = render_digest(store, program, TemplateSet(templates_dir()), period,
                                evidence_home=settings.home, console=settings.public_url)
    target = out or settings.home / "digest" / f"{day}{'-weekly' if weekly else ''}.html"
    html, text = write_digest(message, target)
    if not send:
        return DigestResult(html, text)
    if not settings.notice_url:
        raise BidwatchError("--send needs BIDWATCH_NOTICE_URL (an apprise mail URL)")
    recipients = list(program.notices.digest_to) or [program.notices.sender_email]
    notices = program.notices
    result = send_email(settings.notice_url, message, to=recipients, reply_to=notices.reply_to,
                        sender=notices.sender_email, sender_name=notices.sender_name,
                        message_id_key=f"digest:{target.name}",
                        smtp=SmtpOptions.from_settings(settings))
    return DigestResult(html, text, result.ok, result.error)


# -- parse -----------------------------------------------------------------------------------


def parse_file(path: Path, engine_name: str) -> dict[str, Any]:
    """The ads on a saved result page (plain or the store's .html.gz), as `bidwatch parse
    --json` prints them. A page no engine recognises is an error unless `engine_name` names
    one: "no engine, no ads" would read like a page without ads. `truncated` says why only
    part of the page was read (too large, too deeply nested), else None."""
    # the engines and the page reader only: many files in one call start fast
    from monitor.engines import ENGINES, detect_engine, get_engine
    from monitor.services.saved import read_page

    page = read_page(path)
    name = detect_engine(page.html) if engine_name == "auto" else engine_name
    if name is None:
        known = ", ".join(sorted(ENGINES))
        cut = f" ({page.cut})" if page.cut else ""
        raise BidwatchError(f"{path}: not a result page of a known engine{cut}; if it is "
                            f"one, name the engine with --engine ({known})")
    engine = get_engine(name)
    reading = engine.read_page(page.html)
    # what the page is, as a sweep would class it: a captcha or consent page saved by hand
    # reads as "no ads", and says it is not a result page
    status = engine.classify(f"https://{engine.hosts[0]}/search", 200, page.html)
    return {
        "file": str(path), "engine": name,
        "ads": [{k: v for k, v in ad.as_json().items() if k not in ("advertiser", "sitelinks")}
                for ad in reading.ads],
        "stray_click_urls": reading.stray_click_urls,
        "truncated": page.cut,
        "status": str(status),
    }
