"""The outbox's reads and writes beyond queueing a notice: approval, listing, requeueing,
claiming a delivery and saving its outcome, and the facts alerts are raised on.

Plain functions taking a Store, so the delivery code, the CLI and the daemon share them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, or_
from sqlmodel import col, select, update

from monitor.errors import BidwatchError
from monitor.store.repo import Store
from monitor.store.tables import (
    CaptureRow,
    FindingRow,
    IncidentRow,
    OutboxRow,
    SightingRow,
    SweepRow,
)

#: statuses an item can still leave by itself (by delivery or by a decision)
WAITING = ("pending", "held", "sending")


class OutboxError(BidwatchError, ValueError):
    """An outbox command that cannot apply to the items named (unknown id, wrong status)."""


# -- queueing ----------------------------------------------------------------------------------


def queue_item(store: Store, row: OutboxRow) -> bool:
    """Insert `row` unless its key is queued already (ever). True when it was new."""
    with store.session() as s:
        if s.exec(select(OutboxRow.id).where(OutboxRow.key == row.key)).first() is not None:
            return False
        s.add(row)
        s.commit()
        return True


def hold_unapproved_notices(store: Store) -> int:
    """Move pending notices nobody approved to `held` (approval required); returns how many."""
    query = (
        update(OutboxRow)
        .where(col(OutboxRow.kind) == "notice", col(OutboxRow.status) == "pending",
               col(OutboxRow.decided_at).is_(None))
        .values(status="held", partner=select(IncidentRow.partner)
                .where(col(IncidentRow.id) == col(OutboxRow.incident_id)).scalar_subquery())
    )
    with store.session() as s:
        result = s.exec(query)  # type: ignore[call-overload]
        s.commit()
        return int(result.rowcount or 0)


# -- listing -----------------------------------------------------------------------------------


def outbox_items(
    store: Store,
    *,
    statuses: Sequence[str] = (),
    kinds: Sequence[str] = (),
    partner: str | None = None,
    limit: int = 500,
) -> list[OutboxRow]:
    """Outbox items, newest first, filtered by status, kind and partner."""
    query = select(OutboxRow).order_by(col(OutboxRow.id).desc()).limit(limit)
    if statuses:
        query = query.where(col(OutboxRow.status).in_(list(statuses)))
    if kinds:
        query = query.where(col(OutboxRow.kind).in_(list(kinds)))
    if partner:
        query = query.where(OutboxRow.partner == partner)
    with store.session() as s:
        return list(s.exec(query).all())


def outbox_rows(store: Store, ids: Iterable[int]) -> list[OutboxRow]:
    wanted = sorted(set(ids))
    with store.session() as s:
        rows = list(s.exec(select(OutboxRow).where(col(OutboxRow.id).in_(wanted))).all())
    missing = sorted(set(wanted) - {r.id for r in rows})
    if missing:
        raise OutboxError(f"no outbox item {', '.join(map(str, missing))}")
    return sorted(rows, key=lambda r: r.id or 0)


# -- decisions ---------------------------------------------------------------------------------


def decide(
    store: Store, ids: Sequence[int], *, approve: bool, by: str, note: str, now: datetime
) -> list[OutboxRow]:
    """Approve (back to pending, due now) or reject held notices, keeping who, when and why.

    All or nothing: one id that is not a held notice refuses the whole command.
    """
    rows = outbox_rows(store, ids)
    wrong = [r for r in rows if r.status != "held"]
    if wrong:
        listed = ", ".join(f"{r.id} ({r.kind}, {r.status})" for r in wrong)
        raise OutboxError(f"only held notices can be approved or rejected: {listed}")
    with store.session() as s:
        for row in rows:
            row.status = "pending" if approve else "rejected"
            row.decided_by, row.decided_at, row.decision_note = by, now, note or None
            row.next_attempt_at = None
            s.add(row)
        s.commit()
    return rows


def requeue(store: Store, ids: Sequence[int], *, dead: bool, now: datetime) -> list[OutboxRow]:
    """Dead items back to pending with a fresh set of attempts, due now."""
    with store.session() as s:
        query = select(OutboxRow).where(OutboxRow.status == "dead")
        if not dead:
            query = query.where(col(OutboxRow.id).in_(list(ids)))
        rows = list(s.exec(query).all())
    if not dead:
        found = {r.id for r in rows}
        others = [i for i in ids if i not in found]
        if others:
            raise OutboxError(f"not dead (or unknown), so not retried: "
                              f"{', '.join(map(str, others))}")
    with store.session() as s:
        for row in rows:
            row.status, row.attempts, row.next_attempt_at = "pending", 0, now
            s.add(row)
        s.commit()
    return rows


# -- delivery ----------------------------------------------------------------------------------


def due_items(store: Store, now: datetime, *, sending_timeout: timedelta,
              limit: int = 500) -> list[OutboxRow]:
    """Pending items whose time has come, and items left `sending` by a run that died."""
    due = (col(OutboxRow.status) == "pending") & or_(
        col(OutboxRow.next_attempt_at).is_(None), col(OutboxRow.next_attempt_at) <= now)
    stale = (col(OutboxRow.status) == "sending") & (
        col(OutboxRow.next_attempt_at) <= now - sending_timeout)
    query = select(OutboxRow).where(due | stale).order_by(col(OutboxRow.id)).limit(limit)
    with store.session() as s:
        return list(s.exec(query).all())


def save_rows(store: Store, rows: Sequence[OutboxRow]) -> None:
    """Save several items in one transaction: a batch's items change together."""
    with store.session() as s:
        for row in rows:
            s.add(row)
        s.commit()
        for row in rows:
            s.refresh(row)


def incident_partners(store: Store, incident_ids: Iterable[int]) -> dict[int, str | None]:
    ids = sorted(set(incident_ids))
    query = select(IncidentRow.id, IncidentRow.partner).where(col(IncidentRow.id).in_(ids))
    with store.session() as s:
        return {int(i or 0): p for i, p in s.exec(query).all()}


# -- facts for alerts --------------------------------------------------------------------------


def sweep_row(store: Store, sweep_id: int) -> SweepRow | None:
    with store.session() as s:
        return s.get(SweepRow, sweep_id)


def sweep_capture_counts(store: Store, sweep_id: int) -> dict[tuple[str, str], int]:
    """Captures of a sweep by (engine, status)."""
    query = (
        select(CaptureRow.engine, CaptureRow.status, func.count(col(CaptureRow.id)))
        .where(CaptureRow.sweep_id == sweep_id)
        .group_by(CaptureRow.engine, CaptureRow.status)
    )
    with store.session() as s:
        return {(engine, status): int(n) for engine, status, n in s.exec(query).all()}


def incidents_first_seen_in_sweep(store: Store, sweep_id: int) -> list[IncidentRow]:
    """Incidents this sweep saw for the first time."""
    in_sweep = (
        select(FindingRow.incident_id)
        .join(SightingRow, col(SightingRow.id) == col(FindingRow.sighting_id))
        .where(SightingRow.sweep_id == sweep_id)
    )
    started = select(SweepRow.started_at).where(SweepRow.id == sweep_id).scalar_subquery()
    query = (
        select(IncidentRow)
        .where(col(IncidentRow.id).in_(in_sweep), col(IncidentRow.first_seen) >= started)
        .order_by(col(IncidentRow.id))
    )
    with store.session() as s:
        return list(s.exec(query).all())
