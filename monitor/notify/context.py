"""What the notice and digest templates see: frozen pydantic models built by the caller.

Every string that can come from a page, an ad or a URL is made inert as the model is built
(control and bidi-override characters removed, whitespace collapsed, length capped), so no
template can forget it. HTML escaping is still the templates' autoescape's job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

# the one hostile-text rule (monitor.text's clean_text) plus a length cap; render, email and
# alerts take it from here
from monitor.text import inert_text

LEVEL_KEYS: dict[int, str] = {1: "warning", 2: "final_warning", 3: "termination"}


def _capped(limit: int) -> AfterValidator:
    return AfterValidator(partial(inert_text, limit=limit))


Name = Annotated[str, _capped(120)]  # names, ids, engines, markets
Line = Annotated[str, _capped(200)]  # headlines, titles, clauses
Prose = Annotated[str, _capped(400)]  # ad descriptions, agreement references
UrlText = Annotated[str, _capped(500)]  # URLs are shown, never linked
LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
# A policy's notice name becomes part of a template path: keep it to a plain identifier.
NoticeName = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def template_vars(self) -> dict[str, object]:
        """Fields and public properties, as top-level template variables."""
        names = list(type(self).model_fields) + self._properties()
        return {name: getattr(self, name) for name in names}

    @classmethod
    def _properties(cls) -> list[str]:
        return [
            name
            for name, member in vars(cls).items()
            if isinstance(member, property) and not name.startswith("_")
        ]

    @classmethod
    def template_names(cls) -> set[str]:
        """Every variable name template_vars() provides (for checking templates)."""
        return set(cls.model_fields) | set(cls._properties())


# ---------------------------------------------------------------------------------- notices


class AdView(_Frozen):
    """The ad as it was seen (all of it attacker-controlled)."""

    headline: Line
    description: Prose
    display_url: UrlText
    link: UrlText
    engine: Name
    market: Name
    device: Name
    position: Name
    seen_at: AwareDatetime


class HopView(_Frozen):
    """One step of the redirect chain from the ad's link to the landing page."""

    url: UrlText
    how: Name  # start | decoded | http | meta | js
    status: int | None = None


class ClauseView(_Frozen):
    """One policy a case breaches, as the agreement puts it."""

    policy_id: Name
    policy_title: Line
    policy_notice: NoticeName | None = None
    clause: Line | None = None
    agreement_document: Prose | None = None
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    sighting_count: int = Field(default=1, ge=1)
    #: added to the case after it was opened (shown as new)
    is_new: bool = False


class SightingLine(_Frozen):
    """Where the ad was seen: a row of the notice's compact table, one per engine, market
    and device, with the searches it showed for, how often, and when last (in the market's
    own clock)."""

    engine: Name
    market: Name
    device: Name
    term: Line  # the searches the ad appeared for, comma separated
    seen_local: Name  # the latest, "2026-11-03 21:05 WIB": the market's own clock
    times: int = Field(default=1, ge=1)
    position: Name = ""


class CaseView(_Frozen):
    """One case a notice is about: the offending ad, every clause it breaks, where and when
    it was seen, and where it led."""

    incident_id: Name
    clauses: tuple[ClauseView, ...] = Field(min_length=1)
    ad: AdView
    sightings: tuple[SightingLine, ...] = ()  # the latest first, at most MAX_SIGHTING_LINES
    more_sightings: int = Field(default=0, ge=0)  # sightings in rows not shown
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    sighting_count: int = Field(ge=1)
    markets: tuple[Name, ...] = ()
    devices: tuple[Name, ...] = ()
    engines: tuple[Name, ...] = ()
    chain: tuple[HopView, ...] = ()
    landing_url: UrlText
    network: Name | None = None
    publisher_id: Name | None = None
    #: the networks the click went on through, each "network publisher" (an aggregator's
    #: sub-publisher beside the partner of record)
    via: tuple[Name, ...] = ()
    #: the inline image (cid:) of the screenshot, the ad outlined; None: no screenshot
    thumbnail: Name | None = None
    #: where the full evidence is, by case and sighting (never a server path)
    evidence_ref: Name = ""

    @property
    def policy_title(self) -> str:
        return self.clauses[0].policy_title


#: rows of where-and-when a notice lists per case; the rest are counted
MAX_SIGHTING_LINES = 6


class NoticeContext(_Frozen):
    """Everything a partner notice (warning, final warning, termination) may show: one
    message per partner and level per delivery run, listing its cases."""

    program_name: Name
    brand_name: Name
    partner_name: Name
    partner_language: LanguageCode
    level: int = Field(ge=1, le=3)
    sender_name: Name
    program_manager: Name
    reply_to: Name | None = None
    respond_within_days: int = Field(default=2, ge=1, le=60)
    cases: tuple[CaseView, ...] = Field(min_length=1)

    @property
    def level_key(self) -> str:
        """The template base name for this level: warning, final_warning or termination."""
        return LEVEL_KEYS[self.level]

    @property
    def incident_id(self) -> str:
        """The notice's reference: its first case's."""
        return self.cases[0].incident_id

    @property
    def policy_title(self) -> str:
        """The first case's most severe clause, for the subject line."""
        return self.cases[0].policy_title

    @property
    def clause(self) -> str | None:
        return self.cases[0].clauses[0].clause

    @property
    def also(self) -> tuple[CaseView, ...]:
        """The cases besides the first (a subject says "+N more")."""
        return self.cases[1:]

    @property
    def policies(self) -> tuple[ClauseView, ...]:
        """Each policy the notice's cases breach, once, in order of first appearance: the
        notice explains each one once, however many cases break it."""
        seen: dict[str, ClauseView] = {}
        for case in self.cases:
            for clause in case.clauses:
                seen.setdefault(clause.policy_id, clause)
        return tuple(seen.values())

    @property
    def breach_count(self) -> int:
        return sum(len(c.clauses) for c in self.cases)


# ----------------------------------------------------------------------------------- digest


class ClauseChip(_Frozen):
    """A clause of a case as the digest shows it: a chip, marked when new in the period."""

    title: Line
    severity: Name
    is_new: bool = False


class IncidentRow(_Frozen):
    """One case in the digest."""

    incident_id: Name
    case_id: int = Field(default=0, ge=0)
    partner_name: Name | None = None  # None: not one of the program's partners
    advertiser: UrlText  # the offender: a partner's id, else the domain as seen
    destination: UrlText = ""  # where the ad sends people
    policy_title: Line  # the clauses' titles, most severe first
    clauses: tuple[ClauseChip, ...] = ()
    severity: Name
    level: int = Field(default=0, ge=0, le=3)  # highest notice level sent, 0 = none
    engines: tuple[Name, ...] = ()
    markets: tuple[Name, ...] = ()
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    sighting_count: int = Field(ge=1)
    headline: Line = ""
    display_url: UrlText = ""
    #: the latest evidence, named by case and sighting ("INC-00042 / 57"), never a path
    evidence: UrlText | None = None
    #: the case's page in the console (BIDWATCH_PUBLIC_URL set), else None
    link: UrlText | None = None


class OffenderRow(_Frozen):
    partner_name: Name
    incidents: int = Field(ge=0)
    open_incidents: int = Field(ge=0)
    highest_level: int = Field(ge=0, le=3)


class PartnerRow(_Frozen):
    partner_name: Name
    incidents: int = Field(ge=0)
    sightings: int = Field(ge=0)


class CompetitorRow(_Frozen):
    name: Name
    domain: UrlText
    terms: tuple[Line, ...] = ()
    sightings: int = Field(ge=0)


class CoverageRow(_Frozen):
    engine: Name
    market: Name
    asked: int = Field(ge=0)
    captured: int = Field(ge=0)
    blocked: int = Field(ge=0)
    failed: int = Field(ge=0)

    @property
    def coverage_pct(self) -> int:
        return round(100 * self.captured / self.asked) if self.asked else 0


class DigestTotals(_Frozen):
    new_incidents: int = Field(ge=0)  # cases first seen in the period
    seen_again: int = Field(ge=0)
    new_clauses: int = Field(default=0, ge=0)  # clauses first seen on cases opened before
    open_incidents: int = Field(ge=0)
    sightings: int = Field(ge=0)
    notices_sent: int = Field(ge=0)
    asked: int = Field(ge=0)
    captured: int = Field(ge=0)
    blocked: int = Field(ge=0)
    failed: int = Field(ge=0)


class TrendRow(_Frozen):
    """One metric this period against the previous one, with bar widths in percent."""

    label: Name
    current: int
    previous: int | None
    current_pct: int
    previous_pct: int

    @property
    def change(self) -> str:
        if self.previous is None:
            return "new"
        return f"{self.current - self.previous:+d}"


class HistoryPoint(_Frozen):
    label: Name  # e.g. a day, "11-03"
    value: int = Field(ge=0)


class EvidenceRef(_Frozen):
    incident_id: Name
    label: Line
    location: UrlText  # the case and sighting ("INC-00042 / 57")
    link: UrlText | None = None  # the case's page in the console, when it has an address


TREND_METRICS: tuple[tuple[str, str], ...] = (
    ("New cases", "new_incidents"),
    ("New clauses", "new_clauses"),
    ("Seen again", "seen_again"),
    ("Sightings", "sightings"),
    ("Notices sent", "notices_sent"),
    ("Blocked pages", "blocked"),
)


class DigestContext(_Frozen):
    """The compliance digest for one period (a day, a week)."""

    program_name: Name
    brand_name: Name
    period_label: Name
    period_start: AwareDatetime
    period_end: AwareDatetime
    generated_at: AwareDatetime
    new_incidents: tuple[IncidentRow, ...] = ()  # new cases
    #: open cases that broke a new clause in the period (each listed here, not again below)
    new_clauses: tuple[IncidentRow, ...] = ()
    seen_again: tuple[IncidentRow, ...] = ()
    repeat_offenders: tuple[OffenderRow, ...] = ()
    partners: tuple[PartnerRow, ...] = ()  # ranked by incidents, most first
    competitors: tuple[CompetitorRow, ...] = ()
    coverage: tuple[CoverageRow, ...] = ()
    totals: DigestTotals
    previous_totals: DigestTotals | None = None
    history: tuple[HistoryPoint, ...] = ()  # new incidents per day, oldest first
    evidence: tuple[EvidenceRef, ...] = ()
    console_url: UrlText | None = None

    @property
    def trend(self) -> tuple[TrendRow, ...]:
        return tuple(self._trend_row(label, key) for label, key in TREND_METRICS)

    def _trend_row(self, label: str, key: str) -> TrendRow:
        current = getattr(self.totals, key)
        previous = getattr(self.previous_totals, key) if self.previous_totals else None
        scale = max(current, previous or 0, 1)
        return TrendRow(
            label=label,
            current=current,
            previous=previous,
            current_pct=round(100 * current / scale),
            previous_pct=round(100 * (previous or 0) / scale),
        )

    @property
    def history_max(self) -> int:
        return max((point.value for point in self.history), default=0) or 1

    @property
    def coverage_pct(self) -> int:
        asked = self.totals.asked
        return round(100 * self.totals.captured / asked) if asked else 0


# ---------------------------------------------------------------------- sample contexts

_SAMPLE_TIME = datetime(2026, 11, 3, 14, 5, tzinfo=UTC)


def sample_ad(**overrides: object) -> AdView:
    """An ad like the example program's sleepsaver ad, for previews and template checks."""
    fields: dict[str, object] = {
        "headline": "Lumora Mattress Sale - Up To 40% Off",
        "description": "Official Lumora deals. Free delivery and 100-night trial. Shop today.",
        "display_url": "www.lumora.com/sale",
        "link": "https://www.sleepsaver.net/go/lumora?src=ppc",
        "engine": "google",
        "market": "us-en",
        "device": "desktop",
        "position": "top",
        "seen_at": _SAMPLE_TIME,
    }
    return AdView.model_validate(fields | overrides)


def sample_notice_context(
    language: str = "en", level: int = 1, policy_notice: str | None = "brand_bidding"
) -> NoticeContext:
    """A complete notice with realistic values (Lumora / sleepsaver): two cases, the first
    breaking two clauses, the second one."""
    chain = (
        HopView(url="https://www.sleepsaver.net/go/lumora?src=ppc", how="start"),
        HopView(
            url="https://www.anrdoezrs.net/click-7012345-15734?sid=ppc", how="http", status=302
        ),
        HopView(url="https://www.lumora.com/?utm_source=cj&cjevent=abc123", how="http", status=200),
    )
    bidding = ClauseView(
        policy_id="no-brand-bidding", policy_title="No bidding on Lumora trademark terms",
        policy_notice=policy_notice, clause="Section 4.2 (Paid search)",
        agreement_document="Lumora Affiliate Agreement v3 (2026-01-01)",
        first_seen=_SAMPLE_TIME - timedelta(days=3), last_seen=_SAMPLE_TIME, sighting_count=7,
    )
    copy = ClauseView(
        policy_id="no-brand-in-ad-copy", policy_title="No Lumora name in ad copy",
        policy_notice="brand_in_copy", clause="Section 4.3",
        first_seen=_SAMPLE_TIME - timedelta(days=1), last_seen=_SAMPLE_TIME, sighting_count=2,
        is_new=True,
    )
    sightings = tuple(
        SightingLine(engine=engine, market=market, device=device, term=term,
                     seen_local=f"2026-11-0{day} {hour:02d}:05 {zone}", times=day,
                     position="top")
        for engine, market, device, term, day, hour, zone in (
            ("google", "us-en", "desktop", "lumora mattress", 3, 9, "EST"),
            ("bing", "us-en", "mobile", "lumora coupon", 2, 22, "EST"),
            ("google", "gb-en", "desktop", "lumora", 1, 7, "GMT"),
        )
    )
    first = CaseView(
        incident_id="INC-00042", clauses=(bidding, copy), ad=sample_ad(), sightings=sightings,
        more_sightings=4, first_seen=_SAMPLE_TIME - timedelta(days=3), last_seen=_SAMPLE_TIME,
        sighting_count=7, markets=("us-en", "gb-en"), devices=("desktop", "mobile"),
        engines=("google", "bing"), chain=chain,
        landing_url="https://www.lumora.com/?utm_source=cj&cjevent=abc123", network="cj",
        publisher_id="7012345", thumbnail="INC-00042.jpg", evidence_ref="INC-00042 / 3",
    )
    second = first.model_copy(update={
        "incident_id": "INC-00043", "clauses": (bidding,),
        "ad": sample_ad(headline="Lumora Hybrid Mattress - Compare Prices",
                        link="https://www.sleepsaver.net/compare/lumora"),
        "sightings": sightings[:1], "more_sightings": 0, "sighting_count": 1,
        "thumbnail": None, "chain": (), "evidence_ref": "INC-00043 / 9",
    })
    return NoticeContext(
        program_name="Lumora partner compliance",
        brand_name="Lumora",
        partner_name="SleepSaver",
        partner_language=language,
        level=level,
        sender_name="Lumora Partner Compliance",
        program_manager="Dana Whitfield",
        reply_to="partners@lumora.com",
        cases=(first, second),
    )


def _sample_incident(
    incident_id: str, partner: str, advertiser: str, policy: str, level: int
) -> IncidentRow:
    return IncidentRow(
        incident_id=incident_id,
        case_id=int(incident_id.rsplit("-", 1)[-1]),
        partner_name=partner,
        advertiser=advertiser,
        destination="lumora.com",
        policy_title=policy,
        clauses=(ClauseChip(title=policy, severity="high"),
                 ClauseChip(title="No brand in ad copy", severity="medium", is_new=True)),
        severity="high",
        level=level,
        engines=("google",),
        markets=("us-en",),
        first_seen=_SAMPLE_TIME - timedelta(days=2),
        last_seen=_SAMPLE_TIME,
        sighting_count=4,
        headline="Lumora Mattress Sale - Up To 40% Off",
        display_url="www.lumora.com/sale",
        evidence=f"{incident_id} / 57",
    )


def sample_digest_context() -> DigestContext:
    """A complete digest context with realistic values, for previews and template checks."""
    totals = DigestTotals(
        new_incidents=2,
        seen_again=1,
        new_clauses=1,
        open_incidents=3,
        sightings=19,
        notices_sent=2,
        asked=96,
        captured=90,
        blocked=4,
        failed=2,
    )
    previous = totals.model_copy(update={"new_incidents": 1, "sightings": 11, "blocked": 7})
    return DigestContext(
        program_name="Lumora partner compliance",
        brand_name="Lumora",
        period_label="Daily digest, 3 November 2026",
        period_start=_SAMPLE_TIME - timedelta(days=1),
        period_end=_SAMPLE_TIME,
        generated_at=_SAMPLE_TIME,
        new_incidents=(
            _sample_incident(
                "INC-2026-0042", "SleepSaver", "sleepsaver.net", "No bidding on brand terms", 1
            ),
            _sample_incident(
                "INC-2026-0043", "KuponHemat", "kuponhemat.co.id", "No direct linking", 0
            ),
        ),
        new_clauses=(
            _sample_incident(
                "INC-2026-0029", "KuponHemat", "kuponhemat.co.id", "No bidding on brand terms", 1
            ),
        ),
        seen_again=(
            _sample_incident(
                "INC-2026-0031", "SleepSaver", "sleepsaver.net", "No brand in copy", 2
            ),
        ),
        repeat_offenders=(
            OffenderRow(partner_name="SleepSaver", incidents=3, open_incidents=2, highest_level=2),
        ),
        partners=(
            PartnerRow(partner_name="SleepSaver", incidents=2, sightings=12),
            PartnerRow(partner_name="KuponHemat", incidents=1, sightings=5),
        ),
        competitors=(
            CompetitorRow(name="DreamNest", domain="dreamnest.com", terms=("lumora",), sightings=2),
        ),
        coverage=(
            CoverageRow(
                engine="google", market="us-en", asked=24, captured=22, blocked=2, failed=0
            ),
            CoverageRow(engine="bing", market="ae-ar", asked=24, captured=23, blocked=0, failed=1),
        ),
        totals=totals,
        previous_totals=previous,
        history=tuple(HistoryPoint(label=f"10-{d:02d}", value=d % 4) for d in range(28, 32)),
        evidence=(
            EvidenceRef(
                incident_id="INC-2026-0042",
                label="Google us-en desktop, 14:05 UTC",
                location="INC-2026-0042 / 57",
            ),
        ),
        console_url="https://bidwatch.example.com/incidents",
    )


# ----------------------------------------------------------------------------------- alerts


class AlertIncident(_Frozen):
    incident_id: Name
    severity: Name
    offender: UrlText
    partner_name: Name | None = None
    policy_title: Line
    engine: Name
    markets: tuple[Name, ...] = ()
    headline: Line = ""


class EngineCoverage(_Frozen):
    engine: Name
    asked: int = Field(ge=0)
    captured: int = Field(ge=0)
    blocked: int = Field(ge=0)
    failed: int = Field(ge=0)


class AlertContext(_Frozen):
    """An alert to compliance staff about one sweep: its reason picks the template."""

    program_name: Name
    brand_name: Name
    reason: Name  # new_incidents | blocked_share | engine_down | program_refused
    severity: Name
    sweep_id: int = 0  # 0: not about a sweep (program_refused)
    sweep_started: AwareDatetime | None = None
    #: program_refused: what `rules check` says is wrong with the changed program
    problems: tuple[Line, ...] = ()
    incidents: tuple[AlertIncident, ...] = ()
    engines: tuple[EngineCoverage, ...] = ()
    asked: int = Field(default=0, ge=0)
    blocked: int = Field(default=0, ge=0)
    threshold_pct: int = Field(default=0, ge=0, le=100)

    @property
    def blocked_pct(self) -> int:
        return round(100 * self.blocked / self.asked) if self.asked else 0


# -------------------------------------------------------------------------------- reminders


class PolicyLine(_Frozen):
    title: Line
    clause: Line | None = None


class ReminderContext(_Frozen):
    """The periodic reminder to a partner: the bidding policy, and that we are watching."""

    program_name: Name
    brand_name: Name
    partner_name: Name
    partner_language: LanguageCode
    terms: tuple[Line, ...] = ()  # the brand's trademark terms, as examples
    domains: tuple[Name, ...] = ()
    policies: tuple[PolicyLine, ...] = ()
    agreement_document: Prose | None = None
    engines: tuple[Name, ...] = ()
    every_days: int = Field(ge=1)
    sender_name: Name
    program_manager: Name
    reply_to: Name | None = None


def sample_reminder_context(language: str = "en") -> ReminderContext:
    return ReminderContext(
        program_name="Lumora partner compliance", brand_name="Lumora", partner_name="SleepSaver",
        partner_language=language, terms=("Lumora", "Lumora mattress"), domains=("lumora.com",),
        policies=(PolicyLine(title="No bidding on Lumora trademark terms", clause="4.2"),
                  PolicyLine(title="No direct linking")),
        agreement_document="Lumora Affiliate Agreement v3", engines=("google", "bing"),
        every_days=90, sender_name="Lumora Partner Compliance", program_manager="Dana Whitfield",
        reply_to="partners@lumora.com",
    )
