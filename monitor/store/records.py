"""The read models the store hands out: what was stored, as frozen records.

These live here rather than in monitor/models.py because only the store makes them: they
carry database ids, statuses as stored and the history of a sweep, which no stage between
plan and judge needs. monitor/models.py keeps the records that pass between those stages
(and that the store takes in). JSON columns arrive decoded; nothing outside the store sees
a row or a `*_json` column.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.models import CaptureStatus, Fact, LinkBox, NetworkIds, Severity, Sitelink


@dataclass(frozen=True)
class RecordOutcome:
    """What recording one capture did to the cases (incidents)."""

    new_incidents: list[int] = field(default_factory=list)
    seen_again: list[int] = field(default_factory=list)
    notices_queued: list[str] = field(default_factory=list)
    #: (case id, policy): a clause new to a case that was already open
    new_clauses: list[tuple[int, str]] = field(default_factory=list)


# -- sweeps and tasks --------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRecord:
    id: int
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | done | interrupted | failed
    program: str
    dry_run: bool
    tasks_total: int
    captured: int
    blocked: int
    failed: int
    ads: int
    incidents_new: int
    incidents_seen_again: int
    notices_queued: int
    notices_sent: int
    error: str | None


@dataclass(frozen=True)
class TaskRecord:
    id: int
    sweep_id: int
    key: str
    brand: str
    engine: str
    query: str
    term_group: str
    market: str
    device: str
    page: int
    status: str  # pending | done | failed
    attempts: int


# -- evidence ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptureRecord:
    id: int
    task_id: int
    sweep_id: int
    engine: str
    market: str
    status: str
    url: str
    final_url: str
    http_status: int | None
    captured_at: datetime
    html_path: str | None
    screenshot_path: str | None
    error: str | None
    elapsed_ms: int
    stray_click_urls: tuple[str, ...]
    link_boxes: tuple[LinkBox, ...] = ()


@dataclass(frozen=True)
class AdRecord:
    id: int
    capture_id: int
    kind: str
    position: str
    rank: int
    headline: str
    description: str
    display_url: str
    link: str
    click_url: str | None
    advertiser: str | None
    sitelinks: tuple[Sitelink, ...]
    merchant: str | None = None
    price: str | None = None


@dataclass(frozen=True)
class HopRecord:
    seq: int
    url: str
    how: str
    status: int | None
    elapsed_ms: int


@dataclass(frozen=True)
class ChainRecord:
    id: int
    ad_id: int
    start_url: str
    landing_url: str
    error: str | None
    hops: tuple[HopRecord, ...]
    #: the live part's key, when it was followed, and its first hop (None: none followed)
    reuse_key: str | None = None
    followed_at: datetime | None = None
    live_from: int | None = None


@dataclass(frozen=True)
class AttributionRecord:
    ad_id: int
    advertiser_class: str
    partner: str | None
    network: str | None
    publisher_id: str | None
    advertiser_id: str | None
    creative_id: str | None
    sub_id: str | None
    click_id: str | None
    aggregator: bool
    display_domain: str | None
    landing_domain: str | None
    domains: tuple[str, ...]
    reason: str
    #: the networks the outermost one sent the click through, outermost first
    inner_networks: tuple[NetworkIds, ...] = ()


@dataclass(frozen=True)
class SightingRecord:
    id: int
    sweep_id: int
    capture_id: int
    ad_id: int
    seen_at: datetime
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

    @property
    def chain_reused(self) -> str | None:
        """How old a reused chain was, as staff read it; None when it was followed live."""
        if self.chain_age_s is None:
            return None
        return f"chain followed {self.chain_age_s / 3600:.1f} h ago (reused)"


@dataclass(frozen=True)
class FindingRecord:
    id: int
    sighting_id: int
    incident_id: int
    policy: str
    severity: str
    title: str
    clause: str | None
    facts: tuple[Fact, ...]
    agreement_version: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{f.condition}: {f.detail}" for f in self.facts)


# -- incidents ---------------------------------------------------------------------------------


def severity_rank(severity: str) -> int:
    """Severity's order (info lowest); an unknown value ranks lowest."""
    return Severity(severity).rank if severity in Severity.__members__ else 0


@dataclass(frozen=True)
class ClauseRecord:
    """One policy a case breaches, with its own first and last sighting."""

    id: int
    incident_id: int
    policy: str
    title: str
    severity: str
    clause: str | None
    agreement_version: str | None
    first_seen: datetime
    last_seen: datetime
    sighting_count: int


@dataclass(frozen=True)
class IncidentRecord:
    """A case: one offender's offending ad (offender · destination · network), with its
    clauses."""

    id: int
    key: str
    offender: str
    partner: str | None
    destination: str
    severity: str  # the most severe clause's
    status: str  # new | notified | acknowledged | resolved | false_positive | expired
    level: int  # notice level reached: 0 none yet, 1 warning, 2 final warning, 3 termination
    first_seen: datetime
    last_seen: datetime
    sighting_count: int
    markets: tuple[str, ...]
    devices: tuple[str, ...]
    engines: tuple[str, ...] = ()
    term_groups: tuple[str, ...] = ()
    clauses: tuple[ClauseRecord, ...] = ()  # the most severe first, then by policy id
    network: str | None = None  # the affiliate network the link went through, if any

    @property
    def reference(self) -> str:
        """How staff, notices and partners name the case."""
        return f"INC-{self.id:05d}"

    @property
    def policies(self) -> tuple[str, ...]:
        return tuple(c.policy for c in self.clauses)

    @property
    def title(self) -> str:
        """The clauses' titles, most severe first."""
        return "; ".join(c.title or c.policy for c in self.clauses)

    def clauses_new_since(self, since: datetime) -> tuple[ClauseRecord, ...]:
        """Clauses added to the case after it was opened, first seen at or after `since`."""
        return tuple(c for c in self.clauses
                     if c.first_seen >= since and c.first_seen > self.first_seen)


@dataclass(frozen=True)
class IncidentEventRecord:
    at: datetime
    status_from: str | None
    status_to: str
    note: str


@dataclass(frozen=True)
class AllowRecord:
    """An advertiser and destination cleared by staff: never judged a breach again."""

    id: int
    advertiser: str
    destination: str
    note: str
    from_incident: int | None
    created_at: datetime


@dataclass(frozen=True)
class SightingDetail:
    """One sighting with its ad, capture, chain, attribution and findings (explain)."""

    sighting: SightingRecord
    ad: AdRecord
    capture: CaptureRecord
    chain: ChainRecord
    attribution: AttributionRecord
    findings: tuple[FindingRecord, ...]


@dataclass(frozen=True)
class IncidentDetail:
    """An incident with its history and every sighting's evidence."""

    incident: IncidentRecord
    events: tuple[IncidentEventRecord, ...]
    findings: tuple[FindingRecord, ...]
    sightings: tuple[SightingRecord, ...]  # oldest first
    ads: Mapping[int, AdRecord]
    captures: Mapping[int, CaptureRecord]
    chains: Mapping[int, ChainRecord]  # by ad id
    attributions: Mapping[int, AttributionRecord]  # by ad id


# -- outbox ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxItem:
    """A message to deliver, as queued (no id yet) or as stored. Changed by replacing fields
    (dataclasses.replace) and saving through the store."""

    key: str
    kind: str  # notice | reminder | alert
    created_at: datetime
    id: int | None = None
    channel: str = "email"
    incident_id: int | None = None
    level: int = 0
    language: str = "en"
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    body_text: str = ""
    body_html: str = ""
    attachments: tuple[str, ...] = ()
    #: pending | sending (handed to the channel, outcome not yet saved) | sent | dead
    #: | held (awaiting approval) | rejected
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    eml_path: str | None = None
    partner: str | None = None
    tags: str = ""  # apprise tags, comma separated
    batch_key: str | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    message: bytes | None = None  # the RFC 5322 bytes as built and sent
    #: recipients a server has accepted the message for (the rest are still owed it)
    delivered_to: tuple[str, ...] = ()


# -- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Tasks by outcome, each counted once by its last capture: the one definition of the
    coverage numbers every report, alert and command shows."""

    asked: int = 0
    captured: int = 0
    blocked: Mapping[str, int] = field(default_factory=dict)  # by kind: captcha, consent, …
    failed: int = 0
    never_asked: int = 0  # no capture yet: the sweep was stopped before them

    @property
    def blocked_total(self) -> int:
        return sum(self.blocked.values())

    @classmethod
    def of(cls, last_statuses: Iterable[str | None]) -> Coverage:
        """Count tasks by their last capture's status (None: never asked); which status
        counts as what is CaptureStatus's rule."""
        asked = captured = failed = never_asked = 0
        blocked: dict[str, int] = {}
        for status in last_statuses:
            asked += 1
            if status is None:
                never_asked += 1
            elif CaptureStatus(status).covered:
                captured += 1
            elif CaptureStatus(status).blocked:
                blocked[status] = blocked.get(status, 0) + 1
            else:
                failed += 1
        return cls(asked, captured, dict(sorted(blocked.items())), failed, never_asked)


@dataclass(frozen=True)
class CoverageRow:
    """One engine and market's coverage in a period (tasks with a capture in it)."""

    engine: str
    market: str
    asked: int
    captured: int
    blocked: int
    failed: int

    @classmethod
    def of(cls, engine: str, market: str, coverage: Coverage) -> CoverageRow:
        return cls(engine, market, coverage.asked, coverage.captured, coverage.blocked_total,
                   coverage.failed)
