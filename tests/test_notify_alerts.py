"""Alerts: queued once per sweep and reason, routed by apprise tags, posted to a real loopback
webhook (apprise json://), retried when the receiver fails."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.models import Capture, CaptureStatus, Device, SearchTask, Severity
from monitor.notify.alerts import alert_tags, queue_program_refused_alert, queue_sweep_alerts
from monitor.notify.outbox import deliver_outbox
from monitor.notify.render import TemplateSet
from monitor.store import Store
from tests.notify_support import (
    HOSTILE_HEADLINE,
    MARKETS,
    TEMPLATES,
    Breach,
    notify_settings,
    program,
    record_breach,
    webhook_receiver,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEMPLATE_SET = TemplateSet(TEMPLATES)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(f"sqlite:///{tmp_path / 'bidwatch.db'}")
    yield opened  # type: ignore[misc]
    opened.close()


def _blocked_sweep(store: Store, engine: str, blocked: int, ok: int) -> int:
    tasks = [SearchTask(brand="lumora", engine=engine, query=f"lumora {n}", term_group="brand",
                        market=MARKETS["en"], device=Device.desktop)
             for n in range(blocked + ok)]
    sweep_id, ids = store.begin_sweep("p", tasks, dry_run=False, now=T0)
    for n, task in enumerate(tasks):
        status = CaptureStatus.captcha if n < blocked else CaptureStatus.ok
        capture = Capture(task=task, status=status, url="https://www.bing.com/search",
                          final_url="https://www.bing.com/search", http_status=200,
                          captured_at=T0)
        store.record_task(ids[task.key], capture, [], queue_notices=True)
    return sweep_id


def test_tags_route_at_least_a_severity() -> None:
    assert alert_tags("incidents", Severity.high) == ["incidents", "info", "low", "medium", "high"]


def test_new_high_incident_alert_is_routed_by_tag_and_sent_once(
    store: Store, tmp_path: Path
) -> None:
    sweep_id, _ = record_breach(store, tmp_path, Breach("sleepsaver", headline=HOSTILE_HEADLINE),
                                T0)
    record_breach(store, tmp_path, Breach("dealspotter", policy="no-brand-in-ad-copy",
                                          severity=Severity.medium), T0)
    with webhook_receiver() as hook:
        settings = notify_settings(tmp_path, alert_urls=" ".join([
            f"critical={hook.url('critical')}", f"high={hook.url('high')}",
            f"coverage={hook.url('coverage')}", f"always={hook.url('always')}"]))
        keys = queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET)
        # the key names the incidents the alert lists
        assert keys == [f"alert:{sweep_id}:new_incidents:1-1"]
        assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == []
        report = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
        again = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)

    assert (report.sent, again.sent) == (1, 0)
    [high] = hook.bodies("high")
    assert hook.bodies("always") == [high] and not hook.bodies("critical")
    assert not hook.bodies("coverage")
    assert "1 new incident" in high["title"] and "INC-00001" in high["message"]
    # the hostile headline arrives as one inert, capped line
    assert "\u202e" not in high["message"] and "\r" not in high["message"]
    assert "Bcc: victim" in high["message"] and len(high["message"]) < 2_000


def test_coverage_alerts_blocked_share_and_engine_down(store: Store, tmp_path: Path) -> None:
    sweep_id = _blocked_sweep(store, "bing", blocked=3, ok=0)
    with webhook_receiver() as hook:
        settings = notify_settings(tmp_path, alert_urls=f"coverage={hook.url('ops')}")
        keys = queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET)
        deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
    assert keys == [f"alert:{sweep_id}:blocked_share", f"alert:{sweep_id}:engine_down"]
    titles = sorted(body["title"] for body in hook.bodies("ops"))
    assert titles[0].startswith("[bidwatch coverage] 100% of Lumora searches blocked")
    assert "bing: no page captured" in titles[1]


def test_a_healthy_sweep_raises_no_coverage_alert(store: Store, tmp_path: Path) -> None:
    sweep_id = _blocked_sweep(store, "google", blocked=1, ok=9)
    settings = notify_settings(tmp_path)
    assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == []


def test_a_failing_webhook_is_retried_then_delivered(store: Store, tmp_path: Path) -> None:
    sweep_id, _ = record_breach(store, tmp_path, Breach("sleepsaver"), T0)
    with webhook_receiver() as hook:
        settings = notify_settings(tmp_path, alert_urls=f"always={hook.url('x')}")
        queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET)
        hook.status = 500
        first = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
        hook.status = 200
        later = T0 + timedelta(minutes=5)
        second = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=later)
    assert (first.failed, second.sent) == (1, 1)
    [row] = store.outbox_items(kinds=["alert"])
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(hook.bodies("x")) == 2  # the refused post, then the accepted one


def test_no_url_tagged_for_an_alert_keeps_it_visible(store: Store, tmp_path: Path) -> None:
    sweep_id, _ = record_breach(store, tmp_path, Breach("sleepsaver"), T0)
    settings = notify_settings(tmp_path, alert_urls="json://127.0.0.1:9/untagged")
    queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET)
    deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
    [row] = store.outbox_items(kinds=["alert"])
    assert row.status == "pending" and "tagged" in (row.last_error or "")


def test_a_refused_program_alert_is_queued_once_per_breakage_and_inert(
    store: Store, tmp_path: Path
) -> None:
    problems = ["program.yaml:12: schedule.sweeps[0].interval_seconds: must be ≥ 1",
                f"partners.yaml:3: partners[0].name: {HOSTILE_HEADLINE}"]
    key = queue_program_refused_alert(store, program(), problems, T0, TEMPLATE_SET)
    assert key and key.startswith("alert:program:")
    assert queue_program_refused_alert(store, program(), problems, T0, TEMPLATE_SET) is None
    other = queue_program_refused_alert(store, program(), problems[:1], T0, TEMPLATE_SET)
    assert other and other != key  # a different breakage is news again
    (row,) = [r for r in store.outbox_items(kinds=["alert"]) if r.key == key]
    tags = row.tags.split(",")
    assert {"ops", "high"} <= set(tags) and "critical" not in tags
    assert "interval_seconds" in row.body_text and "\u202e" not in row.body_text + row.subject
    assert "\r" not in row.subject and "\n" not in row.subject


def test_a_resumed_sweep_alerts_only_the_incidents_no_earlier_run_listed(
    store: Store, tmp_path: Path
) -> None:
    from tests.notify_support import _judged  # the recording record_breach does, per task

    first, later = Breach("sleepsaver"), Breach("kuponhemat", language="id")
    tasks = [SearchTask(brand="lumora", engine="google", query=f"lumora {n}",
                        term_group="brand", market=MARKETS[b.language], device=Device.desktop)
             for n, b in enumerate((first, later))]
    sweep_id, ids = store.begin_sweep("p", tasks, dry_run=False, now=T0)

    def record(task: SearchTask, breach: Breach) -> None:
        capture = Capture(task=task, status=CaptureStatus.ok, url="https://www.google.com/search",
                          final_url="https://www.google.com/search", http_status=200,
                          captured_at=T0)
        store.record_task(ids[task.key], capture, [_judged(task, breach, T0)],
                          queue_notices=True)

    settings = notify_settings(tmp_path)
    # the run that was interrupted recorded the first task: its alert lists that incident
    record(tasks[0], first)
    assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == [
        f"alert:{sweep_id}:new_incidents:1-1"]
    # the resumed run finds another: a second alert lists it alone; asking again is a no-op
    record(tasks[1], later)
    assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == [
        f"alert:{sweep_id}:new_incidents:2-2"]
    assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == []
    bodies = {r.key: r.body_text for r in store.outbox_items(kinds=["alert"])}
    assert "INC-00001" in bodies[f"alert:{sweep_id}:new_incidents:1-1"]
    assert "INC-00002" not in bodies[f"alert:{sweep_id}:new_incidents:1-1"]
    assert "INC-00002" in bodies[f"alert:{sweep_id}:new_incidents:2-2"]
    assert "INC-00001" not in bodies[f"alert:{sweep_id}:new_incidents:2-2"]


def test_an_alert_queued_before_keys_named_incidents_still_counts(
    store: Store, tmp_path: Path
) -> None:
    from monitor.store import OutboxItem

    sweep_id, _ = record_breach(store, tmp_path, Breach("sleepsaver"), T0)
    # as an older version queued it: one key per sweep and reason, listing every incident
    assert store.queue_outbox(OutboxItem(key=f"alert:{sweep_id}:new_incidents", kind="alert",
                                         created_at=T0, channel="apprise"))
    settings = notify_settings(tmp_path)
    assert queue_sweep_alerts(store, program(), settings, sweep_id, T0, TEMPLATE_SET) == []
    # another sweep is not covered by it
    other, _ = record_breach(store, tmp_path, Breach("kuponhemat", language="id"), T0)
    assert queue_sweep_alerts(store, program(), settings, other, T0, TEMPLATE_SET) == [
        f"alert:{other}:new_incidents:2-2"]
