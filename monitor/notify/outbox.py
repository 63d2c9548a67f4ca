"""The durable outbox: notices, reminders and alerts are stored first, then delivered with
retries and backoff.

A row is never deleted and its key is unique (per incident, level and channel for a notice;
per partner and period for a reminder; per sweep and reason for an alert), so nothing is
queued twice. Delivery of one message goes:

    render (once, saved) → .eml kept → claim (status `sending`, committed) → send → save
    the outcome (`sent`, or back to `pending` with backoff, or `dead`)

The guarantee, honestly: a message is sent at least once, and at most once unless the
process dies in the short window between the channel accepting it and the outcome being
committed. An item found still `sending` after `outbox_sending_timeout_s` is sent again
(at least once wins over at most once for a notice), and it carries the same
X-Bidwatch-Notice-Key header, so such a duplicate is recognisable; its last_error says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, update

from monitor.notify.alerts import send_alert
from monitor.notify.batch import Batch, notice_batches, render_batch
from monitor.notify.email import DeliveryResult, build_email, send_email
from monitor.notify.reminders import render_reminder
from monitor.notify.render import RenderedMessage, TemplateSet, direction_of
from monitor.program import Program
from monitor.settings import Settings
from monitor.store import Store
from monitor.store.notices import due_items, hold_unapproved_notices, save_rows
from monitor.store.tables import OutboxRow

INTERRUPTED = "interrupted while sending (the process stopped): sent again, may be a duplicate"


@dataclass
class DeliveryReport:
    sent: int = 0  # outbox items (a batch of three notices counts three)
    failed: int = 0
    dead: int = 0
    waiting: int = 0  # no channel configured, or a dry run: kept pending, nothing lost
    held: int = 0  # notices newly waiting for approval
    messages: int = 0  # messages handed to a channel successfully
    eml_paths: list[Path] = field(default_factory=list)


def deliver_outbox(
    store: Store,
    program: Program,
    settings: Settings,
    templates: TemplateSet,
    *,
    now: datetime | None = None,
) -> DeliveryReport:
    """Render and send every due outbox item; each outcome is saved before the next message."""
    now = now or datetime.now(UTC)
    report = DeliveryReport()
    if program.notices.require_approval:
        report.held = hold_unapproved_notices(store)
    timeout = timedelta(seconds=settings.outbox_sending_timeout_s)
    for batch in _batches(store, due_items(store, now, sending_timeout=timeout), program):
        _deliver_batch(batch, store, program, settings, templates, report, now)
    return report


def _batches(store: Store, rows: list[OutboxRow], program: Program) -> list[Batch]:
    notices = [r for r in rows if r.kind == "notice"]
    others = [Batch(r.key, [r]) for r in rows if r.kind != "notice"]
    per_partner = program.notices.batch_per_partner
    return notice_batches(store, notices, per_partner=per_partner) + others


def _deliver_batch(
    batch: Batch,
    store: Store,
    program: Program,
    settings: Settings,
    templates: TemplateSet,
    report: DeliveryReport,
    now: datetime,
) -> None:
    interrupted = any(r.status == "sending" for r in batch.rows)
    batch = _rendered(batch, store, program, settings, templates)
    if batch.error:
        _finish(batch, store, DeliveryResult(ok=False, error=batch.error), settings, report,
                now, final=True)
        return
    if batch.rows[0].eml_path:
        report.eml_paths.append(Path(batch.rows[0].eml_path))
    if settings.dry_run or not _channel_ready(batch, settings):
        report.waiting += len(batch.rows)
        return
    if not claim(store, batch, now, interrupted=interrupted):
        return  # another delivery run took it
    result = _send(batch, program, settings)
    if interrupted and result.ok:
        result = DeliveryResult(ok=True, error=INTERRUPTED)
    _finish(batch, store, result, settings, report, now)


def _rendered(
    batch: Batch, store: Store, program: Program, settings: Settings, templates: TemplateSet
) -> Batch:
    kind = batch.rows[0].kind
    if kind == "notice":
        batch = render_batch(batch, store, program, settings, templates)
    elif kind == "reminder" and not batch.rows[0].subject:
        batch.error = render_reminder(batch.rows[0], program, templates)
    if not batch.error:
        write_eml(batch, program, settings)
        save_rows(store, batch.rows)
    return batch


def _channel_ready(batch: Batch, settings: Settings) -> bool:
    if batch.rows[0].kind == "alert":
        return bool(settings.alert_urls.strip())
    return bool(settings.notice_url)


def claim(store: Store, batch: Batch, now: datetime, *, interrupted: bool) -> bool:
    """Mark the batch `sending` in one committed update, only if nobody else has: True when
    this run owns it now."""
    expected = "sending" if interrupted else "pending"
    ids = [r.id for r in batch.rows]
    query = (
        update(OutboxRow)
        .where(col(OutboxRow.id).in_(ids), col(OutboxRow.status) == expected)
        .values(status="sending", next_attempt_at=now)
    )
    with store.session() as s:
        result = s.exec(query)  # type: ignore[call-overload]
        if (result.rowcount or 0) != len(ids):
            s.rollback()
            return False
        s.commit()
    for row in batch.rows:  # what the database now holds, without marking the rows changed
        set_committed_value(row, "status", "sending")
        set_committed_value(row, "next_attempt_at", now)
    return True


def _send(batch: Batch, program: Program, settings: Settings) -> DeliveryResult:
    row = batch.rows[0]
    if row.kind == "alert":
        return send_alert(settings.alert_urls, row)
    notices = program.notices
    return send_email(
        settings.notice_url or "", message_of(row), to=json.loads(row.recipients_json),
        cc=json.loads(row.cc_json), reply_to=notices.reply_to, attachments=_attachments(row),
        sender=notices.sender_email, sender_name=notices.sender_name,
        message_id_key=batch.key,
    )


def _finish(
    batch: Batch,
    store: Store,
    result: DeliveryResult,
    settings: Settings,
    report: DeliveryReport,
    now: datetime,
    *,
    final: bool = False,
) -> None:
    """Save the outcome on every row of the batch at once."""
    for row in batch.rows:
        row.attempts += 1
        row.last_error = result.error
        if result.ok:
            row.status, row.sent_at = "sent", now
            continue
        backoff = timedelta(seconds=settings.outbox_backoff_s) * 2 ** (row.attempts - 1)
        row.next_attempt_at = now + backoff
        dead = final or row.attempts >= settings.outbox_max_attempts
        row.status = "dead" if dead else "pending"
    save_rows(store, batch.rows)
    _count(batch, result, report)
    if result.ok:
        for row in batch.rows:
            if row.kind == "notice" and row.incident_id is not None:
                store.mark_notified(row.incident_id, row.level, now)


def _count(batch: Batch, result: DeliveryResult, report: DeliveryReport) -> None:
    n = len(batch.rows)
    if result.ok:
        report.sent += n
        report.messages += 1
    elif batch.rows[0].status == "dead":
        report.dead += n
    else:
        report.failed += n


# -- messages and .eml files -------------------------------------------------------------------


def message_of(row: OutboxRow) -> RenderedMessage:
    return RenderedMessage(subject=row.subject, text=row.body_text, html=row.body_html,
                           language=row.language, direction=direction_of(row.language))


def write_eml(batch: Batch, program: Program, settings: Settings) -> Path | None:
    """Keep the message as an .eml file (what the partner gets), named by the batch key."""
    row = batch.rows[0]
    if not settings.keep_eml or row.kind == "alert":
        return None
    notices = program.notices
    email = build_email(
        message_of(row), sender=notices.sender_email, sender_name=notices.sender_name,
        to=json.loads(row.recipients_json), cc=json.loads(row.cc_json),
        reply_to=notices.reply_to, attachments=_attachments(row), message_id_key=batch.key,
    )
    path = settings.outbox_dir / (re.sub(r"[^A-Za-z0-9_.-]", "-", batch.key) + ".eml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(email.as_bytes())
    for item in batch.rows:
        item.eml_path = str(path)
    return path


def _attachments(row: OutboxRow) -> list[Path]:
    return [Path(p) for p in json.loads(row.attachments_json) if Path(p).is_file()]
