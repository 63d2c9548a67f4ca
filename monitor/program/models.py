"""The compliance program as validated models: markets, brands, partners, policies, agreements.

Attribute names are the contract other stages read; do not rename them.
"""

from __future__ import annotations

from datetime import date
from typing import (
    Annotated,
)

from pydantic import (
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from monitor.models import (
    AdvertiserClass,
    Device,
    MarketRef,
    Severity,
)
from monitor.program.conditions import Condition
from monitor.program.fields import (
    Domain,
    Email,
    EngineName,
    Language,
    Model,
    Slug,
    Text,
    TimeZone,
    unique,
)
from monitor.program.schedule import Schedule

#: uule (Google's location parameter) stores the name's length in one base64 digit
UULE_MAX_BYTES = 63


class Market(Model):
    """Where the sweeps run: a country, its language and time zone, optionally a city."""

    id: Slug = Field(description="the market's id, e.g. ae-ar; conditions and permissions "
                     "name it")
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] = Field(
        description="ISO 3166-1 alpha-2 country code, upper case, e.g. AE (quote \"NO\")")
    language: Language = Field(description="the searches' language (ISO 639, lower case, e.g. "
                               "ar); generated modifiers are in it")
    timezone: TimeZone = Field(description="IANA time zone: local hours, weekdays and "
                               "agreement dates are read in it, e.g. Asia/Dubai")
    city: Text | None = Field(default=None, description="Google's canonical location name "
                              f"(sent as uule, at most {UULE_MAX_BYTES} bytes); left out: "
                              "the whole country")

    @field_validator("city")
    @classmethod
    def _fits_uule(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) > UULE_MAX_BYTES:
            raise ValueError(
                f"too long for Google's uule location ({len(value.encode())} bytes, "
                f"at most {UULE_MAX_BYTES})"
            )
        return value

    def ref(self) -> MarketRef:
        return MarketRef(self.id, self.country, self.language, self.timezone, self.city)


class VariantFamily(Model):
    """One family of generated queries: on or off, and how many queries it may add."""

    enabled: bool = Field(default=True, description="false switches the family off")
    max: int = Field(default=10, ge=1, le=200, description="at most this many queries per "
                     "brand (per market for modifiers), the most likely first")


def _family(value: object) -> object:
    """`spacing: true` is `{enabled: true}`."""
    return {"enabled": value} if isinstance(value, bool) else value


#: a family written as true/false or as {enabled, max}
Family = Annotated[VariantFamily, BeforeValidator(
    _family, json_schema_input_type=bool | VariantFamily)]
_OFF = VariantFamily(enabled=False)


class Variants(Model):
    """Queries generated from the brand's terms (docs/keywords.md). A family left out is off."""

    modifiers: Family = Field(default=_OFF, description="each term with common modifiers "
                              "(coupon, promo code, discount, login, reviews, vs, …) in each "
                              "market's language; term group brand+<modifier in English>")
    misspellings: Family = Field(default=_OFF, description="one letter dropped, doubled, "
                                 "swapped with its neighbour or replaced by a keyboard "
                                 "neighbour; term group misspelling")
    spacing: Family = Field(default=_OFF, description="a multi-word term joined and "
                            "hyphenated (lumorasleep, lumora-sleep); term group brand")
    diacritics: Family = Field(default=_OFF, description="a term with accents written without "
                               "them (Nestlé: Nestle, Müller: Muller, Mueller); term group "
                               "brand")


class Brand(Model):
    """A trademark we protect: its terms, the queries made from them, and its own sites."""

    id: Slug = Field(description="the brand's id, e.g. lumora")
    name: Text = Field(description="the brand's name as shown in notices and reports")
    terms: list[Text] = Field(min_length=1, description="trademark terms, searched on their "
                              "own (term group brand)")
    modifiers: list[Text] = Field(default=[], description="words searched with each term in "
                                  "every market, e.g. coupon: \"Lumora coupon\" is term group "
                                  "brand+coupon")
    misspellings: list[Text] = Field(default=[], description="misspelt terms searched as they "
                                     "are (term group misspelling)")
    domains: list[Domain] = Field(min_length=1, description="the brand's own sites; a listed "
                                  "domain covers its subdomains")
    variants: Variants = Field(default=Variants(), description="queries generated from the "
                               "terms, family by family (all off when left out)")


class Contact(Model):
    """Who at a partner receives the notices."""

    name: Text = Field(description="the person's name, as the notice greets them")
    email: Email = Field(description="where notices are sent")
    role: Text | None = Field(default=None, description="e.g. owner, account manager")


class NetworkId(Model):
    """The partner's publisher id in one affiliate network: ties a redirect chain to it."""

    network: Slug = Field(description="the network's name as the recognisers report it: "
                          "awin, cj, partnerize, impact, admitad, …")
    publisher_id: Text = Field(description="the partner's id in that network; quote numbers "
                               "(\"412345\")")


class Partner(Model):
    """An affiliate partner (a publisher in the networks), bound by its agreement."""

    id: Slug = Field(description="the partner's id; agreements and conditions name it")
    name: Text = Field(description="the partner's name, in notices and reports")
    language: Language = Field(description="the language its notices are written in")
    contacts: list[Contact] = Field(default=[], description="who receives the notices")
    network_ids: list[NetworkId] = Field(default=[], description="its ids in the affiliate "
                                         "networks")
    domains: list[Domain] = Field(default=[], description="the partner's own sites")
    advertiser_names: list[Text] = Field(default=[], description="names the engines show as "
                                         "the advertiser")


class Competitor(Model):
    """A known competitor: its ads are recorded, not judged against our agreements."""

    id: Slug = Field(description="the competitor's id")
    name: Text = Field(description="the competitor's name")
    domains: list[Domain] = Field(min_length=1, description="the competitor's sites")


class Policy(Model):
    """A bidding rule of the agreement: the ads it catches (`when`) and what a breach is."""

    id: Slug = Field(description="the policy's id, e.g. no-brand-bidding; permissions name it")
    title: Text = Field(description="the policy's title, in the program's default language")
    titles: dict[Language, Text] = Field(default={}, description="the title in other "
                                         "languages, for notices in the partner's language")
    first_level: int = Field(default=1, ge=1, le=3, description="the notice level a first "
                             "breach gets (1 warning, 2 final warning, 3 termination notice); "
                             "each repeat goes one level up")
    description: str = Field(default="", description="what the policy forbids, in words")
    severity: Severity = Field(description="how serious a breach is")
    clause: Text | None = Field(default=None, description="the agreement's clause, e.g. "
                                "\"4.1\" (quote it)")
    notice: Slug | None = Field(default=None, description="the notice template under "
                                "templates/notices/, e.g. brand_bidding")
    applies_to: list[AdvertiserClass] = Field(
        default=[AdvertiserClass.partner, AdvertiserClass.unknown], min_length=1,
        description="whose ads it judges (brand, partner, competitor, unknown)",
    )
    when: Condition = Field(description="the condition tree an ad must match to breach it "
                            "(docs/policies.md)")


class Permission(Model):
    """An exemption from one policy; each filter left out means any."""

    policy: Slug = Field(description="the policy it exempts from")
    engines: list[Text] | None = Field(default=None, description="only on these engines")
    markets: list[Slug] | None = Field(default=None, description="only in these markets "
                                       "(market ids)")
    term_groups: list[Text] | None = Field(default=None, description="only on queries of "
                                           "these term groups, e.g. brand+coupon")
    devices: list[Device] | None = Field(default=None, description="only on these devices")
    note: str | None = Field(default=None, description="why, in words (shown in reports)")

    def in_words(self) -> str:
        """The permission whole, as reports say it ("no-brand-bidding on engines bing;
        markets ae-ar (coupon sites)"): two permissions are the same when they read the same."""
        scope = [f"{name} {', '.join(str(v) for v in values)}"
                 for name, values in (("engines", self.engines), ("markets", self.markets),
                                      ("term groups", self.term_groups),
                                      ("devices", self.devices)) if values is not None]
        text = self.policy + (f" on {'; '.join(scope)}" if scope else " anywhere")
        return text + (f" ({self.note})" if self.note else "")


class AgreementVersion(Model):
    """One signed version of a partner's agreement, in force between two dates."""

    version: Text = Field(description="the version's name, e.g. \"2024\" (quote numbers)")
    effective_from: date = Field(description="first day in force (YYYY-MM-DD, the market's "
                                 "local date)")
    effective_to: date | None = Field(default=None, description="last day in force, "
                                      "inclusive; left out: open-ended")
    document: Text | None = Field(default=None, description="the signed document, in words")
    permissions: list[Permission] = Field(default=[], description="what this version allows "
                                          "that the policies forbid")

    @model_validator(mode="after")
    def _dates_in_order(self) -> AgreementVersion:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    def covers(self, day: date) -> bool:
        ends = self.effective_to
        return self.effective_from <= day and (ends is None or day <= ends)


class Agreement(Model):
    """A partner's signed agreement: its versions, which may not overlap."""

    partner: Slug = Field(description="the partner's id")
    versions: list[AgreementVersion] = Field(min_length=1, description="its versions, "
                                             "each in force from effective_from")


class NoticeSettings(Model):
    """Who sends the notices and how they go out (docs/notices.md)."""

    sender_email: Email = Field(description="the notices' From address")
    sender_name: Text = Field(description="the notices' From name")
    reply_to: Email | None = Field(default=None, description="where partners' replies go")
    cc: list[Email] = Field(default=[], description="copied on every notice")
    program_manager: Text = Field(description="the name that signs the notices")
    digest_to: list[Email] = Field(default=[], description="who gets the compliance digest "
                                   "(`bidwatch digest --send`); the sender when empty")
    require_approval: bool = Field(default=False, description="notices wait as `held` until "
                                   "`bidwatch notices approve ID` (who and when are kept)")
    batch_per_partner: bool = Field(default=True, description="one message per partner and "
                                    "level per delivery run, listing every incident due")
    reminder_every_days: int | None = Field(default=None, ge=1, le=3660, description="days "
                                            "between policy reminders to every active "
                                            "partner; left out: no reminders")


class IncidentRules(Model):
    """How incidents age and escalate."""

    expire_after_days: int = Field(default=30, ge=1, le=3650, description="an open incident "
                                   "not seen for this many days expires")
    repeat_window_days: int = Field(default=90, ge=0, le=3650, description="a partner's new "
                                    "breach within this many days of an earlier notice "
                                    "starts one level up")


class Program(Model):
    """The compliance program: what to watch, where, when, and the rules ads are judged by."""

    name: Text = Field(description="the program's name, in reports and the digest")
    default_language: Language = Field(default="en", description="the notices' language when "
                                       "a partner's has no templates")
    engines: list[EngineName] = Field(min_length=1, description="the engines to sweep; no "
                                      "repeats")
    devices: list[Device] = Field(min_length=1, description="the devices to search as "
                                  "(desktop, mobile); no repeats")
    markets: list[Market] = Field(min_length=1, description="where the sweeps run")
    brands: list[Brand] = Field(min_length=1, description="the trademarks we protect and the "
                                "queries made from them")
    partners: list[Partner] = Field(default=[], description="affiliate partners, bound by "
                                    "their agreements")
    competitors: list[Competitor] = Field(default=[], description="known competitors")
    policies: list[Policy] = Field(default=[], description="the bidding rules ads are judged "
                                   "by (docs/policies.md)")
    agreements: list[Agreement] = Field(default=[], description="partners' signed agreements "
                                        "and their permissions")
    notices: NoticeSettings = Field(description="who sends the notices and how")
    schedule: Schedule = Field(description="when `bidwatch run` sweeps, delivers and reports "
                               "(docs/scheduling.md)")
    follow_click_urls: bool = Field(default=False, description="follow the engines' paid click "
                                    "URLs; false: a click can charge the advertiser")
    allowlist: list[Domain] = Field(default=[], description="authorised resellers: ads on these "
                                    "domains are never judged")
    ignore: list[Domain] = Field(default=[], description="ads whose display or landing domain "
                                 "is here are skipped entirely")
    incidents: IncidentRules = Field(default=IncidentRules(), description="how incidents age "
                                     "and escalate")

    @field_validator("engines", "devices")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        unique(values, "value")
        return values

    def policy(self, policy_id: str) -> Policy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def agreement_in_force(self, partner_id: str, day: date) -> AgreementVersion | None:
        """The partner's agreement version in force on `day` (the market's local date); the
        latest-starting one, as the rule engine reads it, should versions overlap."""
        versions = [v for a in self.agreements if a.partner == partner_id for v in a.versions
                    if v.covers(day)]
        return max(versions, key=lambda v: v.effective_from, default=None)

    def partner(self, partner_id: str) -> Partner | None:
        return next((p for p in self.partners if p.id == partner_id), None)

    def brand(self, brand_id: str) -> Brand | None:
        return next((b for b in self.brands if b.id == brand_id), None)

    def market(self, market_id: str) -> Market | None:
        return next((m for m in self.markets if m.id == market_id), None)

    def brand_domains(self) -> set[str]:
        """Every brand's own registrable domains."""
        return {d for b in self.brands for d in b.domains}

