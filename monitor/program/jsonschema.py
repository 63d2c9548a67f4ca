"""The program's JSON Schema, generated from the models that validate it (`rules schema`).

A program is several YAML files whose top-level keys are merged (monitor.program.source), so
the schema describes one file: an object that may hold any of the program's top-level keys
and nothing else. Editors (yaml-language-server) complete and flag a file with it, and
docs/program.md is generated from the same descriptions (monitor.program.reference).

Descriptions come from `Field(description=...)`, else from the `#:` comment above a field in
its model's source, else from `FIELD_NOTES` below (models whose modules this one does not
edit); a condition kind's from the condition grammar.
"""

from __future__ import annotations

import inspect
import json
import re
from functools import cache, lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from monitor.program.calendar import SURGE_EVENTS
from monitor.program.conditions import COMBINATORS, CONDITIONS, ConditionNode, node_model
from monitor.program.models import Program

DIALECT = "https://json-schema.org/draft/2020-12/schema"
#: the name of the condition tree's definition, shared by every `when:`, `all:`, `any:`, `not:`
CONDITION_DEF = "Condition"

#: (model, field) -> description, for fields whose models carry neither a description nor
#: a `#:` comment (schedule and condition parameters)
FIELD_NOTES: dict[tuple[str, str], str] = {
    ("Trigger", "cron"): "a cron expression of 5 fields (minute hour day-of-month month "
                         "day-of-week), read in `timezone`, e.g. \"15 */3 * * *\"",
    ("Trigger", "interval_minutes"): "sweep every this many minutes",
    ("Trigger", "sample"): "sweep at random minutes inside time windows (docs/scheduling.md)",
    ("Sample", "runs_per_day"): "sweeps per day, at random minutes inside `windows`",
    ("Sample", "windows"): "local hour ranges \"FROM-TO\", e.g. \"18-24\" or \"0-2\"",
    ("Sample", "days"): "the weekdays the sample runs on (mon..sun)",
    ("SweepJob", "id"): "the sweep's name, in logs and `bidwatch status`",
    ("SweepJob", "engines"): "only these engines (all the program's when left out)",
    ("SweepJob", "markets"): "only these markets (market ids; all when left out)",
    ("SweepJob", "devices"): "only these devices (all the program's when left out)",
    ("SweepJob", "brands"): "only these brands (brand ids; all when left out)",
    ("SweepJob", "term_groups"): "only queries of these term groups, e.g. brand+coupon",
    ("Schedule", "sweeps"): "named sweeps of parts of the program, each with its own trigger",
    ("Schedule", "digest_at"): "local time (HH:MM in `timezone`) of the daily digest",
    ("Schedule", "reminders_at"): "local time (HH:MM) of the policy reminders",
    ("Schedule", "retention_at"): "local time (HH:MM) of the evidence retention run",
    ("Schedule", "surge"): "the days around shopping events when sweeps run more often",
    ("Surge", "factor"): "sweeps run this many times as often on surge days",
    ("Surge", "days_before"): "surge days before each event",
    ("Surge", "days_after"): "surge days after each event",
    ("Surge", "events"): "built-in event names, or {name, from, to} of the program's own",
    ("SurgeEvent", "name"): "a built-in event (" + ", ".join(SURGE_EVENTS) + ") or, with "
                            "`from`, the program's own",
    ("SurgeEvent", "markets"): "only in these markets (all when left out)",
    ("SurgeEvent", "from"): "first day of the program's own event",
    ("SurgeEvent", "to"): "last day of the program's own event (`from` when left out)",
    ("HourRange", "from"): "first local hour (0-23)",
    ("HourRange", "to"): "the hour the range ends before (1-24); below `from` wraps midnight",
    ("TextPattern", "field"): "the sighting's field the pattern is searched in",
    ("TextPattern", "pattern"): "an RE2 regular expression, matched case-insensitively",
}

_COMMENT = re.compile(r"^\s*#:\s?(.*)$")
_FIELD = re.compile(r"^\s+(\w+)\s*:")


@cache
def _comments(cls: type) -> dict[str, str]:
    """field -> the `#:` comment lines right above its declaration in `cls`'s own source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):  # no source (a frozen build): descriptions from notes only
        return {}
    found: dict[str, str] = {}
    pending: list[str] = []
    for line in lines:
        comment, field = _COMMENT.match(line), _FIELD.match(line)
        if comment:
            pending.append(comment.group(1).strip())
        elif field and pending:
            found[field.group(1)] = " ".join(pending)
            pending = []
        else:
            pending = []
    return found


def field_note(cls: type[BaseModel], name: str, alias: str) -> str | None:
    """A field's description when its model declares none: FIELD_NOTES, else its `#:`
    comment (in the nearest class of the MRO that declares the field)."""
    for owner in cls.__mro__:
        if not (isinstance(owner, type) and issubclass(owner, BaseModel)):
            continue
        if name in inspect.get_annotations(owner):
            note = FIELD_NOTES.get((owner.__name__, alias)) or _comments(owner).get(name)
            if note:
                return note
    return None


def condition_doc(cls: type[ConditionNode]) -> str:
    """The grammar's description of a condition kind."""
    kind = CONDITIONS.get(cls.kind)
    return kind.doc if kind is not None else COMBINATORS.get(cls.kind, "")


class _ProgramSchema(GenerateJsonSchema):
    """Pydantic's generator, with field descriptions filled in from comments and notes."""

    def model_schema(self, schema: core_schema.ModelSchema) -> dict[str, Any]:
        generated = super().model_schema(schema)
        cls = schema["cls"]
        properties = generated.get("properties", {})
        if issubclass(cls, ConditionNode):
            generated["description"] = condition_doc(cls)
            for prop in properties.values():
                prop.setdefault("description", generated["description"])
            return generated
        for name, info in cls.model_fields.items():
            alias = info.alias or name
            prop = properties.get(alias)
            if prop is not None and "description" not in prop:
                note = field_note(cls, name, alias)
                if note:
                    prop["description"] = note
        return generated


def _is_condition_union(node: dict[str, Any], condition_refs: set[str]) -> bool:
    members = node.get("oneOf")
    return isinstance(members, list) and bool(members) and all(
        isinstance(m, dict) and m.get("$ref") in condition_refs for m in members)


def _share_conditions(node: Any, condition_refs: set[str]) -> Any:
    """Every inline copy of the condition union becomes a $ref to one shared definition."""
    if isinstance(node, list):
        return [_share_conditions(item, condition_refs) for item in node]
    if not isinstance(node, dict):
        return node
    if _is_condition_union(node, condition_refs):
        rest = {k: v for k, v in node.items() if k != "oneOf"}
        return {"$ref": f"#/$defs/{CONDITION_DEF}", **rest}
    return {key: _share_conditions(value, condition_refs) for key, value in node.items()}


def _condition_refs() -> list[str]:
    """The definitions of every condition kind: the combinators, then the leaves."""
    nodes = [node_model(kind) for kind in [*COMBINATORS, *CONDITIONS.names()]]
    return [f"#/$defs/{node.__name__}" for node in nodes if node is not None]


def _condition_def(defs: dict[str, Any]) -> dict[str, Any]:
    refs = _condition_refs()
    missing = [r for r in refs if r.rsplit("/", 1)[1] not in defs]
    if missing:  # the grammar and the generated definitions disagree: a bug, say so
        raise RuntimeError(f"condition definitions missing from the schema: {missing}")
    kinds = ", ".join([*COMBINATORS, *CONDITIONS.names()])
    return {"description": "a condition: a mapping with one key, the kind (" + kinds + ")",
            "oneOf": [{"$ref": r} for r in refs]}


def _surge_event_shorthand(defs: dict[str, Any]) -> None:
    """A surge event may be written as a bare built-in name (`- black_friday`)."""
    event = defs["SurgeEvent"]
    defs["SurgeEvent"] = {
        "description": event.get("description", ""),
        "anyOf": [{"type": "string", "enum": list(SURGE_EVENTS),
                   "description": "a built-in shopping event"},
                  {key: value for key, value in event.items() if key != "description"}],
    }


@lru_cache(maxsize=1)
def _generated() -> str:
    schema = Program.model_json_schema(mode="validation", schema_generator=_ProgramSchema)
    defs: dict[str, Any] = schema.pop("$defs")
    refs = set(_condition_refs())
    defs = _share_conditions(defs, refs)
    schema = _share_conditions(schema, refs)
    defs[CONDITION_DEF] = _condition_def(defs)
    _surge_event_shorthand(defs)
    required = schema.pop("required", [])
    top = {
        "$schema": DIALECT,
        "title": "bidwatch compliance program file",
        "description": (
            "One YAML file of a bidwatch program directory (rules/). Every *.yaml file there "
            "is read and their top-level keys are merged; each key lives in one file only. "
            "The program as a whole needs " + ", ".join(required) + ". Check it with "
            "`bidwatch rules check`; reference: docs/program.md."),
        "type": "object",
        "properties": schema["properties"],
        "additionalProperties": False,
        "$defs": dict(sorted(defs.items())),
    }
    return json.dumps(top, ensure_ascii=False, sort_keys=False)


def program_schema() -> dict[str, Any]:
    """The JSON Schema of one program file: any of the program's top-level keys, typed as
    the models validate them, with no others (a fresh dict each call)."""
    loaded: dict[str, Any] = json.loads(_generated())
    return loaded


def required_keys() -> list[str]:
    """The top-level keys the program as a whole must define (in some file)."""
    return [name for name, info in Program.model_fields.items() if info.is_required()]


def schema_text() -> str:
    """The schema as committed in rules/program.schema.json: indented, ending in a newline."""
    return json.dumps(program_schema(), indent=2, ensure_ascii=False) + "\n"
