"""`rules check` warnings (not failures): a policy that sends no notice, a partner with no
contact, a language with no notice templates — each at its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

from monitor.program import check_program, load_program
from monitor.program.advice import program_warnings
from tests.whatif_support import RULES, Documents, changed_rules, partner, policy

TEMPLATES = RULES.parent / "templates"


def warnings_of(rules: Path, templates: Path = TEMPLATES) -> list[str]:
    return [str(w) for w in program_warnings(load_program(rules), templates, rules)]


def test_the_example_program_has_no_warnings() -> None:
    assert warnings_of(RULES) == []


def test_each_kind_of_warning_names_its_file_line_and_field(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        del policy(docs, "no-direct-linking")["notice"]
        partner(docs, "dealspotter")["contacts"] = []
        partner(docs, "kuponhemat")["language"] = "ms"
        docs["markets"]["markets"].append({"id": "fr-fr", "country": "FR", "language": "fr",
                                           "timezone": "Europe/Paris"})

    rules = changed_rules(tmp_path / "rules", edit)
    program, errors = check_program(rules, TEMPLATES)
    assert program is not None and errors == []  # warnings, not failures
    found = program_warnings(program, TEMPLATES, rules)
    by_path = {w.path: w for w in found}
    assert sorted(by_path) == ["markets[4].language", "partners[0].contacts",
                               "partners[2].language", "policies[1].notice"]
    silent = by_path["policies[1].notice"]
    assert silent.file.endswith("policies.yaml") and silent.line > 0
    assert "policy no-direct-linking sends no notice" in silent.message
    assert by_path["partners[0].contacts"].file.endswith("partners.yaml")
    assert "partner dealspotter has no contact" in by_path["partners[0].contacts"].message
    language = by_path["partners[2].language"]
    assert "'ms' has no notice templates" in language.message
    assert "falls back to the default language 'en'" in language.message
    market = by_path["markets[4].language"]
    assert market.file.endswith("markets.yaml") and market.line > 0
    assert "market fr-fr's language 'fr'" in market.message
    # the line is the field's own: the printed form is FILE:LINE: path: message
    lines = (rules / "policies.yaml").read_text(encoding="utf-8").splitlines()
    assert "no-direct-linking" in "\n".join(lines[max(silent.line - 12, 0):silent.line])


def test_a_policy_only_competitors_breach_needs_no_notice(tmp_path: Path) -> None:
    # competitor-on-brand names no notice in the example: nobody to send it to, no warning
    competitor = load_program(RULES).policy("competitor-on-brand")
    assert competitor is not None and competitor.notice is None
    assert not any("competitor-on-brand" in w for w in warnings_of(RULES))


def test_a_default_language_without_templates_says_notices_cannot_render(
        tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    shutil.rmtree(templates / "notices" / "en")
    said = warnings_of(RULES, templates)
    us = next(w for w in said if "market us-en" in w)
    assert "its notices cannot be rendered" in us
    assert any("partner dealspotter's language 'en'" in w for w in said)
    assert not any("kuponhemat" in w for w in said)  # Indonesian templates are still there


def test_without_the_rules_directory_the_warnings_have_no_line() -> None:
    def edit(docs: Documents) -> None:
        partner(docs, "dealspotter")["contacts"] = []

    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        program = load_program(changed_rules(Path(folder) / "rules", edit))
    (only,) = program_warnings(program, TEMPLATES)
    assert (only.line, only.path) == (0, "partners[0].contacts")
