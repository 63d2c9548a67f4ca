"""`bidwatch parse` and `attribute` for scripts: --json against their schemas, parse --csv,
many pages read by a pool of processes in the serial order, and URLs that are not URLs."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app, pages
from monitor.cli.schemas import validate
from tests.conftest import shared_dir

runner = CliRunner()
AWIN = ("https://www.awin1.com/cread.php?awinmid=1234&awinaffid=5678"
        "&ued=https%3A%2F%2Fwww.lumora.com%2F")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIDWATCH_HOME", str(tmp_path / "home"))


def corpus() -> list[Path]:
    return sorted(shared_dir("serp-corpus", "pages").glob("*.html"))


def run(args: list[str], monkeypatch: pytest.MonkeyPatch, *, pool: bool) -> tuple[int, str]:
    # a pool whatever this machine's cores (the test is about order and errors), or none
    monkeypatch.setattr(pages, "_cores", lambda: 2)
    monkeypatch.setattr(pages, "POOL_FROM", 2 if pool else 10**9)
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout


def test_many_pages_read_by_a_pool_print_what_one_process_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = [str(p) for p in corpus()] * 2
    pooled = run(["parse", "--json", *files], monkeypatch, pool=True)
    serial = run(["parse", "--json", *files], monkeypatch, pool=False)
    assert pooled == serial and pooled[0] == 0
    assert [json.loads(line)["file"] for line in pooled[1].splitlines()] == files


def test_an_unreadable_page_among_many_stops_there_as_it_does_serially(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    junk = tmp_path / "junk.html"
    junk.write_bytes(b"\x00\xff binary")
    good = [str(p) for p in corpus()[:3]]
    args = ["parse", "--json", *good, str(junk), *good]
    pooled = run(args, monkeypatch, pool=True)
    serial = run(args, monkeypatch, pool=False)
    assert pooled == serial and pooled[0] == 2
    assert len(pooled[1].splitlines()) == len(good)


def test_parse_json_is_parse_1(monkeypatch: pytest.MonkeyPatch) -> None:
    code, output = run(["parse", "--json", *map(str, corpus()[:4])], monkeypatch, pool=True)
    assert code == 0
    for line in output.splitlines():
        document = json.loads(line)
        assert next(iter(document)) == "schema" and document["schema"] == "parse/1"
        validate(document)


def test_parse_csv_is_one_row_per_ad(monkeypatch: pytest.MonkeyPatch) -> None:
    files = [str(p) for p in corpus()[:4]]
    _, as_json = run(["parse", "--json", *files], monkeypatch, pool=False)
    code, as_csv = run(["parse", "--csv", *files], monkeypatch, pool=False)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    documents = [json.loads(line) for line in as_json.splitlines()]
    assert list(rows[0]) == list(pages.PARSE_CSV)
    assert [(r["file"], r["headline"]) for r in rows] == [
        (d["file"], ad["headline"]) for d in documents for ad in d["ads"]]


def test_parse_json_and_csv_together_is_a_usage_error() -> None:
    result = runner.invoke(app, ["parse", "--json", "--csv", "x.html"])
    assert result.exit_code == 2


def test_attribute_json_is_attribution_1() -> None:
    result = runner.invoke(app, ["attribute", "--json", AWIN, "lumora.com/sale"])
    assert result.exit_code == 0, result.output
    documents = [json.loads(line) for line in result.stdout.splitlines()]
    assert [d["network"] for d in documents] == ["awin", None]
    for document in documents:
        assert next(iter(document)) == "schema"
        validate(document)


@pytest.mark.parametrize("url", ["not a url", "", "javascript:alert(1)", "ftp://lumora.com/",
                                 "mailto:someone@lumora.com"])
def test_attribute_of_what_is_not_an_url_exits_2_in_one_line(url: str) -> None:
    result = runner.invoke(app, ["attribute", AWIN, url])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1 and "not an http(s) URL" in result.output
    assert result.stdout == ""  # nothing read before the refusal
