"""Forgetting evidence past retention, unless an open incident still rests on it."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from monitor.judge.incidents import OPEN
from monitor.store.base import StoreBase
from monitor.store.tables import CaptureRow, FindingRow, IncidentRow, SightingRow


class RetentionStore(StoreBase):
    def prune_evidence_rows(self, cutoff: datetime) -> tuple[set[str], set[str]]:
        """Forget the evidence paths of captures older than `cutoff` whose sightings belong
        to no open incident. Returns (paths released, paths still referenced) so the caller
        deletes only files no kept capture shares (evidence is stored by content hash)."""
        open_statuses = [str(x) for x in OPEN]
        protected = (
            select(SightingRow.capture_id)
            .join(FindingRow, col(FindingRow.sighting_id) == col(SightingRow.id))
            .join(IncidentRow, col(IncidentRow.id) == col(FindingRow.incident_id))
            .where(col(IncidentRow.status).in_(open_statuses))
        )
        with self.session() as s:
            old = s.exec(select(CaptureRow).where(
                col(CaptureRow.captured_at) < cutoff,
                col(CaptureRow.id).not_in(protected),
            )).all()
            released: set[str] = set()
            for capture in old:
                released.update(p for p in (capture.html_path, capture.screenshot_path) if p)
                capture.html_path = capture.screenshot_path = None
                s.add(capture)
            s.flush()
            kept = {p for row in s.exec(select(CaptureRow.html_path, CaptureRow.screenshot_path))
                    for p in row if p}
            s.commit()
        return released, kept
