"""The `--json` shapes of `rules diff`, `rules replay` and `notices preview`, for
monitor/cli/schemas.py to list in SCHEMAS (imported only there and by the tests: pydantic
is not needed to print JSON). Same rules as schemas.py: a field may be added within a
version; renamed, retyped or removed is a new version."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProgramChange(_Shape):
    area: str  # engine | device | market | brand | partner | competitor | policy | agreement
    subject: str
    kind: str  # added | removed | changed
    field: str
    old: Any
    new: Any
    text: str


class RulesDiff(_Shape):
    """`rules diff --json` (monitor.program.diff.diff_programs)."""

    schema_: Literal["rules-diff/1"]
    old: str
    new: str
    equal: bool
    changes: list[ProgramChange]


class Period(_Shape):
    since: str | None
    until: str | None


class ReplayTotals(_Shape):
    appear: int
    disappear: int
    severity_changed: int


class SeverityChange(_Shape):
    from_: str
    to: str
    count: int

    model_config = ConfigDict(extra="forbid", populate_by_name=True,
                              alias_generator=lambda name: name.rstrip("_"))


class ReplayDifference(_Shape):
    offender: str
    partner: str | None
    policy: str
    appear: int
    disappear: int
    severity_changed: int
    severity_changes: list[SeverityChange]
    examples: list[int]


class RulesReplay(_Shape):
    """`rules replay --json` (monitor.services.replay.ReplayReport.as_json)."""

    schema_: Literal["rules-replay/1"]
    program: str
    period: Period
    sightings: int
    changed_sightings: int
    totals: ReplayTotals
    changes: list[ReplayDifference]


class NoticePreview(_Shape):
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


WHATIF_SCHEMAS: tuple[type[BaseModel], ...] = (RulesDiff, RulesReplay, NoticePreview)
