"""Rows to records: the one place a table row becomes what the store hands out, with its
JSON columns decoded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any, TypeVar

from monitor.models import Fact, LinkBox, NetworkIds, Sitelink
from monitor.store.records import (
    AdRecord,
    AllowRecord,
    AttributionRecord,
    CaptureRecord,
    ChainRecord,
    ClauseRecord,
    FindingRecord,
    HopRecord,
    IncidentEventRecord,
    IncidentRecord,
    OutboxItem,
    SightingRecord,
    SweepRecord,
    TaskRecord,
    severity_rank,
)
from monitor.store.tables import (
    AdRow,
    AllowRow,
    AttributionRow,
    CaptureRow,
    ChainRow,
    ClauseRow,
    FindingRow,
    HopRow,
    IncidentEventRow,
    IncidentRow,
    OutboxRow,
    SightingRow,
    SweepRow,
    TaskRow,
)

RecordT = TypeVar("RecordT")


def _copy(cls: type[RecordT], row: Any, **decoded: Any) -> RecordT:
    """A record of `cls` from the row's same-named columns, `decoded` ones given apart."""
    values = {f.name: getattr(row, f.name) for f in fields(cls)  # type: ignore[arg-type]
              if f.name not in decoded}
    return cls(**values, **decoded)


def _strings(raw: str) -> tuple[str, ...]:
    return tuple(json.loads(raw))


def sweep_record(row: SweepRow) -> SweepRecord:
    return _copy(SweepRecord, row, id=row.id or 0)


def task_record(row: TaskRow) -> TaskRecord:
    return _copy(TaskRecord, row, id=row.id or 0)


def capture_record(row: CaptureRow) -> CaptureRecord:
    boxes = tuple(LinkBox(b["href"], b["x"], b["y"], b["width"], b["height"])
                  for b in json.loads(row.link_boxes_json or "[]"))
    return _copy(CaptureRecord, row, id=row.id or 0,
                 stray_click_urls=_strings(row.stray_click_urls_json), link_boxes=boxes)


def ad_record(row: AdRow) -> AdRecord:
    sitelinks = tuple(Sitelink(x["text"], x["url"]) for x in json.loads(row.sitelinks_json))
    return _copy(AdRecord, row, id=row.id or 0, sitelinks=sitelinks)


def chain_record(row: ChainRow, hops: Sequence[HopRow]) -> ChainRecord:
    return _copy(ChainRecord, row, id=row.id or 0,
                 hops=tuple(_copy(HopRecord, h) for h in hops))


def attribution_record(row: AttributionRow) -> AttributionRecord:
    return _copy(AttributionRecord, row, domains=_strings(row.domains_json),
                 inner_networks=tuple(NetworkIds(**ids)
                                      for ids in json.loads(row.inner_networks_json)))


#: the ids of an inner network kept on its attribution (not where it was read)
INNER_NETWORK_FIELDS = ("network", "publisher_id", "advertiser_id", "creative_id", "sub_id",
                        "click_id", "aggregator")


def inner_networks_json(inner: Iterable[NetworkIds]) -> str:
    return json.dumps([{name: getattr(ids, name) for name in INNER_NETWORK_FIELDS}
                       for ids in inner], ensure_ascii=False)


def sighting_record(row: SightingRow) -> SightingRecord:
    return _copy(SightingRecord, row, id=row.id or 0)


def finding_record(row: FindingRow) -> FindingRecord:
    facts = tuple(Fact(x["condition"], x["detail"]) for x in json.loads(row.facts_json))
    return _copy(FindingRecord, row, id=row.id or 0, facts=facts)


def clause_record(row: ClauseRow) -> ClauseRecord:
    return _copy(ClauseRecord, row, id=row.id or 0)


def incident_record(row: IncidentRow, clauses: Sequence[ClauseRow] = ()) -> IncidentRecord:
    """A case with its clauses, the most severe first (then by policy id)."""
    ordered = sorted(clauses, key=lambda c: (-severity_rank(c.severity), c.policy))
    return _copy(IncidentRecord, row, id=row.id or 0, markets=_strings(row.markets_json),
                 devices=_strings(row.devices_json), engines=_strings(row.engines_json),
                 term_groups=_strings(row.term_groups_json),
                 clauses=tuple(clause_record(c) for c in ordered))


def allow_record(row: AllowRow) -> AllowRecord:
    return _copy(AllowRecord, row, id=row.id or 0)


def event_record(row: IncidentEventRow) -> IncidentEventRecord:
    return _copy(IncidentEventRecord, row)


def outbox_item(row: OutboxRow) -> OutboxItem:
    return _copy(OutboxItem, row, recipients=_strings(row.recipients_json),
                 cc=_strings(row.cc_json), attachments=_strings(row.attachments_json),
                 delivered_to=_strings(row.delivered_to_json))


#: the outbox columns an item's save writes back (the key, kind and creation never change)
_OUTBOX_SAVED = ("channel", "incident_id", "level", "language", "subject", "body_text",
                 "body_html", "status", "attempts", "next_attempt_at", "last_error", "sent_at",
                 "eml_path", "partner", "tags", "batch_key", "decided_by", "decided_at",
                 "decision_note", "message")


def outbox_row(item: OutboxItem) -> OutboxRow:
    """A new row for an item being queued."""
    row = OutboxRow(key=item.key, kind=item.kind, created_at=item.created_at)
    write_outbox(row, item)
    return row


def write_outbox(row: OutboxRow, item: OutboxItem) -> None:
    """Copy an item's changeable fields onto its row, encoding the JSON columns."""
    for name in _OUTBOX_SAVED:
        setattr(row, name, getattr(item, name))
    row.recipients_json = json.dumps(list(item.recipients))
    row.cc_json = json.dumps(list(item.cc))
    row.attachments_json = json.dumps(list(item.attachments))
    row.delivered_to_json = json.dumps(list(item.delivered_to))
