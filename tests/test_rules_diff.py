"""`bidwatch rules diff`: each kind of change said in words, from the loaded programs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.program import load_program
from monitor.program.diff import Change, diff_programs
from tests.whatif_support import (
    RULES,
    Documents,
    agreement,
    changed_rules,
    conforms,
    partner,
    policy,
)

runner = CliRunner()


def changes_after(tmp_path: Path, edit: Callable[[Documents], None]) -> list[Change]:
    return diff_programs(load_program(RULES), load_program(changed_rules(tmp_path / "new", edit)))


def texts(changes: list[Change]) -> list[str]:
    return [c.text for c in changes]


def test_the_same_program_rewritten_has_no_changes(tmp_path: Path) -> None:
    # reordered keys, lost comments and requoting are no change to the program
    assert changes_after(tmp_path, lambda docs: None) == []


def test_brand_terms_and_misspellings(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        brand = docs["brands"]["brands"][0]
        brand["terms"].append("Lumora Pro")
        brand["misspellings"].remove("Lumra")

    changes = changes_after(tmp_path, edit)
    assert texts(changes) == ["brand lumora: terms added 'Lumora Pro'",
                              "brand lumora: misspellings removed 'Lumra'"]
    assert (changes[0].area, changes[0].subject, changes[0].field) == ("brand", "lumora", "terms")


def test_markets_and_engines(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        docs["program"]["engines"].append("duckduckgo")
        markets = docs["markets"]["markets"]
        markets[:] = [m for m in markets if m["id"] != "gb-en"]
        markets[0]["timezone"] = "America/Chicago"

    said = texts(changes_after(tmp_path, edit))
    assert "engine duckduckgo added" in said
    assert "market gb-en removed" in said
    assert "market us-en: timezone 'America/New_York' → 'America/Chicago'" in said


def test_partners_added_removed_and_contact_changed(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        partners = docs["partners"]["partners"]
        partners.append({"id": "newdeals", "name": "New Deals", "language": "en"})
        partner(docs, "dealspotter")["contacts"][0]["email"] = "legal@dealspotter.com"
        partners[:] = [p for p in partners if p["id"] != "arabiccoupons"]
        docs["agreements"]["agreements"] = [a for a in docs["agreements"]["agreements"]
                                            if a["partner"] != "arabiccoupons"]

    changes = changes_after(tmp_path, edit)
    said = texts(changes)
    assert "partner newdeals added" in said
    assert "partner arabiccoupons removed" in said
    contact = next(c for c in changes if c.subject == "dealspotter" and c.field == "contacts")
    assert contact.old[0]["email"] == "priya@dealspotter.com"
    assert contact.new[0]["email"] == "legal@dealspotter.com"
    assert "agreement arabiccoupons: version 2024 removed" in said


def test_agreement_new_version_dates_document_and_permissions(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        versions = agreement(docs, "sleepsaver")["versions"]
        versions[1]["effective_to"] = "2026-12-31"
        versions[1]["document"] = "SleepSaver affiliate agreement 2024, amended"
        versions[1]["permissions"] = [{"policy": "no-brand-bidding", "engines": ["bing"],
                                       "markets": ["us-en"]}]
        versions.append({"version": "2027", "effective_from": "2027-01-01",
                         "permissions": [{"policy": "no-brand-in-ad-copy"}]})
        versions[0]["permissions"] = []

    said = texts(changes_after(tmp_path, edit))
    assert said == [
        "agreement sleepsaver: new version 2027 from 2027-01-01 with no end, permitting "
        "no-brand-in-ad-copy anywhere",
        "agreement sleepsaver 2022: permission withdrawn: no-brand-bidding on engines bing; "
        "markets us-en; term groups brand+coupon (Trial of coupon bidding on Bing US; ended "
        "with the 2024 agreement.)",
        "agreement sleepsaver 2024: in force from 2024-07-01 with no end → from 2024-07-01 "
        "to 2026-12-31",
        "agreement sleepsaver 2024: document 'SleepSaver affiliate agreement 2024 (no brand "
        "bidding)' → 'SleepSaver affiliate agreement 2024, amended'",
        "agreement sleepsaver 2024: permission granted: no-brand-bidding on engines bing; "
        "markets us-en",
    ]


def test_policies_added_removed_conditions_severity_and_notice_levels(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        bidding = policy(docs, "no-brand-bidding")
        bidding["severity"] = "critical"
        bidding["first_level"] = 2
        bidding["notice"] = "direct_linking"
        bidding["clause"] = "4.1a"
        policy(docs, "no-direct-linking")["when"] = {"landing_domain": "brand"}
        docs["policies"]["policies"] = [p for p in docs["policies"]["policies"]
                                        if p["id"] != "no-brand-shopping"]
        docs["policies"]["policies"].append({
            "id": "no-night-bidding", "title": "Night bidding", "severity": "medium",
            "when": {"local_hour": {"from": 22, "to": 6}}})
        for version in agreement(docs, "arabiccoupons")["versions"]:  # no dangling grant
            version["permissions"] = [p for p in version.get("permissions", [])
                                      if p["policy"] != "no-brand-shopping"]

    changes = changes_after(tmp_path, edit)
    by_field = {(c.subject, c.field): c for c in changes if c.area == "policy"}
    assert by_field[("no-brand-bidding", "severity")].text == (
        "policy no-brand-bidding: severity 'high' → 'critical'")
    assert by_field[("no-brand-bidding", "first_level")].text == (
        "policy no-brand-bidding: first notice level 1 → 2")
    assert by_field[("no-brand-bidding", "notice")].text == (
        "policy no-brand-bidding: notice template 'brand_bidding' → 'direct_linking'")
    assert by_field[("no-brand-bidding", "clause")].text == (
        "policy no-brand-bidding: clause '4.1' → '4.1a'")
    assert by_field[("no-direct-linking", "when")].text == (
        "policy no-direct-linking: condition all(landing_domain: brand, any(network: any, "
        "advertiser_class: partner)) → landing_domain: brand")
    assert by_field[("no-brand-shopping", "")].kind == "removed"
    added = by_field[("no-night-bidding", "")]
    assert added.kind == "added"
    assert added.text == ("policy no-night-bidding added (severity medium, first notice level "
                          "1, when local_hour: start=22, end=6)")


def test_other_settings(tmp_path: Path) -> None:
    def edit(docs: Documents) -> None:
        docs["program"]["notices"]["require_approval"] = True
        docs["program"]["allowlist"] = ["sleepcentral-outlet.com", "bedfinder.com"]

    said = texts(changes_after(tmp_path, edit))
    assert "setting notices.require_approval: False → True" in said
    assert any(s.startswith("setting allowlist: added 'bedfinder.com'") for s in said)


def test_cli_exit_status_like_diff_and_json(tmp_path: Path) -> None:
    same = runner.invoke(app, ["rules", "diff", str(RULES), str(RULES)])
    assert same.exit_code == 0, same.output
    assert "the same program" in same.output

    def edit(docs: Documents) -> None:
        policy(docs, "no-brand-bidding")["severity"] = "critical"

    new = changed_rules(tmp_path / "new", edit)
    differ = runner.invoke(app, ["rules", "diff", str(RULES), str(new)])
    assert differ.exit_code == 1
    assert differ.output.strip() == "policy no-brand-bidding: severity 'high' → 'critical'"

    as_json = runner.invoke(app, ["rules", "diff", str(RULES), str(new), "--json"])
    assert as_json.exit_code == 1
    document = json.loads(as_json.output)
    assert document["schema"] == "rules-diff/1" and document["equal"] is False
    conforms(document)
    assert document["changes"] == [{
        "area": "policy", "subject": "no-brand-bidding", "kind": "changed", "field": "severity",
        "old": "high", "new": "critical",
        "text": "policy no-brand-bidding: severity 'high' → 'critical'"}]


@pytest.mark.parametrize("broken", ["missing", "invalid"])
def test_cli_refuses_an_invalid_program_with_exit_2(tmp_path: Path, broken: str) -> None:
    if broken == "missing":
        target = tmp_path / "nowhere"
    else:
        target = changed_rules(tmp_path / "bad",
                               lambda docs: policy(docs, "no-brand-bidding").update(
                                   severity="apocalyptic"))
    result = runner.invoke(app, ["rules", "diff", str(RULES), str(target)])
    assert result.exit_code == 2
    assert "policies.yaml" in result.output or "does not exist" in result.output
