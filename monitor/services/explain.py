"""Why: the facts behind a recorded sighting's findings, and a saved page judged afresh under
a (changed) program without touching the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.attribute.partners import attribute
from monitor.engines import detect_engine, get_engine
from monitor.engines.dom import parse
from monitor.errors import BidwatchError
from monitor.judge import compile_policies
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    Device,
    Hop,
    HopHow,
    MarketRef,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.plan import query_of
from monitor.program import load_program
from monitor.resolve.unwrap import offline_chain
from monitor.services.saved import read_page
from monitor.services.wiring import opened_store
from monitor.settings import Settings
from monitor.store import SightingDetail

#: search boxes of the engines, where a saved page keeps the query it answers
QUERY_INPUTS = "textarea[name=q], input[name=q], input[name=p], input#sb_form_q"


def explain_sighting(settings: Settings, sighting_id: int) -> dict[str, Any]:
    """A recorded sighting: the ad, where it led, who placed it, each finding's facts, the
    case its findings fold into with that case's clauses, and, judged again under the
    program in force, any agreement permission that exempts it from a policy it matches."""
    with opened_store(settings) as store:
        detail = store.sighting(sighting_id)
        case_ids = {f.incident_id for f in detail.findings} if detail else set()
        cases = store.incidents_by_id(case_ids)
    if detail is None:
        raise BidwatchError(f"no sighting {sighting_id} (incidents show lists them)")
    program = load_program(settings.rules)
    exemptions = compile_policies(program).exemptions(_sighting_of(detail, program))
    s, a = detail.sighting, detail.attribution
    return {
        "sighting": s.id, "seen_at": s.seen_at.isoformat(), "engine": s.engine,
        "market": s.market, "device": s.device, "query": s.query, "term_group": s.term_group,
        "ad": {"position": detail.ad.position, "rank": detail.ad.rank,
               "headline": detail.ad.headline, "display_url": detail.ad.display_url,
               "link": detail.ad.link, "click_url": detail.ad.click_url},
        "chain": [{"how": h.how, "status": h.status, "url": h.url} for h in detail.chain.hops],
        "landing_url": detail.chain.landing_url, "chain_error": detail.chain.error,
        "chain_followed": s.chain_reused,
        "attribution": {"advertiser_class": a.advertiser_class, "partner": a.partner,
                        "network": a.network, "publisher_id": a.publisher_id,
                        "reason": a.reason},
        "findings": [{"policy": f.policy, "severity": f.severity, "incident": f.incident_id,
                      "agreement_version": f.agreement_version,
                      "facts": [{"condition": x.condition, "detail": x.detail} for x in f.facts]}
                     for f in detail.findings],
        "cases": [{"id": c.id, "reference": c.reference, "status": c.status,
                   "offender": c.offender, "destination": c.destination,
                   "clauses": [{"policy": x.policy, "title": x.title, "severity": x.severity,
                                "sightings": x.sighting_count,
                                "first_seen": x.first_seen.isoformat(),
                                "last_seen": x.last_seen.isoformat()} for x in c.clauses]}
                  for c in cases],
        "exempted": [{"policy": policy, "agreement_version": version, "permission": label}
                     for policy, version, label in exemptions],
        "evidence": {"html": detail.capture.html_path,
                     "screenshot": detail.capture.screenshot_path},
    }


def _sighting_of(detail: SightingDetail, program: Any) -> Sighting:
    """The recorded sighting rebuilt as the judge takes it (to judge it again)."""
    s, ad, chain, a = detail.sighting, detail.ad, detail.chain, detail.attribution
    market = program.market(s.market)
    ref = market.ref() if market else MarketRef(s.market, "", "", "UTC")
    task = SearchTask(s.brand, s.engine, s.query, s.term_group, ref, Device(s.device))
    observed = ObservedAd(AdKind(ad.kind), AdPosition(ad.position), ad.rank, ad.headline,
                          ad.description, ad.display_url, ad.link, ad.click_url, ad.advertiser,
                          ad.sitelinks, merchant=ad.merchant, price=ad.price)
    hops = tuple(Hop(h.url, HopHow(h.how), h.status, h.elapsed_ms) for h in chain.hops)
    ids = NetworkIds(a.network, a.publisher_id, a.advertiser_id, a.creative_id, a.sub_id,
                     a.click_id, aggregator=a.aggregator) if a.network else None
    attribution = Attribution(AdvertiserClass(a.advertiser_class), a.partner, ids,
                              a.display_domain, a.landing_domain, a.domains, a.reason,
                              inner_networks=a.inner_networks)
    return Sighting(task, observed, Chain(chain.start_url, hops, chain.landing_url,
                                          chain.error), attribution, s.seen_at)


@dataclass(frozen=True)
class PageTest:
    """What `rules test` judges a saved page as: the search it answered."""

    engine: str = "auto"
    query: str | None = None
    market: str | None = None
    device: Device = Device.desktop
    at: datetime | None = None


def judge_saved_page(rules: Path, page: Path, options: PageTest) -> dict[str, Any]:
    """Judge every ad on a saved page under the program in `rules`, offline: chains are
    decoded, not followed, and nothing is stored."""
    program = load_program(rules)
    saved = read_page(page)
    html = saved.html
    engine_name = detect_engine(html) if options.engine == "auto" else options.engine
    if engine_name is None:
        raise BidwatchError(f"{page}: not a result page of a known engine (use --engine)")
    query = options.query or guess_query(html)
    if not query:
        raise BidwatchError(f"{page}: the page does not say what was searched; give --query")
    market = program.market(options.market or program.markets[0].id)
    if market is None:
        known = ", ".join(m.id for m in program.markets)
        raise BidwatchError(f"unknown market {options.market!r}; the program has: {known}")
    planned = query_of(program, query)
    task = SearchTask(brand=planned.brand, engine=engine_name, query=query,
                      term_group=planned.term_group, market=market.ref(), device=options.device)
    judge = compile_policies(program)
    seen_at = options.at or datetime.now(UTC)
    ads = []
    for ad in get_engine(engine_name).read_ads(html):
        chain = offline_chain(ad)
        attribution = attribute(ad, chain, program)
        sighting = Sighting(task, ad, chain, attribution, seen_at)
        findings = judge.judge(sighting)
        ads.append({
            "position": str(ad.position), "rank": ad.rank, "headline": ad.headline,
            "display_url": ad.display_url, "landing_url": chain.landing_url,
            "advertiser_class": str(attribution.advertiser_class),
            "partner": attribution.partner, "reason": attribution.reason,
            "findings": [{"policy": f.policy, "severity": str(f.severity),
                          "facts": [{"condition": x.condition, "detail": x.detail}
                                    for x in f.facts]} for f in findings],
            "exempted": [{"policy": policy, "agreement_version": version, "permission": label}
                         for policy, version, label in judge.exemptions(sighting)],
        })
    return {"page": str(page), "engine": engine_name, "query": query,
            "term_group": planned.term_group, "market": market.id,
            "device": str(options.device), "ads": ads, "truncated": saved.cut}


def guess_query(html: str) -> str | None:
    """The query a saved result page answers, from its search box."""
    tree = parse(html)  # bounded, like every reader's parse
    box = tree.css_first(QUERY_INPUTS) if tree is not None else None
    if box is None:
        return None
    value = " ".join((box.attributes.get("value") or box.text(deep=True) or "").split())
    return value or None
