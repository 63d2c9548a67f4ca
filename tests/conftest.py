"""Shared fixtures: the real parts the tests run against (browser, simulator, SMTP, PostgreSQL).

Every server listens on loopback only. A missing PostgreSQL skips its tests on a developer's
machine but fails under CI (CI=1), so a broken CI image cannot pass quietly.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from monitor.capture.browser import BrowserNotFound, find_browser
from monitor.dev.mailsink import MailSink
from monitor.dev.simulator import DEFAULT_SCENARIO, Simulator
from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.dev.demo import DemoResult

# The suite is deterministic (CI must not turn red on a new random example); run
# HYPOTHESIS_PROFILE=explore to search further and turn what it finds into fixed cases.
hypothesis_settings.register_profile("default", derandomize=True, deadline=None)
hypothesis_settings.register_profile("explore", derandomize=False, max_examples=1000,
                                     deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RULES = ROOT / "rules"


def shared_dir(*parts: str) -> Path:
    """A path under ../shared, or skip: a user's clone has no ../shared."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is only in the development checkout)")
    return path


def example_with_variants(folder: Path, *families: str) -> Path:
    """A copy of the example program under `folder` with its brand's commented `variants:`
    block switched on: the families named, or all four."""
    rules = folder / "rules"
    shutil.copytree(RULES, rules)
    brands = rules / "brands.yaml"
    text = brands.read_text(encoding="utf-8").replace("    # variants:", "    variants:", 1)
    for family in families or ("modifiers", "misspellings", "spacing", "diacritics"):
        line = f"    #   {family}:"
        assert line in text, f"the example's variants block has no {family} line"
        text = text.replace(line, f"      {family}:", 1)
    brands.write_text(text, encoding="utf-8")
    return rules


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the operator's own bidwatch settings (a real database, a real SMTP)."""
    for name in list(os.environ):
        if name.startswith("BIDWATCH_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def browser_path() -> Path:
    try:
        return find_browser(None).path
    except BrowserNotFound as error:
        pytest.fail(f"browser tests need a Chromium: {error}")


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory, browser_path: Path) -> DemoResult:
    """One demo run (a real sweep of the simulator by Chromium, notices mailed to a local
    sink), shared by the tests that only read a filled store or what the run reported; a
    test that changes the store takes `demo_copy` (or copies `demo_home` itself)."""
    from monitor.dev.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo-session") / "demo")


@pytest.fixture(scope="session")
def demo_home(demo_run: DemoResult) -> Path:
    return demo_run.settings.home


@pytest.fixture
def demo_copy(demo_home: Path, tmp_path: Path) -> Settings:
    """This test's own copy of the demo's home, and settings that point at it."""
    from monitor.resources import example_rules

    home = tmp_path / "demo"
    shutil.copytree(demo_home, home)
    return Settings(home=home, rules=example_rules())


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    with Simulator(DEFAULT_SCENARIO).start() as running:
        yield running


@pytest.fixture
def mail_sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as sink:
        yield sink


@pytest.fixture
def sim_settings(tmp_path: Path, simulator: Simulator, mail_sink: MailSink) -> Settings:
    """Settings for a sweep of the example program against the simulator, mail to the sink."""
    return Settings(
        home=tmp_path / "home", rules=RULES, database_url=None, simulator=simulator.address,
        allow_private_networks=True, concurrency=2, page_timeout_s=20, pace_s=0,
        pace_jitter_s=0,
        notice_url=mail_sink.apprise_url(),
    )


# -- PostgreSQL: a throwaway cluster on loopback ---------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(command: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL server binaries are missing (make test installs them)")
        pytest.skip("no PostgreSQL server here (install postgresql, or run make test)")
    directory = Path(tempfile.mkdtemp(prefix="bidwatch-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data, port = directory / "data", _free_port()
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-U", "bidwatch", "--auth=trust",
                                 "-E", "UTF8", "--no-locale"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-l", str(directory / "log"), "-w",
                                 "-o", f"-h 127.0.0.1 -p {port} -k {directory}", "start"]),
                   check=True, capture_output=True)
    try:
        _wait_for_port(port)
        yield f"postgresql+psycopg://bidwatch@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"PostgreSQL did not start on port {port}")
