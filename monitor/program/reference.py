"""docs/program.md, generated: the prose and examples of reference.md (beside this module),
and a table of every field from the program's JSON Schema (monitor.program.jsonschema,
itself from the models).

Regenerate after changing a model or the template (tests/test_reference_drift.py fails
until you do):

    python -m monitor.program.reference          # writes docs/program.md and the schema
    python -m monitor.program.reference --check  # exit 1 when either is out of date
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from monitor.program.conditions import COMBINATORS, CONDITIONS
from monitor.program.jsonschema import CONDITION_DEF, program_schema, required_keys, schema_text

#: where the generated files live in the source tree
REPO = Path(__file__).resolve().parents[2]
REFERENCE_PATH = REPO / "docs" / "program.md"
SCHEMA_PATH = REPO / "rules" / "program.schema.json"

#: the page's prose and examples; each `<!-- fields: A, B -->` line becomes those tables
TEMPLATE_PATH = Path(__file__).with_name("reference.md")
_FIELDS = re.compile(r"^<!-- fields: (.+) -->$", re.MULTILINE)
#: the top-level table's text (the schema of one file requires nothing)
TOP_LEVEL = ("The top-level keys, in whichever files you like; the required ones must be in "
             "one of them.")


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[1]


class _Renderer:
    """Markdown for the schema's definitions: one table per mapping, one row per key."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.defs: dict[str, Any] = schema["$defs"]
        self.top = schema
        self.names = _named_patterns(self.defs)

    def type_of(self, prop: dict[str, Any]) -> str:
        if "$ref" in prop:
            return self._ref(_ref_name(prop["$ref"]))
        if "anyOf" in prop:
            members = [p for p in prop["anyOf"] if p.get("type") != "null"]
            if len(members) == 2 and members[1].get("items") == members[0]:
                return self.type_of(members[0]) + ", or a list of them"  # one_or_many
            return " or ".join(dict.fromkeys(self.type_of(p) for p in members))
        if "enum" in prop:
            return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
        kind = prop.get("type")
        if kind == "array":
            least = " (at least one)" if prop.get("minItems") == 1 else ""
            return "list of " + self.type_of(prop.get("items", {})) + least
        if kind == "object":
            return "mapping of language → text" if "patternProperties" in prop else "mapping"
        if kind == "integer":
            return "integer" + _bounds(prop)
        if kind == "boolean":
            return "true or false"
        if kind == "string":
            return self._string(prop)
        return "any"

    def _ref(self, name: str) -> str:
        target = self.defs[name]
        if "enum" in target:
            return self.type_of(target)
        if name == CONDITION_DEF:
            return "[condition](#conditions)"
        return f"[{name}](#{name.lower()})"

    def _string(self, prop: dict[str, Any]) -> str:
        if prop.get("format") == "date":
            return "date (YYYY-MM-DD)"
        if prop.get("format") == "email":
            return "email address"
        named = self.names.get(prop.get("pattern", ""))
        return named or "text"

    def table(self, name: str) -> str:
        if name == CONDITION_DEF:
            return _conditions(self)
        if name == "Program":  # the top level: keys required of the program, in some file
            definition = {"description": TOP_LEVEL, "properties": self.top["properties"],
                          "required": required_keys()}
        else:
            definition = self.defs[name]
        body = definition
        if "anyOf" in definition:  # a shorthand (a bare surge event name) beside the mapping
            body = next(p for p in definition["anyOf"] if p.get("type") == "object")
        lines = [f"### {name}", ""]
        if definition.get("description"):
            lines += [" ".join(definition["description"].split()), ""]
        if body is not definition:
            shorthand = next(p for p in definition["anyOf"] if p.get("type") == "string")
            lines += ["May be written as a bare name: " + self.type_of(shorthand) + ".", ""]
        lines += self.rows(body)
        return "\n".join(lines) + "\n"

    def rows(self, body: dict[str, Any]) -> list[str]:
        required = set(body.get("required", []))
        lines = ["| key | type | default | description |", "|---|---|---|---|"]
        for key, prop in body.get("properties", {}).items():
            default = "*required*" if key in required else _default(prop)
            description = " ".join(prop.get("description", "").split())
            lines.append(f"| `{key}` | {self.type_of(prop)} | {default} | "
                         f"{_cell(description)} |")
        return lines


def _named_patterns(defs: dict[str, Any]) -> dict[str, str]:
    """Patterns of the shared value types, by the name a reader knows them by."""
    from pydantic import TypeAdapter

    from monitor.program.fields import Domain, Language, Slug
    from monitor.program.schedule import Clock, Window

    named = {"id": Slug, "domain": Domain, "language code": Language, "HH:MM": Clock,
             "hour range FROM-TO": Window}
    out = {TypeAdapter(t).json_schema()["pattern"]: name for name, t in named.items()}
    out[defs["Market"]["properties"]["country"]["pattern"]] = "country code"
    return out


def _bounds(prop: dict[str, Any]) -> str:
    low, high = prop.get("minimum"), prop.get("maximum")
    if low is not None and high is not None:
        return f" {low}–{high}"
    if low is not None:
        return f", at least {low}"
    return f", at most {high}" if high is not None else ""


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "—"
    value = prop["default"]
    if value is None or value == [] or value == {} or value == "":
        return "—"
    if isinstance(value, dict):
        return "see its table"
    return f"`{json.dumps(value, ensure_ascii=False).strip(chr(34))}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _conditions(renderer: _Renderer) -> str:
    lines = ["### Conditions", "",
             "`when:` holds one condition: a mapping with one key, the kind. `all`, `any` and "
             "`not` combine others; a list with one item may be written as a bare value "
             "(see [policies.md](policies.md)).", "",
             "| kind | value | matches when |", "|---|---|---|"]
    for kind, doc in COMBINATORS.items():
        value = "a condition" if kind == "not" else "list of conditions (at least one)"
        lines.append(f"| `{kind}` | {value} | {doc} |")
    for name in CONDITIONS.names():
        leaf = CONDITIONS.get(name)
        assert leaf is not None
        prop = renderer.defs[leaf.node.__name__]["properties"][name]
        value = renderer.type_of(prop).replace("[condition](#conditions)", "a condition")
        lines.append(f"| `{name}` | {_cell(value)} | {_cell(leaf.doc)} |")
    return "\n".join(lines) + "\n"


def reference_markdown() -> str:
    """docs/program.md as the models and the template give it."""
    renderer = _Renderer(program_schema())
    template = TEMPLATE_PATH.read_text(encoding="utf-8")

    def tables(found: re.Match[str]) -> str:
        names = [n.strip() for n in found.group(1).split(",")]
        return "\n".join(renderer.table(name) for name in names).rstrip("\n")

    return _FIELDS.sub(tables, template)


def _write_or_check(check: bool) -> int:
    stale = []
    for path, text in ((REFERENCE_PATH, reference_markdown()), (SCHEMA_PATH, schema_text())):
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{path}: {'out of date' if check else 'written'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(_write_or_check("--check" in sys.argv[1:]))
