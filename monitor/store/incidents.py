"""Cases (incidents): reads (by filter, one with its evidence, a sighting), status changes,
expiry, and the allowlist staff carry false positives into."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.judge.incidents import OPEN, IncidentStatus
from monitor.store.base import StoreBase
from monitor.store.mapping import (
    ad_record,
    allow_record,
    attribution_record,
    capture_record,
    chain_record,
    event_record,
    finding_record,
    incident_record,
    sighting_record,
)
from monitor.store.records import AllowRecord, IncidentDetail, IncidentRecord, SightingDetail
from monitor.store.tables import (
    AdRow,
    AllowRow,
    AttributionRow,
    CaptureRow,
    ChainRow,
    ClauseRow,
    FindingRow,
    HopRow,
    IncidentAliasRow,
    IncidentEventRow,
    IncidentRow,
    SightingRow,
    SweepRow,
)

#: ids per IN (…) list: SQLite allows 32 766 bound values, older builds 999
_CHUNK = 500


class IncidentStore(StoreBase):
    def incidents(
        self,
        *,
        status: str | None = None,
        partner: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[IncidentRecord]:
        """Incidents by filter, the most recently seen first."""
        query = select(IncidentRow)
        if status:
            query = query.where(IncidentRow.status == status)
        if partner:
            query = query.where(IncidentRow.partner == partner)
        if since:
            query = query.where(col(IncidentRow.last_seen) >= since)
        query = query.order_by(col(IncidentRow.last_seen).desc()).limit(limit)
        with self.session() as s:
            return incident_records(s, s.exec(query).all())

    def incident_counts(self) -> dict[str, int]:
        """How many cases have each status (statuses with none are absent), counted by the
        database: no case is read."""
        query = select(IncidentRow.status, func.count(col(IncidentRow.id))).group_by(
            col(IncidentRow.status))
        with self.session() as s:
            return {str(status): int(count) for status, count in s.exec(query).all()}

    def incident(self, incident_id: int) -> IncidentDetail | None:
        """A case with its clauses, history and every sighting's evidence."""
        with self.session() as s:
            incident = s.get(IncidentRow, incident_id)
            if incident is None:
                return None
            return _incident_detail(s, incident)

    def case_of(self, incident_id: int) -> int | None:
        """The case an id names: itself, or the case an incident from before cases was folded
        into; None when there is neither."""
        with self.session() as s:
            if s.get(IncidentRow, incident_id) is not None:
                return incident_id
            alias = s.get(IncidentAliasRow, incident_id)
            return alias.incident_id if alias else None

    def incidents_by_id(self, incident_ids: Iterable[int]) -> list[IncidentRecord]:
        """The cases named, in id order (unknown ids are left out)."""
        ids = sorted(set(incident_ids))
        with self.session() as s:
            rows = s.exec(select(IncidentRow).where(col(IncidentRow.id).in_(ids))
                          .order_by(col(IncidentRow.id))).all()
            return incident_records(s, rows)

    def sighting(self, sighting_id: int) -> SightingDetail | None:
        """One sighting with its ad, capture, chain, attribution and findings (explain)."""
        with self.session() as s:
            sighting = s.get(SightingRow, sighting_id)
            if sighting is None:
                return None
            chain = s.exec(select(ChainRow).where(ChainRow.ad_id == sighting.ad_id)).one()
            attribution = s.exec(select(AttributionRow)
                                 .where(AttributionRow.ad_id == sighting.ad_id)).one()
            findings = s.exec(select(FindingRow).where(FindingRow.sighting_id == sighting_id)
                              .order_by(col(FindingRow.policy))).all()
            return SightingDetail(
                sighting=sighting_record(sighting),
                ad=ad_record(s.get_one(AdRow, sighting.ad_id)),
                capture=capture_record(s.get_one(CaptureRow, sighting.capture_id)),
                chain=chain_record(chain, _hops(s, chain)),
                attribution=attribution_record(attribution),
                findings=tuple(finding_record(f) for f in findings),
            )

    def incident_partners(self, incident_ids: Iterable[int]) -> dict[int, str | None]:
        """The partner of each incident named."""
        ids = sorted(set(incident_ids))
        query = select(IncidentRow.id, IncidentRow.partner).where(col(IncidentRow.id).in_(ids))
        with self.session() as s:
            return {int(i or 0): p for i, p in s.exec(query).all()}

    def latest_headlines(self, incident_ids: Iterable[int]) -> dict[int, str]:
        """The headline of each named case's latest sighting, in one query per 500 cases
        (the case list shows it; reading each case whole for it was a query per case)."""
        ids = sorted(set(incident_ids))
        found: dict[int, str] = {}
        with self.session() as s:
            for start in range(0, len(ids), _CHUNK):
                latest = (
                    select(
                        col(FindingRow.incident_id).label("incident_id"),
                        col(SightingRow.ad_id).label("ad_id"),
                        func.row_number().over(
                            partition_by=col(FindingRow.incident_id),
                            order_by=(col(SightingRow.seen_at).desc(),
                                      col(SightingRow.id).desc()),
                        ).label("newest"),
                    )
                    .join(SightingRow, col(SightingRow.id) == col(FindingRow.sighting_id))
                    .where(col(FindingRow.incident_id).in_(ids[start:start + _CHUNK]))
                    .subquery())
                query = (select(latest.c.incident_id, col(AdRow.headline))
                         .join(AdRow, col(AdRow.id) == latest.c.ad_id)
                         .where(latest.c.newest == 1))
                found.update((int(case), headline) for case, headline in s.exec(query).all())
        return found

    def incidents_first_seen_in_sweep(self, sweep_id: int) -> list[IncidentRecord]:
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
        with self.session() as s:
            return incident_records(s, s.exec(query).all())

    def set_incident_status(
        self, incident_id: int, status: IncidentStatus, note: str, now: datetime
    ) -> IncidentRecord:
        return self.set_incidents_status([incident_id], status, note, now)[0]

    def set_incidents_status(
        self, incident_ids: Sequence[int], status: IncidentStatus, note: str, now: datetime
    ) -> list[IncidentRecord]:
        """Change several cases' status in one transaction: all of them, or (an unknown id)
        none."""
        with self.session() as s:
            rows = []
            for incident_id in incident_ids:
                incident = s.get(IncidentRow, incident_id)
                if incident is None:
                    raise LookupError(f"no incident {incident_id}")
                old = IncidentStatus(incident.status)
                incident.status = status
                add_event(s, incident, old, status, note, now)
                s.add(incident)
                rows.append(incident)
            s.commit()
            return incident_records(s, rows)

    # -- the allowlist -----------------------------------------------------------------------

    def allow(
        self, advertiser: str, destination: str, note: str, now: datetime,
        from_incident: int | None = None,
    ) -> AllowRecord:
        """Clear an advertiser and destination: their ads are never judged a breach again
        (an entry already there keeps its first note)."""
        with self.session() as s:
            row = s.exec(select(AllowRow).where(AllowRow.advertiser == advertiser,
                                                AllowRow.destination == destination)).first()
            if row is None:
                row = AllowRow(advertiser=advertiser, destination=destination, note=note,
                               from_incident=from_incident, created_at=now)
                s.add(row)
                s.commit()
            return allow_record(row)

    def allowlist(self) -> list[AllowRecord]:
        with self.session() as s:
            rows = s.exec(select(AllowRow).order_by(col(AllowRow.advertiser),
                                                    col(AllowRow.destination))).all()
            return [allow_record(r) for r in rows]

    def disallow(self, entry_id: int) -> bool:
        """Remove an allowlist entry; False when there was none."""
        with self.session() as s:
            row = s.get(AllowRow, entry_id)
            if row is None:
                return False
            s.delete(row)
            s.commit()
            return True

    def expire_incidents(self, now: datetime, after: timedelta) -> list[int]:
        """Open incidents not seen since `now - after` expire; returns their ids."""
        query = select(IncidentRow).where(
            col(IncidentRow.status).in_([str(x) for x in OPEN]),
            col(IncidentRow.last_seen) < now - after,
        )
        with self.session() as s:
            expired = list(s.exec(query).all())
            for incident in expired:
                old = IncidentStatus(incident.status)
                incident.status = IncidentStatus.expired
                add_event(s, incident, old, IncidentStatus.expired,
                          f"not seen for {after.days} days", now)
                s.add(incident)
            s.commit()
            return [i.id or 0 for i in expired]

    def mark_notified(self, incident_id: int, level: int, now: datetime) -> None:
        """A notice went out: a new incident becomes notified (other statuses stand)."""
        with self.session() as s:
            incident = s.get_one(IncidentRow, incident_id)
            if incident.status == IncidentStatus.new:
                incident.status = IncidentStatus.notified
                add_event(s, incident, IncidentStatus.new, IncidentStatus.notified,
                          f"level {level} notice sent", now)
                s.add(incident)
                s.commit()


def add_event(
    s: Session,
    incident: IncidentRow,
    old: IncidentStatus | None,
    new: IncidentStatus,
    note: str,
    at: datetime,
) -> None:
    """Keep a status change in the incident's history."""
    s.add(IncidentEventRow(incident_id=incident.id or 0, at=at,
                           status_from=str(old) if old else None, status_to=str(new), note=note))


def incident_records(s: Session, rows: Sequence[IncidentRow]) -> list[IncidentRecord]:
    """Cases as records, each with its clauses (one query for all of them)."""
    ids = [r.id for r in rows]
    clauses: dict[int, list[ClauseRow]] = defaultdict(list)
    if ids:
        for clause in s.exec(select(ClauseRow).where(col(ClauseRow.incident_id).in_(ids))).all():
            clauses[clause.incident_id].append(clause)
    return [incident_record(r, clauses[r.id or 0]) for r in rows]


def _hops(s: Session, chain: ChainRow) -> list[HopRow]:
    return list(s.exec(select(HopRow).where(HopRow.chain_id == chain.id)
                       .order_by(col(HopRow.seq))).all())


def _incident_detail(s: Session, incident: IncidentRow) -> IncidentDetail:
    events = s.exec(select(IncidentEventRow).where(IncidentEventRow.incident_id == incident.id)
                    .order_by(col(IncidentEventRow.at))).all()
    findings = s.exec(select(FindingRow).where(FindingRow.incident_id == incident.id)
                      .order_by(col(FindingRow.id))).all()
    sighting_ids = [f.sighting_id for f in findings]
    sightings = s.exec(select(SightingRow).where(col(SightingRow.id).in_(sighting_ids))
                       .order_by(col(SightingRow.seen_at))).all()
    ad_ids = [x.ad_id for x in sightings]
    capture_ids = [x.capture_id for x in sightings]
    ads = s.exec(select(AdRow).where(col(AdRow.id).in_(ad_ids))).all()
    captures = s.exec(select(CaptureRow).where(col(CaptureRow.id).in_(capture_ids))).all()
    chains = s.exec(select(ChainRow).where(col(ChainRow.ad_id).in_(ad_ids))).all()
    attributions = s.exec(select(AttributionRow)
                          .where(col(AttributionRow.ad_id).in_(ad_ids))).all()
    return IncidentDetail(
        incident=incident_records(s, [incident])[0],
        events=tuple(event_record(e) for e in events),
        findings=tuple(finding_record(f) for f in findings),
        sightings=tuple(sighting_record(x) for x in sightings),
        ads={a.id or 0: ad_record(a) for a in ads},
        captures={c.id or 0: capture_record(c) for c in captures},
        chains={c.ad_id: chain_record(c, _hops(s, c)) for c in chains},
        attributions={a.ad_id: attribution_record(a) for a in attributions},
    )
