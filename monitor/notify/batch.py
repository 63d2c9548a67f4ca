"""Per-partner batching: the partner's notices due at one level go out as one message.

The outbox's per-incident rows stay the unit of "sent" (one key per incident, level and
channel); a batch is a set of them sharing a `batch_key`, rendered once into every row, sent
as one message and marked together. A batch, once rendered, is never re-formed: a retry
sends the same message (the .eml kept on disk) to the same people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from monitor.notify.context import NoticeContext
from monitor.notify.notices import notice_context
from monitor.notify.render import RenderError, TemplateSet
from monitor.program import Program
from monitor.program.models import Partner
from monitor.settings import Settings
from monitor.store import OutboxItem, Store


@dataclass
class Batch:
    """Outbox items delivered as one message; `key` names the message (Message-ID, .eml).
    Its items are frozen records: each step of delivery puts the changed ones back."""

    key: str
    items: list[OutboxItem]
    error: str | None = None  # the rows cannot be rendered (a removed partner, a bad template)


def notice_batches(
    store: Store, items: Sequence[OutboxItem], *, per_partner: bool
) -> list[Batch]:
    """Group due notices: items already rendered keep their batch; the others are grouped
    by partner and level (or stay alone when batching is off)."""
    partners = store.incident_partners(i.incident_id or 0 for i in items if not i.partner)
    groups: dict[tuple[str, ...], list[OutboxItem]] = defaultdict(list)
    for item in items:
        item = replace(item, partner=item.partner or partners.get(item.incident_id or 0))
        if item.batch_key:
            groups[("rendered", item.batch_key)].append(item)
        elif per_partner and item.partner:
            groups[("new", item.partner, str(item.level))].append(item)
        else:
            groups[("alone", item.key)].append(item)
    return [Batch(_batch_key(key, members), members) for key, members in groups.items()]


def _batch_key(group: tuple[str, ...], items: list[OutboxItem]) -> str:
    if group[0] == "rendered":
        return group[1]
    if len(items) == 1:
        return items[0].key  # one notice: named as before batching existed
    _new, partner, level = group
    return f"batch:{partner}:{level}:{min(i.id or 0 for i in items)}"


def render_batch(
    batch: Batch, store: Store, program: Program, settings: Settings, templates: TemplateSet
) -> Batch:
    """Render the batch's message into each of its items (unless rendered in an earlier
    run)."""
    if all(i.subject and i.batch_key == batch.key for i in batch.items):
        return batch
    try:
        contexts = [_context(item, store, program, settings) for item in batch.items]
    except (LookupError, RenderError) as exc:
        batch.error = str(exc)
        return batch
    first, partner = contexts[0]
    context = first.with_also(tuple(c for c, _p in contexts[1:]))
    try:
        message = templates.render_notice(context, program.default_language)
    except RenderError as exc:
        batch.error = str(exc)
        return batch
    batch.items = [
        replace(item, batch_key=batch.key, partner=partner.id, language=message.language,
                recipients=tuple(c.email for c in partner.contacts),
                cc=tuple(program.notices.cc), subject=message.subject, body_text=message.text,
                body_html=message.html, attachments=tuple(str(p) for p in context.screenshots))
        for item in batch.items
    ]
    return batch


def _context(
    item: OutboxItem, store: Store, program: Program, settings: Settings
) -> tuple[NoticeContext, Partner]:
    detail = store.incident(item.incident_id or 0)
    if detail is None:
        raise LookupError(f"outbox item {item.key} names missing incident {item.incident_id}")
    return notice_context(detail, item.level, program, settings)
