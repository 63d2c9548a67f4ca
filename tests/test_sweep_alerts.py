"""A `bidwatch sweep` cut short still raises the alerts for what it recorded: SIGTERM while it
runs, against the simulator, then the outbox holds the new-incident alert for the cases the
finished tasks found. (The daemon's side: tests/test_daemon_stop.py.)"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import pytest

from monitor.models import Severity
from monitor.services.wiring import opened_store
from monitor.settings import Settings
from tests.test_faults_browser import sweep_process, wait_for_done_tasks

pytestmark = pytest.mark.browser


def test_a_sweep_stopped_by_sigterm_queues_the_alerts_for_what_it_recorded(
    sim_settings: Settings,
) -> None:
    process = sweep_process(sim_settings, "--engine", "google", "--engine", "bing",
                            "--market", "us-en", "--market", "gb-en", "--device", "desktop",
                            "--term", "Lumora", "--term", "Lumora coupon")
    try:
        wait_for_done_tasks(sim_settings, process, 1)
        deadline = time.monotonic() + 120
        with opened_store(sim_settings) as store:  # until a serious case is recorded
            while not [i for i in store.incidents()
                       if Severity(i.severity).rank >= Severity.high.rank]:
                assert process.running(), process.said()
                assert time.monotonic() < deadline, "the sweep recorded no serious case"
                time.sleep(0.2)
        os.kill(process.pid, signal.SIGTERM)
        exit_status = process.wait(60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    assert exit_status == 143, process.said()
    with opened_store(sim_settings) as store:
        (sweep,) = store.recent_sweeps()
        assert sweep.status == "interrupted"
        assert "pending" in {t.status for t in store.tasks(sweep.id)}
        serious = [i for i in store.incidents_first_seen_in_sweep(sweep.id)
                   if Severity(i.severity).rank >= Severity.high.rank]
        alerts = [r for r in store.outbox_items(kinds=["alert"])
                  if r.key.startswith(f"alert:{sweep.id}:new_incidents:")]
    assert serious and alerts
    listed = "\n".join(a.body_text for a in alerts)
    assert all(i.reference in listed for i in serious)
