"""docs/program.md and rules/program.schema.json are generated from the models: a change to a
model (or to the reference's template) without regenerating them fails here."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.program import reference
from monitor.program.jsonschema import program_schema, schema_text
from monitor.program.reference import REFERENCE_PATH, SCHEMA_PATH, reference_markdown

REGENERATE = "run `python -m monitor.program.reference` and commit the result"


def test_the_committed_reference_is_what_the_models_give() -> None:
    assert REFERENCE_PATH.read_text(encoding="utf-8") == reference_markdown(), REGENERATE


def test_the_committed_schema_is_what_the_models_give() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text(), REGENERATE


def test_every_mapping_of_the_program_has_its_table() -> None:
    page = reference_markdown()
    schema = program_schema()
    leaves = {name for name in schema["$defs"] if name.endswith("Condition")}
    mappings = [name for name, definition in schema["$defs"].items()
                if name not in leaves and ("properties" in definition or "anyOf" in definition)]
    assert "### Program" in page and "### Conditions" in page
    assert [name for name in mappings if f"### {name}\n" not in page] == []
    for key, prop in schema["properties"].items():
        assert f"| `{key}` |" in page and prop["description"] in page


def test_every_condition_kind_is_in_the_reference() -> None:
    from monitor.program.conditions import COMBINATORS, CONDITIONS

    page = reference_markdown()
    assert [k for k in [*COMBINATORS, *CONDITIONS.names()] if f"| `{k}` |" not in page] == []


def test_the_generator_writes_what_is_stale_and_check_only_reports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs, schema = tmp_path / "program.md", tmp_path / "program.schema.json"
    docs.write_text("# hand-edited\n", encoding="utf-8")
    monkeypatch.setattr(reference, "REFERENCE_PATH", docs)
    monkeypatch.setattr(reference, "SCHEMA_PATH", schema)
    assert reference._write_or_check(check=True) == 1
    assert docs.read_text(encoding="utf-8") == "# hand-edited\n" and not schema.exists()
    assert reference._write_or_check(check=False) == 0
    assert docs.read_text(encoding="utf-8") == reference_markdown()
    assert schema.read_text(encoding="utf-8") == schema_text()
    assert reference._write_or_check(check=True) == 0
