"""The outbox: queueing, approval, listing, requeueing, claiming a delivery and saving its
outcome. Items go in and come out as OutboxItem records; only this module writes the rows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import Session, col, select, update

from monitor.errors import BidwatchError
from monitor.judge.incidents import notice_key
from monitor.store.base import StoreBase
from monitor.store.mapping import outbox_item, outbox_row, write_outbox
from monitor.store.records import OutboxItem
from monitor.store.tables import IncidentRow, OutboxRow


class OutboxError(BidwatchError, ValueError):
    """An outbox command that cannot apply to the items named (unknown id, wrong status)."""


class OutboxStore(StoreBase):
    # -- queueing ------------------------------------------------------------------------------

    def queue_outbox(self, item: OutboxItem) -> bool:
        """Insert `item` unless its key is queued already (ever). True when it was new."""
        with self.session() as s:
            if s.exec(select(OutboxRow.id).where(OutboxRow.key == item.key)).first() is not None:
                return False
            s.add(outbox_row(item))
            s.commit()
            return True

    def hold_unapproved_notices(self) -> int:
        """Move pending notices nobody approved to `held` (approval required); returns how
        many."""
        query = (
            update(OutboxRow)
            .where(col(OutboxRow.kind) == "notice", col(OutboxRow.status) == "pending",
                   col(OutboxRow.decided_at).is_(None))
            .values(status="held", partner=select(IncidentRow.partner)
                    .where(col(IncidentRow.id) == col(OutboxRow.incident_id)).scalar_subquery())
        )
        with self.session() as s:
            result = s.exec(query)
            s.commit()
            return int(result.rowcount or 0)

    # -- listing -------------------------------------------------------------------------------

    def outbox(self, *, status: str | None = None, kind: str | None = None) -> list[OutboxItem]:
        """Every item with `status` and `kind` (when given), oldest first."""
        query = select(OutboxRow).order_by(col(OutboxRow.id))
        if status:
            query = query.where(OutboxRow.status == status)
        if kind:
            query = query.where(OutboxRow.kind == kind)
        with self.session() as s:
            return [outbox_item(row) for row in s.exec(query).all()]

    def outbox_items(
        self,
        *,
        statuses: Sequence[str] = (),
        kinds: Sequence[str] = (),
        partner: str | None = None,
        incident_id: int | None = None,
        limit: int = 500,
    ) -> list[OutboxItem]:
        """Outbox items, newest first, filtered by status, kind, partner and case."""
        query = select(OutboxRow).order_by(col(OutboxRow.id).desc()).limit(limit)
        if incident_id is not None:
            query = query.where(OutboxRow.incident_id == incident_id)
        if statuses:
            query = query.where(col(OutboxRow.status).in_(list(statuses)))
        if kinds:
            query = query.where(col(OutboxRow.kind).in_(list(kinds)))
        if partner:
            query = query.where(OutboxRow.partner == partner)
        with self.session() as s:
            return [outbox_item(row) for row in s.exec(query).all()]

    def outbox_counts(self) -> dict[str, int]:
        """How many items have each status (statuses with none are absent), counted by the
        database: no item is read."""
        query = select(OutboxRow.status, func.count(col(OutboxRow.id))).group_by(
            col(OutboxRow.status))
        with self.session() as s:
            return {status: int(count) for status, count in s.exec(query).all()}

    def outbox_items_by_id(self, ids: Iterable[int]) -> list[OutboxItem]:
        """The items named, by id; an unknown id refuses them all."""
        wanted = sorted(set(ids))
        with self.session() as s:
            rows = s.exec(select(OutboxRow).where(col(OutboxRow.id).in_(wanted))).all()
            items = sorted((outbox_item(row) for row in rows), key=lambda i: i.id or 0)
        missing = sorted(set(wanted) - {i.id for i in items})
        if missing:
            raise OutboxError(f"no outbox item {', '.join(map(str, missing))}")
        return items

    # -- decisions -----------------------------------------------------------------------------

    def decide_held(
        self, ids: Sequence[int], *, approve: bool, by: str, note: str, now: datetime
    ) -> list[OutboxItem]:
        """Approve (back to pending, due now) or reject held notices, keeping who, when and
        why. All or nothing: one id that is not a held notice refuses the whole command."""
        items = self.outbox_items_by_id(ids)
        wrong = [i for i in items if i.status != "held"]
        if wrong:
            listed = ", ".join(f"{i.id} ({i.kind}, {i.status})" for i in wrong)
            raise OutboxError(f"only held notices can be approved or rejected: {listed}")
        with self.session() as s:
            decided = [_decide(s.get_one(OutboxRow, i.id), approve, by, note, now)
                       for i in items]
            s.commit()
            return [outbox_item(row) for row in decided]

    def requeue_dead(self, ids: Sequence[int], *, every: bool, now: datetime) -> list[OutboxItem]:
        """Dead items (every one with `every`) back to pending with a fresh set of attempts,
        due now. An id that is not dead refuses the whole command."""
        with self.session() as s:
            query = select(OutboxRow).where(OutboxRow.status == "dead")
            if not every:
                query = query.where(col(OutboxRow.id).in_(list(ids)))
            rows = list(s.exec(query).all())
            if not every:
                found = {r.id for r in rows}
                others = [i for i in ids if i not in found]
                if others:
                    raise OutboxError(f"not dead (or unknown), so not retried: "
                                      f"{', '.join(map(str, others))}")
            for row in rows:
                row.status, row.attempts, row.next_attempt_at = "pending", 0, now
                s.add(row)
            s.commit()
            return [outbox_item(row) for row in rows]

    # -- delivery ------------------------------------------------------------------------------

    def due_outbox(
        self, now: datetime, *, sending_timeout: timedelta | None = None, limit: int = 500
    ) -> list[OutboxItem]:
        """Pending items whose time has come, and (with `sending_timeout`) items left
        `sending` that long by a run that died."""
        due = (col(OutboxRow.status) == "pending") & or_(
            col(OutboxRow.next_attempt_at).is_(None), col(OutboxRow.next_attempt_at) <= now)
        if sending_timeout is not None:
            due = due | ((col(OutboxRow.status) == "sending")
                         & (col(OutboxRow.next_attempt_at) <= now - sending_timeout))
        query = select(OutboxRow).where(due).order_by(col(OutboxRow.id)).limit(limit)
        with self.session() as s:
            return [outbox_item(row) for row in s.exec(query).all()]

    def claim_outbox(self, ids: Sequence[int], now: datetime, *, expected: str) -> bool:
        """Mark the items `sending` in one committed update, only if every one of them is
        still `expected` (nobody else claimed them): True when the caller owns them now."""
        query = (
            update(OutboxRow)
            .where(col(OutboxRow.id).in_(list(ids)), col(OutboxRow.status) == expected)
            .values(status="sending", next_attempt_at=now)
        )
        with self.session() as s:
            result = s.exec(query)
            if (result.rowcount or 0) != len(ids):
                s.rollback()
                return False
            s.commit()
        return True

    def save_outbox(self, items: Sequence[OutboxItem]) -> list[OutboxItem]:
        """Save stored items in one transaction (a batch's items change together); returns
        them as the database now holds them."""
        with self.session() as s:
            rows = []
            for item in items:
                row = s.get_one(OutboxRow, item.id)
                write_outbox(row, item)
                s.add(row)
                rows.append(row)
            s.commit()
            return [outbox_item(row) for row in rows]


def _decide(row: OutboxRow, approve: bool, by: str, note: str, now: datetime) -> OutboxRow:
    row.status = "pending" if approve else "rejected"
    row.decided_by, row.decided_at, row.decision_note = by, now, note or None
    row.next_attempt_at = None
    return row


def queue_notice_row(s: Session, incident: IncidentRow, level: int, now: datetime) -> str:
    """An outbox row for the notice, in the same transaction as the sighting that owes it.

    The body is rendered at delivery; the unique key makes a second queueing a no-op.
    """
    key = notice_key(incident.id or 0, level)
    exists = s.exec(select(OutboxRow.id).where(OutboxRow.key == key)).first()
    if exists is None:
        s.add(OutboxRow(key=key, kind="notice", incident_id=incident.id, level=level,
                        created_at=now))
    incident.level = max(incident.level, level)
    return key
