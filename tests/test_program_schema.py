"""The program's JSON Schema: valid, accepts every example file as an editor reads it, and
refuses broken copies (a wrong type, an unknown key, a value not in a list) that
`rules check` refuses too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from monitor.cli import app
from monitor.program import check_program
from monitor.program.jsonschema import program_schema, schema_text
from tests.conftest import RULES, example_with_variants

MODELINE = "# yaml-language-server: $schema="
runner = CliRunner()


class EditorLoader(yaml.SafeLoader):
    """YAML as yaml-language-server reads it: a date is a string (YAML 1.2 has no dates)."""


EditorLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def read(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=EditorLoader)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = program_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(data)]


@pytest.mark.parametrize("name", sorted(p.name for p in RULES.glob("*.yaml")))
def test_every_example_file_is_valid_and_names_the_schema(
    validator: jsonschema.Draft202012Validator, name: str
) -> None:
    path = RULES / name
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith(MODELINE), f"{name} does not name the schema on its first line"
    target = path.parent / first.removeprefix(MODELINE).strip()
    assert json.loads(target.read_text(encoding="utf-8")) == program_schema()
    assert errors(validator, read(path)) == []


def test_the_committed_schema_is_what_rules_schema_writes(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    result = runner.invoke(app, ["rules", "schema", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == schema_text()
    printed = runner.invoke(app, ["rules", "schema"])
    assert json.loads(printed.output) == program_schema()


# Each broken copy: the file, what is replaced by what, and a word the schema's error names.
BROKEN = [
    pytest.param("program.yaml", "engines: [google, bing]", "engines: google",
                 "is not of type 'array'", id="wrong-type-engines"),
    pytest.param("program.yaml", "  expire_after_days: 30", "  expire_after_days: thirty",
                 "is not of type 'integer'", id="wrong-type-days"),
    pytest.param("program.yaml", "  expire_after_days: 30", "  expire_after_days: 0",
                 "less than the minimum", id="below-minimum"),
    pytest.param("brands.yaml", "    name: Lumora", "    name: Lumora\n    slogan: Sleep well",
                 "'slogan' was unexpected", id="unknown-key-brand"),
    pytest.param("program.yaml", "follow_click_urls: false", "follow_click_url: false",
                 "'follow_click_url' was unexpected", id="unknown-top-level-key"),
    pytest.param("policies.yaml", "severity: medium", "severity: meduim",
                 "'meduim' is not one of", id="bad-enum-severity"),
    pytest.param("program.yaml", "engines: [google, bing]", "engines: [google, bingo]",
                 "'bingo' is not one of", id="bad-enum-engine"),
    pytest.param("policies.yaml", "        - ad_kind: shopping", "        - ad_kind: video",
                 "is not valid under any of the given schemas", id="bad-enum-in-condition"),
    pytest.param("policies.yaml", "            - query_contains_brand: true\n\n  - id: no-direct",
                 "            - query_contians_brand: true\n\n  - id: no-direct",
                 "is not valid under any of the given schemas", id="unknown-condition"),
    pytest.param("markets.yaml", "    country: GB", "    country: gb",
                 "does not match", id="pattern-country"),
    pytest.param("partners.yaml", "  - id: dealspotter", "  - id: Deal Spotter",
                 "does not match", id="pattern-id"),
    pytest.param("brands.yaml", "    domains: [lumora.com, lumora.co.id]",
                 "    domains: [lumora.com, lumora.co.id]\n    variants: {typos: true}",
                 "'typos' was unexpected", id="unknown-variant-family"),
    pytest.param("brands.yaml", "    domains: [lumora.com, lumora.co.id]",
                 "    domains: [lumora.com, lumora.co.id]\n    variants: {spacing: {max: 0}}",
                 "is not valid under any of the given schemas", id="variant-max-zero"),
]


@pytest.mark.parametrize(("name", "old", "new", "message"), BROKEN)
def test_a_broken_copy_is_refused_by_the_schema_and_by_rules_check(
    validator: jsonschema.Draft202012Validator, tmp_path: Path, name: str, old: str,
    new: str, message: str,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    text = (rules / name).read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} is not in {name}"
    (rules / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    found = errors(validator, read(rules / name))
    assert any(message in e for e in found), found
    program, issues = check_program(rules)
    assert program is None and issues, "rules check took what the schema refuses"


def test_shorthands_and_switched_on_variants_are_accepted(
    validator: jsonschema.Draft202012Validator, tmp_path: Path
) -> None:
    rules = example_with_variants(tmp_path)
    brands = rules / "brands.yaml"
    assert read(brands)["brands"][0]["variants"]["spacing"] is True
    assert errors(validator, read(brands)) == []
    events = read(rules / "program.yaml")["schedule"]["surge"]["events"]
    assert "black_friday" in events  # a bare name, beside {name, markets} mappings
    conditions = {"when": {"all": [{"engine": "google"}, {"engine": ["google", "bing"]},
                                   {"not": {"local_hour": {"from": 22, "to": 6}}}]}}
    policy = {"id": "p", "title": "T", "severity": "low", **conditions}
    assert errors(validator, {"policies": [policy]}) == []
    program, issues = check_program(rules)
    assert program is not None, issues


def test_a_field_has_a_description_wherever_an_editor_shows_one() -> None:
    schema = program_schema()
    missing = [f"{name}.{key}" for name, definition in schema["$defs"].items()
               for key, prop in definition.get("properties", {}).items()
               if not prop.get("description")]
    missing += [key for key, prop in schema["properties"].items() if not prop.get("description")]
    assert missing == []
