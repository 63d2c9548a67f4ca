"""Recording a finished task: capture, ads, chains, attributions, sightings, findings and the
cases (and their clauses) they fold into, in one transaction (an interrupted sweep leaves no
half-written task behind). Records in, rows out: the row builders live here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.judge.incidents import (
    Escalation,
    IncidentStatus,
    case_destination,
    case_key,
    case_network,
    notice_level_due,
    status_after_sighting,
)
from monitor.models import Capture, Finding, JudgedAd, Sighting
from monitor.store.base import StoreBase
from monitor.store.incidents import add_event
from monitor.store.mapping import inner_networks_json
from monitor.store.outbox import queue_notice_row
from monitor.store.records import RecordOutcome, severity_rank
from monitor.store.sweeps import capture_row
from monitor.store.tables import (
    AdRow,
    AttributionRow,
    CaptureRow,
    ChainRow,
    ClauseRow,
    FindingRow,
    HopRow,
    IncidentRow,
    OutboxRow,
    SightingRow,
    TaskRow,
)


class RecordingStore(StoreBase):
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
            stored = capture_row(task, capture)
            stored.stray_click_urls_json = json.dumps(list(stray_click_urls))
            s.add(stored)
            s.flush()
            for item in judged:
                _record_ad(s, task, stored, item, outcome, escalation if queue_notices else None)
            s.commit()
        return outcome


def _record_ad(
    s: Session,
    task: TaskRow,
    capture: CaptureRow,
    item: JudgedAd,
    outcome: RecordOutcome,
    escalation: Escalation | None,
) -> None:
    ad_row = _ad_row(capture.id or 0, item)
    s.add(ad_row)
    s.flush()
    ad_id = ad_row.id or 0
    _add_chain(s, ad_id, item)
    s.add(_attribution_row(ad_id, item))
    sighting_row = _sighting_row(task, capture, ad_id, item.sighting)
    s.add(sighting_row)
    s.flush()
    if not item.findings:
        return
    incident = _fold_sighting(s, item.findings, item.sighting, outcome, escalation)
    s.add_all(
        FindingRow(
            sighting_id=sighting_row.id or 0, incident_id=incident.id or 0,
            policy=finding.policy, severity=str(finding.severity), title=finding.title,
            clause=finding.clause, agreement_version=finding.agreement_version,
            facts_json=json.dumps([{"condition": f.condition, "detail": f.detail}
                                   for f in finding.facts], ensure_ascii=False),
        )
        for finding in item.findings
    )


def _fold_sighting(
    s: Session,
    findings: Sequence[Finding],
    sighting: Sighting,
    outcome: RecordOutcome,
    escalation: Escalation | None,
) -> IncidentRow:
    """Fold a sighting's findings into its case (one clause per policy); queue the notice it
    owes unless `escalation` is None (a dry run records, but owes nothing yet)."""
    offender = findings[0].offender
    destination = case_destination(sighting.attribution)
    network = case_network(sighting.attribution)
    key = case_key(offender, destination, network)
    incident = s.exec(select(IncidentRow).where(IncidentRow.key == key)).first()
    reopened = False
    if incident is None:
        incident = _new_incident(key, findings[0], destination, network, sighting)
        s.add(incident)
        s.flush()
        add_event(s, incident, None, IncidentStatus.new, "first seen", sighting.seen_at)
        outcome.new_incidents.append(incident.id or 0)
    else:
        old = IncidentStatus(incident.status)
        new = status_after_sighting(old)
        reopened = new is not old
        if reopened:
            incident.status = new
            add_event(s, incident, old, new, "seen again after " + old, sighting.seen_at)
            outcome.new_incidents.append(incident.id or 0)
        else:
            outcome.seen_again.append(incident.id or 0)
    opening = incident.sighting_count == 0
    new_policies = _fold_clauses(s, incident, findings, sighting, opening, outcome)
    _touch_incident(incident, findings, sighting)
    if escalation is not None and any(f.partner and f.notice_template for f in findings):
        firsts = {f.policy: escalation.first_level(f.policy) for f in findings}
        level = notice_level_due(
            incident.level, IncidentStatus(incident.status), reopened,
            first_level=max(firsts.values()),
            prior_level=_prior_level(s, incident, sighting.seen_at - escalation.repeat_window,
                                     sighting.seen_at),
            new_clause_level=max((firsts[p] for p in new_policies), default=0),
        )
        if level is not None:
            outcome.notices_queued.append(queue_notice_row(s, incident, level, sighting.seen_at))
    s.add(incident)
    return incident


def _fold_clauses(
    s: Session,
    incident: IncidentRow,
    findings: Sequence[Finding],
    sighting: Sighting,
    opening: bool,
    outcome: RecordOutcome,
) -> list[str]:
    """Each finding touches its clause of the case; returns the policies new to an already
    open case (recorded in its history, shown as new)."""
    existing = {c.policy: c for c in s.exec(
        select(ClauseRow).where(ClauseRow.incident_id == incident.id)).all()}
    added = []
    for finding in findings:
        clause = existing.get(finding.policy)
        if clause is None:
            clause = ClauseRow(
                incident_id=incident.id or 0, policy=finding.policy, title=finding.title,
                severity=str(finding.severity), clause=finding.clause,
                agreement_version=finding.agreement_version, first_seen=sighting.seen_at,
                last_seen=sighting.seen_at,
            )
            existing[finding.policy] = clause
            if not opening:
                added.append(finding.policy)
                add_event(s, incident, IncidentStatus(incident.status),
                          IncidentStatus(incident.status),
                          f"new clause: {finding.title or finding.policy}", sighting.seen_at)
                outcome.new_clauses.append((incident.id or 0, finding.policy))
        clause.sighting_count += 1
        clause.first_seen = min(clause.first_seen, sighting.seen_at)
        clause.last_seen = max(clause.last_seen, sighting.seen_at)
        s.add(clause)
    return added


def _prior_level(s: Session, incident: IncidentRow, since: datetime, until: datetime) -> int:
    """The highest notice level already sent to the same partner about another case
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


# -- row builders (records in, rows out) -------------------------------------------------------


def _ad_row(capture_id: int, item: JudgedAd) -> AdRow:
    ad = item.ad
    return AdRow(
        capture_id=capture_id, kind=str(ad.kind), position=str(ad.position), rank=ad.rank,
        headline=ad.headline, description=ad.description, display_url=ad.display_url,
        link=ad.link, click_url=ad.click_url, advertiser=ad.advertiser,
        merchant=ad.merchant, price=ad.price,
        sitelinks_json=json.dumps([{"text": x.text, "url": x.url} for x in ad.sitelinks],
                                  ensure_ascii=False),
    )


def _add_chain(s: Session, ad_id: int, item: JudgedAd) -> None:
    chain, live = item.chain, item.chain.live
    chain_row = ChainRow(ad_id=ad_id, start_url=chain.start_url, landing_url=chain.landing_url,
                         error=chain.error, reuse_key=live.key if live else None,
                         followed_at=live.followed_at if live else None,
                         live_from=live.live_from if live else None)
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
        inner_networks_json=inner_networks_json(a.inner_networks),
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
        chain_age_s=sighting.chain_age_s,
    )


def _new_incident(
    key: str, finding: Finding, destination: str, network: str | None, sighting: Sighting
) -> IncidentRow:
    return IncidentRow(
        key=key, offender=finding.offender, partner=finding.partner, destination=destination,
        network=network,
        severity=str(finding.severity), status=IncidentStatus.new, level=0,
        first_seen=sighting.seen_at, last_seen=sighting.seen_at, sighting_count=0,
    )


def _touch_incident(
    incident: IncidentRow, findings: Sequence[Finding], sighting: Sighting
) -> None:
    incident.sighting_count += 1
    incident.last_seen = max(incident.last_seen, sighting.seen_at)
    incident.first_seen = min(incident.first_seen, sighting.seen_at)
    worst = max(findings, key=lambda f: f.severity.rank).severity
    if worst.rank > severity_rank(incident.severity):
        incident.severity = str(worst)
    task = sighting.task
    incident.markets_json = _add_to_json_set(incident.markets_json, task.market.id)
    incident.devices_json = _add_to_json_set(incident.devices_json, str(task.device))
    incident.engines_json = _add_to_json_set(incident.engines_json, task.engine)
    incident.term_groups_json = _add_to_json_set(incident.term_groups_json, task.term_group)


def _add_to_json_set(raw: str, value: str) -> str:
    values = set(json.loads(raw or "[]"))
    values.add(value)
    return json.dumps(sorted(values))
