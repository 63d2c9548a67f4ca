"""Explanations: `bidwatch explain` on a recorded sighting, and `bidwatch rules test` judging
a saved page under a changed program without touching the store."""

from __future__ import annotations

import http.client
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.simulator import Simulator
from monitor.models import Device
from monitor.services.commands import incident_document, incident_summaries, run_sweep_command
from monitor.settings import Settings
from tests.conftest import RULES

runner = CliRunner()


def saved_page(simulator: Simulator, tmp_path: Path, query: str) -> Path:
    """A Google result page from the simulator, saved as a browser would save it."""
    connection = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=10)
    connection.request("GET", f"/search?q={query.replace(' ', '+')}&gl=us&hl=en",
                       headers={"Host": "www.google.com", "User-Agent": "Mozilla/5.0 Chrome/150"})
    page = tmp_path / "page.html"
    page.write_bytes(connection.getresponse().read())
    return page


def verdicts(output: str) -> dict[str, set[str]]:
    result = json.loads(output)
    return {ad["partner"] or ad["advertiser_class"]: {f["policy"] for f in ad["findings"]}
            for ad in result["ads"]}


def test_rules_test_judges_a_saved_page_under_a_changed_program(
    simulator: Simulator, tmp_path: Path
) -> None:
    page = saved_page(simulator, tmp_path, "Lumora")
    before = runner.invoke(app, ["rules", "test", str(RULES), "--capture", str(page),
                                 "--market", "us-en", "--json"])
    assert before.exit_code == 0, before.output
    found = verdicts(before.output)
    assert "no-brand-bidding" in found["sleepsaver"]
    assert found["brand"] == set()
    assert json.loads(before.output)["query"] == "Lumora"  # read from the page's search box

    # Given an amended agreement that lets sleepsaver bid on the brand on Google in the US
    changed = tmp_path / "rules"
    shutil.copytree(RULES, changed)
    agreements = yaml.safe_load((changed / "agreements.yaml").read_text())
    for agreement in agreements["agreements"]:
        if agreement["partner"] == "sleepsaver":
            for version in agreement["versions"]:
                version.setdefault("permissions", []).append(
                    {"policy": "no-brand-bidding", "engines": ["google"], "markets": ["us-en"]})
    (changed / "agreements.yaml").write_text(yaml.safe_dump(agreements, allow_unicode=True))
    after = runner.invoke(app, ["rules", "test", str(changed), "--capture", str(page),
                                "--market", "us-en", "--json"])
    assert after.exit_code == 0, after.output
    assert "no-brand-bidding" not in verdicts(after.output)["sleepsaver"]
    assert not (tmp_path / "home").exists()  # nothing stored


def test_rules_test_on_a_page_that_is_not_a_result_page(tmp_path: Path) -> None:
    page = tmp_path / "note.html"
    page.write_text("<html><body><p>hello</p></body></html>")
    result = runner.invoke(app, ["rules", "test", str(RULES), "--capture", str(page)])
    assert result.exit_code == 2 and "--engine" in result.output


@pytest.mark.browser
def test_explain_prints_the_facts_of_a_recorded_finding(
    sim_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_sweep_command(sim_settings, engines=["google"], markets=["us-en"], terms=["Lumora"],
                      devices=[Device.desktop], dry_run=True)
    sleepsaver = next(i for i in incident_summaries(sim_settings)
                      if i["offender"] == "sleepsaver"
                      and "no-brand-bidding" in {c["policy"] for c in i["clauses"]})
    sighting = incident_document(sim_settings, sleepsaver["id"])["sightings"][0]["id"]
    monkeypatch.setenv("BIDWATCH_HOME", str(sim_settings.home))
    shown = runner.invoke(app, ["explain", str(sighting), "--json"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.output)
    assert document["attribution"]["partner"] == "sleepsaver"
    finding = next(f for f in document["findings"] if f["policy"] == "no-brand-bidding")
    assert finding["incident"] == sleepsaver["id"] and finding["facts"]
    (case,) = document["cases"]  # the case it folds into, with every clause
    assert case["id"] == sleepsaver["id"]
    assert {c["policy"] for c in case["clauses"]} == {c["policy"] for c in sleepsaver["clauses"]}
    assert document["chain"][0]["how"] == "start"
    text = runner.invoke(app, ["explain", str(sighting)])
    assert "because" in text.output and "sleepsaver" in text.output
    missing = runner.invoke(app, ["explain", "99999"])
    assert missing.exit_code == 2 and "no sighting" in missing.output
