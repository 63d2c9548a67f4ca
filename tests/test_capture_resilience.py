"""The capture stage when things go wrong: a killed browser, a crashing page, a browser past
its share of tasks, a sweep stopped half-way and resumed. Real Chromium, the simulator."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import psutil
import pytest

from monitor.capture.page import LOST_RENDERER
from monitor.models import Capture, Device
from monitor.plan import plan_tasks
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.sweep import SweepDeps, SweepReport, resume_sweep, run_sweep
from tests.test_faults_browser import chromium_main_processes

pytestmark = pytest.mark.browser
#: queries the simulator has no ads for: the capture stage alone, no chains to follow
QUIET = ["bidwatch quiet one", "bidwatch quiet two"]


def browser_processes() -> list[psutil.Process]:
    """Chromium's main processes started by this test process (not its renderers)."""
    return chromium_main_processes()


def sweep(settings: Settings, terms: list[str], progress: Callable[[Capture, int], None]
          | None = None, *, engines: tuple[str, ...] = ("google", "bing"),
          markets: tuple[str, ...] = ("us-en", "gb-en")) -> tuple[SweepReport, SweepDeps]:
    deps = build_deps(settings)
    tasks = plan_tasks(deps.program, engines=list(engines), markets=list(markets),
                       devices=[Device.desktop], terms=terms)
    return asyncio.run(run_sweep(deps, tasks, progress=progress)), deps


def task_statuses(deps: SweepDeps) -> list[str]:
    return [t.status for t in deps.store.tasks()]


def test_a_killed_browser_loses_no_finished_task_and_the_sweep_goes_on(
    sim_settings: Settings,
) -> None:
    killed: list[int] = []

    def kill_the_browser_once(_capture: Capture, _ads: int) -> None:
        if not killed:
            for process in browser_processes():
                killed.append(process.pid)
                process.send_signal(signal.SIGKILL)

    report, deps = sweep(sim_settings, QUIET, kill_the_browser_once)
    assert killed, "the test must have found the browser to kill"
    assert report.status == "done" and report.tasks == 8
    # the task in flight when the browser died was asked again on a new browser
    assert (report.captured, report.failed, report.browser_restarts) == (8, 0, 1)
    assert task_statuses(deps) == ["done"] * 8
    assert not browser_processes()  # and nothing is left running


def test_the_browser_is_replaced_after_its_share_of_tasks(sim_settings: Settings) -> None:
    settings = sim_settings.model_copy(update={"browser_recycle_tasks": 3, "concurrency": 1})
    launched: set[int] = set()

    def note_browser(_capture: Capture, _ads: int) -> None:
        launched.update(p.pid for p in browser_processes())

    report, deps = sweep(settings, QUIET, note_browser)
    assert (report.captured, report.browser_recycles, report.browser_restarts) == (8, 2, 0)
    assert len(launched) == 3  # tasks 1-3, 4-6 and 7-8, each on a browser of their own
    assert task_statuses(deps) == ["done"] * 8
    assert not browser_processes()


def test_a_page_that_crashes_its_renderer_is_asked_once_more_then_recorded(
    sim_settings: Settings,
) -> None:
    settings = sim_settings.model_copy(update={"page_timeout_s": 15.0})
    report, deps = sweep(settings, ["bidwatch test crash"], engines=("google",),
                         markets=("us-en",))
    assert (report.tasks, report.failed, report.retries, report.browser_restarts) == (1, 1, 1, 0)
    errors = [c.error or "" for c in deps.store.captures()]
    assert len(errors) == 2 and all(e.startswith(LOST_RENDERER) for e in errors)


def test_an_interrupted_sweep_is_resumed_without_asking_a_task_twice(
    sim_settings: Settings,
) -> None:
    deps = build_deps(sim_settings)
    tasks = plan_tasks(deps.program, engines=["google", "bing"], markets=["us-en"],
                       devices=[Device.desktop], terms=["Lumora", "Lumora coupon"])

    async def stop_after_first_task() -> int:
        first = asyncio.Event()
        running = asyncio.create_task(run_sweep(deps, tasks, progress=lambda *_: first.set()))
        await first.wait()
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return 1

    sweep_id = asyncio.run(stop_after_first_task())
    assert deps.store.unfinished_sweeps(deps.program.name) == [sweep_id]
    done_before = task_statuses(deps).count("done")
    notices_before = len(deps.store.outbox(kind="notice"))

    report = asyncio.run(resume_sweep(deps, sweep_id))
    assert report.tasks == len(tasks) - done_before  # only the tasks never asked
    assert task_statuses(deps) == ["done"] * len(tasks)
    per_task = [c.task_id for c in deps.store.captures()]
    assert len(per_task) == len(set(per_task)) == len(tasks)  # none captured twice
    row = deps.store.sweep(sweep_id)
    assert row is not None and row.status == "done" and row.captured == len(tasks)
    assert deps.store.unfinished_sweeps(deps.program.name) == []
    keys = [r.key for r in deps.store.outbox(kind="notice")]
    assert len(keys) == len(set(keys)) >= notices_before
    assert [t for t in deps.store.tasks() if t.status != "done"] == []
