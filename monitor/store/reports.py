"""Reads for reports: coverage (the one definition), and what a period held for the digest."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.store.base import StoreBase
from monitor.store.incidents import incident_records
from monitor.store.mapping import sighting_record
from monitor.store.records import Coverage, CoverageRow, IncidentRecord, SightingRecord
from monitor.store.tables import (
    CaptureRow,
    FindingRow,
    IncidentRow,
    OutboxRow,
    SightingRow,
    TaskRow,
)


class ReportStore(StoreBase):
    def sweep_coverage(self, sweep_id: int) -> Coverage:
        """Asked, captured, blocked by kind, failed and never asked, by each task's last
        capture (a page blocked and then captured on its retry counts as captured)."""
        return Coverage.of(status for _engine, status in self._sweep_outcomes(sweep_id))

    def sweep_coverage_by_engine(self, sweep_id: int) -> dict[str, Coverage]:
        """sweep_coverage per engine, by engine name."""
        by_engine: dict[str, list[str | None]] = defaultdict(list)
        for engine, status in self._sweep_outcomes(sweep_id):
            by_engine[engine].append(status)
        return {engine: Coverage.of(statuses) for engine, statuses in sorted(by_engine.items())}

    def _sweep_outcomes(self, sweep_id: int) -> list[tuple[str, str | None]]:
        """Each task of the sweep as (engine, its last capture's status, None if never
        asked)."""
        with self.session() as s:
            tasks = s.exec(select(TaskRow.id, TaskRow.engine, TaskRow.status)
                           .where(TaskRow.sweep_id == sweep_id)).all()
            last = _last_capture_status(s, CaptureRow.sweep_id == sweep_id)
        return [(engine, last.get(task_id or 0) if status != "pending" else None)
                for task_id, engine, status in tasks]

    def coverage(self, start: datetime, end: datetime) -> list[CoverageRow]:
        """Tasks asked, captured, blocked and failed per engine and market in a period, each
        task counted once, by its last capture."""
        last = (select(func.max(col(CaptureRow.id)))
                .where(col(CaptureRow.captured_at) >= start, col(CaptureRow.captured_at) < end)
                .group_by(col(CaptureRow.task_id)))
        query = (select(CaptureRow.engine, CaptureRow.market, CaptureRow.status)
                 .where(col(CaptureRow.id).in_(last)))
        cells: dict[tuple[str, str], list[str | None]] = defaultdict(list)
        with self.session() as s:
            for engine, market, status in s.exec(query).all():
                cells[(engine, market)].append(status)
        return [CoverageRow.of(engine, market, Coverage.of(statuses))
                for (engine, market), statuses in sorted(cells.items())]

    def incidents_between(self, start: datetime, end: datetime) -> list[IncidentRecord]:
        """Cases seen in [start, end), the first seen first, with their clauses."""
        query = select(IncidentRow).where(
            col(IncidentRow.last_seen) >= start, col(IncidentRow.first_seen) < end
        ).order_by(col(IncidentRow.first_seen))
        with self.session() as s:
            return incident_records(s, s.exec(query).all())

    def sightings_between(self, start: datetime, end: datetime) -> list[SightingRecord]:
        query = select(SightingRow).where(
            col(SightingRow.seen_at) >= start, col(SightingRow.seen_at) < end
        ).order_by(col(SightingRow.seen_at))
        with self.session() as s:
            return [sighting_record(row) for row in s.exec(query).all()]

    def notices_sent_between(self, start: datetime, end: datetime) -> int:
        query = select(func.count(col(OutboxRow.id))).where(
            OutboxRow.kind == "notice", OutboxRow.status == "sent",
            col(OutboxRow.sent_at) >= start, col(OutboxRow.sent_at) < end)
        with self.session() as s:
            return int(s.exec(query).one())

    def latest_screenshot(self, incident_id: int) -> str | None:
        """The screenshot of the incident's latest sighting (a path under the home)."""
        query = (
            select(CaptureRow.screenshot_path)
            .join(SightingRow, col(SightingRow.capture_id) == col(CaptureRow.id))
            .join(FindingRow, col(FindingRow.sighting_id) == col(SightingRow.id))
            .where(FindingRow.incident_id == incident_id)
            .order_by(col(SightingRow.seen_at).desc())
            .limit(1)
        )
        with self.session() as s:
            return s.exec(query).first()


def _last_capture_status(s: Session, where: Any) -> dict[int, str]:
    """The status of each task's last capture among the captures `where` selects."""
    last = select(func.max(col(CaptureRow.id))).where(where).group_by(col(CaptureRow.task_id))
    rows = s.exec(select(CaptureRow.task_id, CaptureRow.status)
                  .where(col(CaptureRow.id).in_(last))).all()
    return dict(rows)
