"""From recorded cases to what a partner notice shows: the template context and its inline
thumbnails (one per case, the ad outlined when the capture knows where it sat)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.notify.context import (
    MAX_SIGHTING_LINES,
    AdView,
    CaseView,
    ClauseView,
    HopView,
    NoticeContext,
    SightingLine,
)
from monitor.notify.email import InlineImage
from monitor.notify.thumbnails import (
    AD_THUMB_WIDTH,
    Thumbnail,
    ad_box,
    evidence_file,
    make_ad_thumbnail,
    thumbnail_name,
)
from monitor.program import Program
from monitor.program.models import Partner
from monitor.settings import Settings
from monitor.store import ClauseRecord, IncidentDetail, SightingRecord

#: the notice's thumbnail is 560 px wide (shown at the message's 590); a wide crop keeps
#: two cases well inside one screenful each
THUMB_HEIGHT = 220


@dataclass(frozen=True)
class NoticeDraft:
    """A notice ready to render: its context, whom it is for, and the images it shows."""

    context: NoticeContext
    partner: Partner
    images: tuple[InlineImage, ...] = ()


def notice_draft(
    details: Sequence[IncidentDetail], level: int, program: Program, settings: Settings
) -> NoticeDraft:
    """The notice at `level` about one partner's cases (the first names the partner)."""
    if not details:
        raise LookupError("a notice needs at least one case")
    partner = _partner(details[0], program)
    cases, images = [], []
    for detail in details:
        case, image = case_view(detail, partner, program, settings)
        cases.append(case)
        if image is not None:
            images.append(image)
    context = NoticeContext(
        program_name=program.name, brand_name=_brand_name(details[0], program),
        partner_name=partner.name, partner_language=partner.language, level=level,
        sender_name=program.notices.sender_name,
        program_manager=program.notices.program_manager, reply_to=program.notices.reply_to,
        cases=tuple(cases),
    )
    return NoticeDraft(context, partner, tuple(images))


def case_view(
    detail: IncidentDetail, partner: Partner, program: Program, settings: Settings
) -> tuple[CaseView, InlineImage | None]:
    """One case as a notice shows it, with its thumbnail (None when no screenshot is kept)."""
    incident = detail.incident
    if not detail.sightings:
        raise LookupError(f"incident {incident.id} has no sightings to show")
    latest = detail.sightings[-1]
    ad = detail.ads[latest.ad_id]
    chain = detail.chains[ad.id]
    attribution = detail.attributions.get(ad.id)
    lines = _sighting_lines(detail, program)
    shown = lines[:MAX_SIGHTING_LINES]
    image = _thumbnail(detail, incident.reference, settings)
    case = CaseView(
        incident_id=incident.reference,
        clauses=tuple(_clause_view(c, incident.first_seen, partner, program)
                      for c in incident.clauses),
        ad=AdView(headline=ad.headline, description=ad.description,
                  display_url=ad.display_url, link=ad.link, engine=latest.engine,
                  market=latest.market, device=latest.device, position=ad.position,
                  seen_at=latest.seen_at),
        sightings=tuple(shown),
        more_sightings=sum(line.times for line in lines[MAX_SIGHTING_LINES:]),
        first_seen=incident.first_seen, last_seen=incident.last_seen,
        sighting_count=max(incident.sighting_count, 1), markets=incident.markets,
        devices=incident.devices, engines=incident.engines,
        chain=tuple(HopView(url=h.url, how=h.how, status=h.status) for h in chain.hops),
        landing_url=chain.landing_url,
        network=attribution.network if attribution else None,
        publisher_id=attribution.publisher_id if attribution else None,
        via=tuple(" ".join(filter(None, (inner.network, inner.publisher_id)))
                  for inner in (attribution.inner_networks if attribution else ())),
        thumbnail=image.name if image else None,
        evidence_ref=f"{incident.reference} / {latest.id}",
    )
    return case, image


def _partner(detail: IncidentDetail, program: Program) -> Partner:
    incident = detail.incident
    partner = program.partner(incident.partner or "")
    if partner is None:
        raise LookupError(f"incident {incident.id}: partner {incident.partner!r} is not in the "
                          "program (was it removed?)")
    return partner


def _brand_name(detail: IncidentDetail, program: Program) -> str:
    brand = program.brand(detail.sightings[-1].brand) if detail.sightings else None
    return (brand or program.brands[0]).name


def _clause_view(
    clause: ClauseRecord, opened: datetime, partner: Partner, program: Program
) -> ClauseView:
    """A clause in the partner's language; a policy since removed from the program keeps
    the title it was recorded with."""
    policy = program.policy(clause.policy)
    return ClauseView(
        policy_id=clause.policy,
        policy_title=policy.titles.get(partner.language, policy.title) if policy
        else clause.title or clause.policy,
        policy_notice=policy.notice if policy else None,
        clause=(policy.clause if policy else None) or clause.clause,
        agreement_document=_agreement_document(program, partner.id, clause.agreement_version),
        first_seen=clause.first_seen, last_seen=clause.last_seen,
        sighting_count=max(clause.sighting_count, 1),
        is_new=clause.first_seen > opened,
    )


def _agreement_document(program: Program, partner: str, version: str | None) -> str | None:
    """The document of the agreement version a clause was judged under."""
    if version is None:
        return None
    for agreement in program.agreements:
        if agreement.partner == partner:
            for v in agreement.versions:
                if v.version == version:
                    return v.document or f"{partner} agreement, version {version}"
    return None


def _sighting_lines(detail: IncidentDetail, program: Program) -> list[SightingLine]:
    """One row per engine, market and device (with the searches it showed for), the most
    recently seen first."""
    groups: dict[tuple[str, str, str], list[SightingRecord]] = {}
    for sighting in reversed(detail.sightings):  # newest first
        key = (sighting.engine, sighting.market, sighting.device)
        groups.setdefault(key, []).append(sighting)
    lines = []
    for (engine, market_id, device), seen in groups.items():
        latest = seen[0]
        market = program.market(market_id)
        local = latest.seen_at.astimezone(ZoneInfo(market.timezone)) if market \
            else latest.seen_at
        ad = detail.ads.get(latest.ad_id)
        lines.append(SightingLine(
            engine=engine, market=market_id, device=device,
            term=", ".join(dict.fromkeys(s.query for s in seen)),
            seen_local=local.strftime("%Y-%m-%d %H:%M %Z").strip(), times=len(seen),
            position=ad.position if ad else ""))
    return lines


def _thumbnail(detail: IncidentDetail, reference: str, settings: Settings) -> InlineImage | None:
    made = case_thumbnail(detail, settings.home, thumbnail_name(reference), height=THUMB_HEIGHT)
    return InlineImage(name=made.name, data=made.data) if made else None


def case_thumbnail(
    detail: IncidentDetail, home: Path, name: str, *, width: int = AD_THUMB_WIDTH,
    height: int = THUMB_HEIGHT,
) -> Thumbnail | None:
    """The case's latest sighting with a screenshot on disk, around the ad, the ad outlined
    (the top of the page when the capture does not know where the ad sat); None without
    one. Notices and the digest show the same picture of a case."""
    for sighting in reversed(detail.sightings):
        capture = detail.captures[sighting.capture_id]
        source = evidence_file(home, capture.screenshot_path)
        if source is None:
            continue
        ad = detail.ads[sighting.ad_id]
        hrefs = [u for u in (ad.click_url, ad.link, *(x.url for x in ad.sitelinks)) if u]
        box = ad_box(capture.link_boxes, hrefs, capture.final_url)
        made = make_ad_thumbnail(source, name, box, width=width, height=height)
        if made is not None:
            return made
    return None
