"""`bidwatch partners import`: real exports into a copy of the example program, merged,
reported, checked by the real loader and written atomically with the file's comments kept."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.schemas import validate
from monitor.errors import ConfigError
from monitor.program import load_program
from monitor.program.partners_csv import normal_header, read_export
from monitor.program.partners_import import _check_with
from monitor.resources import templates_dir
from tests.conftest import RULES

runner = CliRunner()
FIXTURES = Path(__file__).parent / "fixtures" / "partners"
AWIN = FIXTURES / "awin_publishers.csv"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def run(rules: Path, csv: Path, network: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["partners", "import", str(csv), "--network", network,
                                 "--rules", str(rules), *args])
    return result.exit_code, result.output


def as_json(rules: Path, csv: Path, network: str, *args: str) -> dict[str, object]:
    code, output = run(rules, csv, network, "--json", *args)
    assert code == 0, output
    document = json.loads(output)
    validate(document)  # partners-import/1, monitor.cli.schemas
    return dict(document)


def test_an_awin_export_adds_updates_and_reports_the_bad_rows_by_line(rules: Path) -> None:
    before = (rules / "partners.yaml").read_text(encoding="utf-8")
    report = as_json(rules, AWIN, "awin")
    assert report["columns"] == {"id": "Publisher ID", "name": "Publisher Name",
                                 "contact": "Primary Contact", "email": "Email",
                                 "website": "Website"}
    assert report["ignored_columns"] == ["Promotion Type", "Status"]
    added = {c["partner"]: c for c in report["added"]}  # type: ignore[attr-defined]
    assert set(added) == {"coupon-cave", "sleep-smart-reviews", "cashback-corner",
                          "multi-line-deals"}
    assert report["unchanged"] == [{"line": 2, "partner": "dealspotter",
                                    "publisher_id": "412345", "name": "DealSpotter",
                                    "fields": []}]
    left_out = {(x["line"], x["reason"].split(" (")[0].split(" '")[0])  # type: ignore[index]
                for x in report["left_out"]}  # type: ignore[attr-defined]
    assert left_out == {
        (5, "malformed e-mail"), (6, "no publisher id"),
        (7, "publisher id appears more than once"), (9, "publisher id appears more than once"),
        (10, "malformed website"), (13, "website shop.lumora.com is the brand's own")}
    assert report["written"] is True
    program = load_program(rules, templates_dir())
    cave = program.partner("coupon-cave")
    assert cave is not None and cave.language == "en" and cave.domains == ["couponcave.example"]
    assert [(n.network, n.publisher_id) for n in cave.network_ids] == [("awin", "600101")]
    assert [(c.name, c.email) for c in cave.contacts] == [("Ann Lee", "ann@couponcave.example")]
    smart = program.partner("sleep-smart-reviews")
    assert smart is not None and smart.domains == ["sleepsmart.example"]
    assert smart.contacts[0].name == "Sleep Smart Reviews"  # no contact column value
    multi = program.partner("multi-line-deals")
    assert multi is not None and multi.name == "Multi Line Deals"
    after = (rules / "partners.yaml").read_text(encoding="utf-8")
    assert after.startswith(before.split("competitors:")[0].rstrip("\n"))  # comments, order
    assert after.rstrip().endswith("domains: [dreamnest.com]")  # competitors still last


def test_a_second_import_of_the_same_file_changes_nothing(rules: Path) -> None:
    as_json(rules, AWIN, "awin")
    written = (rules / "partners.yaml").read_bytes()
    again = as_json(rules, AWIN, "awin")
    assert again["added"] == [] and again["updated"] == [] and again["written"] is False
    assert len(again["unchanged"]) == 5  # type: ignore[arg-type]
    assert (rules / "partners.yaml").read_bytes() == written
    code, output = run(rules, AWIN, "awin")
    assert code == 0 and "partners.yaml: nothing to change" in output


def test_the_text_report_names_the_columns_changes_and_rows_left_out(rules: Path) -> None:
    code, output = run(rules, AWIN, "awin")
    assert code == 0, output
    text = " ".join(output.split())
    assert "columns: id ← 'Publisher ID', name ← 'Publisher Name'" in text
    assert "not used: 'Promotion Type', 'Status'" in text
    assert "added 4:" in text and "coupon-cave (600101, line 3)" in text
    assert f"{AWIN}:6: no publisher id" in text
    assert f"{AWIN}:7 (awin id 600104): publisher id appears more than once (lines 7, 9)" in text
    assert "written; the program validates" in text


def test_an_existing_partner_is_updated_with_what_changed_and_nothing_removed(
    rules: Path, tmp_path: Path
) -> None:
    export = tmp_path / "cj.csv"
    export.write_text("PID,Company Name,Contact Email,Website\n"
                      "7012345,Sleep Saver Ltd,new@sleepsaver.net,https://deals.sleepsaver.org\n",
                      encoding="utf-8")
    report = as_json(rules, export, "cj")
    assert report["updated"] == [{"line": 2, "partner": "sleepsaver", "publisher_id": "7012345",
                                  "name": "Sleep Saver Ltd",
                                  "fields": ["name", "contacts", "domains"]}]
    partner = load_program(rules).partner("sleepsaver")
    assert partner is not None and partner.name == "Sleep Saver Ltd"
    assert [c.email for c in partner.contacts] == ["affiliates@sleepsaver.net",
                                                  "new@sleepsaver.net"]
    assert partner.domains == ["sleepsaver.net", "deals.sleepsaver.org"]
    assert [n.network for n in partner.network_ids] == ["cj", "partnerize"]
    assert partner.advertiser_names == ["SleepSaver", "Sleep Saver Deals"]


def test_cj_semicolons_pick_the_pid_over_the_cid(rules: Path) -> None:
    report = as_json(rules, FIXTURES / "cj_properties.csv", "cj")
    assert report["columns"]["id"] == "PID"  # type: ignore[index]
    assert report["columns"]["name"] == "Company Name"  # type: ignore[index]
    assert report["ignored_columns"] == ["CID", "Website Name"]
    assert [c["partner"] for c in report["unchanged"]] == ["sleepsaver"]  # type: ignore[attr-defined]
    assert [c["partner"] for c in report["added"]] == ["dormir-mejor"]  # type: ignore[attr-defined]


def test_an_excel_utf16_tab_export_with_arabic_names(rules: Path) -> None:
    report = as_json(rules, FIXTURES / "impact_partners_utf16.txt", "impact", "--language", "ar")
    assert report["columns"]["id"] == "Media Partner ID"  # type: ignore[index]
    assert [c["partner"] for c in report["unchanged"]] == ["arabiccoupons"]  # type: ignore[attr-defined]
    assert [c["partner"] for c in report["added"]] == ["impact-3399001"]  # type: ignore[attr-defined]
    partner = load_program(rules).partner("impact-3399001")
    assert partner is not None and partner.name == "عروض اليوم" and partner.language == "ar"
    assert partner.contacts[0].email == "offers@today.example"  # the contact column's address


def test_dry_run_reports_and_writes_nothing(rules: Path) -> None:
    before = (rules / "partners.yaml").read_bytes()
    report = as_json(rules, AWIN, "awin", "--dry-run")
    assert len(report["added"]) == 4 and report["written"] is False  # type: ignore[arg-type]
    assert report["dry_run"] is True
    assert (rules / "partners.yaml").read_bytes() == before


def test_an_id_two_partners_hold_is_reported_not_guessed(rules: Path, tmp_path: Path) -> None:
    partners = rules / "partners.yaml"
    partners.write_text(partners.read_text(encoding="utf-8").replace(
        'publisher_id: "3345678"', 'publisher_id: "2345678"'), encoding="utf-8")
    export = tmp_path / "impact.csv"
    export.write_text("Partner ID,Partner Name\n2345678,Someone\n", encoding="utf-8")
    report = as_json(rules, export, "impact")
    assert report["added"] == [] and report["updated"] == []
    (row,) = report["left_out"]  # type: ignore[misc]
    assert row["line"] == 2 and "held by more than one partner (kuponhemat, arabiccoupons)" in \
        row["reason"]


def test_hostile_cells_are_cleaned_or_left_out_with_their_line(
    rules: Path, tmp_path: Path
) -> None:
    export = tmp_path / "hostile.csv"
    export.write_text(
        "Publisher ID,Publisher Name,Email\n"
        "700001,\u202egnp.exe Deals\u202c,a@hostile.example\n"
        f"700002,{'N' * 1_000_000},b@hostile.example\n"
        "700003,\"=cmd|' /C calc'!A0\",c@hostile.example\n"
        "700004,@SUM(1+1)*cmd|x,d@hostile.example\n"
        "70\u202e0005,Spoofed Id,e@hostile.example\n"
        "700006,Plain +Deals,f@hostile.example\n"
        "700007,Header Injection,\"g@hostile.example\r\nBcc: all@victim.example\"\n",
        encoding="utf-8")
    report = as_json(rules, export, "awin")
    assert [c["name"] for c in report["added"]] == ["gnp.exe Deals", "Plain +Deals"]  # type: ignore[attr-defined]
    reasons = {x["line"]: x["reason"] for x in report["left_out"]}  # type: ignore[attr-defined]
    assert set(reasons) == {3, 4, 5, 6, 8}
    assert "1000000 characters long; at most 200" in reasons[3]
    assert "spreadsheet formula" in reasons[4] and "spreadsheet formula" in reasons[5]
    assert "invisible characters" in reasons[6]
    assert "malformed e-mail" in reasons[8]
    assert report["notes"] == [{"line": 2,
                                "message": "name: invisible or control characters removed"}]
    text = (rules / "partners.yaml").read_text(encoding="utf-8")
    assert "\u202e" not in text and "cmd|" not in text and "NNNN" not in text
    assert load_program(rules, templates_dir()).partner("gnp-exe-deals") is not None


def test_an_export_without_an_id_column_is_refused_naming_its_headers(
    rules: Path, tmp_path: Path
) -> None:
    export = tmp_path / "odd.csv"
    export.write_text("Nom,Courriel\nA,a@b.example\n", encoding="utf-8")
    code, output = run(rules, export, "awin")
    assert code == 2 and "no id and name column among 'Nom', 'Courriel'" in output
    export.write_bytes(b"Publisher ID,Publisher Name\n1,Caf\xe9\n")
    code, output = run(rules, export, "awin")
    assert code == 2 and f"{export}:2: not UTF-8" in " ".join(output.split())


def test_an_unknown_network_is_refused_with_a_hint(rules: Path) -> None:
    code, output = run(rules, AWIN, "awinn")
    assert code == 2 and "unknown network 'awinn'; did you mean 'awin'?" in output


def test_a_program_invalid_already_is_not_touched(rules: Path) -> None:
    (rules / "brands.yaml").write_text("brands: [\n", encoding="utf-8")
    before = (rules / "partners.yaml").read_bytes()
    code, output = run(rules, AWIN, "awin")
    assert code == 2 and "the program has problems already" in output
    assert "brands.yaml:2: YAML syntax" in output
    assert (rules / "partners.yaml").read_bytes() == before


def test_a_partner_file_the_loader_would_refuse_is_never_written(rules: Path) -> None:
    target = rules / "partners.yaml"
    before = target.read_bytes()
    broken = before.decode().replace("language: en", "language: english", 1)
    with pytest.raises(ConfigError,
                       match=r"(?s)nothing written.*partners.yaml:\d+: partners\[0\]\.language"):
        _check_with(rules, target, broken)
    assert target.read_bytes() == before


def test_the_write_is_atomic_keeps_the_mode_and_leaves_no_temporary_file(rules: Path) -> None:
    target = rules / "partners.yaml"
    target.chmod(0o640)
    as_json(rules, AWIN, "awin")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in rules.iterdir()) == sorted(p.name for p in RULES.iterdir())


@pytest.mark.parametrize(("header", "normal"), [
    ("Publisher ID", "publisher id"), ("PublisherId", "publisher id"),
    ("publisher_id", "publisher id"), (" E-mail ", "e mail"), ("\ufeffPID", "pid"),
])
def test_header_spellings_are_normalised(header: str, normal: str) -> None:
    assert normal_header(header) == normal


def test_a_record_spanning_lines_is_reported_at_the_line_it_starts(tmp_path: Path) -> None:
    export = tmp_path / "x.csv"
    export.write_text('Publisher ID,Publisher Name,Email\n1,"A\nB",a@a.example\n'
                      '2,C,bad\n', encoding="utf-8")
    rows = read_export(export, "awin")
    assert [p.line for p in rows.publishers] == [2]
    assert [(x.line, x.publisher_id) for x in rows.left_out] == [(4, "2")]


def test_an_id_repeated_on_a_bad_row_still_keeps_the_good_row_out(tmp_path: Path) -> None:
    export = tmp_path / "x.csv"
    export.write_text("Publisher ID,Publisher Name,Email\n9,Good,g@g.example\n9,Bad,bad\n",
                      encoding="utf-8")
    rows = read_export(export, "awin")
    assert rows.publishers == []
    assert sorted((x.line, x.reason.split(" (")[0]) for x in rows.left_out) == [
        (2, "publisher id appears more than once"), (3, "malformed e-mail 'bad'")]


def test_a_program_from_init_takes_an_import_and_keeps_its_comments(tmp_path: Path) -> None:
    rules = tmp_path / "new"
    made = runner.invoke(app, ["init", str(rules), "--yes", "--brand", "Acme", "--domain",
                               "acme.example", "--market", "US:en:America/New_York",
                               "--network", "awin"])
    assert made.exit_code == 0, made.output
    before = (rules / "partners.yaml").read_text(encoding="utf-8")
    report = as_json(rules, AWIN, "awin")
    assert len(report["added"]) == 6  # type: ignore[arg-type]  (Lumora is not this brand)
    after = (rules / "partners.yaml").read_text(encoding="utf-8")
    comments = [line for line in before.splitlines() if line.startswith("#")]
    assert [line for line in after.splitlines() if line.startswith("#")] == comments
    assert "partners: [" not in after and "\n  - id: dealspotter\n" in after
    assert len(load_program(rules, templates_dir()).partners) == 6


def test_the_import_only_adds_lines_to_the_example_file_and_spaces_partners_like_it(
    rules: Path
) -> None:
    import difflib

    before = (rules / "partners.yaml").read_text(encoding="utf-8").splitlines()
    as_json(rules, AWIN, "awin")
    after = (rules / "partners.yaml").read_text(encoding="utf-8").splitlines()
    removed = [line for line in difflib.ndiff(before, after) if line.startswith("- ")]
    assert removed == []
    assert after[after.index("  - id: coupon-cave") - 1] == ""
    assert after[after.index("competitors:") - 1] == ""


def test_a_file_indented_without_offsets_keeps_its_indentation(rules: Path) -> None:
    plain = ('partners:\n- id: sleepsaver\n  name: SleepSaver\n  language: en\n'
             '  contacts:\n  - name: Tom\n    email: affiliates@sleepsaver.net\n'
             '  network_ids:\n  - network: cj\n    publisher_id: "7012345"\n'
             '  domains: [sleepsaver.net]\n')
    text = (rules / "partners.yaml").read_text(encoding="utf-8")
    (rules / "partners.yaml").write_text(plain + text[text.index("competitors:"):],
                                         encoding="utf-8")
    for name in ("agreements.yaml",):  # the agreements name partners this file no longer has
        (rules / name).write_text("agreements: []\n", encoding="utf-8")
    as_json(rules, FIXTURES / "cj_properties.csv", "cj")
    after = (rules / "partners.yaml").read_text(encoding="utf-8")
    assert after.startswith(plain)
    assert "\n- id: dormir-mejor\n  name: Dormir Mejor\n" in after
    assert "\n  - network: cj\n    publisher_id: '7099999'\n" in after


def test_a_partner_file_saved_while_the_import_ran_is_not_overwritten(rules: Path) -> None:
    from monitor.program.partners_import import plan_import, write_result

    result = plan_import(rules, AWIN, "awin")
    target = rules / "partners.yaml"
    edited = target.read_text(encoding="utf-8") + "# a comment saved meanwhile\n"
    target.write_text(edited, encoding="utf-8")
    with pytest.raises(ConfigError, match="changed while the import ran"):
        write_result(result)
    assert target.read_text(encoding="utf-8") == edited and not result.written
