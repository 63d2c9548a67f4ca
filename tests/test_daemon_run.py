"""`bidwatch run` as operators run it: a subprocess on a compressed schedule, against the
simulator, with real SMTP (MailSink) and SQLite, stopped and restarted by signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.dev.mailsink import MailSink
from monitor.dev.simulator import Simulator
from monitor.store import OutboxItem, Store, SweepRecord, TaskRecord
from tests.conftest import ROOT, RULES

pytestmark = pytest.mark.browser

QUICK_SCHEDULE = """schedule:
  sweeps:
    - id: quick
      interval_seconds: {interval}
      engines: [google]
      markets: [us-en]
      devices: [desktop]
      term_groups: [{groups}]
  outbox_every_seconds: 1
  surge: {{events: []}}
"""


def quick_rules(tmp_path: Path, *, interval: int, groups: str) -> Path:
    """A copy of the example program whose schedule sweeps a small slice every few seconds."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    program = rules / "program.yaml"
    text = program.read_text()
    start = text.index("schedule:")
    end = text.index("# Never follow the engines'")
    program.write_text(text[:start] + QUICK_SCHEDULE.format(interval=interval, groups=groups)
                       + "\n" + text[end:])
    return rules


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    """One `bidwatch run` subprocess; its log goes to a file the test reads."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = int(env["BIDWATCH_HTTP_LISTEN"].rpartition(":")[2])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "run"],
                                            cwd=ROOT, env=self.env, stdout=log, stderr=log)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def health(self) -> dict[str, Any]:
        return json.loads(self.get("/healthz")[1])

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30, daemon: Daemon | None = None
             ) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except (OSError, ValueError):
            value = None
        if value:
            return value
        time.sleep(0.2)
    log = daemon.log[-3000:] if daemon else ""
    pytest.fail(f"timed out waiting for {what}\n{log}")


@pytest.fixture
def environment(tmp_path: Path, simulator: Simulator, mail_sink: MailSink) -> dict[str, str]:
    return daemon_environment(tmp_path, simulator, mail_sink)


def daemon_environment(tmp_path: Path, simulator: Simulator, mail_sink: MailSink
                       ) -> dict[str, str]:
    """What a test daemon runs with: a home under tmp_path, the simulator, the mail sink,
    no pacing, health on a free port."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BIDWATCH_") and k != "DATABASE_URL"}
    env.update({
        "PYTHONPATH": str(ROOT), "BIDWATCH_HOME": str(tmp_path / "home"),
        "BIDWATCH_SIMULATOR": simulator.address, "BIDWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "BIDWATCH_PACE_S": "0", "BIDWATCH_PACE_JITTER_S": "0", "BIDWATCH_CONCURRENCY": "1",
        "BIDWATCH_PAGE_TIMEOUT_S": "20", "BIDWATCH_NOTICE_URL": mail_sink.apprise_url(),
        "BIDWATCH_HTTP_LISTEN": f"127.0.0.1:{free_port()}", "BIDWATCH_RELOAD_POLL_S": "0",
        "BIDWATCH_SCHEDULE_SEED": "test",
    })
    return env


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:  # never leave a daemon behind a failed test
        if daemon.process and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(10)


def sweeps_done(home: Path) -> list[SweepRecord]:
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    try:
        return store.recent_sweeps(10_000, status="done")
    finally:
        store.close()


def test_scheduled_sweeps_health_reload_and_a_single_instance(
    tmp_path: Path, environment: dict[str, str], daemons: list[Daemon]
) -> None:
    rules = quick_rules(tmp_path, interval=2, groups="brand")
    environment["BIDWATCH_RULES"] = str(rules)
    daemon = Daemon(environment, tmp_path / "daemon.log").start()
    daemons.append(daemon)

    # scheduled sweeps happen, and /healthz says so
    first = wait_for("a scheduled sweep", lambda: daemon.health()["last_sweep"], 60, daemon)
    assert first["status"] == "done" and first["job"] == "sweep:quick"
    assert first["tasks"] == 2 and first["captured"] == 2
    health = daemon.health()
    assert health["status"] == "ok" and health["scheduler_running"]
    assert {r["job"] for r in health["next_runs"]} >= {"sweep:quick", "outbox", "digest"}

    # /metrics in Prometheus text
    code, metrics = daemon.get("/metrics")
    text = metrics.decode()
    assert code == 200
    assert 'bidwatch_last_sweep_tasks{outcome="captured"} 2.0' in text
    assert 'bidwatch_last_sweep_status{status="done"} 1.0' in text
    assert "bidwatch_outbox{status=" in text and "bidwatch_incidents{status=" in text
    assert "bidwatch_browser_restarts_total" in text

    # a second daemon on the same home is refused
    second = subprocess.run([sys.executable, "-m", "monitor.cli", "run"], cwd=ROOT,
                            env=environment, capture_output=True, text=True, timeout=30)
    assert second.returncode != 0 and "already runs" in second.stderr

    # SIGHUP with a broken program keeps the old one running
    program = rules / "program.yaml"
    program.write_text(program.read_text().replace("interval_seconds: 2", "interval_seconds: 0"))
    daemon.signal(signal.SIGHUP)
    wait_for("the reload to be refused", lambda: "reload (SIGHUP) refused" in daemon.log,
             10, daemon)
    assert "keeping the last good program" in daemon.log
    assert "program.yaml:" in daemon.log and "schedule.sweeps[0].interval_seconds" in daemon.log
    health = daemon.health()
    assert health["status"] == "degraded" and health["reload_error"]
    # and an `ops` alert is queued for compliance staff, once for this breakage
    home = Path(environment["BIDWATCH_HOME"])
    wait_for("the refused-program alert", lambda: any(
        r.key.startswith("alert:program:") for r in _outbox(home, "pending")), 10, daemon)
    (alert,) = [r for r in _outbox(home, "pending") if r.key.startswith("alert:program:")]
    assert "refused" in alert.subject and "interval_seconds" in alert.body_text
    assert "ops" in alert.tags.split(",")
    done_before = len(sweeps_done(Path(environment["BIDWATCH_HOME"])))
    wait_for("another sweep on the old program",
             lambda: len(sweeps_done(Path(environment["BIDWATCH_HOME"]))) > done_before,
             30, daemon)

    # SIGTERM: a clean stop
    assert daemon.stop() == 0
    assert "stopped cleanly" in daemon.log


def test_sigterm_mid_sweep_then_restart_loses_no_task_and_sends_no_notice_twice(
    tmp_path: Path, environment: dict[str, str], mail_sink: MailSink, daemons: list[Daemon]
) -> None:
    # a sweep every second: one is always running or about to
    rules = quick_rules(tmp_path, interval=1,
                        groups="brand, brand+coupon, brand+discount, brand+promo code")
    environment["BIDWATCH_RULES"] = str(rules)
    home = Path(environment["BIDWATCH_HOME"])
    daemon = Daemon(environment, tmp_path / "daemon.log").start()
    daemons.append(daemon)

    def tasks() -> list[TaskRecord]:
        store = Store(f"sqlite:///{home / 'bidwatch.db'}")
        try:
            return store.tasks(1)
        finally:
            store.close()

    # stop it while the first sweep is half done
    wait_for("the first task done", lambda: any(t.status == "done" for t in tasks()), 60, daemon)
    assert daemon.stop() == 0
    first = tasks()
    assert "pending" in {t.status for t in first}, "the sweep ended before the signal"
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    sweep = store.sweep(1)
    store.close()
    assert sweep is not None and sweep.status == "interrupted"
    mails_before = len(mail_sink.received)

    # restart: the interrupted sweep resumes first, new sweeps run, notices go out
    restarted = Daemon(environment, tmp_path / "daemon2.log").start()
    daemons.append(restarted)
    wait_for("a sweep after the restart", lambda: sweeps_done(home), 60, restarted)
    # the notices go out; the sweeps' alerts wait, as no BIDWATCH_ALERT_URLS is set
    wait_for("the notices to go out", lambda: not [
        r for r in _outbox(home, "pending") if r.kind != "alert"], 20, restarted)
    assert restarted.stop() == 0
    alerts = [r.key for r in _outbox(home, "pending") if r.kind == "alert"]
    assert alerts and all(key.startswith("alert:") for key in alerts)
    assert len(alerts) == len(set(alerts))

    sent = _outbox(home, "sent")
    keys = [row.key for row in sent]
    assert len(keys) == len(set(keys))
    # a partner's notices of one delivery run go out as one message
    assert mails_before <= len(mail_sink.received) <= len(sent)
    ids = [m.message()["Message-ID"] for m in mail_sink.received]
    assert len(ids) == len(set(ids)), "a notice was sent twice"
    assert {t.status for t in tasks()} == {"done"}, "a task of the interrupted sweep was lost"
    assert "resume: sweep 1 has unfinished tasks" in restarted.log


def _outbox(home: Path, status: str) -> list[OutboxItem]:
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    try:
        return store.outbox(status=status)
    finally:
        store.close()
