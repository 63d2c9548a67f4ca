"""Capture throughput against the simulator, beside the raw floor, at concurrency 1, 2 and 4.

bidwatch: the sweep's capture path — one kept browser, recycled every
BIDWATCH_BROWSER_RECYCLE_TASKS tasks; contexts per market profile dressed as its market and
device (reused for BIDWATCH_CONTEXT_REUSE searches); heavy resources blocked; the page loaded,
classified, its HTML (gzip) and full-page screenshot stored.
Raw floor: bare Playwright `goto` + `content()` + `screenshot(full_page=True, scale="css")` of
the same URLs in its own browser, one context per device dressed only as that device (so it
gets the same pages: phones are served phone markup), nothing stored. One JSON line per
concurrency: tasks/s for both, their ratio, p50/p95 latency, and RSS including the browser
processes (sampled at task 100 and at the end).

Then a long run at concurrency 4 (1,000 tasks by default) sampling RSS every 100 tasks: from
task 100 on it should stay flat within 10% (browsers are recycled, contexts bounded).

`python -m tests.bench.bench_capture [N] [LONG] [CONCURRENCIES]` (N tasks per run, 300 by
default; LONG tasks in the memory run, 1,000 by default, 0 to skip it; CONCURRENCIES "1,2,4").
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Playwright, async_playwright

from monitor.capture.browser import LAUNCH_ARGS, find_browser
from monitor.capture.evidence import EvidenceStore
from monitor.capture.keeper import BrowserKeeper
from monitor.capture.page import CaptureOptions
from monitor.capture.profiles import context_options
from monitor.dev.simulator import DEFAULT_SCENARIO, Simulator
from monitor.engines import get_engine
from monitor.models import SearchTask
from monitor.plan import plan_tasks
from monitor.program import load_program
from monitor.settings import Settings
from monitor.sweep import capture_in_pool
from tests.bench.bench_sweep import rss_mb_with_children

RULES = Path(__file__).resolve().parents[2] / "rules"
OPTIONS = CaptureOptions(timeout_s=30, ignore_https_errors=True, settle_ms=0)


def tasks_for(n: int) -> list[SearchTask]:
    planned = [t for t in plan_tasks(load_program(RULES)) if t.market.id != "de-de"]
    return [planned[i % len(planned)] for i in range(n)]


async def timed_run(
    tasks: list[SearchTask], concurrency: int, one: Callable[[SearchTask], Awaitable[None]]
) -> dict[str, float]:
    limit = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    rss_at_100 = [0.0]

    async def run(task: SearchTask) -> None:
        async with limit:
            started = time.perf_counter()
            await one(task)
            latencies.append(time.perf_counter() - started)
            if len(latencies) == min(100, len(tasks)):
                rss_at_100[0] = rss_mb_with_children()

    started = time.perf_counter()
    await asyncio.gather(*(run(t) for t in tasks))
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"tasks_per_s": round(len(tasks) / elapsed, 2),
            "p50_ms": round(statistics.median(ordered) * 1000),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000),
            "rss_mb_at_100": rss_at_100[0], "rss_mb_at_end": rss_mb_with_children()}


def kept_browser(playwright: Playwright, simulator: Simulator, settings: Settings, *,
                 idle_pages: int) -> BrowserKeeper:
    """The sweep's browser keeper, with the settings' reuse and recycling bounds."""
    return BrowserKeeper(
        playwright, find_browser(None), OPTIONS, context_reuse=settings.context_reuse,
        recycle_after=settings.browser_recycle_tasks, idle_pages=idle_pages,
        extra_args=(f"--host-resolver-rules={simulator.host_resolver_rule}",))


async def bidwatch_run(playwright: Playwright, simulator: Simulator, tasks: list[SearchTask],
                       concurrency: int, home: Path) -> dict[str, float]:
    """The sweep's own capture path: one kept browser (recycled every
    BIDWATCH_BROWSER_RECYCLE_TASKS tasks), contexts per market profile, evidence stored."""
    settings = Settings()
    evidence = EvidenceStore(home)
    keeper = kept_browser(playwright, simulator, settings, idle_pages=concurrency)

    async def one(task: SearchTask) -> None:
        async with keeper.lease() as lease:
            await capture_in_pool(lease.contexts, task, get_engine(task.engine), evidence)

    try:
        return await timed_run(tasks, concurrency, one)
    finally:
        await keeper.close()


async def raw_run(playwright: Playwright, simulator: Simulator, tasks: list[SearchTask],
                  concurrency: int) -> dict[str, float]:
    """Bare Playwright: one context per device, dressed only as that device (user agent,
    viewport, pixel ratio) so it is served the same pages — the simulator, like the engines,
    sends phone markup to a phone — and screenshots of the same size; nothing else."""
    browser = await playwright.chromium.launch(
        executable_path=str(find_browser(None).path),
        args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
    contexts = {}
    for task in tasks:
        if task.device not in contexts:
            contexts[task.device] = await browser.new_context(
                ignore_https_errors=True, **device_options(task, browser.version))

    failures = [0]

    async def one(task: SearchTask) -> None:
        page = await contexts[task.device].new_page()
        try:
            await page.goto(get_engine(task.engine).search_url(task))
            await page.content()
            await page.screenshot(full_page=True, scale="css")
        except PlaywrightError:  # a page Chromium gave up on counts, and the run goes on
            failures[0] += 1
        finally:
            await page.close()

    try:
        return {**await timed_run(tasks, concurrency, one), "failed_pages": failures[0]}
    finally:
        await browser.close()


def device_options(task: SearchTask, version: str) -> dict[str, Any]:
    dressed = context_options(task, version)
    return {name: dressed[name] for name in
            ("viewport", "device_scale_factor", "is_mobile", "has_touch", "user_agent")}


async def measure(n: int, long_run: int, concurrencies: tuple[int, ...]) -> None:
    with Simulator(DEFAULT_SCENARIO).start() as simulator, \
            tempfile.TemporaryDirectory() as home:
        async with async_playwright() as playwright:
            for concurrency in concurrencies:
                tasks = tasks_for(n)
                ours = await bidwatch_run(playwright, simulator, tasks, concurrency, Path(home))
                raw = await raw_run(playwright, simulator, tasks, concurrency)
                print(json.dumps({
                    "benchmark": "capture", "tasks": n, "concurrency": concurrency,
                    "bidwatch": ours, "raw_floor": raw,
                    "ratio": round(ours["tasks_per_s"] / raw["tasks_per_s"], 2),
                }), flush=True)
            if long_run:
                await memory_run(playwright, simulator, long_run, Path(home))


async def memory_run(playwright: Playwright, simulator: Simulator, n: int, home: Path) -> None:
    """Peak RSS (this process and the browsers, sampled twice a second) in each window of 100
    tasks, at concurrency 4; from task 100 on the peaks should stay flat."""
    done = [0]
    peaks: dict[int, float] = {}
    inner = Settings()
    evidence = EvidenceStore(home)
    keeper = kept_browser(playwright, simulator, inner, idle_pages=4)

    async def one(task: SearchTask) -> None:
        async with keeper.lease() as lease:
            await capture_in_pool(lease.contexts, task, get_engine(task.engine), evidence)
        done[0] += 1

    async def sample() -> None:
        while True:
            window = done[0] // 100 * 100
            peaks[window] = max(peaks.get(window, 0.0), rss_mb_with_children())
            await asyncio.sleep(0.5)

    sampler = asyncio.create_task(sample())
    try:
        figures = await timed_run(tasks_for(n), 4, one)
    finally:
        sampler.cancel()
        await keeper.close()
    after_100 = [mb for at, mb in peaks.items() if 100 <= at < n]
    print(json.dumps({
        "benchmark": "capture_memory", "tasks": n, "concurrency": 4,
        "tasks_per_s": figures["tasks_per_s"], "peak_rss_mb_by_100_tasks": peaks,
        "peak_spread_after_100": round((max(after_100) - min(after_100)) / min(after_100), 3),
        "browser_recycles": keeper.recycles,
    }), flush=True)


def main(n: int = 300, long_run: int = 1000, concurrencies: str = "1,2,4") -> None:
    asyncio.run(measure(n, long_run, tuple(int(c) for c in concurrencies.split(","))))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]), *sys.argv[3:4])
