"""Per-partner batching: the partner's notices due at one level go out as one message.

The outbox's per-case rows stay the unit of "sent" (one key per case, level and channel);
a batch is a set of them sharing a `batch_key`, rendered once into every row, sent as one
message and marked together. A batch, once rendered, is never re-formed: a retry sends the
same message (the bytes kept with it) to the same people.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

from monitor.notify.email import InlineImage
from monitor.notify.notices import notice_draft
from monitor.notify.render import RenderError, TemplateSet
from monitor.program import Program
from monitor.settings import Settings
from monitor.store import IncidentDetail, OutboxItem, Store


@dataclass
class Batch:
    """Outbox items delivered as one message; `key` names the message (Message-ID, .eml).
    Its items are frozen records: each step of delivery puts the changed ones back."""

    key: str
    items: list[OutboxItem]
    error: str | None = None  # the rows cannot be rendered (a removed partner, a bad template)
    #: the thumbnails the rendered HTML shows by cid: (set by render_batch, not stored: the
    #: message built from them is)
    inline_images: tuple[InlineImage, ...] = ()


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
        draft = notice_draft([_detail(item, store) for item in batch.items],
                             batch.items[0].level, program, settings)
        message = templates.render_notice(draft.context, program.default_language)
    except (LookupError, RenderError) as exc:
        batch.error = str(exc)
        return batch
    partner = draft.partner
    batch.inline_images = draft.images
    batch.items = [
        replace(item, batch_key=batch.key, partner=partner.id, language=message.language,
                recipients=tuple(c.email for c in partner.contacts),
                cc=tuple(program.notices.cc), subject=message.subject, body_text=message.text,
                body_html=message.html, attachments=())
        for item in batch.items
    ]
    return batch


def _detail(item: OutboxItem, store: Store) -> IncidentDetail:
    detail = store.incident(item.incident_id or 0)
    if detail is None:
        raise LookupError(f"outbox item {item.key} names missing incident {item.incident_id}")
    return detail
