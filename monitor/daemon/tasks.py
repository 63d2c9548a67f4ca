"""The daemon's jobs apart from sweeps: plain blocking functions, run in worker threads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from monitor.judge.incidents import IncidentStatus
from monitor.notify.digest import Period, render_digest, write_digest
from monitor.notify.email import send_email
from monitor.notify.outbox import DeliveryReport, deliver_outbox
from monitor.notify.reminders import queue_policy_reminders
from monitor.notify.render import TemplateSet
from monitor.notify.smtp import SmtpOptions
from monitor.resources import templates_dir
from monitor.services.retention import prune_evidence
from monitor.settings import Settings
from monitor.store import Store
from monitor.sweep import SweepDeps

log = logging.getLogger("monitor.daemon")

OUTBOX_STATUSES = ("pending", "sent", "dead", "held", "rendered")
#: counting rows through the store's list reads: enough for a program's incidents, not more
COUNT_LIMIT = 1_000_000


def deliver(deps: SweepDeps, settings: Settings) -> DeliveryReport:
    return deliver_outbox(deps.store, deps.program, settings, TemplateSet(templates_dir()))


@dataclass(frozen=True)
class StatusCounts:
    outbox: dict[str, int]
    incidents: dict[str, int]


def status_counts(store: Store) -> StatusCounts:
    """Outbox items and incidents by status, for /metrics."""
    outbox = {status: len(store.outbox(status=status)) for status in OUTBOX_STATUSES}
    incidents = {status.value: len(store.incidents(status=status.value, limit=COUNT_LIMIT))
                 for status in IncidentStatus}
    return StatusCounts(outbox, incidents)


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
                            Period.ending_on(day, 1), evidence_home=settings.home)
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
