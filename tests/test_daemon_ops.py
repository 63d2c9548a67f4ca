"""The daemon's operations parts on their own: log redaction, the instance lock, the program
watcher, and the health document."""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from monitor.daemon.health import HealthState, Metrics
from monitor.daemon.lock import InstanceLock
from monitor.daemon.logs import JsonFormatter, RedactingFormatter, redact, secrets_of
from monitor.daemon.reload import ProgramWatcher
from monitor.errors import BidwatchError
from monitor.settings import Settings
from monitor.sweep import SweepReport


def test_secrets_never_reach_a_log_line() -> None:
    settings = Settings(notice_url="mailtos://compliance:s3cret-pw@smtp.example.com:587",
                        database_url="postgresql://bidwatch:db-pass@db/bidwatch",
                        alert_urls="slack://TokenA/TokenB/TokenC/#alerts",
                        proxies={"de-de": "http://user:proxy-pw@proxy.example:3128"})
    secrets = secrets_of(settings)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1,
                               "sending via %s to %s; db %s; proxy %s; password %s", (
                                   settings.notice_url, settings.alert_urls,
                                   settings.database_url, settings.proxies["de-de"],
                                   "s3cret-pw"), None)
    for formatter in (RedactingFormatter(secrets), JsonFormatter(secrets)):
        line = formatter.format(record)
        for secret in ("s3cret-pw", "db-pass", "TokenA", "proxy-pw"):
            assert secret not in line
    entry = json.loads(JsonFormatter(secrets).format(record))
    assert entry["level"] == "error" and entry["logger"] == "x" and "***" in entry["message"]


def test_redact_masks_unknown_url_passwords_and_apprise_urls() -> None:
    assert redact("https://bob:hunter2@example.com/x") == "https://bob:***@example.com/x"
    assert redact("sent to json://hooks.example/abc?token=1 ok") == "sent to json://*** ok"
    assert redact("https://example.com/path") == "https://example.com/path"


def test_a_second_lock_on_one_home_is_refused(tmp_path: Path) -> None:
    with InstanceLock(tmp_path), pytest.raises(BidwatchError, match=f"pid {os.getpid()}"):
        InstanceLock(tmp_path).acquire()
    with InstanceLock(tmp_path):  # released on exit
        pass


def test_the_watcher_sees_a_change_once(tmp_path: Path) -> None:
    (tmp_path / "program.yaml").write_text("name: a\n")
    watcher = ProgramWatcher(tmp_path)
    assert not watcher.changed()
    time.sleep(0.01)
    (tmp_path / "program.yaml").write_text("name: bb\n")
    assert watcher.changed()
    watcher.mark_seen()
    assert not watcher.changed()


def test_health_is_degraded_by_a_blocked_sweep_and_metrics_say_why() -> None:
    from datetime import UTC, datetime

    state, metrics = HealthState(scheduler_running=True), Metrics()
    report = SweepReport(sweep_id=7, status="done", tasks=10, captured=3,
                         blocked=Counter({"captcha": 6}), failed=1)
    now = datetime.now(UTC)
    state.record_sweep("sweep:all", report, now)
    metrics.record_sweep(report, now)
    document = state.document()
    assert document["status"] == "degraded" and "60% blocked" in document["problems"][0]
    text = metrics.text().decode()
    assert "bidwatch_last_sweep_blocked_ratio 0.6" in text
    assert 'bidwatch_sweeps_total{status="done"} 1.0' in text
