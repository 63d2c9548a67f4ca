"""The shapes `--json` prints, one model per schema name (`"schema": "NAME/VERSION"` opens
every object). Documented in docs/cli.md; `bidwatch schema NAME` prints one as JSON Schema.

A field may be added within a version; a field renamed, retyped or removed is a new version.
Imported only by `bidwatch schema` and the tests (pydantic is not needed to print JSON).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Timestamp = str  # ISO 8601, UTC


class Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Delivery(Shape):
    sent: int
    messages: int
    failed: int
    dead: int
    waiting: int
    held: int
    interrupted: int
    stopped: bool


class NewClause(Shape):
    incident: int
    policy: str


class SweepOut(Shape):
    """`sweep --json`, `demo --json`: one object when the sweep ends."""

    schema_: Literal["sweep/1"]
    sweep_id: int
    status: str
    tasks: int
    captured: int
    blocked: dict[str, int]
    failed: int
    coverage: float
    ads: int
    stray_clicks: int
    incidents_new: list[int]
    incidents_seen_again: list[int]
    clauses_new: list[NewClause]
    notices_queued: int
    delivery: Delivery
    digest_html: str | None
    digest_text: str | None
    extra: dict[str, str]
    exit_code: int


class SweepRow(Shape):
    """`sweeps --json`: one line per sweep."""

    schema_: Literal["sweeps/1"]
    id: int
    status: str
    program: str
    started_at: Timestamp
    finished_at: Timestamp | None
    asked: int
    captured: int
    blocked: dict[str, int]
    failed: int
    never_asked: int
    ads: int
    incidents_new: int
    dry_run: bool


class Clause(Shape):
    policy: str
    title: str | None
    severity: str
    clause: str | None
    agreement_version: str | None
    first_seen: Timestamp
    last_seen: Timestamp
    sighting_count: int


class Case(Shape):
    id: int
    reference: str
    status: str
    level: int
    severity: str
    offender: str
    partner: str | None
    destination: str
    network: str | None
    title: str
    clauses: list[Clause]
    engines: list[str]
    term_groups: list[str]
    sighting_count: int
    markets: list[str]
    devices: list[str]
    first_seen: Timestamp
    last_seen: Timestamp


class IncidentRow(Case):
    """`incidents --json`: one line per case, with its latest ad's headline."""

    schema_: Literal["incident/1"]
    headline: str | None


class IncidentDetail(Shape):
    """`incidents show --json`."""

    schema_: Literal["incident-detail/1"]
    incident: Case
    history: list[dict[str, Any]]
    sightings: list[dict[str, Any]]
    sighting_ids: list[int]
    folded_from: int | None = None


class Explanation(Shape):
    """`explain --json` (monitor.services.explain.explain_sighting)."""

    model_config = ConfigDict(extra="allow")
    schema_: Literal["explanation/1"]
    sighting: int
    ad: dict[str, Any]
    attribution: dict[str, Any]
    findings: list[dict[str, Any]]
    cases: list[dict[str, Any]]


class Issue(Shape):
    file: str
    line: int
    path: str
    message: str


class RulesCheck(Shape):
    """`rules check --json`."""

    schema_: Literal["rules-check/1"]
    directory: str
    ok: bool
    issues: list[Issue]
    #: valid but likely not meant (a policy that sends no notice, a partner without a
    #: contact, a language without notice templates); they never fail the check
    warnings: list[Issue] = []
    template_issues: list[str]
    program: dict[str, Any] | None


class RulesTest(Shape):
    """`rules test --json` (monitor.services.explain.judge_saved_page)."""

    schema_: Literal["rules-test/1"]
    page: str
    engine: str
    query: str | None
    term_group: str | None
    market: str
    device: str
    ads: list[dict[str, Any]]
    truncated: str | None
    findings: int


class OutboxRow(Shape):
    """`outbox --json`: one line per item (no message bodies)."""

    schema_: Literal["outbox-item/1"]
    id: int | None
    key: str
    kind: str
    status: str
    partner: str | None
    incident_id: int | None
    level: int | None
    batch_key: str | None
    tags: list[str]
    subject: str | None
    attempts: int
    next_attempt_at: Timestamp | None
    last_error: str | None
    created_at: Timestamp | None
    sent_at: Timestamp | None
    decided_by: str | None
    decided_at: Timestamp | None
    decision_note: str | None
    eml_path: str | None


class DeliveryOut(Delivery):
    """`outbox deliver --json`."""

    schema_: Literal["delivery/1"]


class Ids(Shape):
    """`outbox retry`, `notices approve|reject --json`: the items changed."""

    schema_: Literal["outbox-change/1"]
    action: Literal["requeued", "approved", "rejected"]
    ids: list[int]


class Reminders(Shape):
    """`notices remind --json`."""

    schema_: Literal["reminders/1"]
    queued: list[str]
    delivery: Delivery | None


class Prune(Shape):
    """`evidence prune --json`."""

    schema_: Literal["prune/1"]
    older_than_days: int
    files_deleted: int
    bytes_freed: int
    files_kept_shared: int


class StatusChange(Shape):
    """`incidents set --json`: the cases changed."""

    schema_: Literal["status-change/1"]
    cases: list[dict[str, Any]]


class Allowed(Shape):
    """`incidents allow --json`."""

    schema_: Literal["allowed/1"]
    incident: int
    reference: str
    status: str
    entry: AllowEntry


class AllowEntry(Shape):
    id: int
    advertiser: str
    destination: str
    note: str
    from_incident: int | None
    created_at: Timestamp


class AllowRow(AllowEntry):
    """`incidents allowlist --json`: one line per entry."""

    schema_: Literal["allowlist-entry/1"]


class Digest(Shape):
    """`digest --json`."""

    schema_: Literal["digest/1"]
    html: str
    text: str
    sent: bool | None
    error: str | None


class ParsedAd(Shape):
    kind: str
    position: str
    rank: int
    headline: str
    description: str
    display_url: str
    link: str
    click_url: str | None
    #: a product listing (shopping) ad's merchant and price as the page shows them
    merchant: str | None = None
    price: str | None = None


class ParsedPage(Shape):
    """`parse --json`: one line per saved page, its paid ads as the engine's reader sees
    them (monitor.services.commands.parse_file)."""

    schema_: Literal["parse/1"]
    file: str
    engine: str
    ads: list[ParsedAd]
    stray_click_urls: list[str]
    truncated: str | None
    #: what the page is, as a sweep classes it (ok, no_results, captcha, consent, …)
    status: str


class NetworkLayer(Shape):
    network: str | None
    publisher_id: str | None
    advertiser_id: str | None
    creative_id: str | None
    sub_id: str | None
    click_id: str | None


class ChainHop(Shape):
    url: str
    how: str
    status: int | None
    elapsed_ms: int


class Attribution(NetworkLayer):
    """`attribute --json`: one line per URL, the outermost network's ids and the networks
    inside it (monitor.services.inspect.describe); `hops` and `error` with --follow."""

    schema_: Literal["attribution/1"]
    url: str
    landing_url: str | None
    inner_networks: list[NetworkLayer]
    tracking: str | None
    hops: list[ChainHop] | None = None
    error: str | None = None


class ImportChange(Shape):
    line: int
    partner: str
    publisher_id: str
    name: str
    fields: list[str]


class ImportLeftOut(Shape):
    line: int
    publisher_id: str | None
    reason: str


class ImportNote(Shape):
    line: int
    message: str


class PartnersImport(Shape):
    """`partners import --json` (monitor.program.partners_import.ImportResult.document)."""

    schema_: Literal["partners-import/1"]
    csv: str
    network: str
    file: str
    rows: int
    columns: dict[str, str | None]
    ignored_columns: list[str]
    added: list[ImportChange]
    updated: list[ImportChange]
    unchanged: list[ImportChange]
    left_out: list[ImportLeftOut]
    notes: list[ImportNote]
    written: bool
    dry_run: bool


class PackedFile(Shape):
    path: str
    size: int
    sha256: str


class EvidencePackOut(Shape):
    """`incidents export --json`: what went into the evidence pack, and what was missing."""

    schema_: Literal["evidence-pack/1"]
    incident: int
    reference: str
    out: str
    files: list[PackedFile]
    missing: list[str]


class TermsQuery(Shape):
    engine: str
    market: str
    language: str
    brand: str
    query: str
    term_group: str
    family: str


class TermsSweep(Shape):
    job: str
    runs: int
    tasks_per_run: int
    captures: int


class RulesTerms(Shape):
    """`rules terms --json`: the queries a sweep asks, and the captures a day's schedule
    implies."""

    schema_: Literal["rules-terms/1"]
    directory: str
    program: str
    devices: list[str]
    queries: list[TermsQuery]
    day: str
    timezone: str
    sweeps: list[TermsSweep]
    captures_per_day: int


class ConsoleUserOut(Shape):
    """`users list --json`: one object per console user (no secret of theirs, ever)."""

    schema_: Literal["console-user/1"]
    name: str
    role: Literal["viewer", "reviewer", "admin"]
    created_at: Timestamp
    disabled: bool


# -- what-if: rules diff, rules replay, notices preview (docs/whatif.md) --


class ProgramChange(Shape):
    area: str  # engine | device | market | brand | partner | competitor | policy | agreement
    subject: str
    kind: str  # added | removed | changed
    field: str
    old: Any
    new: Any
    text: str


class RulesDiff(Shape):
    """`rules diff --json` (monitor.program.diff.diff_programs)."""

    schema_: Literal["rules-diff/1"]
    old: str
    new: str
    equal: bool
    changes: list[ProgramChange]


class Period(Shape):
    since: str | None
    until: str | None


class ReplayTotals(Shape):
    appear: int
    disappear: int
    severity_changed: int


class SeverityChange(Shape):
    from_: str
    to: str
    count: int

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              alias_generator=lambda name: name.rstrip("_"))


class ReplayDifference(Shape):
    offender: str
    partner: str | None
    policy: str
    appear: int
    disappear: int
    severity_changed: int
    severity_changes: list[SeverityChange]
    examples: list[int]


class RulesReplay(Shape):
    """`rules replay --json` (monitor.services.replay.ReplayReport.as_json)."""

    schema_: Literal["rules-replay/1"]
    program: str
    period: Period
    sightings: int
    changed_sightings: int
    totals: ReplayTotals
    changes: list[ReplayDifference]


class NoticePreview(Shape):
    """`notices preview --json` (monitor.services.preview.Preview.as_json)."""

    schema_: Literal["notice-preview/1"]
    kind: str  # notice | digest
    source: str  # store | sample
    partner: str | None
    level: int | None
    cases: list[str]
    language: str
    direction: str  # ltr | rtl
    subject: str
    text: str
    html: str
    files: list[str]


Allowed.model_rebuild()

SCHEMAS: dict[str, type[Shape]] = {
    model.model_fields["schema_"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (SweepOut, SweepRow, IncidentRow, IncidentDetail, Explanation, RulesCheck,
                  RulesTest, OutboxRow, DeliveryOut, Ids, Reminders, Prune, StatusChange,
                  Allowed, AllowRow, Digest, ParsedPage, Attribution, PartnersImport,
                  EvidencePackOut, RulesTerms, ConsoleUserOut, RulesDiff, RulesReplay,
                  NoticePreview)
}


def validate(document: dict[str, Any]) -> Shape:
    """Check a printed object against the schema it names (the key `schema` → `schema_`)."""
    fields = {("schema_" if k == "schema" else k): v for k, v in document.items()}
    return SCHEMAS[document["schema"]].model_validate(fields)


def json_schema(name: str) -> dict[str, Any]:
    schema = SCHEMAS[name].model_json_schema()
    properties = schema.get("properties", {})
    if "schema_" in properties:
        properties["schema"] = properties.pop("schema_")
        schema["required"] = ["schema" if r == "schema_" else r
                              for r in schema.get("required", [])]
    return schema
