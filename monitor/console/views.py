"""A case as the console shows it (page and API alike): its record, its sightings in their
market's time zone with the ad, the screenshot's and saved page's content ids, the chain hop
by hop, the attribution, each clause's facts, its notices and its history."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.notify.thumbnails import ad_box
from monitor.store import (
    AuditRecord,
    FindingRecord,
    IncidentDetail,
    IncidentRecord,
    OutboxItem,
)


def content_id(relative: str | None) -> str | None:
    """The content hash an evidence file is named by (evidence/ab/<sha256>.png)."""
    if not relative:
        return None
    name = PurePosixPath(relative).name
    digest = name.split(".", 1)[0]
    return digest if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest) else None


def local_time(at: datetime, zone: str | None) -> str:
    """`at` in the market's zone, with the zone's abbreviation (UTC when unknown)."""
    try:
        tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo("UTC")
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def case_summary(case: IncidentRecord) -> dict[str, Any]:
    """A case in the list (and in /api/incidents)."""
    return {
        "id": case.id, "reference": case.reference, "status": case.status,
        "severity": case.severity, "level": case.level, "offender": case.offender,
        "partner": case.partner, "destination": case.destination, "network": case.network,
        "title": case.title, "policies": list(case.policies),
        "clauses": [{"policy": c.policy, "title": c.title, "severity": c.severity,
                     "clause": c.clause, "agreement_version": c.agreement_version,
                     "sighting_count": c.sighting_count} for c in case.clauses],
        "engines": list(case.engines), "markets": list(case.markets),
        "devices": list(case.devices), "term_groups": list(case.term_groups),
        "first_seen": case.first_seen.isoformat(), "last_seen": case.last_seen.isoformat(),
        "sighting_count": case.sighting_count,
    }


def case_view(detail: IncidentDetail, zones: dict[str, str], notices: list[OutboxItem],
              audit: list[AuditRecord]) -> dict[str, Any]:
    findings: dict[int, list[FindingRecord]] = defaultdict(list)
    for finding in detail.findings:
        findings[finding.sighting_id].append(finding)
    sightings = [_sighting(detail, s, zones, findings[s.id]) for s in reversed(detail.sightings)]
    return {
        "case": case_summary(detail.incident),
        "latest": sightings[0] if sightings else None,
        "sightings": sightings,
        "history": [{"at": e.at.isoformat(), "from": e.status_from, "to": e.status_to,
                     "note": e.note} for e in detail.events],
        "notices": [_notice(n) for n in notices],
        "audit": [{"at": a.at.isoformat(), "actor": a.actor, "action": a.action,
                   "before": a.before, "after": a.after, "note": a.note} for a in audit],
    }


def _sighting(detail: IncidentDetail, s: Any, zones: dict[str, str],
              findings: list[FindingRecord]) -> dict[str, Any]:
    ad, capture = detail.ads[s.ad_id], detail.captures[s.capture_id]
    chain, attribution = detail.chains.get(s.ad_id), detail.attributions.get(s.ad_id)
    hrefs = [u for u in (ad.click_url, ad.link, *(x.url for x in ad.sitelinks)) if u]
    box = ad_box(capture.link_boxes, hrefs, capture.final_url)
    return {
        "id": s.id, "seen_at": s.seen_at.isoformat(),
        "local_time": local_time(s.seen_at, zones.get(s.market)),
        "engine": s.engine, "market": s.market, "device": s.device, "query": s.query,
        "term_group": s.term_group, "advertiser_class": s.advertiser_class,
        "ad": {"kind": ad.kind, "position": ad.position, "rank": ad.rank,
               "headline": ad.headline, "description": ad.description,
               "display_url": ad.display_url, "link": ad.link, "click_url": ad.click_url,
               "merchant": ad.merchant, "price": ad.price},
        "screenshot": content_id(capture.screenshot_path),
        #: where the ad sits on the screenshot, in its pixels (None: not known)
        "outline": None if box is None else {"x": round(box.x), "y": round(box.y),
                                             "width": round(box.width),
                                             "height": round(box.height)},
        "page": content_id(capture.html_path),
        "chain": {"hops": [{"seq": h.seq, "how": h.how, "status": h.status, "url": h.url}
                           for h in chain.hops] if chain else [],
                  "landing_url": chain.landing_url if chain else None,
                  "error": chain.error if chain else None, "reused": s.chain_reused},
        "attribution": None if attribution is None else {
            "advertiser_class": attribution.advertiser_class, "partner": attribution.partner,
            "network": attribution.network, "publisher_id": attribution.publisher_id,
            "advertiser_id": attribution.advertiser_id, "reason": attribution.reason,
            "inner_networks": [n.network for n in attribution.inner_networks]},
        "findings": [{"policy": f.policy, "severity": f.severity, "title": f.title,
                      "clause": f.clause, "agreement_version": f.agreement_version,
                      "facts": [{"condition": x.condition, "detail": x.detail}
                                for x in f.facts]} for f in findings],
    }


def _notice(item: OutboxItem) -> dict[str, Any]:
    return {"id": item.id, "kind": item.kind, "level": item.level, "channel": item.channel,
            "status": item.status, "created_at": item.created_at.isoformat(),
            "sent_at": item.sent_at.isoformat() if item.sent_at else None,
            "decided_by": item.decided_by, "decision_note": item.decision_note,
            "subject": item.subject}
