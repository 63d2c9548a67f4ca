"""What the notice and digest templates see: frozen pydantic models built by the caller.

Every string that can come from a page, an ad or a URL is made inert as the model is built
(control and bidi-override characters removed, whitespace collapsed, length capped), so no
template can forget it. HTML escaping is still the templates' autoescape's job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
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


class BreachView(_Frozen):
    """One incident a notice is about: the policy it breaks and the ad as seen."""

    policy_id: Name
    policy_title: Line
    policy_notice: NoticeName | None = None
    clause: Line | None = None
    agreement_document: Prose | None = None
    incident_id: Name
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    sighting_count: int = Field(ge=1)
    markets: tuple[Name, ...] = ()
    devices: tuple[Name, ...] = ()
    engines: tuple[Name, ...] = ()
    ad: AdView
    chain: tuple[HopView, ...] = ()
    landing_url: UrlText
    network: Name | None = None
    publisher_id: Name | None = None
    screenshot: Path | None = None

    @property
    def screenshot_name(self) -> str | None:
        """The attachment's file name, which is all a template needs of the screenshot."""
        return inert_text(self.screenshot.name, 120) if self.screenshot else None


BREACH_FIELDS = tuple(BreachView.model_fields)


class NoticeContext(BreachView):
    """Everything a partner notice (warning, final warning, termination) may show.

    The breach fields it inherits are the notice's first incident; `also` holds the partner's
    other incidents due at the same level in the same delivery run (one message for all).
    """

    program_name: Name
    brand_name: Name
    partner_name: Name
    partner_language: LanguageCode
    level: int = Field(ge=1, le=3)
    sender_name: Name
    program_manager: Name
    reply_to: Name | None = None
    respond_within_days: int = Field(default=2, ge=1, le=60)
    also: tuple[BreachView, ...] = ()

    @property
    def level_key(self) -> str:
        """The template base name for this level: warning, final_warning or termination."""
        return LEVEL_KEYS[self.level]

    @property
    def first_breach(self) -> BreachView:
        return BreachView.model_validate({name: getattr(self, name) for name in BREACH_FIELDS})

    @property
    def breaches(self) -> tuple[BreachView, ...]:
        """Every incident this notice covers, the first one first."""
        return (self.first_breach, *self.also)

    @property
    def screenshots(self) -> tuple[Path, ...]:
        """The files to attach: each breach's screenshot, once."""
        paths = (b.screenshot for b in self.breaches if b.screenshot is not None)
        return tuple(dict.fromkeys(paths))

    def with_also(self, others: tuple[NoticeContext, ...]) -> NoticeContext:
        """This notice covering `others` too (same partner and level)."""
        return self.model_copy(update={"also": tuple(o.first_breach for o in others)})


# ----------------------------------------------------------------------------------- digest


class IncidentRow(_Frozen):
    incident_id: Name
    partner_name: Name | None = None  # None: not one of the program's partners
    advertiser: UrlText  # display or landing domain as seen
    policy_title: Line
    severity: Name
    level: int = Field(default=0, ge=0, le=3)  # highest notice level sent, 0 = none
    engines: tuple[Name, ...] = ()
    markets: tuple[Name, ...] = ()
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    sighting_count: int = Field(ge=1)
    headline: Line = ""
    display_url: UrlText = ""
    evidence: UrlText | None = None  # where the capture is kept (path or console URL)


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
    new_incidents: int = Field(ge=0)
    seen_again: int = Field(ge=0)
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
    location: UrlText  # a path under $BIDWATCH_HOME or a console URL


TREND_METRICS: tuple[tuple[str, str], ...] = (
    ("New incidents", "new_incidents"),
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
    new_incidents: tuple[IncidentRow, ...] = ()
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
    """A complete notice context with realistic values (Lumora / sleepsaver)."""
    chain = (
        HopView(url="https://www.sleepsaver.net/go/lumora?src=ppc", how="start"),
        HopView(
            url="https://www.anrdoezrs.net/click-7012345-15734?sid=ppc", how="http", status=302
        ),
        HopView(url="https://www.lumora.com/?utm_source=cj&cjevent=abc123", how="http", status=200),
    )
    return NoticeContext(
        program_name="Lumora partner compliance",
        brand_name="Lumora",
        partner_name="SleepSaver",
        partner_language=language,
        level=level,
        policy_id="no-brand-bidding",
        policy_title="No bidding on Lumora trademark terms",
        policy_notice=policy_notice,
        clause="Section 4.2 (Paid search)",
        agreement_document="Lumora Affiliate Agreement v3 (2026-01-01)",
        incident_id="INC-2026-0042",
        first_seen=_SAMPLE_TIME - timedelta(days=3),
        last_seen=_SAMPLE_TIME,
        sighting_count=7,
        markets=("us-en", "gb-en"),
        devices=("desktop", "mobile"),
        engines=("google", "bing"),
        ad=sample_ad(),
        chain=chain,
        landing_url="https://www.lumora.com/?utm_source=cj&cjevent=abc123",
        network="cj",
        publisher_id="7012345",
        screenshot=Path("evidence/INC-2026-0042/google-us-en-desktop.png"),
        sender_name="Lumora Partner Compliance",
        program_manager="Dana Whitfield",
        reply_to="partners@lumora.com",
    )


def _sample_incident(
    incident_id: str, partner: str, advertiser: str, policy: str, level: int
) -> IncidentRow:
    return IncidentRow(
        incident_id=incident_id,
        partner_name=partner,
        advertiser=advertiser,
        policy_title=policy,
        severity="high",
        level=level,
        engines=("google",),
        markets=("us-en",),
        first_seen=_SAMPLE_TIME - timedelta(days=2),
        last_seen=_SAMPLE_TIME,
        sighting_count=4,
        headline="Lumora Mattress Sale - Up To 40% Off",
        display_url="www.lumora.com/sale",
        evidence=f"evidence/{incident_id}/capture.html",
    )


def sample_digest_context() -> DigestContext:
    """A complete digest context with realistic values, for previews and template checks."""
    totals = DigestTotals(
        new_incidents=2,
        seen_again=1,
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
                location="evidence/INC-2026-0042/google-us-en-desktop.png",
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
