"""The compliance program: rules/*.yaml loaded and validated into a `Program`.

Every problem is reported as a `ProgramIssue` naming the file, the line and the field path
("rules/partners.yaml:14: partners[2].network_ids[0].network: Field required"). Lines come
from PyYAML's node tree (`compose`), which also reveals duplicate keys that plain loading
would silently drop. `check_program` returns every issue it finds and never raises for bad
input; `load_program` raises `ProgramError` carrying them.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from difflib import get_close_matches
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from monitor.attribute.networks import NETWORK_NAMES
from monitor.errors import ConfigError
from monitor.judge.policy import (
    ENGINE_NAMES,
    Condition,
    ConditionNode,
    Domain,
    EngineName,
    Loc,
    Slug,
    condition_problems,
    domain_in,
    node_model,
)
from monitor.models import AdvertiserClass, Device, MarketRef, Severity
from monitor.program.calendar import SURGE_EVENTS

# ---------------------------------------------------------------------------------------------
# The models (attribute names are the contract in the project brief; do not rename).

_EMAIL_PATTERN = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"
Email = Annotated[str, Field(pattern=_EMAIL_PATTERN)]
Text = Annotated[str, Field(min_length=1)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$")]
#: uule (Google's location parameter) stores the name's length in one base64 digit
UULE_MAX_BYTES = 63


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _unique(values: Iterable[object], what: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} '{value}' is listed twice")
        seen.add(value)


class Market(Model):
    id: Slug
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    language: Language
    timezone: Text
    city: Text | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") from None
        return value

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


# -- the schedule ------------------------------------------------------------------------------
# What the daemon (`bidwatch run`) runs and when; see docs/scheduling.md.

_CLOCK = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
Clock = Annotated[str, Field(pattern=_CLOCK)]
Window = Annotated[str, Field(pattern=r"^([01]?[0-9]|2[0-3])-([01]?[0-9]|2[0-4])$")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
#: `timezone: market` runs a job once per market, each in the market's own time zone
MARKET_ZONE = "market"


def _zone_or_market(value: str) -> str:
    if value == MARKET_ZONE:
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London) "
                         f"nor '{MARKET_ZONE}'") from None
    return value


class Sample(Model):
    """`runs_per_day` sweeps at random minutes inside `windows` on `days`, so that over
    ceil(window hours / runs_per_day) weeks every hour of those days is swept."""

    runs_per_day: int = Field(ge=1, le=24)
    windows: list[Window] = Field(default=["0-24"], min_length=1)
    days: list[Weekday] = Field(default=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                min_length=1)


class Trigger(Model):
    """When a sweep runs: exactly one of cron, interval_minutes, interval_seconds or sample."""

    cron: Text | None = None
    interval_minutes: int | None = Field(default=None, ge=1)
    #: for tests and demos: a real engine must not be swept every few seconds
    interval_seconds: int | None = Field(default=None, ge=1)
    sample: Sample | None = None
    #: a random delay of up to this many seconds before each run (cron and interval)
    jitter_seconds: int = Field(default=0, ge=0)
    #: the zone the cron and sample times are read in; `market` = each market in its own
    timezone: str | None = None

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if len(value.split()) != 5:
            raise ValueError("cron needs 5 fields: minute hour day-of-month month day-of-week")
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as err:
            raise ValueError(f"not a valid cron expression: {err}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone_or_market(value)

    def trigger_kinds(self) -> list[str]:
        return [k for k in ("cron", "interval_minutes", "interval_seconds", "sample")
                if getattr(self, k) is not None]

    def zone(self, default: str) -> str:
        """The job's zone: its own, else `market` for samples, else the schedule's."""
        return self.timezone or (MARKET_ZONE if self.sample is not None else default)


class SweepJob(Trigger):
    """A named sweep of part of the program; every filter left out means all."""

    id: Slug
    engines: list[EngineName] | None = None
    markets: list[Slug] | None = None
    devices: list[Device] | None = None
    brands: list[Slug] | None = None
    term_groups: list[Text] | None = None
    #: run `surge.factor` times as often on the surge calendar's days
    surge: bool = True

    @model_validator(mode="after")
    def _one_way(self) -> SweepJob:
        if len(self.trigger_kinds()) != 1:
            raise ValueError("set exactly one of cron, interval_minutes, interval_seconds or "
                             "sample")
        return self


class SurgeEvent(Model):
    """A built-in shopping event, or the program's own dates (`name` with `from`/`to`)."""

    # dumped as `from`, as written, so a dumped program validates again
    model_config = ConfigDict(serialize_by_alias=True)
    name: Text
    markets: list[Slug] | None = None
    from_: date | None = Field(default=None, alias="from")
    to: date | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known_or_dated(self) -> SurgeEvent:
        if self.from_ is None:
            if self.to is not None:
                raise ValueError("'to' needs 'from'")
            if self.name not in SURGE_EVENTS:
                raise ValueError(f"unknown event '{self.name}'; built-in events are "
                                 f"{', '.join(SURGE_EVENTS)} (or give 'from' and 'to' dates)")
        elif self.to is not None and self.to < self.from_:
            raise ValueError("'to' is before 'from'")
        return self


class Surge(Model):
    """Days around key shopping events when sweeps run `factor` times as often."""

    factor: int = Field(default=3, ge=1, le=24)
    days_before: int = Field(default=1, ge=0, le=30)
    days_after: int = Field(default=1, ge=0, le=30)
    events: list[SurgeEvent] = []


class Schedule(Trigger):
    """The daemon's jobs. The top-level trigger (the original `cron` / `interval_minutes`
    form) sweeps the whole program; `sweeps` adds named sweeps of parts of it."""

    sweeps: list[SweepJob] = []
    #: how often the outbox is delivered
    outbox_every_seconds: int = Field(default=60, ge=1)
    #: the daily digest, reminders and evidence retention, at `timezone`'s local time
    digest_at: Clock = "07:00"
    reminders_at: Clock = "08:00"
    retention_at: Clock = "03:30"
    surge: Surge = Surge()

    @field_validator("timezone")
    @classmethod
    def _office_zone(cls, value: str | None) -> str | None:
        if value == MARKET_ZONE:
            raise ValueError("the schedule's own timezone is an IANA zone (the office's); "
                             f"'{MARKET_ZONE}' is for a sweep")
        return value

    @model_validator(mode="after")
    def _one_way(self) -> Schedule:
        kinds = self.trigger_kinds()
        if len(kinds) > 1:
            raise ValueError(f"set only one of {' or '.join(kinds)}")
        if not kinds and not self.sweeps:
            raise ValueError("set exactly one of cron or interval_minutes (or sample), "
                             "or list sweeps")
        _unique((s.id for s in self.sweeps), "sweep id")
        if kinds and any(s.id == "all" for s in self.sweeps):
            raise ValueError("sweep id 'all' is the top-level sweep's; name this one otherwise")
        return self

    @property
    def office_zone(self) -> str:
        return self.timezone or "UTC"

    def jobs(self) -> list[SweepJob]:
        """Every sweep job: the top-level one as `all` (when it has a trigger), then `sweeps`."""
        jobs = list(self.sweeps)
        if self.trigger_kinds():
            fields = {k: getattr(self, k) for k in Trigger.model_fields}
            jobs.insert(0, SweepJob(id="all", **fields))
        return jobs


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
        _unique(values, "value")
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


TOP_LEVEL_KEYS: tuple[str, ...] = tuple(Program.model_fields)

# ---------------------------------------------------------------------------------------------
# Issues.


@dataclass(frozen=True, order=True)
class ProgramIssue:
    """One problem: `FILE:LINE: field.path: message` (line 0 when no line applies)."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line > 0 else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ProgramError(ConfigError):
    """The program is invalid; `issues` lists every problem found."""

    def __init__(self, issues: list[ProgramIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


def format_path(loc: Loc) -> str:
    """('partners', 2, 'network_ids', 0) -> 'partners[2].network_ids[0]'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---------------------------------------------------------------------------------------------
# Reading the files: YAML nodes -> data, with a map of where every path is.


@dataclass
class Source:
    """What the YAML files gave: merged data, where each path is, and the problems so far."""

    root: Path
    data: dict[str, Any] = field(default_factory=dict)
    lines: dict[Loc, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # top-level key -> file
    issues: list[ProgramIssue] = field(default_factory=list)
    unreadable: bool = False  # some file could not be parsed: structure checks would mislead

    def fail(self, issue: ProgramIssue) -> None:
        """An issue that leaves the data incomplete (a file could not be read or parsed)."""
        self.issues.append(issue)
        self.unreadable = True

    def issue(self, loc: Loc, message: str) -> None:
        self.issues.append(self.locate(loc, message))

    def locate(self, loc: Loc, message: str) -> ProgramIssue:
        """An issue at the node nearest to `loc` (parts that name no node are skipped)."""
        nearest: Loc = ()
        for part in loc:
            if (*nearest, part) in self.lines:
                nearest = (*nearest, part)
        file = self.files.get(str(loc[0]), str(self.root)) if loc else str(self.root)
        return ProgramIssue(file, self.lines.get(nearest, 0), format_path(_clean(loc)), message)


def _clean(loc: Loc) -> Loc:
    """Drop the tags pydantic adds for tagged unions ('when', 'all', 'all', 0 -> one 'all')."""
    out: list[str | int] = []
    for part in loc:
        if out and part == out[-1] and isinstance(part, str) and node_model(part) is not None:
            continue
        out.append(part)
    return tuple(out)


def read_sources(root: Path) -> Source:
    """Parse every *.yaml under `root` into one Source; problems become issues, never raise."""
    source = Source(root)
    if not root.exists():
        source.fail(ProgramIssue(str(root), 0, "", "rules directory does not exist"))
    elif not root.is_dir():
        source.fail(ProgramIssue(str(root), 0, "", "not a directory"))
    else:
        files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not files:
            source.fail(ProgramIssue(str(root), 0, "", "no *.yaml files in the directory"))
        for path in files:
            _read_file(path, source)
    return source


def _read_file(path: Path, source: Source) -> None:
    name = str(path)
    text = _decode(path, source)
    if text is None:
        return
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:  # an empty file (or only comments) defines nothing
            return
        _check_duplicate_keys(node, name, source)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        source.fail(_yaml_issue(name, err))
        return
    finally:
        loader.dispose()
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1
        source.fail(ProgramIssue(name, line, "", "the top level must be a mapping of keys"))
        return
    _merge(name, node, data, source)


def _decode(path: Path, source: Source) -> str | None:
    try:
        raw = path.read_bytes()
    except OSError as err:
        source.fail(ProgramIssue(str(path), 0, "", f"cannot read the file: {err.strerror}"))
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        message = f"not UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start}); save it as UTF-8"
        source.fail(ProgramIssue(str(path), line, "", message))
        return None


def _yaml_issue(file: str, err: yaml.MarkedYAMLError) -> ProgramIssue:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 0
    parts = [p for p in (err.context, err.problem) if p]
    return ProgramIssue(file, line, "", "YAML syntax: " + ", ".join(parts))


def _check_duplicate_keys(node: yaml.Node, file: str, source: Source) -> None:
    """PyYAML keeps the last of two equal keys without a word; here they are an error."""
    for mapping in _mappings(node, set()):
        first_line: dict[object, int] = {}
        for key, _value in mapping.value:
            if not isinstance(key, yaml.ScalarNode) or key.value == "<<":
                continue
            line = key.start_mark.line + 1
            if key.value in first_line:
                message = f"duplicate key '{key.value}' (first at line {first_line[key.value]})"
                source.issues.append(ProgramIssue(file, line, "", message))
            else:
                first_line[key.value] = line


def _mappings(node: yaml.Node, seen: set[int]) -> Iterator[yaml.MappingNode]:
    if id(node) in seen:  # aliases share nodes; visit each once
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        yield node
        for key, value in node.value:
            yield from _mappings(key, seen)
            yield from _mappings(value, seen)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _mappings(item, seen)


def _merge(file: str, node: yaml.MappingNode, data: dict[Any, Any], source: Source) -> None:
    """Add one file's top-level keys, refusing a key another file already defines."""
    for key_node, value_node in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        if not isinstance(key, str) or key not in data:  # `<<`, or a key YAML made a bool/int
            source.issues.append(ProgramIssue(file, line, str(key), _unknown_key((str(key),))))
            continue
        if source.files.get(key) == file:  # a duplicate key, already reported
            continue
        if key in source.files:
            other = source.files[key]
            source.issues.append(ProgramIssue(
                file, line, str(key), f"already defined in {other}:{source.lines[(key,)]}"))
            continue
        source.files[key] = file
        source.data[key] = data[key]
        source.lines[(key,)] = line
        _record_lines(value_node, (key,), source.lines)


def _record_lines(
    node: yaml.Node, loc: Loc, lines: dict[Loc, int], seen: set[int] | None = None
) -> None:
    """Where each path starts: a key's line for mapping entries, an item's line in lists.
    An aliased node is walked once, so a file of nested aliases cannot blow up the walk."""
    seen = set() if seen is None else seen
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and (*loc, key.value) not in lines:
                lines[(*loc, key.value)] = key.start_mark.line + 1
                _record_lines(value, (*loc, key.value), lines, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*loc, index)] = item.start_mark.line + 1
            _record_lines(item, (*loc, index), lines, seen)


# ---------------------------------------------------------------------------------------------
# Structure: pydantic errors -> issues with friendlier messages.


def _validate(source: Source) -> Program | None:
    try:
        return Program.model_validate(source.data)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            source.issue(tuple(error["loc"]), _message(error))
        return None


def _message(error: Any) -> str:
    kind, loc, value = error["type"], tuple(error["loc"]), error.get("input")
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(value, bool):
        return message + " (YAML reads yes/no/on/off/true/false as booleans; quote it)"
    if kind in ("literal_error", "enum", "string_pattern_mismatch") and _scalar(value):
        return f"{message} (got {value!r})"
    return message


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool | date)


def _unknown_key(loc: Loc) -> str:
    key = str(loc[-1])
    known = _fields_at(loc[:-1])
    where = "top-level key" if len(loc) == 1 else "key"
    close = get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    if not close and known:
        hint = "; expected one of: " + ", ".join(known)
    return f"unknown {where} '{key}'{hint}"


def _fields_at(loc: Loc) -> list[str]:
    """The keys the model at `loc` accepts (follows lists, optionals and condition tags)."""
    current: Any = Program
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    model = _model_of(current)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(part, str) and _is_condition(annotation):
        return node_model(part)
    model = _model_of(annotation)
    if isinstance(part, str) and model is not None:
        by_alias = {f.alias or name: f for name, f in model.model_fields.items()}
        found = by_alias.get(part)
        return found.annotation if found else None
    args = [a for a in get_args(_strip(annotation)) if a is not type(None)]
    if isinstance(part, int) and get_origin(_strip(annotation)) is list:
        return args[0]
    return None


def _strip(annotation: Any) -> Any:
    """Unwrap Annotated and Optional to the type inside."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip(args[0])
    return annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    inner = _strip(annotation)
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def _is_condition(annotation: Any) -> bool:
    """True for the condition union (a union of ConditionNode models)."""
    inner = _strip(annotation)
    if get_origin(inner) not in (Union, types.UnionType):
        return False
    members = [_strip(a) for a in get_args(inner)]
    return all(isinstance(m, type) and issubclass(m, ConditionNode) for m in members)


# ---------------------------------------------------------------------------------------------
# Whole-program checks: cross-references and overlaps a single model cannot see.

Problem = tuple[Loc, str]


def _duplicate_ids(program: Program) -> Iterator[Problem]:
    sections: dict[str, list[Any]] = {
        "markets": program.markets, "brands": program.brands, "partners": program.partners,
        "competitors": program.competitors, "policies": program.policies,
    }
    for section, items in sections.items():
        first: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.id in first:
                other = f"{section}[{first[item.id]}]"
                yield (section, index, "id"), f"duplicate id '{item.id}' (also {other})"
            first.setdefault(item.id, index)


def _agreement_problems(program: Program) -> Iterator[Problem]:
    partners = {p.id for p in program.partners}
    seen: dict[str, int] = {}
    for index, agreement in enumerate(program.agreements):
        loc: Loc = ("agreements", index)
        if agreement.partner not in partners:
            yield (*loc, "partner"), _unknown("partner", agreement.partner, partners)
        elif agreement.partner in seen:
            yield (*loc, "partner"), (
                f"partner '{agreement.partner}' already has an agreement "
                f"(agreements[{seen[agreement.partner]}]); add versions there")
        seen.setdefault(agreement.partner, index)
        yield from _overlaps(agreement.versions, loc)
        for v_index, version in enumerate(agreement.versions):
            for p_index, permission in enumerate(version.permissions):
                where = (*loc, "versions", v_index, "permissions", p_index)
                yield from _permission_problems(permission, where, program)


def _overlaps(versions: list[AgreementVersion], loc: Loc) -> Iterator[Problem]:
    """Two versions of one agreement in force on the same day."""
    order = sorted(range(len(versions)), key=lambda i: versions[i].effective_from)
    for before, after in itertools.pairwise(order):
        end = versions[before].effective_to
        if end is None or end >= versions[after].effective_from:
            yield (*loc, "versions", after, "effective_from"), (
                f"version '{versions[after].version}' overlaps version "
                f"'{versions[before].version}' (which runs to {end or 'open end'})")
    first: dict[str, int] = {}
    for index, version in enumerate(versions):
        if version.version in first:
            message = f"version '{version.version}' is listed twice"
            yield (*loc, "versions", index, "version"), message
        first.setdefault(version.version, index)


def _permission_problems(permission: Permission, loc: Loc, program: Program) -> Iterator[Problem]:
    policies = {p.id for p in program.policies}
    if permission.policy not in policies:
        yield (*loc, "policy"), _unknown("policy", permission.policy, policies)
    markets = {m.id for m in program.markets}
    for index, market_id in enumerate(permission.markets or []):
        if market_id not in markets:
            yield (*loc, "markets", index), _unknown("market", market_id, markets)
    for index, engine_name in enumerate(permission.engines or []):
        if engine_name not in ENGINE_NAMES:
            yield (*loc, "engines", index), _unknown("engine", engine_name, set(ENGINE_NAMES))


def _unknown(what: str, value: str, known: set[str]) -> str:
    close = get_close_matches(value, sorted(known), n=1)
    return f"unknown {what} '{value}'" + (f"; did you mean '{close[0]}'?" if close else "")


def _policy_problems(program: Program, templates_dir: Path | None) -> Iterator[Problem]:
    notices = _notice_names(templates_dir / "notices") if templates_dir is not None else None
    for index, policy in enumerate(program.policies):
        node: ConditionNode = policy.when
        for loc, message in condition_problems(node, program):
            yield ("policies", index, "when", *loc), message
        if notices is not None and policy.notice is not None and policy.notice not in notices:
            yield ("policies", index, "notice"), (
                f"no notice template '{policy.notice}' under {templates_dir / 'notices'}")


def _notice_names(notices_dir: Path) -> set[str]:
    """Template base names: each path part's name before its first dot, at any depth."""
    if not notices_dir.is_dir():
        return set()
    names: set[str] = set()
    for path in notices_dir.rglob("*"):
        names.update(part.split(".")[0] for part in path.relative_to(notices_dir).parts)
    return names


def _domain_problems(program: Program) -> Iterator[Problem]:
    """A partner or competitor claiming one of the brand's own domains would misattribute ads."""
    brand = frozenset(program.brand_domains())
    owners = [("partners", program.partners), ("competitors", program.competitors)]
    for section, items in owners:
        for index, item in enumerate(items):
            for d_index, domain in enumerate(item.domains):
                overlap = domain_in(domain, brand) or next(
                    (b for b in sorted(brand) if domain_in(b, frozenset([domain]))), None)
                if overlap:
                    yield (section, index, "domains", d_index), (
                        f"'{domain}' overlaps the brand's own domain '{overlap}'")


def _network_problems(program: Program) -> Iterator[Problem]:
    """Network names must be ones the recognisers report, or no chain could ever match."""
    known = set(NETWORK_NAMES)
    for index, partner in enumerate(program.partners):
        for n_index, network_id in enumerate(partner.network_ids):
            if network_id.network not in known:
                loc = ("partners", index, "network_ids", n_index, "network")
                yield loc, _unknown("network", network_id.network, known)


def _schedule_problems(program: Program) -> Iterator[Problem]:
    """Sweep filters and surge events must name the program's own markets, brands and
    term groups, or a job would silently sweep nothing."""
    known = {
        "markets": {m.id for m in program.markets},
        "brands": {b.id for b in program.brands},
        "term_groups": {"brand", "misspelling"}
        | {f"brand+{m}" for b in program.brands for m in b.modifiers},
        "engines": set(program.engines),
        "devices": {str(d) for d in program.devices},
    }
    for index, job in enumerate(program.schedule.sweeps):
        for what, names in known.items():
            for n_index, value in enumerate(getattr(job, what) or []):
                if str(value) not in names:
                    loc = ("schedule", "sweeps", index, what, n_index)
                    yield loc, _unknown(what.rstrip("s").replace("_", " "), str(value), names)
    for index, event in enumerate(program.schedule.surge.events):
        for m_index, market in enumerate(event.markets or []):
            if market not in known["markets"]:
                loc = ("schedule", "surge", "events", index, "markets", m_index)
                yield loc, _unknown("market", market, known["markets"])


def _whole_program(program: Program, templates_dir: Path | None) -> Iterator[Problem]:
    yield from _duplicate_ids(program)
    yield from _schedule_problems(program)
    yield from _network_problems(program)
    yield from _agreement_problems(program)
    yield from _policy_problems(program, templates_dir)
    yield from _domain_problems(program)


# ---------------------------------------------------------------------------------------------
# The entry points.


def check_program(
    path: Path, templates_dir: Path | None = None
) -> tuple[Program | None, list[ProgramIssue]]:
    """Validate a rules directory. `templates_dir` is the templates root (the one holding
    notices/); when given, each policy's notice must name a template there. Never raises for
    bad input; returns the program only when there are no issues."""
    source = read_sources(Path(path))
    if source.unreadable:
        return None, sorted(source.issues)
    program = _validate(source)
    if program is not None:
        for loc, message in _whole_program(program, templates_dir):
            source.issue(loc, message)
    issues = sorted(source.issues)
    return (program if not issues else None), issues


def load_program(path: Path, templates_dir: Path | None = None) -> Program:
    """The validated program; raises ProgramError listing every issue."""
    program, issues = check_program(path, templates_dir)
    if program is None:
        raise ProgramError(issues)
    return program
