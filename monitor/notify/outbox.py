"""The durable outbox: notices, reminders and alerts are stored first, then delivered with
retries and backoff.

A row is never deleted and its key is unique (per incident, level and channel for a notice;
per partner and period for a reminder; per sweep and reason for an alert), so nothing is
queued twice. Delivery of one message goes:

    render and build the message (once: its RFC 5322 bytes are saved on the row) → .eml
    kept (those bytes) → claim (status `sending`, committed) → send those bytes → save the
    outcome (`sent`, or back to `pending` with backoff, or `dead`)

A notice or reminder is sent over SMTP exactly as stored (monitor/notify/smtp.py), so the
row and the .eml are the message the partner received, and a retry sends the same bytes
(same Message-ID, same Date). Alerts go through apprise (monitor/notify/alerts.py).

The guarantee, honestly: a message is sent at least once, and at most once unless the
process dies in the short window between the channel accepting it and the outcome being
committed. An item found still `sending` after `outbox_sending_timeout_s` is sent again
(at least once wins over at most once for a notice), and it is the same message (same
Message-ID and X-Bidwatch-Notice-Key), so such a duplicate is recognisable; its last_error
says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.notify.alerts import send_alert
from monitor.notify.batch import Batch, notice_batches, render_batch
from monitor.notify.email import IllustratedMessage, InlineImage, build_email, with_date
from monitor.notify.reminders import render_reminder
from monitor.notify.render import RenderedMessage, TemplateSet, direction_of
from monitor.notify.smtp import DeliveryResult, SmtpOptions, send_message
from monitor.program import Program
from monitor.settings import Settings
from monitor.store import OutboxItem, Store

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
        report.held = store.hold_unapproved_notices()
    timeout = timedelta(seconds=settings.outbox_sending_timeout_s)
    for batch in _batches(store, store.due_outbox(now, sending_timeout=timeout), program):
        _deliver_batch(batch, store, program, settings, templates, report, now)
    return report


def _batches(store: Store, items: list[OutboxItem], program: Program) -> list[Batch]:
    notices = [i for i in items if i.kind == "notice"]
    others = [Batch(i.key, [i]) for i in items if i.kind != "notice"]
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
    interrupted = any(i.status == "sending" for i in batch.items)
    batch = _rendered(batch, store, program, settings, templates)
    if batch.error:
        _finish(batch, store, DeliveryResult(ok=False, error=batch.error), settings, report,
                now, final=True)
        return
    if batch.items[0].eml_path:
        report.eml_paths.append(Path(batch.items[0].eml_path))
    if settings.dry_run or not _channel_ready(batch, settings):
        report.waiting += len(batch.items)
        return
    batch = _dated_for_first_send(batch, store, settings, now)
    if not claim(store, batch, now, interrupted=interrupted):
        return  # another delivery run took it
    result = _send(batch, program, settings)
    if interrupted and result.ok:
        result = DeliveryResult(ok=True, error=INTERRUPTED)
    _finish(batch, store, result, settings, report, now)


def _dated_for_first_send(
    batch: Batch, store: Store, settings: Settings, now: datetime
) -> Batch:
    """A message never handed to any server (it waited for approval, a channel, or the end of
    a dry run) takes the moment it is first sent as its Date: filters count an old Date
    against it. Only that header changes, and the new bytes are stored and kept as the .eml
    before they are sent; once a server has seen the message, its bytes never change."""
    item = batch.items[0]
    tried = any(i.attempts or i.last_error or i.sent_at or i.status != "pending"
                for i in batch.items)
    if item.message is None or tried:
        return batch
    fresh = with_date(item.message, now)
    if fresh == item.message:
        return batch
    batch.items = [replace(i, message=fresh) for i in batch.items]
    write_eml(batch, settings)
    batch.items = store.save_outbox(batch.items)
    return batch


def _rendered(
    batch: Batch, store: Store, program: Program, settings: Settings, templates: TemplateSet
) -> Batch:
    kind = batch.items[0].kind
    if kind == "notice":
        batch = render_batch(batch, store, program, settings, templates)
    elif kind == "reminder" and not batch.items[0].subject:
        reminder, batch.error = render_reminder(batch.items[0], program, templates)
        batch.items = [reminder]
    if kind != "alert" and not batch.error:
        batch = with_message(batch, program)
    if not batch.error:
        write_eml(batch, settings)
        batch.items = store.save_outbox(batch.items)
    return batch


def with_message(batch: Batch, program: Program) -> Batch:
    """The batch's message as RFC 5322 bytes on every item: built now, or (rendered and
    built in an earlier run) the bytes already stored, never built again."""
    stored = batch.items[0].message
    if stored is None:
        try:
            stored = build_message(batch, program)
        except (ValueError, OSError) as exc:  # an address that is not plain, no recipient
            batch.error = f"the message cannot be built: {exc}"
            return batch
    batch.items = [replace(i, message=stored) for i in batch.items]
    return batch


def build_message(batch: Batch, program: Program) -> bytes:
    """What is kept and sent: the rendered message with the batch's inline thumbnails (the
    ones rendering just made) and the item's attachments that exist."""
    item = batch.items[0]
    notices = program.notices
    email = build_email(
        message_of(item, batch.inline_images), sender=notices.sender_email,
        sender_name=notices.sender_name, to=list(item.recipients), cc=list(item.cc),
        reply_to=notices.reply_to, attachments=_attachments(item), message_id_key=batch.key,
    )
    return email.as_bytes()


def _channel_ready(batch: Batch, settings: Settings) -> bool:
    if batch.items[0].kind == "alert":
        return bool(settings.alert_urls.strip())
    return bool(settings.notice_url)


def claim(store: Store, batch: Batch, now: datetime, *, interrupted: bool) -> bool:
    """Mark the batch `sending` in one committed update, only if nobody else has: True when
    this run owns it now."""
    expected = "sending" if interrupted else "pending"
    if not store.claim_outbox([i.id or 0 for i in batch.items], now, expected=expected):
        return False
    # what the database now holds
    batch.items = [replace(i, status="sending", next_attempt_at=now) for i in batch.items]
    return True


def _send(batch: Batch, program: Program, settings: Settings) -> DeliveryResult:
    """An alert through apprise; a notice or reminder: its stored bytes, as they are."""
    item = batch.items[0]
    if item.kind == "alert":
        return send_alert(settings.alert_urls, item)
    if item.message is None:  # _rendered builds it before any claim
        return DeliveryResult(ok=False, error="no message was built for this item")
    return send_message(
        settings.notice_url or "", item.message, sender=program.notices.sender_email,
        recipients=[*item.recipients, *item.cc], options=SmtpOptions.from_settings(settings),
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
    """Save the outcome on every item of the batch at once."""
    batch.items = store.save_outbox(
        [_outcome(item, result, settings, now, final=final) for item in batch.items])
    _count(batch, result, report)
    if result.ok:
        for item in batch.items:
            if item.kind == "notice" and item.incident_id is not None:
                store.mark_notified(item.incident_id, item.level, now)


def _outcome(
    item: OutboxItem, result: DeliveryResult, settings: Settings, now: datetime, *, final: bool
) -> OutboxItem:
    """The item after a delivery attempt: sent, or pending again with backoff, or dead."""
    attempts = item.attempts + 1
    if result.ok:
        return replace(item, attempts=attempts, last_error=result.error, status="sent",
                       sent_at=now)
    backoff = timedelta(seconds=settings.outbox_backoff_s) * 2 ** (attempts - 1)
    dead = final or attempts >= settings.outbox_max_attempts
    return replace(item, attempts=attempts, last_error=result.error,
                   next_attempt_at=now + backoff, status="dead" if dead else "pending")


def _count(batch: Batch, result: DeliveryResult, report: DeliveryReport) -> None:
    n = len(batch.items)
    if result.ok:
        report.sent += n
        report.messages += 1
    elif batch.items[0].status == "dead":
        report.dead += n
    else:
        report.failed += n


# -- messages and .eml files -------------------------------------------------------------------


def message_of(item: OutboxItem, images: tuple[InlineImage, ...] = ()) -> RenderedMessage:
    direction = direction_of(item.language)
    if images:
        return IllustratedMessage(subject=item.subject, text=item.body_text,
                                  html=item.body_html, language=item.language,
                                  direction=direction, inline_images=images)
    return RenderedMessage(subject=item.subject, text=item.body_text, html=item.body_html,
                           language=item.language, direction=direction)


def write_eml(batch: Batch, settings: Settings) -> Path | None:
    """Keep the message as an .eml file: the stored bytes, which are what the partner gets;
    named by the batch key."""
    item = batch.items[0]
    if not settings.keep_eml or item.message is None:
        return None
    path = settings.outbox_dir / (re.sub(r"[^A-Za-z0-9_.-]", "-", batch.key) + ".eml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(item.message)
    batch.items = [replace(i, eml_path=str(path)) for i in batch.items]
    return path


def _attachments(item: OutboxItem) -> list[Path]:
    return [Path(p) for p in item.attachments if Path(p).is_file()]
