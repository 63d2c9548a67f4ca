"""Capture throughput against the simulator, beside the raw floor, at concurrency 1, 2 and 4.

bidwatch: contexts per market profile dressed as its market and device (reused for
BIDWATCH_CONTEXT_REUSE searches), heavy resources blocked, the page loaded, classified, its
HTML (gzip) and full-page screenshot stored.
Raw floor: bare Playwright `goto` + `content()` + `screenshot(full_page=True)` of the same
URLs in one context, nothing stored. One JSON line per concurrency: tasks/s for both, their
ratio, p50/p95 latency, and peak RSS including the browser processes (sampled at task 100
and at the end, to show whether memory stays flat).

`python -m tests.bench.bench_capture [N]` (N tasks per run, 300 by default).
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

from playwright.async_api import Browser, async_playwright

from monitor.capture.browser import LAUNCH_ARGS, find_browser
from monitor.capture.contexts import ContextPool
from monitor.capture.evidence import EvidenceStore
from monitor.capture.page import CaptureOptions, capture_page
from monitor.engines import get_engine
from monitor.models import SearchTask
from monitor.plan import plan_tasks
from monitor.program import load_program
from monitor.settings import Settings
from monitor.simulator import DEFAULT_SCENARIO, Simulator
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


async def bidwatch_run(browser: Browser, tasks: list[SearchTask], concurrency: int,
                       home: Path) -> dict[str, float]:
    """The sweep's own capture path: contexts per market profile (the default reuse)."""
    evidence = EvidenceStore(home)
    contexts = ContextPool(browser, OPTIONS, Settings().context_reuse)

    async def one(task: SearchTask) -> None:
        context = await contexts.acquire(task)
        result = None
        try:
            result = await capture_page(context, task, get_engine(task.engine), evidence, OPTIONS)
        finally:
            await contexts.release(context, broken=result is None)

    try:
        return await timed_run(tasks, concurrency, one)
    finally:
        await contexts.close()


async def raw_run(browser: Browser, tasks: list[SearchTask], concurrency: int
                  ) -> dict[str, float]:
    context = await browser.new_context(ignore_https_errors=True)

    async def one(task: SearchTask) -> None:
        page = await context.new_page()
        try:
            await page.goto(get_engine(task.engine).search_url(task))
            await page.content()
            await page.screenshot(full_page=True)
        finally:
            await page.close()

    try:
        return await timed_run(tasks, concurrency, one)
    finally:
        await context.close()


async def measure(n: int) -> None:
    tasks = tasks_for(n)
    with Simulator(DEFAULT_SCENARIO).start() as simulator, \
            tempfile.TemporaryDirectory() as home:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(find_browser(None).path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
            for concurrency in (1, 2, 4):
                ours = await bidwatch_run(browser, tasks, concurrency, Path(home))
                raw = await raw_run(browser, tasks, concurrency)
                print(json.dumps({
                    "benchmark": "capture", "tasks": n, "concurrency": concurrency,
                    "bidwatch": ours, "raw_floor": raw,
                    "ratio": round(ours["tasks_per_s"] / raw["tasks_per_s"], 2),
                }), flush=True)
            await browser.close()


def main(n: int = 300) -> None:
    asyncio.run(measure(n))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
