"""`bidwatch run` stopping and starting around unfinished work, as a subprocess: a SIGTERM
while a slow SMTP server holds a message sends nothing after the stop is logged, and a
daemon started after a failed sweep runs that sweep's pending tasks and raises the alerts a
CLI sweep of the same tasks raises."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitor.daemon.jobs import job_tasks
from monitor.daemon.tasks import resumable_sweeps
from monitor.dev.simulator import Simulator
from monitor.models import Device
from monitor.program import load_program
from monitor.services.commands import run_sweep_command
from monitor.settings import Settings
from monitor.store import OutboxItem, Store
from tests.conftest import ROOT, RULES
from tests.notify_support import Breach, record_breach
from tests.test_daemon_run import Daemon, free_port, quick_rules, wait_for
from tests.test_notify_faults import WAIT_S, Server

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

#: a schedule whose one sweep is months away: the daemon only delivers the outbox
NO_SWEEP_SOON = """schedule:
  sweeps:
    - id: yearly
      cron: "0 3 1 1 *"
      engines: [google]
      markets: [us-en]
      devices: [desktop]
      term_groups: [brand]
  outbox_every_seconds: 1
  surge: {events: []}
"""


def _rules(tmp_path: Path, schedule: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    program = rules / "program.yaml"
    text = program.read_text()
    start, end = text.index("schedule:"), text.index("# Never follow the engines'")
    program.write_text(text[:start] + schedule + "\n" + text[end:])
    return rules


def _env(home: Path, rules: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BIDWATCH_") and k != "DATABASE_URL"}
    env.update({"PYTHONPATH": str(ROOT), "BIDWATCH_HOME": str(home),
                "BIDWATCH_RULES": str(rules), "BIDWATCH_HTTP_LISTEN": f"127.0.0.1:{free_port()}",
                "BIDWATCH_RELOAD_POLL_S": "0", "BIDWATCH_SCHEDULE_SEED": "test", **extra})
    return env


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    yield started
    for daemon in started:  # never leave a daemon behind a failed test
        if daemon.process and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(10)


def _outbox(home: Path) -> list[OutboxItem]:
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    try:
        return store.outbox_items()
    finally:
        store.close()


def test_sigterm_mid_delivery_sends_nothing_after_the_stop_is_logged(
    tmp_path: Path, daemons: list[Daemon]
) -> None:
    home = tmp_path / "home"
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    for partner, language in (("sleepsaver", "en"), ("kuponhemat", "id"),
                              ("dealspotter", "en")):
        record_breach(store, home, Breach(partner, language=language), T0)
    store.close()
    handler, port = Server(), free_port()
    handler.hold = True  # the first message waits at DATA until the test lets it go
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        env = _env(home, _rules(tmp_path, NO_SWEEP_SOON), BIDWATCH_LOG_JSON="1",
                   BIDWATCH_NOTICE_URL=f"smtp://127.0.0.1:{port}?starttls=never",
                   BIDWATCH_SMTP_TIMEOUT_S="20")
        daemon = Daemon(env, tmp_path / "daemon.log").start()
        daemons.append(daemon)
        assert handler.holding.wait(60), daemon.log[-3000:]
        daemon.signal(signal.SIGTERM)
        wait_for("the stop to wait for the message being sent",
                 lambda: "waiting up to 20 s for the message being sent" in daemon.log,
                 WAIT_S, daemon)
        assert "stopped cleanly" not in daemon.log  # it waits for the message in flight
        handler.release.set()
        assert daemon.process is not None and daemon.process.wait(WAIT_S) == 0
    finally:
        handler.release.set()
        controller.stop()

    lines = [json.loads(line) for line in daemon.log.splitlines() if line.startswith("{")]
    [stopped] = [e for e in lines if "stopped cleanly" in e["message"]]
    stopped_at = datetime.fromisoformat(stopped["time"]).timestamp()
    # the message in flight went out, before the stop was logged; no other one went at all
    assert len(handler.received) == 1
    assert handler.received[0][2] < stopped_at
    rows = _outbox(home)
    assert sorted(r.status for r in rows) == ["pending", "pending", "sent"]
    assert {r.attempts for r in rows if r.status == "pending"} == {0}


@pytest.mark.browser
def test_a_failed_sweep_is_resumed_at_start_and_raises_the_alerts_the_cli_does(
    tmp_path: Path, simulator: Simulator, daemons: list[Daemon]
) -> None:
    rules = quick_rules(tmp_path, interval=3600, groups="brand")  # only the resumed sweep runs
    program = load_program(rules)
    tasks = job_tasks(program, program.schedule.jobs()[0])
    home = tmp_path / "daemon-home"
    store = Store(f"sqlite:///{home / 'bidwatch.db'}")
    # a sweep whose run failed before it asked anything: every task still pending
    sweep_id, _ = store.begin_sweep(program.name, tasks, dry_run=False, now=T0)
    store.finish_sweep(sweep_id, "failed", T0)
    assert resumable_sweeps(store, program.name) == [sweep_id]
    store.close()

    common = {"BIDWATCH_SIMULATOR": simulator.address, "BIDWATCH_ALLOW_PRIVATE_NETWORKS": "1",
              "BIDWATCH_PACE_S": "0", "BIDWATCH_PACE_JITTER_S": "0",
              "BIDWATCH_CONCURRENCY": "1", "BIDWATCH_PAGE_TIMEOUT_S": "20"}
    daemon = Daemon(_env(home, rules, **common), tmp_path / "daemon.log").start()
    daemons.append(daemon)

    def resumed() -> bool:
        reader = Store(f"sqlite:///{home / 'bidwatch.db'}")
        try:
            sweep = reader.sweep(sweep_id)
            return sweep is not None and sweep.status == "done"
        finally:
            reader.close()

    wait_for("the failed sweep to be resumed and done", resumed, 120, daemon)
    wait_for("its alerts", lambda: any(r.kind == "alert" for r in _outbox(home)), 30, daemon)
    assert daemon.stop() == 0
    assert f"resume: sweep {sweep_id} has unfinished tasks" in daemon.log
    reader = Store(f"sqlite:///{home / 'bidwatch.db'}")
    assert {t.status for t in reader.tasks(sweep_id)} == {"done"}
    assert resumable_sweeps(reader, program.name) == []
    reader.close()

    # the CLI, the same tasks on a home of its own: the same alerts
    cli_home = tmp_path / "cli-home"
    run_sweep_command(Settings(home=cli_home, rules=rules, database_url=None,
                               simulator=simulator.address, allow_private_networks=True,
                               concurrency=1, page_timeout_s=20, pace_s=0, pace_jitter_s=0),
                      engines=["google"], markets=["us-en"], devices=[Device.desktop],
                      terms=sorted({t.query for t in tasks}))

    def alerts(where: Path) -> set[tuple[str, str, str]]:
        # the key names the cases it lists by id (alert:S:new_incidents:FIRST-LAST); two
        # homes number their cases in the order their sightings were recorded
        return {(r.key.rsplit(":", 1)[0] if ":new_incidents:" in r.key else r.key, r.tags,
                 r.subject) for r in _outbox(where) if r.kind == "alert"}

    daemon_alerts = alerts(home)
    assert any(key.endswith(":new_incidents") for key, _, _ in daemon_alerts)
    assert daemon_alerts == alerts(cli_home)
