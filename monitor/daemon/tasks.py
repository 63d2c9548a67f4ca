"""The daemon's jobs apart from sweeps: plain blocking functions, run in worker threads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from monitor.judge.incidents import IncidentStatus
from monitor.notify.digest import Period, render_digest, write_digest
from monitor.notify.email import send_email
from monitor.notify.outbox import DeliveryReport, DeliveryStop, deliver_outbox
from monitor.notify.reminders import queue_policy_reminders
from monitor.notify.render import TemplateSet
from monitor.notify.smtp import SmtpOptions
from monitor.resources import templates_dir
from monitor.services.retention import prune_evidence
from monitor.settings import Settings
from monitor.store import Store
from monitor.sweep import SweepDeps

log = logging.getLogger("monitor.daemon")

OUTBOX_STATUSES = ("pending", "sending", "sent", "dead", "held", "rejected")
#: counting rows through the store's list reads: enough for a program's incidents, not more
COUNT_LIMIT = 1_000_000
#: failed sweeps looked at for pending tasks at start (newest first)
FAILED_SWEEPS_LOOKBACK = 50


def deliver(deps: SweepDeps, settings: Settings, stop: DeliveryStop | None = None
            ) -> DeliveryReport:
    return deliver_outbox(deps.store, deps.program, settings, TemplateSet(templates_dir()),
                          stop=stop)


def resumable_sweeps(store: Store, program: str) -> list[int]:
    """Sweeps of `program` with tasks never asked, oldest first: those a stop or a crash
    interrupted, and those that failed (an error ended their run; their pending tasks were
    never asked either)."""
    ids = set(store.unfinished_sweeps(program))
    for sweep in store.recent_sweeps(FAILED_SWEEPS_LOOKBACK, status="failed"):
        if sweep.program == program and any(t.status == "pending"
                                             for t in store.tasks(sweep.id)):
            ids.add(sweep.id)
    return sorted(ids)


@dataclass(frozen=True)
class StatusCounts:
    outbox: dict[str, int]
    incidents: dict[str, int]


def status_counts(store: Store) -> StatusCounts:
    """Outbox items and incidents by status, for /metrics, after every delivery run.

    Counted by the store (one GROUP BY each): reading every row to count it made each run
    hold the whole history at once (every notice ever sent with its message bytes, every
    case with its clauses), so the daemon's memory grew with every sweep that found new
    cases and never levelled off."""
    outbox = store.outbox_counts()
    incidents = store.incident_counts()
    return StatusCounts({status: outbox.get(status, 0) for status in OUTBOX_STATUSES},
                        {status.value: incidents.get(status.value, 0)
                         for status in IncidentStatus})


def expire_incidents(deps: SweepDeps) -> list[int]:
    after = timedelta(days=deps.program.incidents.expire_after_days)
    return deps.store.expire_incidents(datetime.now(UTC), after)


def prune(deps: SweepDeps, settings: Settings) -> str:
    report = prune_evidence(deps.store, settings.home, timedelta(days=settings.evidence_days))
    expired = expire_incidents(deps)
    return (f"{report.files_deleted} evidence files deleted ({report.bytes_freed} bytes), "
            f"{report.files_kept_shared} kept as shared; {len(expired)} incidents expired")


def write_daily_digest(deps: SweepDeps, settings: Settings, day: date) -> str:
    """`day`'s digest written under home/digest, and mailed when a mail channel is set."""
    program = deps.program
    message = render_digest(deps.store, program, TemplateSet(templates_dir()),
                            Period.ending_on(day, 1), evidence_home=settings.home,
                            console=settings.public_url)
    html, _text = write_digest(message, settings.home / "digest" / f"{day}.html")
    if settings.dry_run or not settings.notice_url:
        return f"{html} written (not mailed: dry run or no BIDWATCH_NOTICE_URL)"
    notices = program.notices
    result = send_email(settings.notice_url, message,
                        to=list(notices.digest_to) or [notices.sender_email],
                        reply_to=notices.reply_to, sender=notices.sender_email,
                        sender_name=notices.sender_name, message_id_key=f"digest:{day}",
                        smtp=SmtpOptions.from_settings(settings))
    return f"{html} written and " + ("mailed" if result.ok else f"NOT mailed: {result.error}")


def queue_reminders(deps: SweepDeps) -> str:
    queued = queue_policy_reminders(deps.store, deps.program, datetime.now(UTC))
    return f"{len(queued)} reminders queued"
