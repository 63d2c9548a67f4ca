"""`bidwatch rules replay`: a store filled by a real sweep (Chromium against the simulator)
judged again under a changed program; the store stays byte for byte as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.mailsink import MailSink
from monitor.dev.simulator import Simulator
from monitor.judge import compile_policies
from monitor.models import Device
from monitor.program import load_program
from monitor.services.commands import run_sweep_command
from monitor.services.explain import _sighting_of as sighting_of
from monitor.services.replay import Replayer, replay_store
from monitor.services.wiring import open_store
from monitor.settings import Settings
from monitor.store.replay import EVER, replay_rows
from tests.bench.bench_judge import synthetic_program
from tests.notify_support import Breach, notify_settings, record_breach
from tests.whatif_support import RULES, Documents, agreement, changed_rules, conforms, policy

runner = CliRunner()


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, simulator: Simulator) -> Iterator[Settings]:
    """One real sweep of the example program: two terms in three markets, on desktop."""
    root = tmp_path_factory.mktemp("swept")
    with MailSink(root / "mail") as sink:
        settings = Settings(
            home=root / "home", rules=RULES, database_url=None, simulator=simulator.address,
            allow_private_networks=True, concurrency=2, page_timeout_s=20, pace_s=0,
            pace_jitter_s=0, notice_url=sink.apprise_url())
        result = run_sweep_command(settings, terms=("Lumora", "Lumora coupon"),
                                   markets=["us-en", "id-id", "ae-ar"], devices=[Device.desktop])
        assert result.report.status == "done" and result.report.ads > 12
        yield settings


def database_bytes(settings: Settings) -> str:
    return hashlib.sha256((settings.home / "bidwatch.db").read_bytes()).hexdigest()


def stored_findings(settings: Settings) -> Counter[tuple[str, str]]:
    """(offender, policy) of every stored finding, read straight from the file."""
    uri = f"file:{settings.home / 'bidwatch.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        rows = connection.execute("SELECT s.offender, f.policy FROM findings f "
                                  "JOIN sightings s ON s.id = f.sighting_id").fetchall()
    return Counter((offender, policy) for offender, policy in rows)


@pytest.mark.browser
def test_the_program_the_sweep_ran_finds_exactly_what_was_stored(swept: Settings) -> None:
    before = database_bytes(swept)
    report = replay_store(swept, RULES)
    assert report.sightings > 12
    # judged again under the same program, every sighting has the findings it was stored with
    assert report.as_json()["changes"] == [] and report.changed_sightings == 0
    assert database_bytes(swept) == before


@pytest.mark.browser
def test_a_severity_raised_changes_every_stored_finding_of_that_policy(
        swept: Settings, tmp_path: Path) -> None:
    before = database_bytes(swept)
    raised = changed_rules(tmp_path / "raised", lambda docs: policy(
        docs, "no-direct-linking").update(severity="critical"))
    report = replay_store(swept, raised).as_json()
    expected = {offender: count for (offender, p), count in stored_findings(swept).items()
                if p == "no-direct-linking"}
    assert expected, "the sweep should have found direct linking (sleepsaver, kuponhemat)"
    assert {r["offender"]: r["severity_changed"] for r in report["changes"]} == expected
    for row in report["changes"]:
        assert row["policy"] == "no-direct-linking" and not row["appear"] and not row["disappear"]
        assert row["severity_changes"] == [{"from": "high", "to": "critical",
                                            "count": row["severity_changed"]}]
        assert 0 < len(row["examples"]) <= min(5, row["severity_changed"])
    assert report["totals"] == {"appear": 0, "disappear": 0,
                                "severity_changed": sum(expected.values())}
    assert database_bytes(swept) == before


@pytest.mark.browser
def test_a_permission_granted_makes_the_partners_findings_disappear(
        swept: Settings, tmp_path: Path) -> None:
    before = database_bytes(swept)

    def grant(docs: Documents) -> None:  # sleepsaver may now bid on the brand on Google
        agreement(docs, "sleepsaver")["versions"][-1]["permissions"] = [
            {"policy": "no-brand-bidding", "engines": ["google"]}]

    report = replay_store(swept, changed_rules(tmp_path / "granted", grant)).as_json()
    rows = report["changes"]
    assert [(r["offender"], r["policy"]) for r in rows] == [("sleepsaver", "no-brand-bidding")]
    (row,) = rows
    assert row["partner"] == "sleepsaver" and row["disappear"] > 0 and not row["appear"]
    # only the Google sightings: those on Bing stay breaches
    uri = f"file:{swept.home / 'bidwatch.db'}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        on_google = connection.execute(
            "SELECT count(*) FROM findings f JOIN sightings s ON s.id = f.sighting_id "
            "WHERE s.offender = 'sleepsaver' AND f.policy = 'no-brand-bidding' "
            "AND s.engine = 'google'").fetchone()[0]
        engines = {e for (e,) in connection.execute(
            f"SELECT engine FROM sightings WHERE id IN ({','.join(map(str, row['examples']))})")}
    assert row["disappear"] == on_google and engines == {"google"}
    assert database_bytes(swept) == before


@pytest.mark.browser
def test_cli_json_and_csv(swept: Settings, tmp_path: Path) -> None:
    new = changed_rules(tmp_path / "new", lambda docs: policy(
        docs, "no-brand-bidding").update(severity="medium"))
    env = {"BIDWATCH_HOME": str(swept.home)}
    result = runner.invoke(app, ["rules", "replay", str(new), "--json"], env=env)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["schema"] == "rules-replay/1"
    conforms(document)
    assert document["totals"]["severity_changed"] > 0
    table = runner.invoke(app, ["rules", "replay", str(new), "--csv"], env=env)
    assert table.exit_code == 0, table.output
    header, *lines = table.output.strip().splitlines()
    assert header.split(",")[:4] == ["offender", "partner", "policy", "appear"]
    assert len(lines) == len(document["changes"])
    said = runner.invoke(app, ["rules", "replay", str(new)], env=env)
    assert "change severity" in said.output and "no-brand-bidding" in said.output


def test_the_period_bounds_the_sightings_judged(tmp_path: Path) -> None:
    settings = notify_settings(tmp_path / "home")
    store = open_store(settings)
    try:
        for day in (1, 2, 3):
            record_breach(store, settings.home, Breach("sleepsaver", query=f"lumora {day}"),
                          datetime(2026, 11, day, 12, 0, tzinfo=UTC))
    finally:
        store.close()
    before = database_bytes(settings)
    assert replay_store(settings, RULES).sightings == 3
    assert replay_store(settings, RULES, since=date(2026, 11, 2)).sightings == 2
    assert replay_store(settings, RULES, until=date(2026, 11, 2)).sightings == 2
    assert replay_store(settings, RULES, date(2026, 11, 2), date(2026, 11, 2)).sightings == 1
    assert database_bytes(settings) == before
    result = runner.invoke(app, ["rules", "replay", str(RULES), "--since", "2026-11-03",
                                 "--until", "2026-11-01"],
                           env={"BIDWATCH_HOME": str(settings.home)})
    assert result.exit_code == 2 and "before" in result.output


def test_no_store_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["rules", "replay", str(RULES)],
                           env={"BIDWATCH_HOME": str(tmp_path / "empty")})
    assert result.exit_code == 2
    assert "no store" in result.output
    assert not (tmp_path / "empty" / "bidwatch.db").exists()


@pytest.mark.browser
@pytest.mark.parametrize("which", ["example", "synthetic"])
def test_a_row_is_judged_as_the_recorded_sighting_it_stands_for(swept: Settings,
                                                                which: str) -> None:
    # the replay reads only what the judge reads; judged in full (every column the store
    # has, as explain rebuilds it) and from the row, each sighting gets the same findings,
    # facts and all, under the example program and under one using every kind of condition
    program = load_program(RULES) if which == "example" else synthetic_program(partners=50)
    judge, replayer = compile_policies(program), Replayer(program)
    store = open_store(swept)
    try:
        with replay_rows(swept.database, *EVER) as rows:
            pairs = [(store.sighting(row[0]), replayer.sighting(row)) for row, _ in rows]
    finally:
        store.close()
    assert len(pairs) > 12
    judged = 0
    for detail, rebuilt in pairs:
        assert detail is not None
        full = judge.judge(sighting_of(detail, program))
        assert judge.judge(rebuilt) == full
        judged += bool(full)
    assert judged, "some sighting should breach a policy"


def test_a_postgresql_store_replays_as_sqlite_does(postgres_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    name = f"replay{abs(hash(tmp_path)) % 10**9}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    stores = {"sqlite": notify_settings(tmp_path / "lite"),
              "postgres": notify_settings(tmp_path / "pg", database_url=postgres_url.rsplit(
                  "/", 1)[0] + f"/{name}")}
    for settings in stores.values():
        store = open_store(settings)
        try:
            for day, partner in ((1, "sleepsaver"), (2, "kuponhemat"), (3, "sleepsaver")):
                record_breach(store, settings.home, Breach(partner, query=f"lumora {day}"),
                              datetime(2026, 11, day, 12, 0, tzinfo=UTC))
        finally:
            store.close()
    raised = changed_rules(tmp_path / "raised", lambda docs: policy(
        docs, "no-brand-bidding").update(severity="critical"))
    lite, pg = (replay_store(s, raised, since=date(2026, 11, 2)).as_json()
                for s in stores.values())
    assert pg["sightings"] == lite["sightings"] == 2
    assert pg["changes"] == lite["changes"] and pg["totals"]["severity_changed"] == 2
