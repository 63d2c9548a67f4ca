"""What a change to the program does, in words: two loaded Programs compared, not their text.

`diff_programs(old, new)` returns one `Change` per difference — an engine, market, brand,
partner, competitor or policy added, removed or changed field by field; an agreement's
versions added, removed, re-dated or given other permissions; any other setting changed —
in the order a reader checks a change: scope first, then who, then what is judged.
Comparing the models (not the YAML) means reordering, comments and quoting never show up,
and a field added to the models later is compared without code here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from pydantic import BaseModel

from monitor.program.conditions import describe
from monitor.program.models import Agreement, AgreementVersion, Permission, Policy, Program

#: the id-keyed lists of the program, in the order they are reported, with their area name
KEYED = (("markets", "market"), ("brands", "brand"), ("partners", "partner"),
         ("competitors", "competitor"), ("policies", "policy"))
#: plain lists of names reported as items added or removed
NAMED = (("engines", "engine"), ("devices", "device"))
#: how long an old or new value may be in the words before it is cut
VALUE_WIDTH = 120


@dataclass(frozen=True)
class Change:
    """One difference. `area`: engine, device, market, brand, partner, competitor, policy,
    agreement or setting; `subject`: the item's id (an agreement's partner, with the version);
    `kind`: added, removed or changed; `field`: the field changed ("" for a whole item)."""

    area: str
    subject: str
    kind: str
    field: str
    old: Any
    new: Any
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"area": self.area, "subject": self.subject, "kind": self.kind,
                "field": self.field, "old": self.old, "new": self.new, "text": self.text}


def diff_programs(old: Program, new: Program) -> list[Change]:
    """Every difference between two validated programs, in words."""
    changes: list[Change] = []
    for name, area in NAMED:
        changes += _named(area, getattr(old, name), getattr(new, name))
    for name, area in KEYED:
        changes += _keyed(area, getattr(old, name), getattr(new, name))
    changes += _agreements(old.agreements, new.agreements)
    changes += _settings(old, new)
    return changes


def _named(area: str, old: Sequence[Any], new: Sequence[Any]) -> list[Change]:
    before, after = [str(v) for v in old], [str(v) for v in new]
    return ([Change(area, v, "added", "", None, v, f"{area} {v} added")
             for v in after if v not in before]
            + [Change(area, v, "removed", "", v, None, f"{area} {v} removed")
               for v in before if v not in after])


def _keyed(area: str, old: Sequence[BaseModel], new: Sequence[BaseModel]) -> list[Change]:
    before = {_id(m): m for m in old}
    after = {_id(m): m for m in new}
    changes = []
    for key, model in after.items():
        if key not in before:
            changes.append(Change(area, key, "added", "", None, _dump(model),
                                  f"{area} {key} added{_summary(model)}"))
    for key, model in before.items():
        if key not in after:
            changes.append(Change(area, key, "removed", "", _dump(model), None,
                                  f"{area} {key} removed"))
    for key, model in before.items():
        if key in after:
            changes += _fields(area, key, model, after[key])
    return changes


def _id(model: BaseModel) -> str:
    return str(getattr(model, "id"))  # noqa: B009  (every keyed list's models have an id)


def _summary(model: BaseModel) -> str:
    """A policy's severity and first level said when it is added: what staff check first."""
    if isinstance(model, Policy):
        return (f" (severity {model.severity}, first notice level {model.first_level}, "
                f"when {describe(model.when)})")
    return ""


def _fields(area: str, subject: str, old: BaseModel, new: BaseModel) -> list[Change]:
    """Field by field, in the model's order; lists of plain values as items added/removed."""
    changes = []
    before, after = _dump(old), _dump(new)
    for name in type(old).model_fields:
        was, now = before.get(name), after.get(name)
        if was == now:
            continue
        if name == "when" and isinstance(old, Policy) and isinstance(new, Policy):
            changes.append(Change(area, subject, "changed", name, was, now,
                                  f"{area} {subject}: condition {describe(old.when)} → "
                                  f"{describe(new.when)}"))
        elif _plain_list(was) and _plain_list(now):
            changes.append(Change(area, subject, "changed", name, was, now,
                                  f"{area} {subject}: {_label(name)} {_items_said(was, now)}"))
        else:
            changes.append(Change(area, subject, "changed", name, was, now,
                                  f"{area} {subject}: {_label(name)} {_value(was)} → "
                                  f"{_value(now)}"))
    return changes


def _agreements(old: Sequence[Agreement], new: Sequence[Agreement]) -> list[Change]:
    before = {a.partner: a for a in old}
    after = {a.partner: a for a in new}
    changes = []
    for partner in [*after, *(p for p in before if p not in after)]:
        was = {v.version: v for v in before[partner].versions} if partner in before else {}
        now = {v.version: v for v in after[partner].versions} if partner in after else {}
        for version, model in now.items():
            if version not in was:
                changes.append(Change("agreement", f"{partner} {version}", "added", "", None,
                                      _dump(model), f"agreement {partner}: new version "
                                      f"{version} {_dates(model)}{_grants(model.permissions)}"))
        for version, model in was.items():
            if version not in now:
                changes.append(Change("agreement", f"{partner} {version}", "removed", "",
                                      _dump(model), None,
                                      f"agreement {partner}: version {version} removed"))
            else:
                changes += _version(partner, model, now[version])
    return changes


def _version(partner: str, old: AgreementVersion, new: AgreementVersion) -> list[Change]:
    subject = f"{partner} {old.version}"
    changes = []
    if (old.effective_from, old.effective_to) != (new.effective_from, new.effective_to):
        changes.append(Change("agreement", subject, "changed", "effective dates",
                              [str(old.effective_from), _day(old.effective_to)],
                              [str(new.effective_from), _day(new.effective_to)],
                              f"agreement {subject}: in force {_dates(old)} → {_dates(new)}"))
    if old.document != new.document:
        changes.append(Change("agreement", subject, "changed", "document", old.document,
                              new.document, f"agreement {subject}: document "
                              f"{_value(old.document)} → {_value(new.document)}"))
    was = {p.in_words(): _dump(p) for p in old.permissions}
    now = {p.in_words(): _dump(p) for p in new.permissions}
    for said, dumped in now.items():
        if said not in was:
            changes.append(Change("agreement", subject, "added", "permissions", None, dumped,
                                  f"agreement {subject}: permission granted: {said}"))
    for said, dumped in was.items():
        if said not in now:
            changes.append(Change("agreement", subject, "removed", "permissions", dumped, None,
                                  f"agreement {subject}: permission withdrawn: {said}"))
    return changes


def _grants(permissions: Iterable[Permission]) -> str:
    said = [p.in_words() for p in permissions]
    return f", permitting {'; '.join(said)}" if said else ", no permissions"


def _dates(version: AgreementVersion) -> str:
    ends = f"to {version.effective_to}" if version.effective_to else "with no end"
    return f"from {version.effective_from} {ends}"


def _day(value: Any) -> str | None:
    return None if value is None else str(value)


def _settings(old: Program, new: Program) -> list[Change]:
    """Every other top-level field (name, notices, schedule, allowlist, ignore, incidents…)."""
    handled = {name for name, _ in (*KEYED, *NAMED)} | {"agreements"}
    changes = []
    for name in Program.model_fields:
        if name in handled:
            continue
        was, now = _plain(getattr(old, name)), _plain(getattr(new, name))
        if was == now:
            continue
        if isinstance(was, dict) and isinstance(now, dict):  # a section: say which keys
            for key in dict.fromkeys([*was, *now]):
                if was.get(key) != now.get(key):
                    changes.append(_setting(f"{name}.{key}", was.get(key), now.get(key)))
        else:
            changes.append(_setting(name, was, now))
    return changes


def _setting(name: str, was: Any, now: Any) -> Change:
    if _plain_list(was) and _plain_list(now):
        said = _items_said(was, now)
    else:
        said = f"{_value(was)} → {_value(now)}"
    return Change("setting", name, "changed", name, was, now, f"setting {name}: {said}")


def _items_said(was: Sequence[Any], now: Sequence[Any]) -> str:
    added = [v for v in now if v not in was]
    removed = [v for v in was if v not in now]
    parts = ([f"added {', '.join(map(_value, added))}"] if added else []) + (
        [f"removed {', '.join(map(_value, removed))}"] if removed else [])
    return "; ".join(parts) or f"reordered {_value(was)} → {_value(now)}"


def _plain_list(value: Any) -> TypeGuard[list[Any]]:
    return isinstance(value, list) and all(
        isinstance(v, str | int | float | bool) for v in value)


def _label(name: str) -> str:
    return {"first_level": "first notice level", "notice": "notice template",
            "applies_to": "applies to"}.get(name, name.replace("_", " "))


def _value(value: Any) -> str:
    if value is None or value == "":
        return "(none)"
    text = value if isinstance(value, str) else repr(value)
    text = f"'{text}'" if isinstance(value, str) else text
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
