"""The compliance program as validated models: markets, brands, partners, policies, agreements.

Attribute names are the contract other stages read; do not rename them.
"""

from __future__ import annotations

from datetime import date
from typing import (
    Annotated,
)

from pydantic import (
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
    id: Slug
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    language: Language
    timezone: TimeZone
    city: Text | None = None

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


class Brand(Model):
    id: Slug
    name: Text
    terms: list[Text] = Field(min_length=1)
    modifiers: list[Text] = []
    misspellings: list[Text] = []
    domains: list[Domain] = Field(min_length=1)


class Contact(Model):
    name: Text
    email: Email
    role: Text | None = None


class NetworkId(Model):
    network: Slug
    publisher_id: Text


class Partner(Model):
    id: Slug
    name: Text
    language: Language
    contacts: list[Contact] = []
    network_ids: list[NetworkId] = []
    domains: list[Domain] = []
    advertiser_names: list[Text] = []


class Competitor(Model):
    id: Slug
    name: Text
    domains: list[Domain] = Field(min_length=1)


class Policy(Model):
    id: Slug
    title: Text
    #: the title in other languages, for notices in the partner's language
    titles: dict[Language, Text] = {}
    #: the escalation path: the notice level a first breach gets (1 warning, 2 final
    #: warning, 3 termination notice); each repeat goes one level up from there
    first_level: int = Field(default=1, ge=1, le=3)
    description: str = ""
    severity: Severity
    clause: Text | None = None
    notice: Slug | None = None
    applies_to: list[AdvertiserClass] = Field(
        default=[AdvertiserClass.partner, AdvertiserClass.unknown], min_length=1
    )
    when: Condition


class Permission(Model):
    policy: Slug
    engines: list[Text] | None = None
    markets: list[Slug] | None = None
    term_groups: list[Text] | None = None
    devices: list[Device] | None = None
    note: str | None = None


class AgreementVersion(Model):
    version: Text
    effective_from: date
    effective_to: date | None = None
    document: Text | None = None
    permissions: list[Permission] = []

    @model_validator(mode="after")
    def _dates_in_order(self) -> AgreementVersion:
        if self.effective_to is not None and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        return self

    def covers(self, day: date) -> bool:
        ends = self.effective_to
        return self.effective_from <= day and (ends is None or day <= ends)


class Agreement(Model):
    partner: Slug
    versions: list[AgreementVersion] = Field(min_length=1)


class NoticeSettings(Model):
    sender_email: Email
    sender_name: Text
    reply_to: Email | None = None
    cc: list[Email] = []
    program_manager: Text
    #: who gets the compliance digest (`bidwatch digest --send`); the sender when empty
    digest_to: list[Email] = []
    #: notices wait as `held` until `bidwatch notices approve ID` (who and when are kept)
    require_approval: bool = False
    #: one message per partner and level per delivery run, listing every incident due
    batch_per_partner: bool = True
    #: days between policy reminders to every active partner; None: no reminders
    reminder_every_days: int | None = Field(default=None, ge=1, le=3660)


class IncidentRules(Model):
    """How incidents age and escalate."""

    #: an open incident not seen for this many days expires
    expire_after_days: int = Field(default=30, ge=1, le=3650)
    #: a partner's new breach within this many days of an earlier notice starts one level up
    repeat_window_days: int = Field(default=90, ge=0, le=3650)


class Program(Model):
    name: Text
    default_language: Language = "en"
    engines: list[EngineName] = Field(min_length=1)
    devices: list[Device] = Field(min_length=1)
    markets: list[Market] = Field(min_length=1)
    brands: list[Brand] = Field(min_length=1)
    partners: list[Partner] = []
    competitors: list[Competitor] = []
    policies: list[Policy] = []
    agreements: list[Agreement] = []
    notices: NoticeSettings
    schedule: Schedule
    follow_click_urls: bool = False
    allowlist: list[Domain] = []
    ignore: list[Domain] = []
    incidents: IncidentRules = IncidentRules()

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

