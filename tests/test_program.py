"""The compliance program loader: the shipped rules are valid, and every kind of mistake is
reported as FILE:LINE: path: message."""

from __future__ import annotations

import shutil
import textwrap
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.models import AdvertiserClass, Device, MarketRef, Severity
from monitor.program import ProgramError, ProgramIssue, check_program, load_program, source

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    """A writable copy of the shipped example program."""
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def write(path: Path, text: str) -> None:
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle`."""
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def only_issue(root: Path, templates: Path | None = None) -> ProgramIssue:
    program, issues = check_program(root, templates)
    assert program is None
    assert len(issues) == 1, "\n".join(map(str, issues))
    return issues[0]


# --- the shipped program -------------------------------------------------------------------


def test_shipped_rules_are_valid() -> None:
    program, issues = check_program(RULES)
    assert issues == []
    assert program is not None
    assert program.engines == ["google", "bing"]
    assert [m.id for m in program.markets] == ["us-en", "gb-en", "ae-ar", "id-id"]
    assert {p.id for p in program.partners} == {
        "dealspotter", "sleepsaver", "kuponhemat", "arabiccoupons"}


def test_shipped_rules_content_matches_the_contract() -> None:
    program = load_program(RULES)
    assert program.brand_domains() == {"lumora.com", "lumora.co.id"}
    assert program.market("ae-ar").ref() == MarketRef(
        "ae-ar", "AE", "ar", "Asia/Dubai", "Dubai,Dubai,United Arab Emirates")
    assert program.partner("arabiccoupons").name == "كوبونات العرب"
    assert program.partner("nobody") is None
    assert program.brand("lumora").terms == ["Lumora", "Lumora Sleep"]
    policies = {p.id: p for p in program.policies}
    assert policies["no-brand-bidding"].severity is Severity.high
    assert policies["no-brand-bidding"].clause == "4.1"
    assert policies["no-direct-linking"].notice == "direct_linking"
    assert policies["no-brand-in-ad-copy"].severity is Severity.medium
    assert policies["competitor-on-brand"].applies_to == [AdvertiserClass.competitor]
    assert policies["competitor-on-brand"].notice is None
    assert program.devices == [Device.desktop, Device.mobile]


def test_shipped_rules_match_the_shipped_templates() -> None:
    templates = RULES.parent / "templates"
    if not (templates / "notices").is_dir():
        pytest.skip("templates/notices is not in this tree")
    assert check_program(RULES, templates)[1] == []


def test_shipped_notice_names_are_checked_against_a_templates_dir(tmp_path: Path) -> None:
    notices = tmp_path / "templates" / "notices"
    (notices / "brand_bidding").mkdir(parents=True)
    (notices / "brand_bidding" / "level1.en.txt.j2").write_text("x")
    (notices / "direct_linking.en.txt.j2").write_text("x")
    (notices / "ar").mkdir()
    (notices / "ar" / "brand_in_copy.txt.j2").write_text("x")
    program, issues = check_program(RULES, tmp_path / "templates")
    assert issues == []
    assert program is not None


def test_missing_notice_template(rules: Path, tmp_path: Path) -> None:
    (tmp_path / "templates" / "notices").mkdir(parents=True)
    for name in ("brand_bidding", "direct_linking"):
        (tmp_path / "templates" / "notices" / f"{name}.txt.j2").write_text("x")
    issue = only_issue(rules, tmp_path / "templates")
    policies = rules / "policies.yaml"
    assert issue.file == str(policies)
    assert issue.line == line_of(policies, "notice: brand_in_copy")
    assert issue.path == "policies[2].notice"
    assert "brand_in_copy" in issue.message


# --- issue formatting ----------------------------------------------------------------------


def test_issue_str() -> None:
    issue = ProgramIssue("rules/partners.yaml", 14, "partners[2].network_ids[0].network", "bad")
    assert str(issue) == "rules/partners.yaml:14: partners[2].network_ids[0].network: bad"
    assert str(ProgramIssue("rules", 0, "", "no *.yaml files")) == "rules: no *.yaml files"


def test_load_program_raises_with_every_issue(rules: Path) -> None:
    edit(rules / "markets.yaml", "country: GB", "country: gb")
    edit(rules / "brands.yaml", "name: Lumora", "name: ''")
    with pytest.raises(ProgramError) as caught:
        load_program(rules)
    paths = [i.path for i in caught.value.issues]
    assert paths == ["brands[0].name", "markets[1].country"]
    assert "markets.yaml" in str(caught.value)


# --- structure errors ----------------------------------------------------------------------


def test_missing_field_points_at_the_item(rules: Path) -> None:
    partners = rules / "partners.yaml"
    edit(partners, "      - network: cj\n", "      - ")
    issue = only_issue(rules)
    assert issue.path == "partners[1].network_ids[0].network"
    assert issue.line == line_of(partners, 'publisher_id: "7012345"')
    assert issue.message == "Field required"
    assert str(issue).startswith(f"{partners}:{issue.line}: partners[1].network_ids[0].network: ")


def test_unknown_nested_key_has_a_hint(rules: Path) -> None:
    partners = rules / "partners.yaml"
    edit(partners, "advertiser_names: [DealSpotter]", "advertiser_name: [DealSpotter]")
    issue = only_issue(rules)
    assert issue.path == "partners[0].advertiser_name"
    assert issue.line == line_of(partners, "advertiser_name: [DealSpotter]")
    assert issue.message == "unknown key 'advertiser_name'; did you mean 'advertiser_names'?"


def test_unknown_top_level_key_has_a_hint(rules: Path) -> None:
    write(rules / "extra.yaml", "\ncompetitor:\n  - id: x\n")
    issue = only_issue(rules)
    assert (issue.file, issue.line, issue.path) == (str(rules / "extra.yaml"), 1, "competitor")
    assert "did you mean 'competitors'?" in issue.message


def test_wrong_enum_value_shows_what_was_given(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "severity: medium", "severity: meduim")
    issue = only_issue(rules)
    assert issue.path == "policies[2].severity"
    assert issue.line == line_of(policies, "severity: meduim")
    assert "'meduim'" in issue.message and "'medium'" in issue.message


def test_yaml_boolean_trap_is_explained(rules: Path) -> None:
    edit(rules / "markets.yaml", "country: GB", "country: NO")
    issue = only_issue(rules)
    assert issue.path == "markets[1].country"
    assert "quote it" in issue.message


def test_bad_domain_and_bad_id(rules: Path) -> None:
    edit(rules / "program.yaml", "  - amazon.com", "  - https://amazon.com/")
    edit(rules / "partners.yaml", "id: sleepsaver", "id: Sleep Saver")
    _, issues = check_program(rules)
    by_path = {i.path: i for i in issues}
    assert set(by_path) == {"ignore[0]", "partners[1].id"}
    assert "not a domain name" in by_path["ignore[0]"].message
    assert "not a valid id" in by_path["partners[1].id"].message


def test_condition_errors_have_tree_paths(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "- network: any", "- network: any\n            - engine: [gogle]")
    edit(policies, "brand_in: [headline, display_url]", "brand_in: [headline, subject]")
    _, issues = check_program(rules)
    assert [(i.path, i.line) for i in issues] == [
        ("policies[1].when.all[1].any[1].engine[0]", line_of(policies, "engine: [gogle]")),
        ("policies[2].when.brand_in[1]", line_of(policies, "brand_in: [headline, subject]")),
    ]
    assert "(got 'gogle')" in issues[0].message


def test_unknown_condition_kind_has_a_hint(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "- query_contains_brand: true", "- query_contains_brnd: true")
    issue = only_issue(rules)
    assert issue.path == "policies[0].when.all[1].any[1]"
    assert issue.line == line_of(policies, "query_contains_brnd")
    assert issue.message == (
        "unknown condition 'query_contains_brnd'; did you mean 'query_contains_brand'?")


def test_condition_with_two_keys(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "brand_in: [headline, display_url]",
         "brand_in: [headline]\n      engine: [google]")
    issue = only_issue(rules)
    assert issue.path == "policies[2].when"
    assert "combine them with 'all: [...]'" in issue.message


def test_regex_that_does_not_compile(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "brand_in: [headline, display_url]",
         "matches: {field: headline, pattern: 'lumora(('}")
    issue = only_issue(rules)
    assert issue.path == "policies[2].when.matches.pattern"
    assert issue.line == line_of(policies, "lumora((")
    assert "does not compile" in issue.message


def test_bad_timezone_and_long_city(rules: Path) -> None:
    markets = rules / "markets.yaml"
    edit(markets, "Asia/Dubai", "Asia/Dubay")
    long_city = "Jakarta,Daerah Khusus Ibukota Jakarta,Indonesia,Kecamatan Panjang"
    edit(markets, "city: Jakarta,Jakarta,Indonesia", f"city: {long_city}")
    _, issues = check_program(rules)
    assert [(i.path, i.line) for i in issues] == [
        ("markets[2].timezone", line_of(markets, "Asia/Dubay")),
        ("markets[3].city", line_of(markets, "Kecamatan")),
    ]
    assert "IANA" in issues[0].message
    assert "uule" in issues[1].message


def test_city_limit_counts_utf8_bytes(rules: Path) -> None:
    # 32 Arabic letters are 64 bytes in UTF-8, one more than uule can carry
    edit(rules / "markets.yaml", "city: Dubai,Dubai,United Arab Emirates", "city: " + "د" * 32)
    assert only_issue(rules).path == "markets[2].city"


def test_agreement_dates_out_of_order(rules: Path) -> None:
    agreements = rules / "agreements.yaml"
    edit(agreements, "effective_to: 2024-06-30", "effective_to: 2021-06-30")
    issue = only_issue(rules)
    assert issue.path == "agreements[1].versions[0]"
    assert issue.line == line_of(agreements, 'version: "2022"')
    assert "before effective_from" in issue.message


def test_schedule_needs_exactly_one_of_cron_or_interval(rules: Path) -> None:
    edit(rules / "program.yaml", 'cron: "15 */3 * * *"', 'cron: "15 */3 * *"')
    issue = only_issue(rules)
    assert issue.path == "schedule.cron"
    assert "5 fields" in issue.message


# --- YAML-level errors ---------------------------------------------------------------------


def test_duplicate_key_is_an_error(rules: Path) -> None:
    partners = rules / "partners.yaml"
    edit(partners, "    language: id\n", "    language: id\n    language: en\n")
    issue = only_issue(rules)
    assert issue.file == str(partners)
    assert issue.line == line_of(partners, "language: en", 3)
    assert issue.message == f"duplicate key 'language' (first at line {issue.line - 1})"


def test_broken_yaml_reports_the_line(rules: Path) -> None:
    markets = rules / "markets.yaml"
    edit(markets, "    country: GB\n", "    country: [GB\n")
    issue = only_issue(rules)
    assert issue.file == str(markets)
    assert line_of(markets, "country: [GB") <= issue.line <= line_of(markets, "country: [GB") + 2
    assert issue.message.startswith("YAML syntax:")


def test_tab_indentation_is_a_yaml_error(rules: Path) -> None:
    brands = rules / "brands.yaml"
    edit(brands, "    name: Lumora", "\tname: Lumora")
    issue = only_issue(rules)
    assert (issue.file, issue.line) == (str(brands), line_of(brands, "\tname: Lumora"))


def test_top_level_key_in_two_files(rules: Path) -> None:
    write(rules / "more-markets.yaml", """
        # more markets
        markets:
          - {id: de-de, country: DE, language: de, timezone: Europe/Berlin}
        """)
    issue = only_issue(rules)
    assert (issue.file, issue.line, issue.path) == (str(rules / "more-markets.yaml"), 2, "markets")
    assert issue.message == f"already defined in {rules / 'markets.yaml'}:3"


def test_non_utf8_file(rules: Path) -> None:
    (rules / "latin1.yaml").write_bytes(b"# ok\nname: Lumora caf\xe9\n")
    issue = only_issue(rules)
    assert (issue.file, issue.line) == (str(rules / "latin1.yaml"), 2)
    assert "not UTF-8" in issue.message


def test_top_level_must_be_a_mapping(rules: Path) -> None:
    write(rules / "list.yaml", "- a\n- b\n")
    issue = only_issue(rules)
    assert (issue.file, issue.line) == (str(rules / "list.yaml"), 1)


def test_missing_and_empty_directories(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert str(only_issue(missing)) == f"{missing}: rules directory does not exist"
    assert str(only_issue(tmp_path)) == f"{tmp_path}: no *.yaml files in the directory"


def test_missing_top_level_key_names_the_directory(rules: Path) -> None:
    (rules / "brands.yaml").unlink()
    issue = only_issue(rules)
    assert (issue.file, issue.line, issue.path) == (str(rules), 0, "brands")


def test_empty_file_is_allowed(rules: Path) -> None:
    (rules / "empty.yaml").write_text("# nothing here yet\n")
    program, issues = check_program(rules)
    assert issues == [] and program is not None


# --- whole-program checks ------------------------------------------------------------------


def test_cross_reference_errors(rules: Path) -> None:
    agreements = rules / "agreements.yaml"
    edit(agreements, "partner: kuponhemat", "partner: kuponhmat")
    edit(agreements, "policy: no-brand-in-ad-copy", "policy: no-brand-in-copy")
    edit(agreements, "markets: [ae-ar]", "markets: [ae-ar, xx-yy]")
    edit(agreements, "engines: [bing]", "engines: [bingo]")
    _, issues = check_program(rules)
    assert [(i.path, i.line) for i in issues] == [
        ("agreements[1].versions[0].permissions[0].engines[0]", line_of(agreements, "[bingo]")),
        ("agreements[2].partner", line_of(agreements, "kuponhmat")),
        ("agreements[3].versions[0].permissions[0].markets[1]", line_of(agreements, "xx-yy")),
        ("agreements[3].versions[0].permissions[1].policy", line_of(agreements, "in-copy")),
    ]
    assert issues[1].message == "unknown partner 'kuponhmat'; did you mean 'kuponhemat'?"
    assert issues[3].message.endswith("did you mean 'no-brand-in-ad-copy'?")


def test_overlapping_agreement_versions(rules: Path) -> None:
    agreements = rules / "agreements.yaml"
    edit(agreements, "effective_from: 2024-07-01", "effective_from: 2024-06-30")
    issue = only_issue(rules)
    assert issue.path == "agreements[1].versions[1].effective_from"
    assert issue.line == line_of(agreements, "effective_from: 2024-06-30")
    assert "overlaps version '2022'" in issue.message


def test_open_ended_version_overlaps_a_later_one(rules: Path) -> None:
    agreements = rules / "agreements.yaml"
    edit(agreements, "        effective_to: 2024-06-30\n", "")
    assert only_issue(rules).path == "agreements[1].versions[1].effective_from"


def test_two_agreements_for_one_partner(rules: Path) -> None:
    agreements = rules / "agreements.yaml"
    edit(agreements, "partner: kuponhemat", "partner: dealspotter")
    issue = only_issue(rules)
    assert issue.path == "agreements[2].partner"
    assert "already has an agreement (agreements[0])" in issue.message


def test_duplicate_ids(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "id: competitor-on-brand", "id: no-brand-bidding")
    issue = only_issue(rules)
    assert issue.path == "policies[3].id"
    assert issue.line == line_of(policies, "id: no-brand-bidding", 2)
    assert "duplicate id 'no-brand-bidding' (also policies[0])" in issue.message


def test_condition_naming_unknown_market_and_partner(rules: Path) -> None:
    policies = rules / "policies.yaml"
    edit(policies, "- network: any", "- network: any\n            - partner: [sleepsavr]")
    edit(policies, "brand_in: [headline, display_url]",
         "all: [{brand_in: [headline]}, {market: [us-en, zz-zz]}]")
    _, issues = check_program(rules)
    assert [i.path for i in issues] == [
        "policies[1].when.all[1].any[1].partner[0]",
        "policies[2].when.all[1].market[1]",
    ]
    assert issues[0].message == "unknown partner 'sleepsavr'; did you mean 'sleepsaver'?"


def test_unknown_network_names(rules: Path) -> None:
    edit(rules / "partners.yaml", "network: awin", "network: awn")
    edit(rules / "policies.yaml", "- network: any", "- network: [impakt]")
    _, issues = check_program(rules)
    assert [(i.path, i.message) for i in issues] == [
        ("partners[0].network_ids[0].network", "unknown network 'awn'; did you mean 'awin'?"),
        ("policies[1].when.all[1].any[0].network[0]",
         "unknown network 'impakt'; did you mean 'impact'?"),
    ]


def test_partner_domain_overlapping_brand_domain(rules: Path) -> None:
    partners = rules / "partners.yaml"
    edit(partners, "domains: [sleepsaver.net]", "domains: [sleepsaver.net, deals.lumora.com]")
    issue = only_issue(rules)
    assert issue.path == "partners[1].domains[1]"
    assert issue.line == line_of(partners, "deals.lumora.com")
    assert "lumora.com" in issue.message



def test_the_agreement_in_force_is_read_on_the_day_given() -> None:
    program = load_program(RULES)
    versions = [v for a in program.agreements if a.partner == "sleepsaver" for v in a.versions]
    for version in versions:
        assert program.agreement_in_force("sleepsaver", version.effective_from) == version
    before = min(v.effective_from for v in versions) - timedelta(days=1)
    assert program.agreement_in_force("sleepsaver", before) is None
    assert program.agreement_in_force("nobody", versions[0].effective_from) is None


# --- hostile and broken files: refused with FILE:LINE, in bounded time and memory ---------
#
# The daemon reloads whatever lands in rules/; its reload turns a ProgramError into the metric,
# /healthz and the alert, so every one of these must be a ProgramError, never a ValueError or
# a RecursionError escaping the loader (which is what a bad date and a deep file once were).


def _deep_flow(rules: Path) -> tuple[Path, int]:
    path = rules / "extra.yaml"
    path.write_text("x: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    return path, 1


def _deep_block(rules: Path) -> tuple[Path, int]:
    path = rules / "extra.yaml"
    path.write_text("".join(" " * level + "a:\n" for level in range(100)), encoding="utf-8")
    return path, 64  # the 65th level, on the 64th line: the top mapping is the first level


def _laughs(rules: Path) -> tuple[Path, int]:
    """Ten aliases of ten, nine times over, in a condition tree: 10^9 conditions expanded."""
    path = rules / "policies.yaml"
    tree = "&a0 {engine: google}"
    for level in range(1, 10):
        tree = f"&a{level} {{any: [{tree}, " + ", ".join([f"*a{level - 1}"] * 9) + "]}"
    edit(path, "        - query_contains_brand: true\n",
         f"        - query_contains_brand: true\n        - {tree}\n")
    return path, line_of(path, "&a9")


def _alias_cycle(rules: Path) -> tuple[Path, int]:
    path = rules / "program.yaml"
    edit(path, "ignore:\n  - amazon.com\n", "ignore: &loop [*loop]\n")
    return path, line_of(path, "&loop")


def _alias_chain(rules: Path) -> tuple[Path, int]:
    """Each alias one level deeper than the last: shallow as written, 70 deep expanded."""
    path = rules / "extra.yaml"
    path.write_text("x0: &a0 [a]\n" + "".join(f"x{n}: &a{n} [*a{n - 1}]\n" for n in range(1, 70)),
                    encoding="utf-8")
    return path, 0  # somewhere in the chain: the line is checked to be a real one


def _bad_date(rules: Path) -> tuple[Path, int]:
    path = rules / "agreements.yaml"
    edit(path, "effective_from: 2023-03-01", "effective_from: 2023-02-30")
    return path, line_of(path, "2023-02-30")


def _long_number(rules: Path) -> tuple[Path, int]:
    path = rules / "program.yaml"
    edit(path, "jitter_seconds: 300", "jitter_seconds: " + "9" * 5000)
    return path, line_of(path, "jitter_seconds")


def _control_character(rules: Path) -> tuple[Path, int]:
    path = rules / "brands.yaml"
    edit(path, "name: Lumora", "name: Lu\x07mora")
    return path, line_of(path, "Lu\x07mora")


def _fifty_mb(rules: Path) -> tuple[Path, int]:
    path = rules / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 50 MB of NULs, no disk used
        handle.truncate(50 * 1024 * 1024)
    return path, 1


BROKEN = {
    "a date that is no day": (_bad_date, "effective_from"),
    "a 100 000-deep flow sequence": (_deep_flow, "nested more than 64 levels"),
    "indentation 100 levels deep": (_deep_block, "nested more than 64 levels"),
    "a billion laughs": (_laughs, "aliases here expand to"),
    "an alias inside itself": (_alias_cycle, "refers to the node that holds it"),
    "aliases expanding 70 deep": (_alias_chain, "more than 64 levels"),
    "a 5000-digit number": (_long_number, "4300 digits"),
    "a control character": (_control_character, "'\\x07' is not allowed"),
    "a 50 MB file": (_fifty_mb, "more than 2 MB"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_or_hostile_file_is_refused_with_file_and_line(rules: Path, name: str) -> None:
    breaks, message = BROKEN[name]
    path, line = breaks(rules)
    tracemalloc.start()
    started = time.process_time()  # CPU time: a loaded machine does not fail it
    program, issues = check_program(rules)
    elapsed = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert program is None
    assert issues and all(str(i).startswith(f"{i.file}:{i.line}: ") for i in issues)
    hit = next(i for i in issues if message in str(i))
    assert hit.file == str(path)
    assert hit.line == line if line else 1 <= hit.line <= 70
    assert elapsed < 10, f"{name}: {elapsed:.1f} s"  # traced; untraced it is well under 1 s
    assert peak < 64 * 1024 * 1024, f"{name}: {peak / 1e6:.0f} MB at peak"
    with pytest.raises(ProgramError) as caught:
        load_program(rules)
    assert caught.value.issues == issues


def test_the_program_as_a_whole_has_a_size_bound(
    rules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sizes = {p.name: p.stat().st_size for p in rules.glob("*.yaml")}
    # the bound lowered so that the example program overflows it in its last file
    monkeypatch.setattr(source, "MAX_PROGRAM_BYTES", sum(sizes.values()) - 10)
    issue = only_issue(rules)
    assert Path(issue.file).name == sorted(sizes)[-1]
    assert "files are more than" in issue.message and "together" in issue.message
    assert issue.line >= 1
