"""Per-partner batching: the partner's notices due at one level go out as one message.

The outbox's per-incident rows stay the unit of "sent" (one key per incident, level and
channel); a batch is a set of them sharing a `batch_key`, rendered once into every row, sent
as one message and marked together. A batch, once rendered, is never re-formed: a retry
sends the same message (the .eml kept on disk) to the same people.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.notify.context import NoticeContext
from monitor.notify.notices import notice_context
from monitor.notify.render import RenderError, TemplateSet
from monitor.program import Program
from monitor.program.models import Partner
from monitor.settings import Settings
from monitor.store import Store
from monitor.store.notices import incident_partners
from monitor.store.tables import OutboxRow


@dataclass
class Batch:
    """Outbox rows delivered as one message; `key` names the message (Message-ID, .eml)."""

    key: str
    rows: list[OutboxRow]
    error: str | None = None  # the rows cannot be rendered (a removed partner, a bad template)


def notice_batches(
    store: Store, rows: Sequence[OutboxRow], *, per_partner: bool
) -> list[Batch]:
    """Group due notice rows: rows already rendered keep their batch; the others are grouped
    by partner and level (or stay alone when batching is off)."""
    partners = incident_partners(store, (r.incident_id or 0 for r in rows if not r.partner))
    groups: dict[tuple[str, ...], list[OutboxRow]] = defaultdict(list)
    for row in rows:
        row.partner = row.partner or partners.get(row.incident_id or 0)
        if row.batch_key:
            groups[("rendered", row.batch_key)].append(row)
        elif per_partner and row.partner:
            groups[("new", row.partner, str(row.level))].append(row)
        else:
            groups[("alone", row.key)].append(row)
    return [Batch(_batch_key(key, items), items) for key, items in groups.items()]


def _batch_key(group: tuple[str, ...], rows: list[OutboxRow]) -> str:
    if group[0] == "rendered":
        return group[1]
    if len(rows) == 1:
        return rows[0].key  # one notice: named as before batching existed
    _new, partner, level = group
    return f"batch:{partner}:{level}:{min(r.id or 0 for r in rows)}"


def render_batch(
    batch: Batch, store: Store, program: Program, settings: Settings, templates: TemplateSet
) -> Batch:
    """Render the batch's message into each of its rows (unless rendered in an earlier run)."""
    if all(r.subject and r.batch_key == batch.key for r in batch.rows):
        return batch
    try:
        contexts = [_context(row, store, program, settings) for row in batch.rows]
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
    for row in batch.rows:
        row.batch_key, row.partner, row.language = batch.key, partner.id, message.language
        row.recipients_json = json.dumps([c.email for c in partner.contacts])
        row.cc_json = json.dumps(list(program.notices.cc))
        row.subject, row.body_text, row.body_html = message.subject, message.text, message.html
        row.attachments_json = json.dumps([str(p) for p in context.screenshots])
    return batch


def _context(
    row: OutboxRow, store: Store, program: Program, settings: Settings
) -> tuple[NoticeContext, Partner]:
    detail = store.incident(row.incident_id or 0)
    if detail is None:
        raise LookupError(f"outbox item {row.key} names missing incident {row.incident_id}")
    return notice_context(detail, row.level, program, settings)
