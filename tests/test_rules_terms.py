"""`bidwatch rules terms`: the queries per engine and market, and the captures per day the
schedule implies, on the example program and a copy with variants switched on."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.cli.schemas import validate
from tests.conftest import RULES, example_with_variants

runner = CliRunner()
#: the example program: 2 terms alone and with 4 modifiers, 3 misspellings
QUERIES = 2 + 2 * 4 + 3
ENGINES, MARKETS, DEVICES = 2, 4, 2
#: Wednesday 2 December 2026 and Friday 4 December: no surge day in any market (Cyber
#: Monday's day after is the 1st, Double Twelve's days before start on the 10th)
WEDNESDAY, FRIDAY = "2026-12-02", "2026-12-04"


def terms(*args: str) -> Any:
    result = runner.invoke(app, ["rules", "terms", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_query_of_every_engine_and_market_is_listed() -> None:
    document = json.loads(terms(str(RULES), "--json", "--day", WEDNESDAY))
    assert document["schema"] == "rules-terms/1"
    validate(document)  # against its schema in monitor.cli.schemas
    queries = document["queries"]
    assert len(queries) == QUERIES * ENGINES * MARKETS
    assert {(q["engine"], q["market"]) for q in queries} == {
        (e, m) for e in ("google", "bing") for m in ("us-en", "gb-en", "ae-ar", "id-id")}
    coupon = next(q for q in queries if q["query"] == "Lumora coupon")
    assert (coupon["term_group"], coupon["family"], coupon["brand"]) == (
        "brand+coupon", "listed", "lumora")
    assert {q["language"] for q in queries if q["market"] == "ae-ar"} == {"ar"}
    # the shape of rules-terms/1 (docs/cli.md): these keys, no others
    assert set(document) == {"schema", "directory", "program", "devices", "queries", "day",
                             "timezone", "sweeps", "captures_per_day"}
    assert {tuple(q) for q in queries} == {("engine", "market", "language", "brand", "query",
                                            "term_group", "family")}
    assert {tuple(s) for s in document["sweeps"]} == {("job", "runs", "tasks_per_run",
                                                       "captures")}


def test_the_captures_per_day_follow_the_schedule() -> None:
    wednesday = json.loads(terms(str(RULES), "--json", "--day", WEDNESDAY))
    sweeps = {s["job"]: s for s in wednesday["sweeps"]}
    # cron "15 */3 * * *": 8 whole-program sweeps of every query, engine, market and device
    assert sweeps["sweep:all"]["runs"] == 8
    assert sweeps["sweep:all"]["tasks_per_run"] == QUERIES * ENGINES * MARKETS * DEVICES
    # round-the-clock: 4 sampled runs a day in each market, mobile only
    for market in ("us-en", "gb-en", "ae-ar", "id-id"):
        job = sweeps[f"sweep:round-the-clock:{market}"]
        assert (job["runs"], job["tasks_per_run"]) == (4, QUERIES * ENGINES)
        # evenings-and-weekends: Friday to Sunday only
        assert sweeps[f"sweep:evenings-and-weekends:{market}"]["runs"] == 0
    every = 8 * 208 + 4 * 4 * QUERIES * ENGINES
    assert wednesday["captures_per_day"] == every
    friday = json.loads(terms(str(RULES), "--json", "--day", FRIDAY))
    # three runs of the coupon, promo code and discount queries (2 terms each), 2 engines
    # and 2 devices, in each of the four markets
    assert friday["captures_per_day"] == every + 4 * 3 * (3 * 2) * ENGINES * DEVICES


def test_a_surge_day_runs_the_sweeps_factor_times() -> None:
    black_friday = json.loads(terms(str(RULES), "--json", "--day", "2026-11-27"))
    sweeps = {s["job"]: s for s in black_friday["sweeps"]}
    assert sweeps["sweep:round-the-clock:us-en"]["runs"] == 4 * 3
    assert sweeps["sweep:all:surge:gb-en"]["runs"] == 8 * 2  # the two extra of every three


def test_the_filters_narrow_the_queries_and_the_captures() -> None:
    rows = list(csv.DictReader(io.StringIO(
        terms(str(RULES), "--csv", "--engine", "bing", "--market", "ae-ar"))))
    assert len(rows) == QUERIES
    assert {(r["engine"], r["market"], r["language"]) for r in rows} == {("bing", "ae-ar", "ar")}
    assert list(rows[0]) == ["engine", "market", "language", "brand", "query", "term_group",
                             "family"]
    narrowed = json.loads(terms(str(RULES), "--json", "--day", WEDNESDAY, "--engine", "bing",
                                "--market", "ae-ar"))
    sweeps = {s["job"]: s for s in narrowed["sweeps"]}
    assert sweeps["sweep:all"]["tasks_per_run"] == QUERIES * DEVICES
    assert sweeps["sweep:round-the-clock:us-en"]["tasks_per_run"] == 0


def test_the_text_lists_each_market_and_the_day() -> None:
    output = terms(str(RULES), "--day", FRIDAY)
    assert f"ae-ar (ar) on google, bing, each on desktop, mobile: {QUERIES} queries" in output
    assert "brand+promo code" in output and "Loumora" in output
    assert f"captures on {FRIDAY}: " in output


@pytest.mark.parametrize(("args", "message"), [
    (["--market", "fr-fr"], "unknown market 'fr-fr'"),
    (["--engine", "altavista"], "unknown engine 'altavista'"),
    (["--day", "friday"], "is not a date"),
    (["--json", "--csv"], "--json or --csv, not both"),
])
def test_a_bad_filter_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["rules", "terms", str(RULES), *args])
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_switched_on_variants_show_their_family_and_group(tmp_path: Path) -> None:
    rules = example_with_variants(tmp_path)
    document = json.loads(terms(str(rules), "--json", "--market", "id-id", "--engine",
                                "google", "--day", WEDNESDAY))
    rows = [(q["query"], q["term_group"], q["family"]) for q in document["queries"]]
    assert ("Lumora kupon", "brand+coupon", "modifiers") in rows
    assert ("Lumora-Sleep", "brand", "spacing") in rows
    assert ("Lmora", "misspelling", "misspellings") in rows
    assert len(rows) == 27 and len({r[0].casefold() for r in rows}) == 27
    families = [r[2] for r in rows]
    assert families.index("spacing") > max(i for i, f in enumerate(families) if f == "listed")
