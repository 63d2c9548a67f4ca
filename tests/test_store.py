"""The store contract, run against SQLite (WAL) and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.judge.incidents import Escalation, IncidentStatus
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Capture,
    CaptureStatus,
    Chain,
    Device,
    Fact,
    Finding,
    Hop,
    HopHow,
    JudgedAd,
    MarketRef,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Severity,
    Sighting,
)
from monitor.services.retention import prune_evidence
from monitor.store import Coverage, CoverageRow, RecordOutcome, Store
from monitor.store.db import alembic_config, make_engine

T0 = datetime(2026, 11, 20, 22, 30, tzinfo=UTC)
US = MarketRef(id="us-en", country="US", language="en", timezone="America/New_York")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bidwatch.db'}"
    else:
        base = request.getfixturevalue("postgres_url")
        url = _fresh_database(base, f"t{abs(hash(tmp_path)) % 10**9}")
    opened = Store(url)
    yield opened
    opened.close()


def _fresh_database(base_url: str, name: str) -> str:
    engine = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def task(query: str = "lumora", engine: str = "google") -> SearchTask:
    return SearchTask(brand="lumora", engine=engine, query=query, term_group="brand", market=US,
                      device=Device.desktop)


def capture(t: SearchTask, at: datetime, status: CaptureStatus = CaptureStatus.ok) -> Capture:
    return Capture(task=t, status=status, url="https://www.google.com/search?q=lumora",
                   final_url="https://www.google.com/search?q=lumora", http_status=200,
                   captured_at=at, html_path="evidence/ab/ab.html.gz",
                   screenshot_path="evidence/ab/ab.png")


def judged(
    t: SearchTask, at: datetime, with_finding: bool = True, policy: str = "no-brand-bidding",
    landing: str = "lumora.com",
) -> JudgedAd:
    ad = ObservedAd(kind=AdKind.text, position=AdPosition.top, rank=1,
                    headline="Lumora <b>Sale</b> \u202e", description="d",
                    display_url="www.sleepsaver.net", link="https://go.sleepsaver.net/r/lumora")
    chain = Chain(start_url=ad.link, landing_url=f"https://www.{landing}/sale", hops=(
        Hop(ad.link, HopHow.start), Hop("https://prf.hn/click/camref:1100l5xYz", HopHow.meta, 200),
        Hop(f"https://www.{landing}/sale", HopHow.http, 302)))
    attribution = Attribution(AdvertiserClass.partner, partner="sleepsaver",
                              network=NetworkIds("partnerize", publisher_id="1100l5xYz"),
                              display_domain="sleepsaver.net", landing_domain=landing,
                              domains=("sleepsaver.net", "prf.hn", landing), reason="camref")
    sighting = Sighting(t, ad, chain, attribution, at)
    findings = (Finding(policy=policy, severity=Severity.high,
                        offender=sighting.offender, partner="sleepsaver", term_group="brand",
                        title="No bidding on brand terms", clause="4.1",
                        notice_template="brand_bidding",
                        facts=(Fact("term_group", "brand"),)),) if with_finding else ()
    return JudgedAd(ad, chain, attribution, sighting, findings)


def record(
    store: Store,
    at: datetime,
    *,
    queue: bool = True,
    t: SearchTask | None = None,
    policy: str = "no-brand-bidding",
    landing: str = "lumora.com",
    escalation: Escalation | None = None,
) -> RecordOutcome:
    t = t or task()
    _sweep, ids = store.begin_sweep("p", [t], dry_run=not queue, now=at)
    return store.record_task(ids[t.key], capture(t, at),
                             [judged(t, at, policy=policy, landing=landing)],
                             queue_notices=queue, escalation=escalation or Escalation())


def test_schema_is_migrated_with_alembic(store: Store) -> None:
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"sweeps", "tasks", "captures", "ads", "chains", "hops", "attributions", "findings",
            "incidents", "incident_events", "sightings", "outbox", "alembic_version"} <= tables
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def test_same_breach_twice_is_one_incident_with_two_sightings_and_one_notice(store: Store) -> None:
    first = record(store, T0)
    second = record(store, T0 + timedelta(hours=3))
    assert len(first.new_incidents) == 1 and first.seen_again == []
    assert second.new_incidents == [] and second.seen_again == first.new_incidents
    (incident,) = store.incidents()
    assert incident.sighting_count == 2 and incident.level == 1
    assert incident.first_seen == T0 and incident.last_seen == T0 + timedelta(hours=3)
    assert [o.key for o in store.outbox()] == [f"notice:case{incident.id}:1:email"]
    assert first.notices_queued and not second.notices_queued


def test_hostile_text_is_stored_as_is_and_times_stay_utc(store: Store) -> None:
    record(store, T0)
    detail = store.incident(store.incidents()[0].id or 0)
    assert detail is not None
    (ad,) = detail.ads.values()
    assert ad.headline == "Lumora <b>Sale</b> \u202e"
    assert detail.sightings[0].seen_at == T0 and detail.sightings[0].seen_at.tzinfo is not None
    chain = detail.chains[ad.id]
    assert [h.how for h in chain.hops] == ["start", "meta", "http"]
    assert chain.landing_url == "https://www.lumora.com/sale"


def test_resolved_incident_seen_again_reopens_one_level_up(store: Store) -> None:
    record(store, T0)
    incident = store.incidents()[0]
    store.set_incident_status(incident.id or 0, IncidentStatus.resolved, "partner paused", T0)
    outcome = record(store, T0 + timedelta(days=2))
    assert outcome.new_incidents == [incident.id]
    reopened = store.incidents()[0]
    assert reopened.status == "new" and reopened.level == 2
    assert {o.level for o in store.outbox()} == {1, 2}
    detail = store.incident(incident.id or 0)
    assert detail is not None
    assert [(e.status_from, e.status_to) for e in detail.events] == [
        (None, "new"), ("new", "resolved"), ("resolved", "new")]


def test_dry_run_records_but_queues_nothing_and_a_later_run_owes_the_warning(store: Store) -> None:
    record(store, T0, queue=False)
    assert store.outbox() == []
    record(store, T0 + timedelta(hours=1))
    assert [o.level for o in store.outbox()] == [1]


def test_blocked_capture_counts_in_coverage_not_as_captured(store: Store) -> None:
    t = task()
    _sweep, ids = store.begin_sweep("p", [t], dry_run=False, now=T0)
    store.record_task(ids[t.key], capture(t, T0, CaptureStatus.captcha), [], queue_notices=True)
    (row,) = store.coverage(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert (row.engine, row.asked, row.captured, row.blocked, row.failed) == ("google", 1, 0, 1, 0)


def test_coverage_counts_each_task_once_by_its_last_capture_in_every_report(
    store: Store,
) -> None:
    retried, walled, never = task("a"), task("b"), task("c", engine="bing")
    sweep_id, ids = store.begin_sweep("p", [retried, walled, never], dry_run=False, now=T0)
    for t, status in ((retried, CaptureStatus.captcha), (retried, CaptureStatus.ok),
                      (walled, CaptureStatus.consent)):
        store.record_task(ids[t.key], capture(t, T0, status), [], queue_notices=True)
    expected = Coverage(asked=2, captured=1, blocked={"consent": 1})
    assert store.sweep_coverage_by_engine(sweep_id) == {
        "google": expected, "bing": Coverage(asked=1, never_asked=1)}
    whole = store.sweep_coverage(sweep_id)
    assert (whole.asked, whole.captured, whole.blocked_total, whole.never_asked) == (3, 1, 1, 1)
    (row,) = store.coverage(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert row == CoverageRow("google", "us-en", asked=2, captured=1, blocked=1, failed=0)


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.begin_sweep("p", [], dry_run=False, now=datetime(2026, 1, 1))


def test_upgrading_from_the_first_revision_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
        connection.exec_driver_sql(
            "INSERT INTO sweeps (started_at, status, program, dry_run, tasks_total, captured,"
            " blocked, failed, ads, incidents_new, incidents_seen_again, notices_queued,"
            " notices_sent) VALUES ('2026-11-01 00:00:00', 'done', 'old', 0, 3, 3, 0, 0, 5, 1,"
            " 0, 1, 1)")
    engine.dispose()
    upgraded = Store(url)
    old = upgraded.sweep(1)
    assert old is not None and old.program == "old" and old.ads == 5
    assert "stray_click_urls_json" in {
        c["name"] for c in sa.inspect(upgraded.engine).get_columns("captures")}
    upgraded.close()


def send_all(store: Store, at: datetime) -> None:
    """What a successful delivery run does to the outbox."""
    store.save_outbox([replace(item, status="sent", sent_at=at) for item in store.due_outbox(at)])


def levels(store: Store) -> dict[str, int]:
    """Each case's level, by where its ad lands (another landing is another case)."""
    return {i.destination: i.level for i in store.incidents()}


def test_an_incident_not_seen_for_n_days_expires_and_reopens_one_level_up(store: Store) -> None:
    record(store, T0)
    assert store.expire_incidents(T0 + timedelta(days=29), timedelta(days=30)) == []
    (expired,) = store.expire_incidents(T0 + timedelta(days=31), timedelta(days=30))
    assert store.incidents()[0].status == "expired"
    record(store, T0 + timedelta(days=40))
    incident = store.incidents()[0]
    assert (incident.id, incident.status, incident.level) == (expired, "new", 2)


def test_a_repeat_offence_after_a_notice_starts_one_level_up(store: Store) -> None:
    record(store, T0)
    send_all(store, T0 + timedelta(hours=1))
    record(store, T0 + timedelta(days=10), landing="lumora.co.uk",
           escalation=Escalation(repeat_window=timedelta(days=90)))
    assert levels(store) == {"lumora.com": 1, "lumora.co.uk": 2}


def test_an_offence_outside_the_window_starts_at_the_first_level(store: Store) -> None:
    record(store, T0)
    send_all(store, T0 + timedelta(hours=1))
    record(store, T0 + timedelta(days=120), landing="lumora.co.uk",
           escalation=Escalation(repeat_window=timedelta(days=90)))
    assert levels(store)["lumora.co.uk"] == 1


def test_breaches_found_together_are_not_repeats_of_each_other(store: Store) -> None:
    t = task()
    _sweep, ids = store.begin_sweep("p", [t], dry_run=False, now=T0)
    items = [judged(t, T0, landing=landing) for landing in ("lumora.com", "lumora.co.uk")]
    store.record_task(ids[t.key], capture(t, T0), items, queue_notices=True,
                      escalation=Escalation())
    assert levels(store) == {"lumora.com": 1, "lumora.co.uk": 1}


def test_a_policy_can_start_its_escalation_path_at_a_final_warning(store: Store) -> None:
    record(store, T0, escalation=Escalation(first_levels={"no-brand-bidding": 2}))
    assert [o.level for o in store.outbox()] == [2]


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.integers(min_value=1, max_value=5), gap_hours=st.integers(0, 72))
def test_recording_the_same_sighting_again_leaves_one_incident(
    tmp_path_factory: pytest.TempPathFactory, times: int, gap_hours: int
) -> None:
    url = f"sqlite:///{tmp_path_factory.mktemp('same') / 'b.db'}"
    store = Store(url)
    try:
        for n in range(times):
            record(store, T0 + timedelta(hours=gap_hours * n))
        (incident,) = store.incidents()
        assert incident.sighting_count == times
        assert len(store.outbox()) == 1
    finally:
        store.close()


def test_evidence_past_retention_goes_unless_an_open_incident_or_a_newer_capture_keeps_it(
    tmp_path: Path,
) -> None:
    store = Store(f"sqlite:///{tmp_path / 'b.db'}")
    home = tmp_path / "home"
    old, new = datetime.now(UTC) - timedelta(days=400), datetime.now(UTC)

    def captured(at: datetime, html: str, png: str, *, finding: bool) -> None:
        t = task(query=f"q{html}")
        _sweep, ids = store.begin_sweep("p", [t], dry_run=False, now=at)
        kept = replace(capture(t, at), html_path=f"evidence/aa/{html}",
                       screenshot_path=f"evidence/aa/{png}")
        items = [judged(t, at, with_finding=finding)]
        store.record_task(ids[t.key], kept, items, queue_notices=False)
        for name in (html, png):
            path = home / "evidence" / "aa" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(name)

    captured(old, "old.html.gz", "shared.png", finding=False)  # old, no incident: goes
    captured(old, "open.html.gz", "open.png", finding=True)  # old, open incident: stays
    captured(new, "new.html.gz", "shared.png", finding=False)  # new: stays, shares a png
    report = prune_evidence(store, home, timedelta(days=180))
    left = sorted(p.name for p in (home / "evidence" / "aa").iterdir())
    assert left == ["new.html.gz", "open.html.gz", "open.png", "shared.png"]
    assert (report.files_deleted, report.files_kept_shared) == (1, 1)
    pruned = [c for c in store.captures() if c.html_path is None]
    assert len(pruned) == 1
    store.close()


def test_an_aggregators_sub_publisher_is_kept_beside_the_network_of_record(store: Store) -> None:
    # a Skimlinks link re-wrapped into the merchant's Partnerize: both publishers stay known
    t = task()
    item = judged(t, T0)
    inner = (NetworkIds("skimlinks", publisher_id="12345X678", aggregator=True),)
    attribution = replace(item.attribution, inner_networks=inner)
    item = replace(item, attribution=attribution,
                   sighting=replace(item.sighting, attribution=attribution))
    _sweep, ids = store.begin_sweep("p", [t], dry_run=False, now=T0)
    store.record_task(ids[t.key], capture(t, T0), [item], queue_notices=False)
    (incident,) = store.incidents()
    detail = store.incident(incident.id)
    assert detail is not None
    (kept,) = detail.attributions.values()
    assert kept.network == "partnerize" and kept.inner_networks == inner
    one = store.sighting(detail.sightings[0].id)
    assert one is not None and one.attribution.inner_networks == inner
