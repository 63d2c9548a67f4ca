"""From a recorded incident to what a partner notice shows (the template context)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from monitor.notify.context import AdView, HopView, NoticeContext
from monitor.program import Program
from monitor.program.models import Partner
from monitor.settings import Settings
from monitor.store import IncidentDetail


def notice_context(
    detail: IncidentDetail, level: int, program: Program, settings: Settings
) -> tuple[NoticeContext, Partner]:
    """The notice for `level` about an incident, showing its latest sighting as evidence."""
    incident = detail.incident
    partner = program.partner(incident.partner or "")
    if partner is None:
        raise LookupError(f"incident {incident.id}: partner {incident.partner!r} is not in the "
                          "program (was it removed?)")
    policy = program.policy(incident.policy)
    if policy is None:
        raise LookupError(f"policy {incident.policy!r} is not in the program (was it removed?)")
    sighting = detail.sightings[-1]
    ad = detail.ads[sighting.ad_id]
    capture = detail.captures[sighting.capture_id]
    chain = detail.chains[ad.id]
    attribution = detail.attributions.get(ad.id)
    brand = program.brand(sighting.brand) or program.brands[0]
    market = program.market(sighting.market)
    local = sighting.seen_at.astimezone(ZoneInfo(market.timezone)) if market else sighting.seen_at
    # the version the finding was judged under: in force on the market's local date
    version = program.agreement_in_force(partner.id, local.date())
    context = NoticeContext(
        program_name=program.name, brand_name=brand.name, partner_name=partner.name,
        partner_language=partner.language, level=level, policy_id=policy.id,
        policy_title=policy.titles.get(partner.language, policy.title),
        policy_notice=policy.notice, clause=policy.clause,
        agreement_document=version.document if version else None,
        incident_id=f"INC-{incident.id:05d}", first_seen=incident.first_seen,
        last_seen=incident.last_seen, sighting_count=max(incident.sighting_count, 1),
        markets=incident.markets,
        devices=incident.devices,
        engines=tuple(sorted({s.engine for s in detail.sightings})),
        ad=AdView(headline=ad.headline, description=ad.description,
                  display_url=ad.display_url, link=ad.link, engine=sighting.engine,
                  market=sighting.market, device=sighting.device, position=ad.position,
                  seen_at=sighting.seen_at),
        chain=tuple(HopView(url=h.url, how=h.how, status=h.status) for h in chain.hops),
        landing_url=chain.landing_url,
        network=attribution.network if attribution else None,
        publisher_id=attribution.publisher_id if attribution else None,
        screenshot=(settings.home / capture.screenshot_path).resolve()
        if capture.screenshot_path else None,
        sender_name=program.notices.sender_name,
        program_manager=program.notices.program_manager,
        reply_to=program.notices.reply_to,
    )
    return context, partner
