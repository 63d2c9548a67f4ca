"""Chain reuse, for real: Chromium against the simulator, the example program, SQLite.

A chain followed for an entry URL, market and device within BIDWATCH_CHAIN_REUSE_HOURS, that
ended well, is reused instead of followed again (within a sweep: one follow per key; across
sweeps: from the store), and the sighting says how old it is. The simulator's request log
tells whether a chain's hops were asked for."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.simulator import Simulator
from monitor.models import Device
from monitor.plan import plan_tasks
from monitor.services.commands import incident_document, incident_summaries
from monitor.services.explain import explain_sighting
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.store import Store
from monitor.store.db import alembic_config, make_engine, migration_connection
from monitor.sweep import SweepReport, run_sweep

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

#: the first hop of the demo scenario's chains on brand queries in us-en (an entry URL)
PARTNERIZE = ("go.sleepsaver.net", "/r/lumora")
CJ = ("www.sleepsaver.net", "/out/lumora-cj")
DREAMNEST = ("www.dreamnest.com", "/compare/lumora")
#: every host a chain of these sweeps reaches; the result pages live elsewhere
CHAIN_HOSTS = {"go.sleepsaver.net", "prf.hn", "www.sleepsaver.net", "www.anrdoezrs.net",
               "www.lumora.com", "www.dreamnest.com"}


def sweep(settings: Settings, *, terms: list[str], markets: list[str] = ["us-en"],  # noqa: B006
          devices: list[Device] = [Device.desktop],  # noqa: B006
          engines: list[str] = ["google"]) -> SweepReport:  # noqa: B006
    deps = build_deps(settings)
    try:
        tasks = plan_tasks(deps.program, engines=engines, markets=markets, devices=devices,
                           terms=terms)
        assert tasks
        report = asyncio.run(asyncio.wait_for(run_sweep(deps, tasks, dry_run=True), 180))
    finally:
        deps.store.close()
    assert report.status == "done" and report.captured == report.tasks, report
    return report


def chain_requests(simulator: Simulator) -> list[tuple[str, str]]:
    return [(r.host, r.path) for r in simulator.requests if r.host in CHAIN_HOSTS]


def sighting_ages(settings: Settings, sweep_id: int) -> list[float | None]:
    engine = sa.create_engine(settings.database)
    try:
        with engine.connect() as connection:
            return [row[0] for row in connection.execute(
                sa.text("SELECT chain_age_s FROM sightings WHERE sweep_id = :id"),
                {"id": sweep_id})]
    finally:
        engine.dispose()


def age_chains(settings: Settings, hours: float) -> None:
    """Make every stored chain `hours` older, as if followed that long ago."""
    engine = make_engine(settings.database)
    try:
        with engine.begin() as connection:
            rows = connection.execute(sa.text("SELECT id, followed_at FROM chains "
                                              "WHERE followed_at IS NOT NULL")).all()
            for chain_id, followed_at in rows:
                older = datetime.fromisoformat(str(followed_at)) - timedelta(hours=hours)
                connection.execute(
                    sa.text("UPDATE chains SET followed_at = :at WHERE id = :id"),
                    {"at": older.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"),
                     "id": chain_id})
    finally:
        engine.dispose()


def test_a_second_sweep_within_the_window_reuses_every_chain(
    sim_settings: Settings, simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulator.requests.clear()
    first = sweep(sim_settings, terms=["Lumora", "Lumora coupon"])
    assert first.chains_followed >= 3 and first.ads > first.chains_followed
    assert first.chains_followed + first.chains_reused == first.ads
    # both pages show the brand's and the partner's ads: each chain followed once
    assert Counter(chain_requests(simulator))[PARTNERIZE] == 1
    assert all(a is None or 0 <= a < 120 for a in sighting_ages(sim_settings, first.sweep_id))

    simulator.requests.clear()
    second = sweep(sim_settings, terms=["Lumora", "Lumora coupon"])
    # not one hop of a chain asked for again: every chain came from the store
    assert second.chains_followed == 0
    assert second.chains_reused == second.ads == first.ads
    assert chain_requests(simulator) == []
    ages = sighting_ages(sim_settings, second.sweep_id)
    assert len(ages) == second.ads
    assert all(a is not None and 0 <= a < 600 for a in ages), ages

    # the same offenders, and the reuse said where a chain is shown
    case = next(i for i in incident_summaries(sim_settings) if i["partner"] == "sleepsaver")
    reused = [s for s in incident_document(sim_settings, case["id"])["sightings"]
              if s["chain_age_s"] is not None]
    assert reused and reused[0]["chain"][0]["how"] == "start"
    assert len(reused[0]["chain"]) >= 3  # offline start, then the live hops as followed
    explained = explain_sighting(sim_settings, reused[0]["id"])
    assert explained["chain_followed"] == "chain followed 0.0 h ago (reused)"
    # and said by the commands staff read
    monkeypatch.setenv("BIDWATCH_HOME", str(sim_settings.home))
    monkeypatch.setenv("BIDWATCH_RULES", str(sim_settings.rules))
    shown = CliRunner().invoke(app, ["incidents", "show", str(case["id"])])
    assert shown.exit_code == 0 and "chain followed 0.0 h ago (reused)" in shown.output
    why = CliRunner().invoke(app, ["explain", str(reused[0]["id"])])
    assert why.exit_code == 0 and "chain followed 0.0 h ago (reused)" in why.output


def test_past_the_window_or_with_reuse_off_chains_are_followed_live(
    sim_settings: Settings, simulator: Simulator
) -> None:
    first = sweep(sim_settings, terms=["Lumora coupon"])
    assert first.chains_followed >= 3

    # reuse off: every ad's chain followed live, even two ads with the same key
    simulator.requests.clear()
    off = sweep(sim_settings.model_copy(update={"chain_reuse_hours": 0}),
                terms=["Lumora coupon"])
    assert off.chains_reused == 0 and off.chains_followed == off.ads
    assert PARTNERIZE in chain_requests(simulator)
    assert set(sighting_ages(sim_settings, off.sweep_id)) == {None}

    # every stored chain followed 25 h ago: past the 24 h window, so followed live again
    age_chains(sim_settings, 25)
    simulator.requests.clear()
    late = sweep(sim_settings, terms=["Lumora coupon"])
    assert late.chains_reused == 0 and late.chains_followed == first.chains_followed
    assert PARTNERIZE in chain_requests(simulator)
    # and within a 26 h window the newest chains, followed 25 h ago, are reused
    age_chains(sim_settings, 25)
    wide = sweep(sim_settings.model_copy(update={"chain_reuse_hours": 26}),
                 terms=["Lumora coupon"])
    assert wide.chains_followed == 0 and wide.chains_reused == wide.ads
    ages = sighting_ages(sim_settings, wide.sweep_id)
    assert all(a is not None and 25 * 3600 <= a < 25 * 3600 + 600 for a in ages), ages


def test_a_chain_that_ended_with_an_error_is_never_reused(
    sim_settings: Settings, simulator: Simulator
) -> None:
    # every chain of the first sweep times out (the bound is far below a redirect's time)
    cut_short = sim_settings.model_copy(update={"chain_timeout_s": 0.01})
    first = sweep(cut_short, terms=["Lumora coupon"])
    assert first.chains_reused == 0 and first.chains_followed == first.ads >= 3
    engine = sa.create_engine(sim_settings.database)
    with engine.connect() as connection:
        errors = [row[0] for row in connection.execute(sa.text(
            "SELECT error FROM chains WHERE reuse_key IS NOT NULL"))]
    engine.dispose()
    assert errors and all(e and e.startswith("timeout") for e in errors), errors

    simulator.requests.clear()
    second = sweep(sim_settings, terms=["Lumora coupon"])
    assert second.chains_reused == 0 and second.chains_followed == first.chains_followed
    assert PARTNERIZE in chain_requests(simulator)
    assert set(sighting_ages(sim_settings, second.sweep_id)) == {None}


def test_another_market_or_device_follows_its_own_chain(
    sim_settings: Settings, simulator: Simulator
) -> None:
    first = sweep(sim_settings, terms=["Lumora"], markets=["us-en"], devices=[Device.desktop])
    assert first.chains_followed >= 2

    # the same ads in another market and on a phone: a cloaking redirector may send each
    # elsewhere, so none of them reuses the desktop us-en chains (nor each other's)
    simulator.requests.clear()
    other = sweep(sim_settings, terms=["Lumora"], markets=["us-en", "gb-en"],
                  devices=[Device.desktop, Device.mobile])
    assert other.tasks == 4
    assert other.chains_reused == first.chains_followed  # us-en on a desktop only
    assert other.chains_followed == other.ads - first.chains_followed > 0
    # the partner's chain once for each other market and device
    assert Counter(chain_requests(simulator))[PARTNERIZE] == 3


def test_tasks_asking_for_the_same_chain_at_once_follow_it_once(
    sim_settings: Settings, simulator: Simulator
) -> None:
    # four pages captured at once (two engines, two queries), one market and device: the
    # partner's and the brand's ads are on all of them, so their chains are asked for
    # together
    simulator.requests.clear()
    report = sweep(sim_settings.model_copy(update={"concurrency": 4}),
                   terms=["Lumora", "Lumora coupon"], engines=["google", "bing"])
    assert report.tasks == 4
    hits = Counter(chain_requests(simulator))
    assert (hits[PARTNERIZE], hits[CJ], hits[DREAMNEST]) == (1, 1, 1), hits
    # the brand's, the partner's two and the competitor's: four chains for 4 pages' ads
    assert report.chains_followed == 4
    assert report.chains_reused == report.ads - 4 > 0


# -- the migration: a store from before 0006 -------------------------------------------------


def test_upgrading_from_0005_keeps_chains_and_sightings_and_never_reuses_old_chains(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0005")
        connection.exec_driver_sql(
            "INSERT INTO sweeps (id, started_at, status, program, dry_run, tasks_total,"
            " captured, blocked, failed, ads, incidents_new, incidents_seen_again,"
            " notices_queued, notices_sent) VALUES (1, '2026-12-01 00:00:00', 'done', 'old',"
            " 0, 1, 1, 0, 0, 1, 0, 0, 0, 0)")
        connection.exec_driver_sql(
            "INSERT INTO tasks (id, sweep_id, key, brand, engine, query, term_group, market,"
            " device, page, status, attempts) VALUES (1, 1, 'k', 'lumora', 'google',"
            " 'lumora', 'brand', 'us-en', 'desktop', 1, 'done', 1)")
        connection.exec_driver_sql(
            "INSERT INTO captures (id, task_id, sweep_id, engine, market, status, url,"
            " final_url, captured_at, elapsed_ms) VALUES (1, 1, 1, 'google', 'us-en', 'ok',"
            " 'u', 'u', '2026-12-01 00:00:00', 0)")
        connection.exec_driver_sql(
            "INSERT INTO ads (id, capture_id, kind, position, rank, headline, description,"
            " display_url, link, sitelinks_json) VALUES (1, 1, 'text', 'top', 1, 'h', 'd',"
            " 'www.lumora.com', 'https://www.lumora.com/', '[]')")
        connection.exec_driver_sql(
            "INSERT INTO chains (id, ad_id, start_url, landing_url) VALUES"
            " (1, 1, 'https://www.lumora.com/', 'https://www.lumora.com/')")
        connection.exec_driver_sql(
            "INSERT INTO attributions (ad_id, advertiser_class, aggregator, domains_json,"
            " reason) VALUES (1, 'brand', 0, '[\"lumora.com\"]', 'the brand')")
        connection.exec_driver_sql(
            "INSERT INTO sightings (id, sweep_id, capture_id, ad_id, seen_at, brand, engine,"
            " market, device, query, term_group, offender, advertiser_class) VALUES (1, 1, 1,"
            " 1, '2026-12-01 00:00:00', 'lumora', 'google', 'us-en', 'desktop', 'lumora',"
            " 'brand', 'lumora.com', 'brand')")
    engine.dispose()

    upgraded = Store(url)  # migrates on open
    try:
        columns = {c["name"] for c in sa.inspect(upgraded.engine).get_columns("chains")}
        indexes = {i["name"] for i in sa.inspect(upgraded.engine).get_indexes("chains")}
        detail = upgraded.sighting(1)
        # an old chain has no key: nothing can find it for reuse
        reusable = upgraded.reusable_chain("", datetime(2000, 1, 1, tzinfo=UTC))
    finally:
        upgraded.close()
    assert {"reuse_key", "followed_at", "live_from"} <= columns
    assert "ix_chains_reuse_key_followed_at" in indexes
    assert detail is not None and detail.sighting.chain_age_s is None
    assert detail.chain.reuse_key is None and detail.chain.landing_url == "https://www.lumora.com/"
    assert reusable is None

    # and back down: 0006 is undone without touching what 0005 kept
    engine = make_engine(url)
    with migration_connection(engine) as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
        assert "chain_age_s" not in {
            c["name"] for c in sa.inspect(connection).get_columns("sightings")}
        assert connection.exec_driver_sql("SELECT count(*) FROM chains").scalar() == 1
    engine.dispose()
