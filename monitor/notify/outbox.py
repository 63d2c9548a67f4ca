"""The durable outbox: notices are queued in the same transaction as the sighting that owes
them, rendered once on first delivery, then sent with retries and backoff.

A row is never deleted and its key is unique per incident, level and channel, so a notice is
sent at most once per level; a failed send is retried until it succeeds or is marked dead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.notify.email import build_email, send_email
from monitor.notify.notices import notice_context
from monitor.notify.render import RenderedMessage, TemplateSet
from monitor.program import NoticeSettings, Program
from monitor.settings import Settings
from monitor.store import Store
from monitor.store.tables import OutboxRow

MAX_ATTEMPTS = 6
BACKOFF_BASE = timedelta(minutes=2)


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    waiting: int = 0  # no channel configured: kept pending, nothing lost
    eml_paths: list[Path] | None = None


def deliver_outbox(
    store: Store,
    program: Program,
    settings: Settings,
    templates: TemplateSet,
    *,
    now: datetime | None = None,
) -> DeliveryReport:
    """Render and send every due outbox item; each outcome is saved before the next item."""
    now = now or datetime.now(UTC)
    report = DeliveryReport(eml_paths=[])
    for row in store.due_outbox(now):
        if not row.subject:
            row = store.save_outbox(render_into(row, store, program, settings, templates))
        eml = write_eml(row, program, settings)
        if eml and report.eml_paths is not None:
            report.eml_paths.append(eml)
        _deliver_one(row, store, settings, program.notices, report, now)
    return report


def render_into(
    row: OutboxRow, store: Store, program: Program, settings: Settings, templates: TemplateSet
) -> OutboxRow:
    """Fill a queued notice with its recipients and rendered text, from the incident now."""
    detail = store.incident(row.incident_id or 0)
    if detail is None:
        raise LookupError(f"outbox item {row.key} names missing incident {row.incident_id}")
    context, partner = notice_context(detail, row.level, program, settings)
    message = templates.render_notice(context, program.default_language)
    row.language = message.language
    row.recipients_json = json.dumps([c.email for c in partner.contacts])
    row.cc_json = json.dumps(list(program.notices.cc))
    row.subject = message.subject
    row.body_text = message.text
    row.body_html = message.html
    row.attachments_json = json.dumps([str(context.screenshot)] if context.screenshot else [])
    return row


def message_of(row: OutboxRow) -> RenderedMessage:
    direction = "rtl" if 'dir="rtl"' in row.body_html[:2000] else "ltr"
    return RenderedMessage(subject=row.subject, text=row.body_text, html=row.body_html,
                           language=row.language, direction=direction)


def write_eml(row: OutboxRow, program: Program, settings: Settings) -> Path | None:
    """Keep the notice as an .eml file (what the partner gets), named by its outbox key."""
    if not settings.keep_eml:
        return None
    notices = program.notices
    email = build_email(
        message_of(row), sender=notices.sender_email, sender_name=notices.sender_name,
        to=json.loads(row.recipients_json), cc=json.loads(row.cc_json),
        reply_to=notices.reply_to, attachments=_attachments(row),
        message_id_key=row.key,
    )
    path = settings.outbox_dir / (re.sub(r"[^A-Za-z0-9_.-]", "-", row.key) + ".eml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(email.as_bytes())
    return path


def _attachments(row: OutboxRow) -> list[Path]:
    return [Path(p) for p in json.loads(row.attachments_json) if Path(p).is_file()]


def _deliver_one(
    row: OutboxRow,
    store: Store,
    settings: Settings,
    notices: NoticeSettings,
    report: DeliveryReport,
    now: datetime,
) -> None:
    if settings.dry_run or not settings.notice_url:
        report.waiting += 1
        return
    result = send_email(
        settings.notice_url, message_of(row), to=json.loads(row.recipients_json),
        cc=json.loads(row.cc_json), reply_to=notices.reply_to, attachments=_attachments(row),
        sender=notices.sender_email, sender_name=notices.sender_name, message_id_key=row.key,
    )
    row.attempts += 1
    if result.ok:
        row.status, row.sent_at, row.last_error = "sent", now, None
        report.sent += 1
        if row.incident_id is not None:
            store.mark_notified(row.incident_id, row.level, now)
    else:
        row.last_error = result.error
        row.next_attempt_at = now + BACKOFF_BASE * (2 ** (row.attempts - 1))
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "dead"
            report.dead += 1
        else:
            report.failed += 1
    store.save_outbox(row)
