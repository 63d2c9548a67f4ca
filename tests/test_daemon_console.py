"""The console inside `bidwatch run` (BIDWATCH_CONSOLE_LISTEN): served beside the schedule,
behind its login like `bidwatch serve`, and stopped with the daemon."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from monitor.dev.mailsink import MailSink
from monitor.dev.simulator import Simulator
from tests.conftest import ROOT
from tests.test_daemon_run import Daemon, daemon_environment, free_port, quick_rules, wait_for

pytestmark = pytest.mark.browser


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}
                                     if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _bidwatch(env: dict[str, str], *args: str, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-m", "monitor.cli", *args], cwd=ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_daemon_serves_the_console_behind_its_login_and_stops_it(
    tmp_path: Path, simulator: Simulator, mail_sink: MailSink,
) -> None:
    env = daemon_environment(tmp_path, simulator, mail_sink)
    console_port = free_port()
    env["BIDWATCH_CONSOLE_LISTEN"] = f"127.0.0.1:{console_port}"
    env["BIDWATCH_RULES"] = str(quick_rules(tmp_path, interval=3600, groups="brand"))
    _bidwatch(env, "users", "add", "ops", "--role", "viewer",
              stdin="a long enough password\na long enough password\n")
    token = _bidwatch(env, "users", "token", "ops").split()[-1]

    daemon = Daemon(env, tmp_path / "daemon.log").start()
    try:
        wait_for("health", lambda: daemon.health()["scheduler_running"], daemon=daemon)
        base = f"http://127.0.0.1:{console_port}"
        status, headers, _ = _get(f"{base}/api/incidents")
        assert status == 401 and "default-src" in headers["content-security-policy"]
        status, _, body = _get(f"{base}/api/incidents", token)
        assert status == 200 and isinstance(json.loads(body), (list, dict))
        status, headers, page = _get(f"{base}/login")
        assert status == 200 and b"<form" in page and headers["x-frame-options"] == "DENY"
        daemon.signal(signal.SIGTERM)
        assert daemon.stop(timeout=30) == 0, daemon.log[-2000:]
    finally:
        if daemon.process and daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(10)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", console_port), 1):
        pass  # the port is closed with the daemon


def test_a_console_address_in_use_stops_the_start_with_a_message(
    tmp_path: Path, simulator: Simulator, mail_sink: MailSink,
) -> None:
    env = daemon_environment(tmp_path, simulator, mail_sink)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["BIDWATCH_CONSOLE_LISTEN"] = f"127.0.0.1:{taken.getsockname()[1]}"
        env["BIDWATCH_RULES"] = str(quick_rules(tmp_path, interval=3600, groups="brand"))
        done = subprocess.run([sys.executable, "-m", "monitor.cli", "run"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "BIDWATCH_CONSOLE_LISTEN" in done.stderr and "Traceback" not in done.stderr
