"""SQLModel tables. Only the store module touches these; stages exchange monitor.models records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, LargeBinary, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (which keeps no zone) and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc_column(nullable: bool = True) -> Column:
    return Column(UTCDateTime(timezone=True), nullable=nullable)


class SweepRow(SQLModel, table=True):
    __tablename__ = "sweeps"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_column=_utc_column(False))
    finished_at: datetime | None = Field(default=None, sa_column=_utc_column())
    #: running | done | interrupted | failed
    status: str = Field(default="running", index=True)
    program: str = ""
    dry_run: bool = False
    tasks_total: int = 0
    captured: int = 0
    blocked: int = 0
    failed: int = 0
    ads: int = 0
    incidents_new: int = 0
    incidents_seen_again: int = 0
    notices_queued: int = 0
    notices_sent: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))


class TaskRow(SQLModel, table=True):
    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("sweep_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    sweep_id: int = Field(foreign_key="sweeps.id", index=True)
    key: str = Field(index=True)
    brand: str
    engine: str
    query: str
    term_group: str
    market: str
    device: str
    page: int = 1
    #: pending | done | failed
    status: str = Field(default="pending", index=True)
    attempts: int = 0


class CaptureRow(SQLModel, table=True):
    __tablename__ = "captures"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="tasks.id", index=True)
    sweep_id: int = Field(foreign_key="sweeps.id", index=True)
    engine: str
    market: str
    status: str = Field(index=True)
    url: str = Field(sa_column=Column(Text, nullable=False))
    final_url: str = Field(sa_column=Column(Text, nullable=False))
    http_status: int | None = None
    captured_at: datetime = Field(sa_column=_utc_column(False))
    html_path: str | None = None
    screenshot_path: str | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    elapsed_ms: int = 0
    #: engine ad-click URLs outside every ad the reader recognised (a markup change)
    stray_click_urls_json: str = Field(
        default="[]", sa_column=Column(Text, nullable=False, server_default="[]")
    )
    #: where each link sat on the screenshot, as [{"href", "x", "y", "width", "height"}] in
    #: screenshot pixels: what lets a thumbnail outline the ad
    link_boxes_json: str = Field(
        default="[]", sa_column=Column(Text, nullable=False, server_default="[]")
    )


class AdRow(SQLModel, table=True):
    __tablename__ = "ads"

    id: int | None = Field(default=None, primary_key=True)
    capture_id: int = Field(foreign_key="captures.id", index=True)
    kind: str
    position: str
    rank: int
    headline: str = Field(sa_column=Column(Text, nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False))
    display_url: str = Field(sa_column=Column(Text, nullable=False))
    link: str = Field(sa_column=Column(Text, nullable=False))
    click_url: str | None = Field(default=None, sa_column=Column(Text))
    advertiser: str | None = None
    sitelinks_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    #: a shopping ad's merchant and price as shown (None: text ads, and ads before 0008)
    merchant: str | None = Field(default=None, sa_column=Column(Text))
    price: str | None = None


class ChainRow(SQLModel, table=True):
    __tablename__ = "chains"
    #: the chain-reuse lookup: the newest chain followed for a key within the window
    __table_args__ = (Index("ix_chains_reuse_key_followed_at", "reuse_key", "followed_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ad_id: int = Field(foreign_key="ads.id", index=True)
    start_url: str = Field(sa_column=Column(Text, nullable=False))
    landing_url: str = Field(sa_column=Column(Text, nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text))
    #: the live part's key (entry URL · market · device, monitor.models.LiveFollow), when it
    #: first was followed (a reused chain keeps its follow's time), and its first hop's seq;
    #: None: nothing was followed live (chains from before 0006 too)
    reuse_key: str | None = None
    followed_at: datetime | None = Field(default=None, sa_column=_utc_column())
    live_from: int | None = None


class HopRow(SQLModel, table=True):
    __tablename__ = "hops"

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int = Field(foreign_key="chains.id", index=True)
    seq: int
    url: str = Field(sa_column=Column(Text, nullable=False))
    how: str
    status: int | None = None
    elapsed_ms: int = 0


class AttributionRow(SQLModel, table=True):
    __tablename__ = "attributions"

    id: int | None = Field(default=None, primary_key=True)
    ad_id: int = Field(foreign_key="ads.id", index=True)
    advertiser_class: str = Field(index=True)
    partner: str | None = Field(default=None, index=True)
    network: str | None = None
    publisher_id: str | None = None
    advertiser_id: str | None = None
    creative_id: str | None = None
    sub_id: str | None = None
    click_id: str | None = None
    aggregator: bool = False
    display_domain: str | None = None
    landing_domain: str | None = None
    domains_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: the networks the outermost one sent the click through (JSON list of their ids): an
    #: aggregator's sub-publisher beside the partner of record
    inner_networks_json: str = Field(default="[]", sa_column=Column(Text, nullable=False,
                                                                     server_default="[]"))


class IncidentRow(SQLModel, table=True):
    """A case: one offender's offending ad, whatever its rotating headlines say. Every policy
    it breaks is a clause of it (ClauseRow); every time it is seen, a sighting."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    #: offender · destination · network (judge.incidents.case_key): the same ad seen again
    #: is this case
    key: str = Field(unique=True)
    offender: str = Field(index=True)
    partner: str | None = Field(default=None, index=True)
    #: the registrable domain the ad sends people to (its landing, else its display domain)
    destination: str = Field(default="", index=True)
    #: the affiliate network the ad's link went through (None: straight to the destination)
    network: str | None = None
    #: the most severe clause's severity
    severity: str
    #: new | notified | acknowledged | resolved | false_positive | expired
    status: str = Field(default="new", index=True)
    #: notice level reached: 0 none yet, 1 warning, 2 final warning, 3 termination notice
    level: int = 0
    first_seen: datetime = Field(sa_column=_utc_column(False))
    last_seen: datetime = Field(sa_column=_utc_column(False))
    sighting_count: int = 0
    markets_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    devices_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    engines_json: str = Field(default="[]", sa_column=Column(Text, nullable=False,
                                                            server_default="[]"))
    term_groups_json: str = Field(default="[]", sa_column=Column(Text, nullable=False,
                                                                server_default="[]"))


class ClauseRow(SQLModel, table=True):
    """One policy a case breaches, with its own first and last sighting."""

    __tablename__ = "incident_clauses"
    __table_args__ = (UniqueConstraint("incident_id", "policy"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    policy: str = Field(index=True)
    title: str = ""
    severity: str
    #: the agreement's clause reference (e.g. "4.2"), as the policy names it
    clause: str | None = None
    #: the partner's agreement version in force when the clause was first judged
    agreement_version: str | None = None
    first_seen: datetime = Field(sa_column=_utc_column(False))
    last_seen: datetime = Field(sa_column=_utc_column(False))
    sighting_count: int = 0


class IncidentAliasRow(SQLModel, table=True):
    """An incident id from before cases, and the case it was folded into (old notices and
    notes quote such ids)."""

    __tablename__ = "incident_aliases"

    old_id: int = Field(primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    #: what the old incident was: "policy · term group · engine"
    was: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))


class AllowRow(SQLModel, table=True):
    """An advertiser and destination staff have cleared (a false positive carried forward):
    its ads are still recorded, but never judged a breach."""

    __tablename__ = "allowlist"
    __table_args__ = (UniqueConstraint("advertiser", "destination"),)

    id: int | None = Field(default=None, primary_key=True)
    advertiser: str = Field(index=True)  # an offender: a partner id or a domain
    destination: str
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    from_incident: int | None = None
    created_at: datetime = Field(sa_column=_utc_column(False))


class IncidentEventRow(SQLModel, table=True):
    """The history of an incident: every status change, with who/why."""

    __tablename__ = "incident_events"

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    at: datetime = Field(sa_column=_utc_column(False))
    status_from: str | None = None
    status_to: str
    note: str = Field(default="", sa_column=Column(Text, nullable=False))


class SightingRow(SQLModel, table=True):
    __tablename__ = "sightings"

    id: int | None = Field(default=None, primary_key=True)
    sweep_id: int = Field(foreign_key="sweeps.id", index=True)
    capture_id: int = Field(foreign_key="captures.id", index=True)
    ad_id: int = Field(foreign_key="ads.id", index=True)
    seen_at: datetime = Field(sa_column=_utc_column(False))
    brand: str
    engine: str
    market: str
    device: str
    query: str
    term_group: str
    offender: str
    advertiser_class: str
    #: seconds since its chain was followed, when the chain was reused (None: followed live)
    chain_age_s: float | None = None


class FindingRow(SQLModel, table=True):
    __tablename__ = "findings"

    id: int | None = Field(default=None, primary_key=True)
    sighting_id: int = Field(foreign_key="sightings.id", index=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    policy: str
    severity: str
    title: str = ""
    clause: str | None = None
    #: the partner's agreement version in force on the market's day of the sighting
    agreement_version: str | None = None
    #: the facts that made the policy match, as [{"condition", "detail"}]
    facts_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))


class OutboxRow(SQLModel, table=True):
    """A message to deliver. Stored before sending, so a crash never loses or repeats one."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    #: e.g. "notice:case<id>:<level>:email" — one row per case, level and channel, ever
    key: str = Field(unique=True)
    kind: str = Field(index=True)  # notice | alert | digest
    channel: str = "email"
    incident_id: int | None = Field(default=None, foreign_key="incidents.id", index=True)
    level: int = 0
    language: str = "en"
    recipients_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    cc_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_text: str = Field(default="", sa_column=Column(Text, nullable=False))
    body_html: str = Field(default="", sa_column=Column(Text, nullable=False))
    attachments_json: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    #: pending | sending (handed to the channel, outcome not yet saved) | sent | dead
    #: | held (awaiting approval) | rejected
    status: str = Field(default="pending", index=True)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_column=_utc_column())
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(sa_column=_utc_column(False))
    sent_at: datetime | None = Field(default=None, sa_column=_utc_column())
    eml_path: str | None = None
    #: the partner a notice or reminder is for (notices of one partner go out together)
    partner: str | None = Field(default=None, index=True)
    #: apprise tags an alert is routed by, comma separated (e.g. "high,incident")
    tags: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    #: the delivery this item went out in: items of one batch share it, and so one message
    batch_key: str | None = Field(default=None, index=True)
    #: approval: who approved or rejected a held notice, when, and why
    decided_by: str | None = None
    decided_at: datetime | None = Field(default=None, sa_column=_utc_column())
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    #: the message exactly as built and sent (RFC 5322 bytes): the record of what went out
    message: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    #: the recipients a server accepted the message for (JSON list): a retry after a partial
    #: refusal goes only to the others, with the same bytes
    delivered_to_json: str = Field(default="[]", sa_column=Column(Text, nullable=False,
                                                                   server_default="[]"))


# -- the console (migration 0009) ---------------------------------------------------------------


class ConsoleUserRow(SQLModel, table=True):
    """Someone who may log in to the console."""

    __tablename__ = "console_users"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True)
    #: viewer | reviewer | admin
    role: str
    #: argon2id, as argon2-cffi writes it (the parameters and salt inside)
    password_hash: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=_utc_column(False))
    disabled: bool = False


class ConsoleTokenRow(SQLModel, table=True):
    """An API token: only the sha256 of its secret is kept (the secret is shown once)."""

    __tablename__ = "console_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="console_users.id", index=True)
    token_hash: str = Field(unique=True)
    created_at: datetime = Field(sa_column=_utc_column(False))
    last_used_at: datetime | None = Field(default=None, sa_column=_utc_column())
    revoked: bool = False


class ConsoleSessionRow(SQLModel, table=True):
    """A login: the cookie carries a signed random id whose sha256 is kept here, so logging
    out or expiry ends it on the server whatever the cookie says."""

    __tablename__ = "console_sessions"

    id: int | None = Field(default=None, primary_key=True)
    session_hash: str = Field(unique=True)
    user_id: int = Field(foreign_key="console_users.id", index=True)
    #: the token every form of this session carries (checked on every POST)
    csrf_token: str
    created_at: datetime = Field(sa_column=_utc_column(False))
    last_seen_at: datetime = Field(sa_column=_utc_column(False))
    expires_at: datetime = Field(sa_column=_utc_column(False))


class LoginAttemptRow(SQLModel, table=True):
    """One try at logging in, for throttling by user name and by client address."""

    __tablename__ = "console_login_attempts"
    __table_args__ = (Index("ix_console_login_attempts_name_at", "name", "at"),
                      Index("ix_console_login_attempts_client_at", "client", "at"))

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(False))
    name: str
    client: str
    succeeded: bool = False


class AuditRow(SQLModel, table=True):
    """Who changed what in the console, when, on which case, from what to what."""

    __tablename__ = "console_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_utc_column(False))
    #: the console user's name ("cli" for a command run on the server)
    actor: str = Field(index=True)
    #: e.g. status, notice-approve, notice-hold, user-add, token-add, login, logout
    action: str
    incident_id: int | None = Field(default=None, index=True)
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))

