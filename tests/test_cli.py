"""The `bidwatch` command: exit codes, output formats, clear errors on bad input."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.mailsink import MailSink
from tests.conftest import RULES, shared_dir
from tests.test_program import BROKEN

runner = CliRunner()
ISSUE_LINE = re.compile(r"^\S+\.yaml:\d+: [\w\[\].-]+: .+$")
AD_KEYS = {"kind", "position", "rank", "headline", "description", "display_url", "link",
           "click_url", "merchant", "price"}


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIDWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BIDWATCH_RULES", str(RULES))
    return tmp_path / "home"


def test_rules_check_passes_the_example_program_with_a_one_line_summary() -> None:
    result = runner.invoke(app, ["rules", "check", str(RULES)])
    assert result.exit_code == 0, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "4 partners" in result.output


def test_rules_check_prints_every_error_as_file_line_path_message(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    partners = broken / "partners.yaml"
    partners.write_text(partners.read_text().replace("language: ar", "language: 42arabic"))
    agreements = broken / "agreements.yaml"
    agreements.write_text(agreements.read_text() + "\n  - partner: nobody\n    versions: []\n")
    result = runner.invoke(app, ["rules", "check", str(broken)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) >= 2
    assert all(ISSUE_LINE.match(line) for line in lines), lines
    bad_line = partners.read_text().splitlines().index("    language: 42arabic") + 1
    assert any(f"/partners.yaml:{bad_line}: partners[3].language:" in line for line in lines)
    assert any("/agreements.yaml:" in line and "agreements[4].versions" in line
               for line in lines)


def test_rules_check_on_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    (broken / "markets.yaml").write_text("markets:\n  - id: us-en\n    country: [US\n")
    result = runner.invoke(app, ["rules", "check", str(broken)])
    assert result.exit_code == 2
    assert re.search(r"markets\.yaml:\d+:", result.output)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_rules_check_refuses_a_hostile_program_with_file_line_and_exit_2(
    tmp_path: Path, name: str
) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    breaks, message = BROKEN[name]
    path, _ = breaks(broken)
    result = runner.invoke(app, ["rules", "check", str(broken)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no exception escaped
    lines = result.output.strip().splitlines()
    assert any(line.startswith(f"{path}:") and message in line for line in lines), lines
    assert all(re.match(r"^\S+\.yaml:\d+: ", line) for line in lines), lines


@pytest.mark.parametrize(("pattern", "why"), [
    (r"(\w+) \1", "backreferences are not supported"),
    (r"lumora(?= sale)", "lookahead and lookbehind are not supported"),
    (r"(?<!official )lumora", "lookahead and lookbehind are not supported"),
    (r"(?>lumora)+", "atomic groups"),
])
def test_rules_check_refuses_a_pattern_re2_cannot_run_and_says_why(
    tmp_path: Path, pattern: str, why: str
) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    policies = broken / "policies.yaml"
    text = policies.read_text()
    assert "brand_in: [headline, display_url]" in text
    policies.write_text(text.replace("brand_in: [headline, display_url]",
                                     f"matches: {{field: headline, pattern: '{pattern}'}}", 1))
    line = next(n for n, row in enumerate(policies.read_text().splitlines(), 1)
                if "matches:" in row)
    result = runner.invoke(app, ["rules", "check", str(broken)])
    assert result.exit_code == 2, result.output
    (issue,) = result.output.strip().splitlines()
    assert issue.startswith(f"{policies}:{line}: policies[2].when.matches.pattern: ")
    assert why in issue and "RE2" in issue


def test_parse_prints_the_ads_of_a_saved_page_as_json() -> None:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_1.html")
    truth = json.loads(shared_dir("serp-corpus", "truth.json").read_text())
    result = runner.invoke(app, ["parse", str(page), "--engine", "auto", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["engine"] == "google"
    assert all(set(ad) == AD_KEYS for ad in document["ads"])
    expected = _truth_ads(truth, page.name)
    assert [a["headline"] for a in document["ads"] if a["kind"] == "text"] == expected


def _truth_ads(truth: object, name: str) -> list[str]:
    pages = truth["pages"] if isinstance(truth, dict) and "pages" in truth else truth
    entry = pages[name] if isinstance(pages, dict) else next(
        p for p in pages if p.get("file", "").endswith(name))
    return [ad["headline"] for ad in entry["ads"]]


def test_parse_several_files_prints_one_json_object_per_line(tmp_path: Path) -> None:
    pages = sorted(shared_dir("serp-corpus", "pages").glob("*.html"))
    result = runner.invoke(app, ["parse", *map(str, pages), "--json"])
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.output.splitlines()]
    assert len(documents) == len(pages)
    assert {d["engine"] for d in documents} == {"google", "bing", "duckduckgo", "yahoo"}


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe binary \x89PNG", b"<html><body><div"])
def test_parse_of_junk_is_one_line_and_exit_2_unless_the_engine_is_named(
    tmp_path: Path, content: bytes
) -> None:
    junk = tmp_path / "junk.html"
    junk.write_bytes(content)
    refused = runner.invoke(app, ["parse", str(junk), "--json"])
    assert refused.exit_code == 2, refused.output
    assert refused.output.count("\n") == 1 and "not a result page of a known engine" in (
        refused.output) and "--engine" in refused.output
    named = runner.invoke(app, ["parse", str(junk), "--json", "--engine", "google"])
    assert named.exit_code == 0, named.output
    assert json.loads(named.stdout)["ads"] == []
    # read as asked, and said not to be a result page (on stderr, beside the JSON)
    assert "not a result page" in named.stderr


def test_parse_reads_the_stores_evidence_and_utf16_like_the_page(tmp_path: Path) -> None:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_3.html").read_text()
    plain = tmp_path / "page.html"
    plain.write_text(page)
    evidence = tmp_path / "ab12.html.gz"
    evidence.write_bytes(gzip.compress(page.encode("utf-8"), mtime=0))
    utf16 = tmp_path / "utf16.html"
    utf16.write_bytes(page.encode("utf-16"))
    read = [json.loads(runner.invoke(app, ["parse", str(p), "--json"]).output)
            for p in (plain, evidence, utf16)]
    assert read[0]["ads"] and all(r["ads"] == read[0]["ads"] for r in read)
    assert {r["engine"] for r in read} == {"google"} and {r["truncated"] for r in read} == {None}


def test_parse_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(tmp_path / "nope.html"), "--json"])
    assert result.exit_code == 2
    assert "nope.html" in result.output and "Traceback" not in result.output


def test_sweep_with_an_unknown_engine_says_which_exist() -> None:
    result = runner.invoke(app, ["sweep", "--engine", "altavista"])
    assert result.exit_code == 2
    assert "altavista" in result.output and "google" in result.output


def test_incidents_on_an_empty_store_and_a_missing_incident() -> None:
    listed = runner.invoke(app, ["incidents", "--json"])
    assert listed.exit_code == 0 and listed.output == ""
    shown = runner.invoke(app, ["incidents", "show", "999"])
    assert shown.exit_code == 2 and "no incident 999" in shown.output
    changed = runner.invoke(app, ["incidents", "set", "1", "maybe"])
    assert changed.exit_code == 2 and "acknowledged" in changed.output


def test_digest_renders_html_and_text_for_a_day(tmp_path: Path) -> None:
    target = tmp_path / "digest.html"
    result = runner.invoke(app, ["digest", "--date", "2026-11-20", "--out", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text().lstrip().lower().startswith("<!doctype html")
    assert "2026-11-20" in target.with_suffix(".txt").read_text()


def test_digest_send_mails_the_digest_to_the_program_recipients(
    tmp_path: Path, mail_sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIDWATCH_NOTICE_URL", mail_sink.apprise_url())
    result = runner.invoke(app, ["digest", "--date", "2026-11-20", "--send",
                                 "--out", str(tmp_path / "d.html")])
    assert result.exit_code == 0, result.output
    (mail,) = mail_sink.received
    message = mail.message()
    assert mail.recipients == ("compliance-team@lumora.com",)
    assert "compliance@lumora.com" in message["From"]
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None


def test_digest_send_without_a_channel_says_what_to_set(tmp_path: Path) -> None:
    result = runner.invoke(app, ["digest", "--send", "--out", str(tmp_path / "d.html")])
    assert result.exit_code == 2 and "BIDWATCH_NOTICE_URL" in result.output


def test_parse_reads_a_20_mb_page_like_the_page_inside_it(tmp_path: Path) -> None:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_3.html").read_text()
    filler = "".join(
        f'<div class="g"><a href="https://example{n}.com/">Result {n}</a>'
        f"<span>Words about result {n}, long enough to look like a snippet.</span></div>"
        for n in range(140_000)
    )
    end = page.rfind("</body>")
    big = tmp_path / "big.html"
    big.write_text(page[:end] + filler + page[end:])
    assert big.stat().st_size > 20_000_000
    small = tmp_path / "small.html"
    small.write_text(page)
    read = [json.loads(runner.invoke(app, ["parse", str(p), "--json"]).output)
            for p in (small, big)]
    assert read[0]["ads"] and read[1]["ads"] == read[0]["ads"]


def _hostile_pages(tmp_path: Path) -> dict[str, Path]:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_3.html").read_bytes()
    pages = {}
    deep = tmp_path / "deep.html"
    deep.write_text("<html><body>" + "<div>" * 100_000 + "x" + "</div>" * 100_000)
    pages["100k nested divs"] = deep
    huge = tmp_path / "huge.html"
    with huge.open("wb") as handle:  # the page, then sparse NULs to 60 MB: no disk used
        handle.write(page)
        handle.truncate(60 * 1024 * 1024)
    pages["60 MB"] = huge
    bomb = tmp_path / "bomb.html.gz"  # 200 KB that would inflate to 1 GB
    with gzip.open(bomb, "wb") as handle:
        for _ in range(1024):
            handle.write(b" " * (1024 * 1024))
    pages["a gzip bomb"] = bomb
    utf16 = tmp_path / "utf16.html"
    utf16.write_bytes(page.decode("utf-8").encode("utf-16"))
    pages["UTF-16"] = utf16
    return pages


@pytest.mark.parametrize("name", ["100k nested divs", "60 MB", "a gzip bomb", "UTF-16"])
def test_parse_of_a_hostile_page_ends_in_bounded_time_and_memory(
    tmp_path: Path, name: str
) -> None:
    path = _hostile_pages(tmp_path)[name]
    # a process of its own: its peak memory is its own, and a hang is a timeout, not a stuck run
    script = ("import resource, sys\n"
              "from monitor.cli import app\n"
              "try:\n"
              "    app(['parse', '--engine', 'google', '--json', sys.argv[1]])\n"
              "finally:\n"
              "    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "    print(f'PEAK {peak}', file=sys.stderr)\n")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    peak_mb = int(done.stderr.rsplit("PEAK ", 1)[1]) / 1024
    document = json.loads(done.stdout)
    assert elapsed < 20, f"{name}: {elapsed:.1f} s"
    assert peak_mb < 600, f"{name}: {peak_mb:.0f} MB"  # ~110 MB of it is Python and the CLI
    if name == "UTF-16":
        assert document["ads"] and document["truncated"] is None
    else:  # read up to the bound, and said so on stderr and in the JSON
        assert document["truncated"] and document["truncated"] in done.stderr


def test_evidence_prune_on_an_empty_home_deletes_nothing() -> None:
    result = runner.invoke(app, ["evidence", "prune", "--older-than", "30"])
    assert result.exit_code == 0, result.output
    assert "0 files deleted" in result.output


def test_parse_shows_hostile_ad_text_as_text_not_as_terminal_markup(tmp_path: Path) -> None:
    page = shared_dir("serp-corpus", "pages", "google_zlurad_5.html").read_text()
    first = json.loads(runner.invoke(app, ["parse", "--json", str(_saved(tmp_path, page))]).output)
    headline = first["ads"][0]["headline"]
    hostile = page.replace(headline, "[link=https://evil.example]Click[/link] [bold]x[/bold]", 1)
    shown = runner.invoke(app, ["parse", str(_saved(tmp_path, hostile))])
    assert shown.exit_code == 0, shown.output
    assert "[link=https://evil.example]Click[/link]" in shown.output.replace("\n", "")


def _saved(tmp_path: Path, html: str) -> Path:
    path = tmp_path / f"page{abs(hash(html)) % 10_000}.html"
    path.write_text(html)
    return path


@pytest.mark.parametrize("command", [
    ["sweep", "--dry-run", "--rules"],
    ["rules", "test", "--capture", "CAPTURE"],
])
def test_a_broken_program_is_one_line_and_exit_2_never_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    broken = tmp_path / "rules"
    shutil.copytree(RULES, broken)
    (broken / "brands.yaml").write_text("brands: [\n", encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text("<html><body>no ads</body></html>", encoding="utf-8")
    args = [str(page) if a == "CAPTURE" else a for a in command]
    args = [*args, str(broken)] if command[0] == "sweep" else [*args[:2], str(broken), *args[2:]]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "brands.yaml:2: YAML syntax" in result.output


def test_an_outbox_command_on_an_unknown_item_is_one_line_and_exit_2() -> None:
    result = runner.invoke(app, ["notices", "approve", "99999"])
    assert result.exit_code == 2, result.output
    assert "no outbox item 99999" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["digest", "--date", "2026-13-01"], ["'2026-13-01' is not a day", "YYYY-MM-DD"]),
    (["incidents", "--status", "opened"], ["unknown --status 'opened'", "acknowledged"]),
    (["incidents", "--partner", "nobody"], ["unknown --partner 'nobody'", "sleepsaver"]),
    (["outbox", "--status", "lost"], ["unknown --status 'lost'", "pending, sending, sent"]),
    (["outbox", "--kind", "fax"], ["unknown --kind 'fax'", "notice, reminder, alert"]),
    (["outbox", "--partner", "nobody"], ["unknown --partner 'nobody'", "kuponhemat"]),
    (["outbox", "--limit", "0"], ["--limit 0"]),
    (["evidence", "prune", "--older-than", "-5"], ["--older-than -5", "0 or more"]),
])
def test_a_bad_argument_is_one_line_naming_what_is_known_and_exit_2(
    args: list[str], says: list[str]
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1, result.output
    assert all(s in result.output for s in says), result.output


def test_evidence_prune_older_than_0_means_0_days(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[object] = []

    def prune(store: object, home: Path, older_than: object) -> object:
        seen.append(older_than)
        from monitor.services.retention import PruneReport
        return PruneReport(0, 0, 0)

    monkeypatch.setattr("monitor.services.retention.prune_evidence", prune)
    result = runner.invoke(app, ["evidence", "prune", "--older-than", "0"])
    assert result.exit_code == 0, result.output
    assert "older than 0 days" in result.output
    assert [str(s) for s in seen] == ["0:00:00"]


def test_parse_shows_a_shopping_ads_merchant_and_price() -> None:
    page = shared_dir("serp-corpus", "pages", "google_websearcher_14.html")
    result = runner.invoke(app, ["parse", str(page), "--engine", "auto", "--json"])
    assert result.exit_code == 0, result.output
    shopping = [ad for ad in json.loads(result.output)["ads"] if ad["kind"] == "shopping"]
    assert shopping and all(ad["merchant"] and ad["price"] for ad in shopping)
    assert {ad["merchant"] for ad in shopping} == {"Amazon.com"}


def test_parse_says_what_it_could_not_account_for(tmp_path: Path) -> None:
    # an ad click outside every ad read: the first sign of a markup change
    page = shared_dir("serp-corpus", "pages", "google_zlurad_1.html").read_text()
    stray = ('<div><a href="https://www.googleadservices.com/pagead/aclk?sa=L&amp;ai=X'
             '&amp;adurl=https://www.lumora.com/">Lumora</a></div></body>')
    changed = tmp_path / "changed.html"
    changed.write_text(page.replace("</body>", stray, 1))
    result = runner.invoke(app, ["parse", str(changed), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "ok" and len(document["stray_click_urls"]) == 1
    assert "1 google ad clicks outside every ad read (has the markup changed?)" in result.stderr
    plain = runner.invoke(app, ["parse", str(shared_dir("serp-corpus", "pages",
                                                        "google_zlurad_1.html")), "--json"])
    assert plain.stderr == ""
