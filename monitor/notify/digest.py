"""The compliance digest: what happened in a period, one row per case, built from the
store's read functions.

New cases, open cases that broke a new clause, and cases seen again are listed apart, each
case once; the totals count the same cases the sweep summary and the alerts count. Evidence
is named by case and sighting, never by a path on the server. With `evidence_home`, rows
carry a thumbnail of their latest screenshot: the message holds the JPEGs as inline images
(cid:) for mail, and write_digest puts them in a folder beside the HTML file and points the
file's <img> there.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from monitor.models import Severity
from monitor.notify.context import (
    ClauseChip,
    CompetitorRow,
    CoverageRow,
    DigestContext,
    DigestTotals,
    EvidenceRef,
    HistoryPoint,
    IncidentRow,
    Name,
    OffenderRow,
    PartnerRow,
)
from monitor.notify.email import IllustratedMessage, InlineImage, inline_images_of
from monitor.notify.notices import case_thumbnail
from monitor.notify.render import RenderedMessage, TemplateSet
from monitor.notify.thumbnails import (
    THUMB_HEIGHT,
    THUMB_WIDTH,
    Thumbnail,
    evidence_file,
    make_thumbnail,
    thumbnail_name,
    write_thumbnails,
)
from monitor.program import Program
from monitor.store import IncidentRecord, SightingRecord, Store

OPEN_STATUSES = frozenset({"new", "notified", "acknowledged"})
#: thumbnails in one digest, most severe then newest first: keeps the mail small
MAX_THUMBNAILS = 12
_SEVERITY_RANK = {severity.value: severity.rank for severity in Severity}


class IllustratedIncidentRow(IncidentRow):
    """An incident row with its screenshot thumbnail. Rows built elsewhere (the template
    samples) have no such fields, so templates ask `row.thumbnail is defined` first."""

    thumbnail: Name | None = None  # the <img src>: "cid:INC-00042.jpg"
    thumbnail_width: int = 0
    thumbnail_height: int = 0
    thumbnail_withheld: bool = False  # a screenshot is in the evidence; the cap left it out


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    label: str

    @classmethod
    def ending_on(cls, day: date, days: int) -> Period:
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        start = end - timedelta(days=days)
        kind = "Daily" if days == 1 else "Weekly"
        span = day.isoformat() if days == 1 else f"{start.date()} – {day.isoformat()}"
        return cls(start, end, f"{kind} digest, {span}")

    def previous(self) -> Period:
        length = self.end - self.start
        return Period(self.start - length, self.start, "previous period")


def build_digest(store: Store, program: Program, period: Period, *,
                 console: str | None = None) -> DigestContext:
    """The digest context for `period`, with the previous period's totals for the trend.
    With `console` (BIDWATCH_PUBLIC_URL), each case links to its page there."""
    base = console.rstrip("/") if console else None
    incidents = store.incidents_between(period.start, period.end)
    sightings = store.sightings_between(period.start, period.end)
    new = [i for i in incidents if i.first_seen >= period.start]
    grown = [i for i in incidents if i.first_seen < period.start
             and i.clauses_new_since(period.start)]
    again = [i for i in incidents if i.first_seen < period.start and i not in grown]
    names = {p.id: p.name for p in program.partners}

    def rows(cases: list[IncidentRecord]) -> tuple[IncidentRow, ...]:
        return tuple(_incident_row(store, i, names, period, base) for i in cases)

    return DigestContext(
        program_name=program.name,
        brand_name=program.brands[0].name,
        period_label=period.label,
        period_start=period.start,
        period_end=period.end,
        generated_at=datetime.now(UTC),
        new_incidents=rows(new),
        new_clauses=rows(grown),
        seen_again=rows(again),
        repeat_offenders=_repeat_offenders(store, names),
        partners=_partners(incidents, sightings, names),
        competitors=_competitors(sightings, program),
        coverage=tuple(CoverageRow(**vars(c)) for c in store.coverage(period.start, period.end)),
        totals=_totals(store, period),
        previous_totals=_totals(store, period.previous()),
        history=_history(store, period),
        evidence=tuple(_evidence(store, i, base) for i in new),
        console_url=f"{base}/cases" if base else None,
    )


def render_digest(
    store: Store, program: Program, templates: TemplateSet, period: Period,
    *, evidence_home: Path | None = None, max_thumbnails: int = MAX_THUMBNAILS,
    console: str | None = None,
) -> RenderedMessage:
    """The digest; with `evidence_home` (where the evidence lives, settings.home) an
    IllustratedMessage carrying up to `max_thumbnails` screenshot thumbnails."""
    ctx = build_digest(store, program, period, console=console)
    if evidence_home is None:
        return templates.render_digest(ctx)
    ctx, thumbnails = illustrate(ctx, evidence_home, store, max_thumbnails)
    message = templates.render_digest(ctx)
    # only what the HTML shows: apprise would append any other image to the mail's end
    images = tuple(InlineImage(t.name, t.data) for t in thumbnails
                   if f'src="cid:{t.name}"' in message.html)
    parts = {f.name: getattr(message, f.name) for f in fields(message)}
    return IllustratedMessage(**parts, inline_images=images)


def illustrate(
    ctx: DigestContext, evidence_home: Path, store: Store, limit: int = MAX_THUMBNAILS
) -> tuple[DigestContext, list[Thumbnail]]:
    """`ctx` with thumbnails on its case rows (at most `limit`), and the thumbnails."""
    made: dict[str, Thumbnail] = {}
    withheld: set[str] = set()
    rows = ctx.new_incidents + ctx.new_clauses + ctx.seen_again
    for row in sorted(rows, key=_thumbnail_priority):
        source = evidence_file(evidence_home, store.latest_screenshot(row.case_id))
        if source is None or row.incident_id in made:
            continue
        if len(made) >= limit:
            withheld.add(row.incident_id)
            continue
        detail = store.incident(row.case_id)
        # the ad outlined, as the partner's notice shows it; the page's top otherwise
        thumbnail = case_thumbnail(detail, evidence_home, thumbnail_name(row.incident_id),
                                   width=THUMB_WIDTH, height=THUMB_HEIGHT) if detail else None
        if thumbnail is None:
            thumbnail = make_thumbnail(source, thumbnail_name(row.incident_id))
        if thumbnail is not None:
            made[row.incident_id] = thumbnail
    return ctx.model_copy(update={
        "new_incidents": _with_thumbnails(ctx.new_incidents, made, withheld),
        "new_clauses": _with_thumbnails(ctx.new_clauses, made, withheld),
        "seen_again": _with_thumbnails(ctx.seen_again, made, withheld),
    }), list(made.values())


def _thumbnail_priority(row: IncidentRow) -> tuple[int, float]:
    return -_SEVERITY_RANK.get(row.severity, -1), -row.last_seen.timestamp()


def _with_thumbnails(
    rows: Sequence[IncidentRow], made: dict[str, Thumbnail], withheld: set[str]
) -> tuple[IllustratedIncidentRow, ...]:
    def illustrated(row: IncidentRow) -> IllustratedIncidentRow:
        thumbnail = made.get(row.incident_id)
        extra: dict[str, object] = {"thumbnail_withheld": row.incident_id in withheld}
        if thumbnail is not None:
            extra |= {"thumbnail": f"cid:{thumbnail.name}", "thumbnail_width": thumbnail.width,
                      "thumbnail_height": thumbnail.height}
        return IllustratedIncidentRow.model_validate(row.model_dump() | extra)

    return tuple(illustrated(row) for row in rows)


def thumbnails_folder(html_path: Path) -> Path:
    """Where write_digest puts the thumbnails of `html_path`: "<stem>-thumbs" beside it."""
    return html_path.with_name(f"{html_path.stem}-thumbs")


def write_digest(message: RenderedMessage, html_path: Path) -> tuple[Path, Path]:
    """Write the HTML and the plain-text part side by side, and the thumbnails the HTML
    shows into thumbnails_folder(html_path), referenced by relative paths."""
    html_path.parent.mkdir(parents=True, exist_ok=True)
    text_path = html_path.with_suffix(".txt")
    images = inline_images_of(message)
    folder = thumbnails_folder(html_path)
    html = message.html
    if images or folder.is_dir():  # also clears an earlier run's thumbnails
        write_thumbnails({image.name: image.data for image in images}, folder)
        html = _local_sources(html, images, folder.name)
    html_path.write_text(html, encoding="utf-8")
    text_path.write_text(message.text, encoding="utf-8")
    return html_path, text_path


def _local_sources(html: str, images: Sequence[InlineImage], folder_name: str) -> str:
    # autoescape turns every quote in page text into &#34;, so `src="cid:…"` is ours alone
    for image in images:
        local = f"{quote(folder_name)}/{quote(image.name)}"
        html = html.replace(f'src="cid:{image.name}"', f'src="{local}"')
    return html


def case_link(base: str | None, case_id: int) -> str | None:
    """A case's page in the console at `base`, or None without one."""
    return f"{base}/cases/{case_id}" if base else None


def _incident_row(
    store: Store, incident: IncidentRecord, names: dict[str, str], period: Period,
    base: str | None = None,
) -> IncidentRow:
    detail = store.incident(incident.id)
    last = detail.sightings[-1] if detail and detail.sightings else None
    last_ad = detail.ads.get(last.ad_id) if detail and last else None
    new = {c.policy for c in incident.clauses_new_since(period.start)}
    return IncidentRow(
        incident_id=incident.reference,
        case_id=incident.id,
        partner_name=names.get(incident.partner or ""),
        advertiser=incident.offender,
        destination=incident.destination,
        policy_title=incident.title,
        clauses=tuple(ClauseChip(title=c.title or c.policy, severity=c.severity,
                                 is_new=c.policy in new) for c in incident.clauses),
        severity=incident.severity,
        level=incident.level,
        engines=incident.engines,
        markets=incident.markets,
        first_seen=incident.first_seen,
        last_seen=incident.last_seen,
        sighting_count=max(incident.sighting_count, 1),
        headline=last_ad.headline if last_ad else "",
        display_url=last_ad.display_url if last_ad else "",
        evidence=f"{incident.reference} / {last.id}" if last else None,
        link=case_link(base, incident.id),
    )


def _repeat_offenders(store: Store, names: dict[str, str]) -> tuple[OffenderRow, ...]:
    by_partner: dict[str, list[IncidentRecord]] = defaultdict(list)
    for incident in store.incidents(limit=10_000):
        if incident.partner:
            by_partner[incident.partner].append(incident)
    rows = [
        OffenderRow(partner_name=names.get(p, p), incidents=len(items),
                    open_incidents=sum(i.status in OPEN_STATUSES for i in items),
                    highest_level=max(i.level for i in items))
        for p, items in by_partner.items() if len(items) > 1
    ]
    return tuple(sorted(rows, key=lambda r: (-r.incidents, r.partner_name)))


def _partners(
    incidents: list[IncidentRecord], sightings: list[SightingRecord], names: dict[str, str]
) -> tuple[PartnerRow, ...]:
    counts = Counter(i.partner for i in incidents if i.partner)
    seen = Counter(s.offender for s in sightings if s.advertiser_class == "partner")
    rows = [PartnerRow(partner_name=names.get(p, p), incidents=n, sightings=seen.get(p, 0))
            for p, n in counts.items()]
    return tuple(sorted(rows, key=lambda r: (-r.incidents, -r.sightings, r.partner_name)))


def _competitors(
    sightings: list[SightingRecord], program: Program
) -> tuple[CompetitorRow, ...]:
    by_domain: dict[str, list[SightingRecord]] = defaultdict(list)
    for s in sightings:
        if s.advertiser_class == "competitor":
            by_domain[s.offender].append(s)
    names = {d: c.name for c in program.competitors for d in c.domains}
    rows = [CompetitorRow(name=names.get(d, d), domain=d,
                          terms=tuple(sorted({s.query for s in items})), sightings=len(items))
            for d, items in by_domain.items()]
    return tuple(sorted(rows, key=lambda r: -r.sightings))


def _totals(store: Store, period: Period) -> DigestTotals:
    incidents = store.incidents_between(period.start, period.end)
    coverage = store.coverage(period.start, period.end)
    grown = sum(i.first_seen < period.start and bool(i.clauses_new_since(period.start))
                for i in incidents)
    return DigestTotals(
        new_incidents=sum(i.first_seen >= period.start for i in incidents),
        seen_again=sum(i.first_seen < period.start for i in incidents) - grown,
        new_clauses=grown,
        open_incidents=sum(i.status in OPEN_STATUSES for i in incidents),
        sightings=len(store.sightings_between(period.start, period.end)),
        notices_sent=store.notices_sent_between(period.start, period.end),
        asked=sum(c.asked for c in coverage),
        captured=sum(c.captured for c in coverage),
        blocked=sum(c.blocked for c in coverage),
        failed=sum(c.failed for c in coverage),
    )


def _history(store: Store, period: Period) -> tuple[HistoryPoint, ...]:
    """New incidents per day over 14 days (daily digest) or per week over 8 weeks (weekly),
    oldest first: the trend chart."""
    step = period.end - period.start
    count = 14 if step <= timedelta(days=1) else 8
    points = []
    for back in range(count - 1, -1, -1):
        end = period.end - step * back
        start = end - step
        new = sum(i.first_seen >= start for i in store.incidents_between(start, end))
        points.append(HistoryPoint(label=start.strftime("%m-%d"), value=new))
    return tuple(points)


def _evidence(store: Store, incident: IncidentRecord, base: str | None = None) -> EvidenceRef:
    """The case's latest sighting, named by case and sighting (the console links them)."""
    detail = store.incident(incident.id)
    last = detail.sightings[-1] if detail and detail.sightings else None
    label = (f"{last.engine} · {last.market} · {last.device} · {incident.offender} → "
             f"{incident.destination}") if last else incident.offender
    location = f"{incident.reference} / {last.id}" if last else incident.reference
    return EvidenceRef(incident_id=incident.reference, label=label, location=location,
                       link=case_link(base, incident.id))
