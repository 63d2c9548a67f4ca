"""The store's public API: every read and write the sweep, the CLI and the digest need.

Stages hand in monitor.models records; rows never leave this package except as read-only
views for display. Each task is recorded in one transaction, so an interrupted sweep leaves
no half-written task behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.judge.incidents import (
    OPEN,
    Escalation,
    IncidentStatus,
    incident_key,
    notice_key,
    notice_level_due,
    status_after_sighting,
)
from monitor.models import Capture, CaptureStatus, Device, Finding, JudgedAd, SearchTask, Sighting
from monitor.program import Program
from monitor.store.db import make_engine, migrate
from monitor.store.tables import (
    AdRow,
    AttributionRow,
    CaptureRow,
    ChainRow,
    FindingRow,
    HopRow,
    IncidentEventRow,
    IncidentRow,
    OutboxRow,
    SightingRow,
    SweepRow,
    TaskRow,
)


@dataclass
class RecordOutcome:
    """What recording one capture did to the incidents."""

    new_incidents: list[int] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    notices_queued: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CoverageRow:
    engine: str
    market: str
    asked: int
    captured: int
    blocked: int
    failed: int


@dataclass
class SweepCoverage:
    """One sweep's tasks by outcome."""

    asked: int = 0
    captured: int = 0
    blocked: dict[str, int] = field(default_factory=dict)  # by kind: captcha, consent, …
    failed: int = 0
    never_asked: int = 0  # still pending: the sweep was stopped before them

    def count(self, last_status: str | None) -> None:
        self.asked += 1
        if last_status is None:
            self.never_asked += 1
        elif CaptureStatus(last_status).covered:
            self.captured += 1
        elif CaptureStatus(last_status).blocked:
            self.blocked[last_status] = self.blocked.get(last_status, 0) + 1
        else:
            self.failed += 1


@dataclass
class SightingDetail:
    sighting: SightingRow
    ad: AdRow
    capture: CaptureRow
    chain: ChainRow
    hops: list[HopRow]
    attribution: AttributionRow
    findings: list[FindingRow]


@dataclass
class IncidentDetail:
    incident: IncidentRow
    events: list[IncidentEventRow]
    findings: list[FindingRow]
    sightings: list[SightingRow]
    ads: dict[int, AdRow]
    captures: dict[int, CaptureRow]
    chains: dict[int, tuple[ChainRow, list[HopRow]]]  # by ad id
    attributions: dict[int, AttributionRow]  # by ad id


class Store:
    """One database, migrated to the latest schema on open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()

    # -- sweeps and tasks ------------------------------------------------------------------

    def begin_sweep(
        self, program: str, tasks: Sequence[SearchTask], *, dry_run: bool, now: datetime
    ) -> tuple[int, dict[str, int]]:
        """A new sweep with its tasks pending; returns its id and task ids by task key."""
        with self.session() as s:
            sweep = SweepRow(started_at=now, program=program, dry_run=dry_run,
                             tasks_total=len(tasks))
            s.add(sweep)
            s.flush()
            rows = [_task_row(sweep.id or 0, t) for t in tasks]
            s.add_all(rows)
            s.commit()
            return sweep.id or 0, {r.key: r.id or 0 for r in rows}

    def finish_sweep(
        self, sweep_id: int, status: str, now: datetime, *, add: bool = False, **counts: int
    ) -> SweepRow:
        """Close a sweep with its counts (`add`: a resumed sweep's run adds to them)."""
        with self.session() as s:
            sweep = s.get_one(SweepRow, sweep_id)
            sweep.status = status
            sweep.finished_at = now
            for name, value in counts.items():
                setattr(sweep, name, value + (getattr(sweep, name) if add else 0))
            s.add(sweep)
            s.commit()
            return sweep

    def unfinished_sweeps(self, program: str) -> list[int]:
        """Sweeps of `program` that a stop or a crash left with tasks never asked, oldest
        first (a sweep still marked running was cut off without a word: a kill, a power cut)."""
        pending = select(TaskRow.sweep_id).where(TaskRow.status == "pending")
        query = (select(SweepRow.id)
                 .where(SweepRow.program == program,
                        col(SweepRow.status).in_(("running", "interrupted")),
                        col(SweepRow.id).in_(pending))
                 .order_by(col(SweepRow.id)))
        with self.session() as s:
            return [sweep_id for sweep_id in s.exec(query).all() if sweep_id is not None]

    def pending_tasks(self, sweep_id: int, program: Program) -> list[tuple[SearchTask, int]]:
        """The tasks of a sweep never asked, as tasks again (markets from the program; a task
        whose market the program no longer has is dropped: it cannot be asked as it was)."""
        query = select(TaskRow).where(TaskRow.sweep_id == sweep_id, TaskRow.status == "pending")
        with self.session() as s:
            rows = s.exec(query.order_by(col(TaskRow.id))).all()
        planned = []
        for row in rows:
            market = program.market(row.market)
            if market is not None:
                task = SearchTask(row.brand, row.engine, row.query, row.term_group, market.ref(),
                                  Device(row.device), row.page)
                planned.append((task, row.id or 0))
        return planned

    def recent_sweeps(self, limit: int = 20) -> list[SweepRow]:
        with self.session() as s:
            return list(s.exec(select(SweepRow).order_by(col(SweepRow.id).desc())
                               .limit(limit)).all())

    def reopen_sweep(self, sweep_id: int) -> None:
        with self.session() as s:
            sweep = s.get_one(SweepRow, sweep_id)
            sweep.status = "running"
            s.add(sweep)
            s.commit()

    def sweep_coverage(self, sweep_id: int) -> SweepCoverage:
        """Asked, captured, blocked by kind, failed and never asked, by each task's last
        capture (a page blocked and then captured on its retry counts as captured)."""
        coverage = SweepCoverage()
        with self.session() as s:
            tasks = s.exec(select(TaskRow.id, TaskRow.status)
                           .where(TaskRow.sweep_id == sweep_id)).all()
            last = _last_capture_status(s, CaptureRow.sweep_id == sweep_id)
        for task_id, status in tasks:
            coverage.count(last.get(task_id or 0) if status != "pending" else None)
        return coverage

    def sweep(self, sweep_id: int) -> SweepRow | None:
        with self.session() as s:
            return s.get(SweepRow, sweep_id)

    def fail_task(self, task_id: int, capture: Capture | None) -> None:
        with self.session() as s:
            task = s.get_one(TaskRow, task_id)
            task.attempts += 1
            task.status = "failed"
            if capture is not None:
                s.add(_capture_row(task, capture))
            s.add(task)
            s.commit()

    def record_task(
        self,
        task_id: int,
        capture: Capture,
        judged: Sequence[JudgedAd],
        *,
        queue_notices: bool,
        stray_click_urls: Sequence[str] = (),
        escalation: Escalation | None = None,
    ) -> RecordOutcome:
        """Store a finished task: capture, ads, chains, attributions, sightings, findings and
        the incidents they fold into, all in one transaction."""
        outcome = RecordOutcome()
        with self.session() as s:
            task = s.get_one(TaskRow, task_id)
            task.attempts += 1
            # a blocked or failed page is not done: the next sweep asks again
            task.status = "done" if capture.status.covered else "failed"
            s.add(task)
            capture_row = _capture_row(task, capture)
            capture_row.stray_click_urls_json = json.dumps(list(stray_click_urls))
            s.add(capture_row)
            s.flush()
            for item in judged:
                self._record_ad(s, task, capture_row, item, outcome,
                                escalation if queue_notices else None)
            s.commit()
        return outcome

    def _record_ad(
        self,
        s: Session,
        task: TaskRow,
        capture_row: CaptureRow,
        item: JudgedAd,
        outcome: RecordOutcome,
        escalation: Escalation | None,
    ) -> None:
        ad_row = _ad_row(capture_row.id or 0, item)
        s.add(ad_row)
        s.flush()
        ad_id = ad_row.id or 0
        _add_chain(s, ad_id, item)
        s.add(_attribution_row(ad_id, item))
        sighting_row = _sighting_row(task, capture_row, ad_id, item.sighting)
        s.add(sighting_row)
        s.flush()
        for finding in item.findings:
            incident = self._fold_finding(s, finding, item.sighting, outcome, escalation)
            s.add(FindingRow(
                sighting_id=sighting_row.id or 0, incident_id=incident.id or 0,
                policy=finding.policy, severity=str(finding.severity), title=finding.title,
                clause=finding.clause,
                facts_json=json.dumps([{"condition": f.condition, "detail": f.detail}
                                       for f in finding.facts], ensure_ascii=False),
            ))

    def _fold_finding(
        self,
        s: Session,
        finding: Finding,
        sighting: Sighting,
        outcome: RecordOutcome,
        escalation: Escalation | None,
    ) -> IncidentRow:
        """Fold a finding into its incident; queue the notice it owes unless `escalation` is
        None (a dry run records, but owes nothing yet)."""
        key = incident_key(finding, sighting)
        incident = s.exec(select(IncidentRow).where(IncidentRow.key == key)).first()
        reopened = False
        if incident is None:
            incident = _new_incident(key, finding, sighting)
            s.add(incident)
            s.flush()
            _add_event(s, incident, None, IncidentStatus.new, "first seen", sighting.seen_at)
            outcome.new_incidents.append(incident.id or 0)
        else:
            old = IncidentStatus(incident.status)
            new = status_after_sighting(old)
            reopened = new is not old
            if reopened:
                incident.status = new
                _add_event(s, incident, old, new, "seen again after " + old, sighting.seen_at)
                outcome.new_incidents.append(incident.id or 0)
            else:
                outcome.seen_again.append(incident.id or 0)
        _touch_incident(incident, sighting)
        if escalation is not None and finding.partner and finding.notice_template:
            level = notice_level_due(
                incident.level, IncidentStatus(incident.status), reopened,
                first_level=escalation.first_level(finding.policy),
                prior_level=_prior_level(s, incident, sighting.seen_at - escalation.repeat_window,
                                         sighting.seen_at),
            )
            if level is not None:
                outcome.notices_queued.append(
                    _queue_notice(s, incident, level, sighting.seen_at)
                )
        s.add(incident)
        return incident

    # -- incidents -------------------------------------------------------------------------

    def incidents(
        self,
        *,
        status: str | None = None,
        partner: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[IncidentRow]:
        query = select(IncidentRow)
        if status:
            query = query.where(IncidentRow.status == status)
        if partner:
            query = query.where(IncidentRow.partner == partner)
        if since:
            query = query.where(col(IncidentRow.last_seen) >= since)
        query = query.order_by(col(IncidentRow.last_seen).desc()).limit(limit)
        with self.session() as s:
            return list(s.exec(query).all())

    def incident(self, incident_id: int) -> IncidentDetail | None:
        with self.session() as s:
            incident = s.get(IncidentRow, incident_id)
            if incident is None:
                return None
            return _incident_detail(s, incident)

    def sighting(self, sighting_id: int) -> SightingDetail | None:
        """One sighting with its ad, capture, chain, attribution and findings (explain)."""
        with self.session() as s:
            sighting = s.get(SightingRow, sighting_id)
            if sighting is None:
                return None
            chain = s.exec(select(ChainRow).where(ChainRow.ad_id == sighting.ad_id)).one()
            hops = s.exec(select(HopRow).where(HopRow.chain_id == chain.id)
                          .order_by(col(HopRow.seq))).all()
            return SightingDetail(
                sighting=sighting, ad=s.get_one(AdRow, sighting.ad_id),
                capture=s.get_one(CaptureRow, sighting.capture_id), chain=chain,
                hops=list(hops),
                attribution=s.exec(select(AttributionRow)
                                   .where(AttributionRow.ad_id == sighting.ad_id)).one(),
                findings=list(s.exec(select(FindingRow)
                                     .where(FindingRow.sighting_id == sighting_id)
                                     .order_by(col(FindingRow.policy))).all()),
            )

    def set_incident_status(
        self, incident_id: int, status: IncidentStatus, note: str, now: datetime
    ) -> IncidentRow:
        with self.session() as s:
            incident = s.get_one(IncidentRow, incident_id)
            old = IncidentStatus(incident.status)
            incident.status = status
            _add_event(s, incident, old, status, note, now)
            s.add(incident)
            s.commit()
            return incident

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
                _add_event(s, incident, old, IncidentStatus.expired,
                           f"not seen for {after.days} days", now)
                s.add(incident)
            s.commit()
            return [i.id or 0 for i in expired]

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

    def mark_notified(self, incident_id: int, level: int, now: datetime) -> None:
        """A notice went out: a new incident becomes notified (other statuses stand)."""
        with self.session() as s:
            incident = s.get_one(IncidentRow, incident_id)
            if incident.status == IncidentStatus.new:
                incident.status = IncidentStatus.notified
                _add_event(s, incident, IncidentStatus.new, IncidentStatus.notified,
                           f"level {level} notice sent", now)
                s.add(incident)
                s.commit()

    # -- outbox ----------------------------------------------------------------------------

    def outbox(self, *, status: str | None = None, kind: str | None = None) -> list[OutboxRow]:
        query = select(OutboxRow).order_by(col(OutboxRow.id))
        if status:
            query = query.where(OutboxRow.status == status)
        if kind:
            query = query.where(OutboxRow.kind == kind)
        with self.session() as s:
            return list(s.exec(query).all())

    def due_outbox(self, now: datetime, limit: int = 100) -> list[OutboxRow]:
        query = (
            select(OutboxRow)
            .where(OutboxRow.status == "pending")
            .where((col(OutboxRow.next_attempt_at).is_(None))
                   | (col(OutboxRow.next_attempt_at) <= now))
            .order_by(col(OutboxRow.id))
            .limit(limit)
        )
        with self.session() as s:
            return list(s.exec(query).all())

    def save_outbox(self, row: OutboxRow) -> OutboxRow:
        with self.session() as s:
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    # -- reads for reports -----------------------------------------------------------------

    def coverage(self, start: datetime, end: datetime) -> list[CoverageRow]:
        """Tasks asked, captured, blocked and failed per engine and market in a period, each
        task counted once, by its last capture."""
        last = (select(func.max(col(CaptureRow.id)))
                .where(col(CaptureRow.captured_at) >= start, col(CaptureRow.captured_at) < end)
                .group_by(CaptureRow.task_id))
        query = (
            select(CaptureRow.engine, CaptureRow.market, CaptureRow.status,
                   func.count(col(CaptureRow.id)))
            .where(col(CaptureRow.id).in_(last))
            .group_by(CaptureRow.engine, CaptureRow.market, CaptureRow.status)
        )
        table: dict[tuple[str, str], list[int]] = {}
        with self.session() as s:
            for engine, market, status, n in s.exec(query).all():
                cell = table.setdefault((engine, market), [0, 0, 0, 0])
                cell[0] += n
                cell[outcome_column(status)] += n
        return [CoverageRow(e, m, *cells) for (e, m), cells in sorted(table.items())]

    def incidents_between(self, start: datetime, end: datetime) -> list[IncidentRow]:
        query = select(IncidentRow).where(
            col(IncidentRow.last_seen) >= start, col(IncidentRow.first_seen) < end
        ).order_by(col(IncidentRow.first_seen))
        with self.session() as s:
            return list(s.exec(query).all())

    def sightings_count(self, incident_id: int, start: datetime, end: datetime) -> int:
        query = (
            select(func.count(col(FindingRow.id)))
            .join(SightingRow, col(SightingRow.id) == col(FindingRow.sighting_id))
            .where(FindingRow.incident_id == incident_id)
            .where(col(SightingRow.seen_at) >= start, col(SightingRow.seen_at) < end)
        )
        with self.session() as s:
            return int(s.exec(query).one())

    def sightings_between(self, start: datetime, end: datetime) -> list[SightingRow]:
        query = select(SightingRow).where(
            col(SightingRow.seen_at) >= start, col(SightingRow.seen_at) < end
        ).order_by(col(SightingRow.seen_at))
        with self.session() as s:
            return list(s.exec(query).all())

    def notices_sent_between(self, start: datetime, end: datetime) -> int:
        query = select(func.count(col(OutboxRow.id))).where(
            OutboxRow.kind == "notice", OutboxRow.status == "sent",
            col(OutboxRow.sent_at) >= start, col(OutboxRow.sent_at) < end)
        with self.session() as s:
            return int(s.exec(query).one())

    def latest_screenshot(self, incident_id: int) -> str | None:
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


# -- row builders (records in, rows out) -----------------------------------------------------


def outcome_column(status: str) -> int:
    """Where a stored capture status counts in asked/captured/blocked/failed columns:
    1 captured, 2 blocked, 3 failed (CaptureStatus says which is which)."""
    capture = CaptureStatus(status)
    return 1 if capture.covered else 2 if capture.blocked else 3


def _last_capture_status(s: Session, where: Any) -> dict[int, str]:
    """The status of each task's last capture among the captures `where` selects."""
    last = select(func.max(col(CaptureRow.id))).where(where).group_by(CaptureRow.task_id)
    rows = s.exec(select(CaptureRow.task_id, CaptureRow.status)
                  .where(col(CaptureRow.id).in_(last))).all()
    return dict(rows)


def _task_row(sweep_id: int, task: SearchTask) -> TaskRow:
    return TaskRow(
        sweep_id=sweep_id, key=task.key, brand=task.brand, engine=task.engine, query=task.query,
        term_group=task.term_group, market=task.market.id, device=str(task.device),
        page=task.page,
    )


def _capture_row(task: TaskRow, capture: Capture) -> CaptureRow:
    return CaptureRow(
        task_id=task.id or 0, sweep_id=task.sweep_id, engine=task.engine, market=task.market,
        status=str(capture.status), url=capture.url, final_url=capture.final_url,
        http_status=capture.http_status, captured_at=capture.captured_at,
        html_path=capture.html_path, screenshot_path=capture.screenshot_path,
        error=capture.error, elapsed_ms=capture.elapsed_ms,
    )


def _ad_row(capture_id: int, item: JudgedAd) -> AdRow:
    ad = item.ad
    return AdRow(
        capture_id=capture_id, kind=str(ad.kind), position=str(ad.position), rank=ad.rank,
        headline=ad.headline, description=ad.description, display_url=ad.display_url,
        link=ad.link, click_url=ad.click_url, advertiser=ad.advertiser,
        sitelinks_json=json.dumps([{"text": x.text, "url": x.url} for x in ad.sitelinks],
                                  ensure_ascii=False),
    )


def _add_chain(s: Session, ad_id: int, item: JudgedAd) -> None:
    chain = item.chain
    chain_row = ChainRow(ad_id=ad_id, start_url=chain.start_url, landing_url=chain.landing_url,
                         error=chain.error)
    s.add(chain_row)
    s.flush()
    s.add_all(
        HopRow(chain_id=chain_row.id or 0, seq=i, url=h.url, how=str(h.how), status=h.status,
               elapsed_ms=h.elapsed_ms)
        for i, h in enumerate(chain.hops)
    )


def _attribution_row(ad_id: int, item: JudgedAd) -> AttributionRow:
    a = item.attribution
    ids = a.network
    return AttributionRow(
        ad_id=ad_id, advertiser_class=str(a.advertiser_class), partner=a.partner,
        network=ids.network if ids else None,
        publisher_id=ids.publisher_id if ids else None,
        advertiser_id=ids.advertiser_id if ids else None,
        creative_id=ids.creative_id if ids else None,
        sub_id=ids.sub_id if ids else None, click_id=ids.click_id if ids else None,
        aggregator=bool(ids and ids.aggregator),
        display_domain=a.display_domain, landing_domain=a.landing_domain,
        domains_json=json.dumps(list(a.domains)), reason=a.reason,
    )


def _sighting_row(
    task: TaskRow, capture: CaptureRow, ad_id: int, sighting: Sighting
) -> SightingRow:
    return SightingRow(
        sweep_id=task.sweep_id, capture_id=capture.id or 0, ad_id=ad_id,
        seen_at=sighting.seen_at, brand=task.brand, engine=task.engine, market=task.market,
        device=task.device,
        query=task.query, term_group=task.term_group, offender=sighting.offender,
        advertiser_class=str(sighting.attribution.advertiser_class),
    )


def _new_incident(key: str, finding: Finding, sighting: Sighting) -> IncidentRow:
    return IncidentRow(
        key=key, offender=finding.offender, partner=finding.partner, policy=finding.policy,
        title=finding.title, term_group=finding.term_group, engine=sighting.task.engine,
        severity=str(finding.severity), status=IncidentStatus.new, level=0,
        first_seen=sighting.seen_at, last_seen=sighting.seen_at, sighting_count=0,
    )


def _touch_incident(incident: IncidentRow, sighting: Sighting) -> None:
    incident.sighting_count += 1
    incident.last_seen = max(incident.last_seen, sighting.seen_at)
    incident.first_seen = min(incident.first_seen, sighting.seen_at)
    incident.markets_json = _add_to_json_set(incident.markets_json, sighting.task.market.id)
    incident.devices_json = _add_to_json_set(incident.devices_json, str(sighting.task.device))


def _add_to_json_set(raw: str, value: str) -> str:
    values = set(json.loads(raw))
    values.add(value)
    return json.dumps(sorted(values))


def _add_event(
    s: Session,
    incident: IncidentRow,
    old: IncidentStatus | None,
    new: IncidentStatus,
    note: str,
    at: datetime,
) -> None:
    s.add(IncidentEventRow(incident_id=incident.id or 0, at=at,
                           status_from=str(old) if old else None, status_to=str(new), note=note))


def _prior_level(s: Session, incident: IncidentRow, since: datetime, until: datetime) -> int:
    """The highest notice level already sent to the same partner about another incident
    between `since` and `until`: breaches after a notice are repeat offences; breaches found
    together in one sweep are not. False positives do not count against a partner."""
    if not incident.partner:
        return 0
    query = (
        select(func.max(OutboxRow.level))
        .join(IncidentRow, col(IncidentRow.id) == col(OutboxRow.incident_id))
        .where(OutboxRow.kind == "notice", OutboxRow.status == "sent",
               col(OutboxRow.sent_at) >= since, col(OutboxRow.sent_at) <= until,
               IncidentRow.partner == incident.partner, IncidentRow.id != incident.id,
               IncidentRow.status != IncidentStatus.false_positive)
    )
    return int(s.exec(query).one() or 0)


def _queue_notice(s: Session, incident: IncidentRow, level: int, now: datetime) -> str:
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


def _incident_detail(s: Session, incident: IncidentRow) -> IncidentDetail:
    events = list(s.exec(select(IncidentEventRow)
                         .where(IncidentEventRow.incident_id == incident.id)
                         .order_by(col(IncidentEventRow.at))).all())
    findings = list(s.exec(select(FindingRow).where(FindingRow.incident_id == incident.id)
                           .order_by(col(FindingRow.id))).all())
    sighting_ids = [f.sighting_id for f in findings]
    sightings = list(s.exec(select(SightingRow).where(col(SightingRow.id).in_(sighting_ids))
                            .order_by(col(SightingRow.seen_at))).all())
    ad_ids = [x.ad_id for x in sightings]
    ads = {a.id or 0: a for a in s.exec(select(AdRow).where(col(AdRow.id).in_(ad_ids)))}
    capture_ids = [x.capture_id for x in sightings]
    captures = {c.id or 0: c for c in
                s.exec(select(CaptureRow).where(col(CaptureRow.id).in_(capture_ids)))}
    chains: dict[int, tuple[ChainRow, list[HopRow]]] = {}
    for chain in s.exec(select(ChainRow).where(col(ChainRow.ad_id).in_(ad_ids))):
        hops = list(s.exec(select(HopRow).where(HopRow.chain_id == chain.id)
                           .order_by(col(HopRow.seq))).all())
        chains[chain.ad_id] = (chain, hops)
    attributions = {a.ad_id: a for a in
                    s.exec(select(AttributionRow).where(col(AttributionRow.ad_id).in_(ad_ids)))}
    return IncidentDetail(incident, events, findings, sightings, ads, captures, chains,
                          attributions)


def period(day: datetime, days: int = 1) -> tuple[datetime, datetime]:
    """[start, end) of the `days`-long period that starts at `day`'s midnight (same zone)."""
    start = day.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=days)
