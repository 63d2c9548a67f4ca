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
process dies (or a stop cuts the send short) in the short window between the channel
accepting it and the outcome being committed. An item found still `sending` after
`outbox_sending_timeout_s` is sent again (at least once wins over at most once for a notice),
and it is the same message (same Message-ID and X-Bidwatch-Notice-Key), so such a duplicate
is recognisable; its last_error says so.

A server may accept some recipients and refuse others: the message is owed to the refused
ones only, so the item stays pending (with backoff) and a retry sends the same bytes to the
recipients not yet accepted (remembered on the item, `delivered_to`). Every time (claim,
backoff, sent) is the moment it happened, not the start of the run: a run over a hung server
takes a timeout per message, and a backoff counted from the start would be used up by it.
A stop (DeliveryStop) is checked between messages.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.notify.alerts import send_alert
from monitor.notify.batch import Batch, notice_batches, render_batch
from monitor.notify.email import IllustratedMessage, InlineImage, build_email, with_date
from monitor.notify.reminders import render_reminder
from monitor.notify.render import RenderedMessage, TemplateSet, direction_of
from monitor.notify.smtp import DeliveryResult, SmtpAbort, SmtpOptions, send_message
from monitor.program import Program
from monitor.settings import Settings
from monitor.store import OutboxItem, Store

INTERRUPTED = "interrupted while sending (the process stopped): sent again, may be a duplicate"

@dataclass
class DeliveryReport:
    sent: int = 0  # outbox items (a batch of three notices counts three)
    failed: int = 0  # includes items a server accepted for some recipients and refused others
    dead: int = 0
    waiting: int = 0  # no channel configured, or a dry run: kept pending, nothing lost
    held: int = 0  # notices newly waiting for approval
    messages: int = 0  # messages handed to a channel successfully
    interrupted: int = 0  # items a stop cut short mid-send: left `sending`, outcome unknown
    stopped: bool = False  # a stop ended the run before every due item was tried
    eml_paths: list[Path] = field(default_factory=list)


#: what `deliver_outbox` tells as it goes: the report so far, items tried, items due
DeliveryProgress = Callable[[DeliveryReport, int, int], None]


@dataclass
class DeliveryStop:
    """How the daemon stops a delivery running in a worker thread: `request()` ends the run
    before its next message; `abort()` also cuts the message in flight short (its item stays
    `sending`: the server may have taken it, so it goes again later marked as a possible
    duplicate)."""

    requested: threading.Event = field(default_factory=threading.Event)
    connection: SmtpAbort = field(default_factory=SmtpAbort)

    def request(self) -> None:
        self.requested.set()

    def abort(self) -> None:
        self.request()
        self.connection.abort()


class _Clock:
    """The run's `now` moved on by the time the run has taken, so every time saved (a claim,
    a failure's backoff, sent_at) is when it happened; a caller's `now` still fixes the
    start (tests, and `due` is decided by it)."""

    def __init__(self, start: datetime) -> None:
        self.start, self._began = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)


def deliver_outbox(
    store: Store,
    program: Program,
    settings: Settings,
    templates: TemplateSet,
    *,
    now: datetime | None = None,
    stop: DeliveryStop | None = None,
    progress: DeliveryProgress | None = None,
) -> DeliveryReport:
    """Render and send every due outbox item; each outcome is saved before the next message.
    With `stop`, the run ends before the next message once a stop is requested; `progress`
    hears (report so far, items tried, items due) before the first message and after each."""
    clock = _Clock(now or datetime.now(UTC))
    report = DeliveryReport()
    if program.notices.require_approval:
        report.held = store.hold_unapproved_notices()
    timeout = timedelta(seconds=settings.outbox_sending_timeout_s)
    due = store.due_outbox(clock.start, sending_timeout=timeout)
    tried = 0
    if progress is not None:
        progress(report, tried, len(due))
    for batch in _batches(store, due, program):
        if _stopping(stop, report):
            break
        _deliver_batch(batch, store, program, settings, templates, report, clock, stop)
        tried += len(batch.items)
        if progress is not None:
            progress(report, tried, len(due))
        if report.interrupted:  # aborted mid-send: the stop is under way
            report.stopped = True
            break
    return report


def _stopping(stop: DeliveryStop | None, report: DeliveryReport) -> bool:
    if stop is not None and stop.requested.is_set():
        report.stopped = True
    return report.stopped


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
    clock: _Clock,
    stop: DeliveryStop | None = None,
) -> None:
    interrupted = any(i.status == "sending" for i in batch.items)
    batch = _rendered(batch, store, program, settings, templates)
    if batch.error:
        _finish(batch, store, DeliveryResult(ok=False, error=batch.error), settings, report,
                clock(), final=True)
        return
    if batch.items[0].eml_path:
        report.eml_paths.append(Path(batch.items[0].eml_path))
    if settings.dry_run or not _channel_ready(batch, settings):
        report.waiting += len(batch.items)
        return
    if _stopping(stop, report):  # rendering took a while: the stop may have come meanwhile
        return
    batch = _dated_for_first_send(batch, store, settings, clock())
    if not claim(store, batch, clock(), interrupted=interrupted):
        return  # another delivery run took it
    result = _send(batch, program, settings, stop.connection if stop else None)
    if result.interrupted:
        # the server may have taken it: the item stays `sending`, and goes again after the
        # sending timeout marked as a possible duplicate (never silently twice, never lost)
        report.interrupted += len(batch.items)
        return
    if interrupted and result.ok:
        result = replace(result, error=INTERRUPTED + (f"; {result.error}" if result.error
                                                      else ""))
    _finish(batch, store, result, settings, report, clock())


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


def _send(
    batch: Batch, program: Program, settings: Settings, abort: SmtpAbort | None = None
) -> DeliveryResult:
    """An alert through apprise; a notice or reminder: its stored bytes, as they are, to the
    recipients a server has not accepted yet (the headers still name everyone: same bytes)."""
    item = batch.items[0]
    if item.kind == "alert":
        return send_alert(settings.alert_urls, item)
    if item.message is None:  # _rendered builds it before any claim
        return DeliveryResult(ok=False, error="no message was built for this item")
    owed = owed_recipients(item)
    if not owed:  # every recipient has it (a save was lost after the last accept)
        return DeliveryResult(ok=True)
    return send_message(
        settings.notice_url or "", item.message, sender=program.notices.sender_email,
        recipients=owed, options=SmtpOptions.from_settings(settings), abort=abort,
    )


def owed_recipients(item: OutboxItem) -> list[str]:
    """To and Cc, each once, but those a server already accepted the message for."""
    done = set(item.delivered_to)
    return [r for r in dict.fromkeys([*item.recipients, *item.cc]) if r not in done]


def _with_delivered(item: OutboxItem, accepted: Iterable[str]) -> OutboxItem:
    return replace(item, delivered_to=tuple(dict.fromkeys([*item.delivered_to, *accepted])))


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
    """Save the outcome on every item of the batch at once; `now` is when it came."""
    batch.items = store.save_outbox(
        [_outcome(item, result, settings, now, final=final) for item in batch.items])
    _count(batch, result, report)
    for item in batch.items:
        if item.kind == "notice" and item.incident_id is not None and _partner_has_it(item):
            store.mark_notified(item.incident_id, item.level, now)


def _partner_has_it(item: OutboxItem) -> bool:
    """Sent, or accepted for every To (the partner) while a Cc is still owed."""
    if item.status == "sent":
        return True
    return bool(item.recipients) and set(item.recipients) <= set(item.delivered_to)


def _outcome(
    item: OutboxItem, result: DeliveryResult, settings: Settings, now: datetime, *, final: bool
) -> OutboxItem:
    """The item after a delivery attempt: sent; or, when it failed or some recipients were
    refused, pending again with a backoff from `now` (the failure), or dead."""
    attempts = item.attempts + 1
    item = _with_delivered(item, result.accepted)
    if result.ok and not result.refused:
        return replace(item, attempts=attempts, last_error=result.error, status="sent",
                       sent_at=now)
    backoff = timedelta(seconds=settings.outbox_backoff_s) * 2 ** (attempts - 1)
    dead = final or attempts >= settings.outbox_max_attempts
    return replace(item, attempts=attempts, last_error=result.error,
                   next_attempt_at=now + backoff, status="dead" if dead else "pending")


def _count(batch: Batch, result: DeliveryResult, report: DeliveryReport) -> None:
    n = len(batch.items)
    if result.ok:
        report.messages += 1
    status = batch.items[0].status
    if status == "sent":
        report.sent += n
    elif status == "dead":
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
