"""What bidwatch writes under its home is its own: files 0600, directories 0700, whatever the
umask it was started with (outside systemd, 0022 made them world-readable); and retention
refuses a period that would delete everything."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.errors import BidwatchError
from monitor.services.retention import prune_evidence
from monitor.store import Store
from tests.conftest import RULES

#: run as a fresh process started with the usual umask: the CLI must tighten it itself
SCRIPT = """
import os, sys
from pathlib import Path
os.umask(0o022)
from monitor.cli import app
from monitor.capture.evidence import EvidenceStore
home = Path(sys.argv[1])
try:
    app(["digest", "--date", "2026-11-20"])
except SystemExit as done:
    assert done.code in (0, None), done.code
# what a sweep writes next, in the same process: evidence, a notice kept as .eml
EvidenceStore(home).save_html("<html><body>a result page</body></html>")
EvidenceStore(home).save_screenshot(b"not really a png")
(home / "outbox").mkdir(parents=True, exist_ok=True)
(home / "outbox" / "notice-1.eml").write_bytes(b"Subject: x\\r\\n\\r\\nbody\\r\\n")
"""


def _open_to_others(home: Path) -> list[str]:
    found = []
    for path in [home, *home.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if mode & 0o077:
            found.append(f"{path.relative_to(home.parent)} {mode:o}")
    return found


def test_the_cli_makes_every_file_under_its_home_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "BIDWATCH_HOME": str(home), "BIDWATCH_RULES": str(RULES)}
    env.pop("DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(home)], env=env, text=True,
                          capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    written = {p.relative_to(home).parts[0] for p in home.rglob("*") if p.is_file()}
    assert {"bidwatch.db", "digest", "evidence", "outbox"} <= written, written
    assert _open_to_others(home) == []


def test_the_database_file_is_private_even_outside_the_cli(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        store = Store(f"sqlite:///{tmp_path / 'deep' / 'bidwatch.db'}")
        store.close()
    finally:
        os.umask(previous)
    database = tmp_path / "deep" / "bidwatch.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700
    for journal in database.parent.glob("bidwatch.db-*"):  # WAL and SHM take its mode
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600, journal.name


@pytest.mark.browser
def test_a_demo_sweep_leaves_nothing_readable_by_others(
    tmp_path: Path, browser_path: Path
) -> None:
    home = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BIDWATCH_") and k != "DATABASE_URL"}
    script = ("import os, sys\nos.umask(0o022)\nfrom monitor.cli import app\n"
              "app(['--home', sys.argv[1], 'demo'])\n")  # the global --home is the demo's
    done = subprocess.run([sys.executable, "-c", script, str(home)], env=env, text=True,
                          capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    written = {p.relative_to(home).parts[0] for p in home.rglob("*") if p.is_file()}
    assert {"bidwatch.db", "digest", "evidence", "outbox"} <= written, written
    assert _open_to_others(home) == []


def test_retention_refuses_a_negative_period(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'bidwatch.db'}")
    try:
        with pytest.raises(BidwatchError, match="0 or more"):
            prune_evidence(store, tmp_path, timedelta(days=-5))
    finally:
        store.close()
