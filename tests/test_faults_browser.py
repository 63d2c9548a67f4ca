"""Faults on purpose, against real Chromium and the simulator: the browser killed at random
points of a sweep, the sweep process killed or stopped with SIGTERM and resumed, a result
page cut short, an ad with a megabyte of headline.

What must hold: every sweep ends, within a bound, with every task done, blocked or failed
(none pending, none hung); a killed browser is replaced; a killed sweep is resumed to the
end; nothing a page showed is silently dropped.

`BIDWATCH_CHAOS=1` (`make chaos`) kills the browser more often, with a fresh random seed
each run (printed; `BIDWATCH_CHAOS_SEED=N` replays one); `make test` runs a few seeded kills.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import psutil
import pytest

from monitor.capture.evidence import EvidenceStore
from monitor.capture.page import CUT_SHORT, CaptureOptions, capture_page, new_task_context
from monitor.dev.simulator import Simulator
from monitor.dev.simulator.exchange import Request
from monitor.dev.simulator.tls import server_context
from monitor.engines import get_engine
from monitor.models import CaptureStatus, Device, MarketRef, SearchTask
from monitor.plan import plan_tasks
from monitor.program import load_program
from monitor.services.wiring import build_deps, opened_store
from monitor.settings import Settings
from monitor.store import Store
from monitor.sweep import SweepDeps, SweepReport, run_sweep
from tests.conftest import RULES

pytestmark = pytest.mark.browser

CHAOS = os.environ.get("BIDWATCH_CHAOS") == "1"
#: the seed of the browser kills: fixed for `make test`, fresh for each chaos run
SEED = int(os.environ.get("BIDWATCH_CHAOS_SEED") or (time.time_ns() % 100_000 if CHAOS else 7))
#: kills in each sweep, the kills to land in all, and the most sweeps to land them in (a
#: sweep may end before its last kill: the next sweep goes on killing)
KILLS_PER_SWEEP, KILLS_WANTED, MOST_SWEEPS = (3, 12, 8) if CHAOS else (2, 2, 2)
#: no sweep here may take longer than this, whatever is killed
SWEEP_BOUND_S = 150.0
US = MarketRef(id="us-en", country="US", language="en", timezone="America/New_York")


# -- processes -----------------------------------------------------------------------------


def chromium_main_processes(root: int | None = None) -> list[psutil.Process]:
    """Chromium's main processes below `root` (this process by default): the children of
    Playwright's driver that are Chromium and not one of its helpers (--type=renderer…)."""
    found = []
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(root or os.getpid()).children(recursive=True):
            try:
                command = child.cmdline()
            except psutil.Error:
                continue
            if command and "chrom" in os.path.basename(command[0]) and not any(
                    arg.startswith("--type=") for arg in command):
                found.append(child)
    return found


def wait_until_gone(pids: list[int], timeout_s: float = 15.0) -> list[int]:
    """The pids still alive (zombies aside) after waiting up to `timeout_s` for them."""
    deadline = time.monotonic() + timeout_s
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- killing the browser in the middle of a sweep ------------------------------------------


@dataclass
class BrowserKiller:
    """SIGKILLs the sweep's Chromium (its main process) `kills` times, each a random while
    after the browser it kills came up: in a capture, a chain, a launch or between them."""

    rng: random.Random
    kills: int
    min_delay_s: float = 0.3
    max_delay_s: float = 4.0
    killed: list[int] = field(default_factory=list)
    #: when each kill happened, in seconds after the sweep began
    at: list[float] = field(default_factory=list)

    async def run(self) -> None:
        started = time.monotonic()
        for _ in range(self.kills):
            victims = await self._next_browser()
            if not victims:
                return  # the sweep ended first
            await asyncio.sleep(self.rng.uniform(self.min_delay_s, self.max_delay_s))
            for process in chromium_main_processes():
                if process.pid in victims:
                    with contextlib.suppress(psutil.Error):
                        process.send_signal(signal.SIGKILL)
                        self.killed.append(process.pid)
                        self.at.append(round(time.monotonic() - started, 1))

    async def _next_browser(self) -> set[int]:
        """A browser not killed yet (the keeper starts the next one on the next task)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            fresh = {p.pid for p in chromium_main_processes()} - set(self.killed)
            if fresh:
                return fresh
            await asyncio.sleep(0.05)
        return set()


def sweep_while_killing(deps: SweepDeps, tasks: list[SearchTask], killer: BrowserKiller
                        ) -> tuple[SweepReport, float]:
    async def run() -> SweepReport:
        killing = asyncio.create_task(killer.run())
        try:
            # a hung sweep fails the test here, with the status it had got to
            return await asyncio.wait_for(run_sweep(deps, tasks), SWEEP_BOUND_S)
        finally:
            killing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killing

    started = time.monotonic()
    report = asyncio.run(run())
    return report, time.monotonic() - started


@pytest.mark.timeout(MOST_SWEEPS * SWEEP_BOUND_S + 60)
def test_killing_the_browser_at_random_points_never_hangs_or_loses_a_sweep(
    sim_settings: Settings,
) -> None:
    rng = random.Random(SEED)
    print(f"browser kills: seed {SEED} (BIDWATCH_CHAOS_SEED={SEED} replays it)")
    # queries with ads: the kills land in captures, in chain following and in launches (every
    # chain followed live: reused ones would end the later sweeps before their kills)
    settings = sim_settings.model_copy(update={"page_timeout_s": 15.0, "chain_timeout_s": 8.0,
                                               "chain_reuse_hours": 0})
    kills_landed = 0
    for round_number in range(MOST_SWEEPS):
        if kills_landed >= KILLS_WANTED:
            break
        deps = build_deps(settings)
        tasks = plan_tasks(deps.program, engines=["google", "bing"], markets=["us-en", "gb-en"],
                           devices=[Device.desktop], terms=["Lumora", "Lumora coupon"])
        killer = BrowserKiller(rng, KILLS_PER_SWEEP)
        report, seconds = sweep_while_killing(deps, tasks, killer)
        print(f"sweep {round_number + 1}: {len(killer.killed)} kills at {killer.at} s, "
              f"{seconds:.1f} s, {report.browser_restarts} restarts, {report.failed} failed")
        statuses = [t.status for t in deps.store.tasks(report.sweep_id)]
        for capture in deps.store.captures(report.sweep_id):
            if capture.error:
                print(f"  {capture.engine} {capture.market}: {capture.error[:100]}")
        now = datetime.now(UTC)
        cut = [d.chain.error for s in deps.store.sightings_between(now - timedelta(hours=1), now)
               if s.sweep_id == report.sweep_id and (d := deps.store.sighting(s.id))
               and (d.chain.error or "").startswith("browser error")]
        print(f"  chains cut by a kill: {len(cut)}")
        assert report.status == "done", report
        assert "pending" not in statuses and len(statuses) == len(tasks)
        # each kill costs the tasks in flight one attempt; a task fails only when it lost
        # both of its attempts, so at most one task per kill
        assert report.failed <= len(killer.killed)
        assert report.captured + report.failed + sum(report.blocked.values()) == len(tasks)
        # every kill is noticed by the next task (one after the last task may have none)
        assert report.browser_restarts >= len(killer.killed) - 1
        kills_landed += len(killer.killed)
        deps.store.close()
        assert wait_until_gone([p.pid for p in chromium_main_processes()]) == []
    assert kills_landed >= KILLS_WANTED  # the killer found its browsers


def test_a_browser_killed_as_chains_are_followed_costs_the_chains_not_the_ads(
    sim_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The browser dies just as a page's chains start (new_page() in the follower was seen
    to hang for good, and a TargetClosedError to cancel the whole sweep): the sweep ends,
    the page's capture and every ad on it are recorded, and each cut chain says why."""
    from monitor.resolve import follow as follow_module

    real_follow = follow_module.follow
    killed: list[int] = []

    async def follow_as_the_browser_dies(*args: Any, **kwargs: Any) -> Any:
        if not killed:
            for process in chromium_main_processes():
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
        return await real_follow(*args, **kwargs)

    monkeypatch.setattr(follow_module, "follow", follow_as_the_browser_dies)
    deps = build_deps(sim_settings)
    tasks = plan_tasks(deps.program, engines=["google"], markets=["us-en"],
                       devices=[Device.desktop], terms=["Lumora coupon"])
    started = time.monotonic()
    report = asyncio.run(asyncio.wait_for(run_sweep(deps, tasks), SWEEP_BOUND_S))
    print(f"chains cut by a kill: {time.monotonic() - started:.1f} s")
    assert killed and report.status == "done"
    assert (report.captured, report.failed, report.ads) == (1, 0, 3)
    (capture,) = deps.store.captures(report.sweep_id)
    assert capture.status == "ok" and len(deps.store.capture_ads([capture.id])) == 3
    now = datetime.now(UTC)
    sightings = deps.store.sightings_between(now - timedelta(hours=1), now)
    chains = [detail.chain for s in sightings if (detail := deps.store.sighting(s.id))]
    assert len(chains) == 3
    assert all(c.error and c.error.startswith("browser error") for c in chains), chains
    assert all(c.hops for c in chains)  # decoded offline as far as it goes
    deps.store.close()


def test_a_browser_that_stops_answering_is_replaced_and_its_pages_asked_again(
    sim_settings: Settings,
) -> None:
    """SIGSTOP: the browser is there but answers nothing. Its pages' calls end at their
    bounds, a probe finds the browser itself silent, the keeper gives up on it (ending its
    other calls at once) and the pages are asked again on a new browser; the stopped one
    is gone by the end."""
    settings = sim_settings.model_copy(update={"page_timeout_s": 5.0})
    stopped: list[psutil.Process] = []

    def stop_the_browser_once(_capture: object, _ads: int) -> None:
        if not stopped:
            for process in chromium_main_processes():
                process.suspend()
                stopped.append(process)

    deps = build_deps(settings)
    tasks = plan_tasks(deps.program, engines=["google", "bing"], markets=["us-en"],
                       devices=[Device.desktop], terms=["bidwatch quiet one", "bidwatch quiet two"])
    started = time.monotonic()
    try:
        report = asyncio.run(asyncio.wait_for(
            run_sweep(deps, tasks, progress=stop_the_browser_once), SWEEP_BOUND_S))
    finally:
        for process in stopped:  # never leave a stopped process behind, whatever happened
            with contextlib.suppress(psutil.Error):
                process.kill()
    seconds = time.monotonic() - started
    print(f"a stopped browser: {seconds:.1f} s, {report.browser_restarts} restarts")
    assert stopped and report.status == "done"
    assert (report.captured, report.failed) == (4, 0)
    assert report.browser_restarts == 1 and report.retries >= 1
    hung = [c.error for c in deps.store.captures(report.sweep_id) if c.error]
    assert hung and all(e.startswith(("the browser stopped answering", "the browser went away"))
                        for e in hung), hung
    assert seconds < 60
    deps.store.close()


def test_a_browser_that_cannot_start_fails_its_tasks_and_the_sweep_ends(
    sim_settings: Settings, tmp_path: Path
) -> None:
    """Chromium exits as soon as it is started (a broken install, no memory): every task
    is asked twice, recorded failed with why, and the sweep ends — none pending."""
    dead = tmp_path / "chromium-that-dies"
    dead.write_text("#!/bin/sh\nexit 1\n")
    dead.chmod(0o755)
    deps = build_deps(sim_settings.model_copy(update={"chromium": dead}))
    tasks = plan_tasks(deps.program, engines=["google", "bing"], markets=["us-en"],
                       devices=[Device.desktop], terms=["bidwatch quiet one"])
    report = asyncio.run(asyncio.wait_for(run_sweep(deps, tasks), SWEEP_BOUND_S))
    assert report.status == "done" and (report.failed, report.retries) == (2, 2)
    assert [t.status for t in deps.store.tasks(report.sweep_id)] == ["failed", "failed"]
    errors = [c.error or "" for c in deps.store.captures(report.sweep_id)]
    assert len(errors) == 4 and all(e.startswith("the browser went away") for e in errors)
    deps.store.close()


# -- the sweep process killed or stopped ---------------------------------------------------

#: eight tasks that take a few seconds each (paced): long enough to stop half-way
STOPPED_TERMS = ["Lumora", "Lumora coupon"]
STOPPED_MARKETS = ["us-en", "gb-en"]


@dataclass
class SweepProcess:
    """`bidwatch sweep ARGS` running in a process (and session) of its own; what it prints
    goes to a file (a pipe nobody reads could fill and stop it)."""

    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout_s: float) -> int:
        return self.process.wait(timeout_s)

    def said(self) -> str:
        return self.output.read_text("utf-8", "replace")

    def running(self) -> bool:
        return self.process.poll() is None


def sweep_process(settings: Settings, *args: str) -> SweepProcess:
    """`bidwatch sweep ARGS` against the simulator, in a process of its own."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("BIDWATCH_") and key != "DATABASE_URL"}
    env.update({
        "BIDWATCH_HOME": str(settings.home), "BIDWATCH_RULES": str(RULES),
        "BIDWATCH_SIMULATOR": str(settings.simulator), "BIDWATCH_ALLOW_PRIVATE_NETWORKS": "1",
        "BIDWATCH_CONCURRENCY": "1", "BIDWATCH_PACE_S": "1", "BIDWATCH_PACE_JITTER_S": "0",
        "BIDWATCH_PAGE_TIMEOUT_S": "20", "BIDWATCH_CHAIN_TIMEOUT_S": "8",
    })
    output = settings.home.parent / f"sweep-{time.monotonic_ns()}.out"
    with output.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "sweep", *args],
                                   env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    return SweepProcess(process, output)


def wait_for_done_tasks(settings: Settings, sweep: SweepProcess, at_least: int,
                        timeout_s: float = 120) -> None:
    """Until the running sweep has stored `at_least` finished tasks."""
    deadline = time.monotonic() + timeout_s
    # the store is opened only once the process has made it (a capture's evidence is on
    # disk): two processes migrating one new database at once is not what is tested here
    while not list((settings.home / "evidence").glob("*/*.png")):
        assert sweep.running(), sweep.said()
        assert time.monotonic() < deadline, "the sweep never captured a page"
        time.sleep(0.2)
    with opened_store(settings) as store:
        while sum(t.status == "done" for t in store.tasks()) < at_least:
            assert sweep.running(), sweep.said()
            assert time.monotonic() < deadline, "the sweep never finished a task"
            time.sleep(0.2)


def task_statuses(store: Store) -> list[str]:
    return [t.status for t in store.tasks()]


def captures_per_task(store: Store) -> dict[int, int]:
    return dict(Counter(c.task_id for c in store.captures()))


def resume_to_the_end(settings: Settings) -> None:
    """`bidwatch sweep --resume` in a process, then: every task done, and none that was
    done before asked again."""
    with opened_store(settings) as store:
        done_before = {t.id for t in store.tasks() if t.status == "done"}
        asked_before = captures_per_task(store)
    resumed = sweep_process(settings, "--resume")
    assert resumed.wait(SWEEP_BOUND_S) == 0, resumed.said()
    with opened_store(settings) as store:
        assert task_statuses(store) == ["done"] * 8
        (sweep,) = store.recent_sweeps()
        assert sweep.status == "done" and sweep.captured == 8
        assert store.unfinished_sweeps(load_program(RULES).name) == []
        asked = captures_per_task(store)
        assert set(asked) == {t.id for t in store.tasks()}  # every task has its capture
        assert {t: asked[t] for t in done_before} == {t: asked_before[t] for t in done_before}


@pytest.mark.timeout(2 * SWEEP_BOUND_S + 60)
def test_a_killed_sweep_process_is_resumed_to_the_end(sim_settings: Settings) -> None:
    """SIGKILL to the sweep's process alone: it can say nothing (the sweep stays marked
    running), its driver and browser go with it (the driver sees its pipe close), and
    `bidwatch sweep --resume` runs the tasks it never finished."""
    process = sweep_process(sim_settings, "--engine", "google", "--engine", "bing",
                            *_flags("--term", STOPPED_TERMS), *_flags("--market", STOPPED_MARKETS),
                            "--device", "desktop")
    try:
        wait_for_done_tasks(sim_settings, process, 2)
        below = [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
        assert chromium_main_processes(process.pid)  # it is mid-sweep, with its browser
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert wait_until_gone(below) == []
    with opened_store(sim_settings) as store:
        (sweep,) = store.recent_sweeps()
        statuses = task_statuses(store)
        assert sweep.status == "running"  # nobody could say otherwise
        assert statuses.count("done") >= 2 and "pending" in statuses
    resume_to_the_end(sim_settings)


@pytest.mark.timeout(2 * SWEEP_BOUND_S + 60)
@pytest.mark.parametrize("to", ["the sweep", "its process group"])
def test_sigterm_interrupts_the_sweep_cleanly_and_resume_finishes_it(
    sim_settings: Settings, to: str
) -> None:
    """SIGTERM to the sweep alone (kill PID), or to it with its driver and browser (what
    systemd sends a unit's whole control group): the sweep stops within seconds, marked
    interrupted, finished tasks stored, the rest pending; nothing is left running."""
    process = sweep_process(sim_settings, "--engine", "google", "--engine", "bing",
                            *_flags("--term", STOPPED_TERMS), *_flags("--market", STOPPED_MARKETS),
                            "--device", "desktop")
    try:
        wait_for_done_tasks(sim_settings, process, 2)
        below = [p.pid for p in psutil.Process(process.pid).children(recursive=True)]
        stopped_at = time.monotonic()
        if to == "the sweep":
            os.kill(process.pid, signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGTERM)
        exit_status = process.wait(60)
        stop_seconds = time.monotonic() - stopped_at
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    print(f"SIGTERM to {to}: stopped in {stop_seconds:.1f} s")
    said = process.said()
    assert exit_status == 143, said
    assert "sweep interrupted" in said and "--resume" in said
    assert stop_seconds < 30
    assert wait_until_gone(below) == []
    with opened_store(sim_settings) as store:
        (sweep,) = store.recent_sweeps()
        statuses = task_statuses(store)
        assert sweep.status == "interrupted" and sweep.finished_at is not None
        assert statuses.count("done") >= 2 and "pending" in statuses
        assert set(statuses) <= {"done", "pending"}
        # a finished task has its capture; a pending one none (nothing half-written)
        captured = {c.task_id for c in store.captures()}
        assert captured == {t.id for t in store.tasks() if t.status == "done"}
    resume_to_the_end(sim_settings)


def _flags(flag: str, values: list[str]) -> list[str]:
    return [part for value in values for part in (flag, value)]


# -- pages that go wrong half-way: a front that spoils the simulator's pages ----------------

#: the simulator page the faulty queries get: three ads, the last one at the bottom
#: (SleepSaver's, a partner bidding on the brand)
SOURCE_QUERY = "Lumora coupon"
FAULTS = {
    # the body stops before the bottom ad, with a Content-Length that says that is all
    "bidwatch fault cut": "cut",
    # the body stops before the bottom ad, short of its Content-Length: a connection lost
    "bidwatch fault reset": "reset",
    # chunked, and the connection closes before the last chunk
    "bidwatch fault chunked": "chunked",
    # the first ad's headline is a megabyte long
    "bidwatch fault huge": "huge",
}
HUGE_HEADLINE = "Lumora sale " * 90_000  # ~1 MB


class FaultyFront(ThreadingHTTPServer):
    """The simulator, behind a front that spoils Google's result page for the queries in
    FAULTS (the page it serves for SOURCE_QUERY, cut short or with a huge headline); every
    other request gets the simulator's own answer. HTTP and HTTPS on one loopback port, as
    the simulator does, so `Settings.simulator` can point at it."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator
        self.tls = server_context(["www.google.com"])
        super().__init__(("127.0.0.1", 0), _FrontHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def finish_request(  # type: ignore[override]  # a TCP server: the request is a socket
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        request.settimeout(10)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            connection = self.tls.wrap_socket(request, server_side=True) \
                if first[:1] == b"\x16" else request
        except (OSError, ssl.SSLError):
            return
        self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a browser that hangs up on a spoiled page is what these tests are about


class _FrontHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyFront

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].lower()
        query = dict(parse_qsl(target.query))
        fault = FAULTS.get(query.get("q", "")) \
            if host.startswith("www.google.") and target.path == "/search" else None
        if fault:
            query["q"] = SOURCE_QUERY
        request = Request(
            method=self.command,
            scheme="https" if isinstance(self.connection, ssl.SSLSocket) else "http",
            host=host, path=target.path or "/",
            query=urlencode(query) if fault else target.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"")
        reply = self.server.simulator.handle(request)
        body = reply.body
        if fault == "huge":
            body = with_huge_headline(body)
        cut = cut_before_last_ad(body) if fault in ("cut", "reset", "chunked") else len(body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers:
            self.send_header(name, value)
        if fault == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (cut, body[:cut]))
            self._hang_up()
            return
        self.send_header("Content-Length", str(cut if fault == "cut" else len(body)))
        self.end_headers()
        self.wfile.write(body[:cut])
        if fault == "reset":
            self._hang_up()

    def _hang_up(self) -> None:
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def cut_before_last_ad(page: bytes) -> int:
    """Where the page's last ad begins: a cut there leaves the ads before it whole."""
    last = page.rindex(b"data-text-ad")
    return page.rindex(b'<div class="uEierd">', 0, last)


def with_huge_headline(page: bytes) -> bytes:
    """The page with its first ad's headline a megabyte long."""
    reading = get_engine("google").read_page(page.decode())
    headline = reading.ads[0].headline.encode()
    assert headline in page, "the first ad's headline is not in the page as written"
    return page.replace(headline, headline + b" " + HUGE_HEADLINE.encode(), 1)


@pytest.fixture(scope="module")
def front(simulator: Simulator) -> Iterator[FaultyFront]:
    import threading

    server = FaultyFront(simulator)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def front_settings(sim_settings: Settings, front: FaultyFront, **update: Any) -> Settings:
    return sim_settings.model_copy(update={"simulator": front.address, **update})


def one_task_sweep(settings: Settings, query: str) -> tuple[SweepReport, SweepDeps]:
    deps = build_deps(settings)
    tasks = plan_tasks(deps.program, engines=["google"], markets=["us-en"],
                       devices=[Device.desktop], terms=[query])
    assert len(tasks) == 1
    report = asyncio.run(asyncio.wait_for(run_sweep(deps, tasks), SWEEP_BOUND_S))
    return report, deps


@pytest.mark.parametrize("query", ["bidwatch fault cut", "bidwatch fault reset",
                                   "bidwatch fault chunked"])
def test_a_result_page_cut_short_is_partial_keeps_its_ads_and_is_not_covered(
    sim_settings: Settings, front: FaultyFront, query: str
) -> None:
    report, deps = one_task_sweep(front_settings(sim_settings, front), query)
    # not a full capture: counted against coverage (as failed), and asked again once
    assert report.status == "done" and (report.captured, report.failed) == (0, 1)
    assert report.retries == 1
    captures = deps.store.captures(report.sweep_id)
    assert [c.status for c in captures] == ["partial", "partial"]
    for capture in captures:
        assert capture.error and capture.error.startswith(CUT_SHORT), capture.error
        assert capture.html_path and capture.screenshot_path  # the evidence is kept
        # the two ads above the cut are read, judged and kept; the bottom one never arrived
        ads = deps.store.capture_ads([capture.id])
        assert [(a.position, a.rank) for a in ads] == [("top", 1), ("top", 2)]
    coverage = deps.store.sweep_coverage(report.sweep_id)
    assert (coverage.captured, coverage.failed) == (0, 1)
    assert [t.status for t in deps.store.tasks(report.sweep_id)] == ["failed"]
    deps.store.close()


def test_the_same_page_whole_is_covered_with_all_three_ads(
    sim_settings: Settings, front: FaultyFront
) -> None:
    """The control: the page the faults spoil, served whole, is an ok capture with every ad
    (the bottom one too), no note, and one attempt."""
    report, deps = one_task_sweep(front_settings(sim_settings, front), SOURCE_QUERY)
    assert (report.captured, report.failed, report.retries) == (1, 0, 0)
    (capture,) = deps.store.captures(report.sweep_id)
    assert capture.status == "ok" and capture.error is None
    ads = deps.store.capture_ads([capture.id])
    assert [(a.position, a.rank) for a in ads] == [("top", 1), ("top", 2), ("bottom", 1)]
    deps.store.close()


def test_an_ad_with_a_megabyte_headline_keeps_the_page_and_its_ads(
    sim_settings: Settings, front: FaultyFront
) -> None:
    """Such a page is over 100,000 px tall: its full-page screenshot would take seconds and
    tens of megabytes (or time out). The HTML and every ad are kept, with a viewport
    screenshot, and the capture says why."""
    settings = front_settings(sim_settings, front, page_timeout_s=6.0)
    started = time.monotonic()
    report, deps = one_task_sweep(settings, "bidwatch fault huge")
    print(f"1 MB headline: {time.monotonic() - started:.1f} s")
    assert (report.captured, report.failed, report.retries) == (1, 0, 0)
    (capture,) = deps.store.captures(report.sweep_id)
    assert capture.status == "ok"
    assert capture.error and "too tall for a full-page screenshot" in capture.error
    assert capture.error.endswith("the viewport only"), capture.error
    assert capture.html_path and capture.screenshot_path
    html = EvidenceStore(settings.home).read_html(capture.html_path)
    assert len(html) > 1_000_000  # the page as it was, headline and all
    ads = deps.store.capture_ads([capture.id])
    assert [(a.position, a.rank) for a in ads] == [("top", 1), ("top", 2), ("bottom", 1)]
    assert len(ads[0].headline) > 1000  # the headline as it was read
    deps.store.close()


class _ShyPage:
    """A page whose screenshots fail as told, in a browser that answers (or not): what
    `_screenshot_with_boxes` falls back from."""

    def __init__(self, *fail: bool, browser_answers: bool = True) -> None:
        self.fail = list(fail)  # per screenshot asked: full page first, then the viewport
        self.asked: list[bool] = []
        self.answers = browser_answers
        self.context = self
        self.browser = self

    def is_connected(self) -> bool:
        return True

    def is_closed(self) -> bool:
        return False

    async def evaluate(self, _script: str) -> int:
        return 4000  # a page of ordinary height

    async def screenshot(self, *, full_page: bool, scale: str, timeout: float) -> bytes:
        self.asked.append(full_page)
        if self.fail.pop(0):
            from playwright.async_api import TimeoutError as PlaywrightTimeout

            raise PlaywrightTimeout(f"Page.screenshot: Timeout {timeout:.0f}ms exceeded.")
        return b"png"

    async def new_browser_cdp_session(self) -> _ShyPage:  # the probe of the browser
        if not self.answers:
            await asyncio.Event().wait()
        return self

    async def send(self, _method: str) -> dict[str, str]:
        return {}

    async def detach(self) -> None:
        pass


@pytest.mark.parametrize(("fail", "png", "said"), [
    ((False,), b"png", None),
    ((True, False), b"png", "full-page screenshot failed (Page.screenshot: Timeout 6000ms "
                            "exceeded.); the viewport only"),
    ((True, True), None, "full-page screenshot failed (Page.screenshot: Timeout 6000ms "
                         "exceeded.); no screenshot (Page.screenshot: Timeout 10000ms "
                         "exceeded.)"),
])
def test_a_screenshot_that_fails_falls_back_to_the_viewport_then_to_none(
    fail: tuple[bool, ...], png: bytes | None, said: str | None
) -> None:
    from monitor.capture.calls import BrowserCalls
    from monitor.capture.page import _screenshot_with_boxes

    page = _ShyPage(*fail)
    options = CaptureOptions(timeout_s=6, link_boxes=False)
    shot = asyncio.run(_screenshot_with_boxes(page, options, BrowserCalls(6), []))  # type: ignore[arg-type]
    assert (shot.png, shot.trouble) == (png, said)
    assert page.asked == [True, False][:len(fail)]


def test_a_screenshot_timeout_in_a_silent_browser_fails_the_page_instead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The browser, not the page, stopped answering: no fallback (it would only wait out
    its own bound), the browser is lost, and the page fails, to be asked again whole."""
    from monitor.capture import page as page_module
    from monitor.capture.calls import BrowserCalls, BrowserLost

    monkeypatch.setattr(page_module, "CLOSE_TIMEOUT_S", 0.2)  # the probe's bound
    page = _ShyPage(True, False, browser_answers=False)
    calls = BrowserCalls(6)
    options = CaptureOptions(timeout_s=6, link_boxes=False)
    with pytest.raises(BrowserLost, match="screenshot: the browser stopped answering"):
        asyncio.run(page_module._screenshot_with_boxes(page, options, calls, []))  # type: ignore[arg-type]
    assert page.asked == [True] and calls.lost == page_module.LOST_HUNG


# -- the capture function alone ------------------------------------------------------------


def test_capture_page_tells_a_cut_page_from_a_whole_one(
    front: FaultyFront, browser_path: Path, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    from monitor.capture.browser import LAUNCH_ARGS

    evidence = EvidenceStore(tmp_path)
    options = CaptureOptions(timeout_s=10, ignore_https_errors=True, settle_ms=0)

    async def capture(queries: list[str]) -> dict[str, tuple[CaptureStatus, int, str | None]]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(browser_path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules=MAP * {front.address}"])
            found = {}
            for query in queries:
                task = SearchTask("lumora", "google", query, "adhoc", US, Device.desktop)
                context = await new_task_context(browser, task, options)
                result = await capture_page(context, task, get_engine("google"), evidence,
                                            options)
                await context.close()
                ads = get_engine("google").read_ads(result.html)
                found[query] = (result.capture.status, len(ads), result.capture.error)
            await browser.close()
            return found

    found = asyncio.run(asyncio.wait_for(capture([SOURCE_QUERY, *list(FAULTS)[:3]]), 120))
    assert found[SOURCE_QUERY] == (CaptureStatus.ok, 3, None)
    cut, reset, chunked = (found[q] for q in list(FAULTS)[:3])
    assert cut[:2] == reset[:2] == chunked[:2] == (CaptureStatus.partial, 2)
    assert cut[2] and "ends before </html>" in cut[2]
    # a network error in the body is named as the browser saw it
    assert reset[2] and "net::ERR_" in reset[2], reset[2]
    assert chunked[2] and "net::ERR_" in chunked[2], chunked[2]
