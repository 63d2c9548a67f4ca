"""A whole sweep against the local simulator beside capture alone, at the same concurrency,
evidence on: tasks per second, their ratio, and peak memory, browser processes included.

The sweep runs every stage (capture, read, chains, attribution, judge, record) on a fresh
store, then once more on the same store, where the chains followed by the first run are
reused (BIDWATCH_CHAIN_REUSE_HOURS). Capture alone is the sweep's own capture path over the
same tasks (one kept browser, contexts per market profile, HTML and screenshot stored) and
nothing after it. One JSON line.

`python -m tests.bench.bench_sweep [TASKS] [CONCURRENCY]` (48 and 2 by default).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from playwright.async_api import async_playwright

from monitor.capture.evidence import EvidenceStore
from monitor.dev.simulator import DEFAULT_SCENARIO, Simulator
from monitor.engines import get_engine
from monitor.models import SearchTask
from monitor.plan import plan_tasks
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.sweep import (
    SweepDeps,
    SweepReport,
    browser_keeper,
    capture_in_pool,
    run_sweep,
)

RULES = Path(__file__).resolve().parents[2] / "rules"


def rss_mb_with_children() -> float:
    """Resident memory of this process and its children (the browser), from /proc."""
    total, me = 0, os.getpid()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        pid, ppid = int(status.parent.name), int(fields.get("PPid", "0"))
        if pid == me or _descends(ppid, me):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return round(total / 1024, 1)


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(20):
        if pid in (0, 1):
            return False
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


async def capture_only(deps: SweepDeps, tasks: Sequence[SearchTask], home: Path) -> float:
    """Tasks per second of the sweep's capture path alone (its browser keeper, as the sweep
    builds it), from the driver's start to the browser's close, as a sweep counts them."""
    started = time.perf_counter()
    evidence = EvidenceStore(home)
    limit = asyncio.Semaphore(deps.settings.concurrency)
    async with async_playwright() as playwright:
        keeper = browser_keeper(playwright, deps)

        async def one(task: SearchTask) -> None:
            async with limit, keeper.lease() as lease:
                await capture_in_pool(lease.contexts, task, get_engine(task.engine), evidence)

        try:
            await asyncio.gather(*(one(task) for task in tasks))
        finally:
            await keeper.close()
    return len(tasks) / (time.perf_counter() - started)


def timed_sweep(deps: SweepDeps, tasks: Sequence[SearchTask],
                peak: list[float] | None = None) -> tuple[SweepReport, float]:
    """One dry-run sweep of `tasks`: its report and tasks per second."""
    def sample(_capture: object, _ads: int) -> None:
        if peak is not None:
            peak[0] = max(peak[0], rss_mb_with_children())

    started = time.perf_counter()
    report = asyncio.run(run_sweep(deps, tasks, dry_run=True, progress=sample))
    return report, report.tasks / (time.perf_counter() - started)


def main(tasks_wanted: int = 48, concurrency: int = 2) -> None:
    with tempfile.TemporaryDirectory() as home, Simulator(DEFAULT_SCENARIO).start() as sim:
        settings = Settings(home=Path(home), rules=RULES, simulator=sim.address,
                            allow_private_networks=True, concurrency=concurrency,
                            pace_s=0, pace_jitter_s=0)
        deps = build_deps(settings)
        tasks = plan_tasks(deps.program)[:tasks_wanted]
        capture_before = asyncio.run(capture_only(deps, tasks, Path(home) / "before"))
        peak = [0.0]
        try:
            first, first_rate = timed_sweep(deps, tasks, peak)
            second, second_rate = timed_sweep(deps, tasks)
        finally:
            deps.store.close()
        # capture alone before and after the sweeps: a machine whose load drifts during the
        # run colours both sides alike
        capture_after = asyncio.run(capture_only(deps, tasks, Path(home) / "after"))
        capture_rate = (capture_before + capture_after) / 2
    print(json.dumps({
        "benchmark": "sweep", "tasks": first.tasks, "captured": first.captured,
        "ads": first.ads, "concurrency": concurrency,
        "capture_only_tasks_per_s": round(capture_rate, 2),
        "capture_only_before_after": [round(capture_before, 2), round(capture_after, 2)],
        "sweep_tasks_per_s": round(first_rate, 2),
        "ratio": round(first_rate / capture_rate, 2),
        "chains_followed": first.chains_followed, "chains_reused": first.chains_reused,
        "second_sweep_tasks_per_s": round(second_rate, 2),
        "second_ratio": round(second_rate / capture_rate, 2),
        "second_chains_followed": second.chains_followed,
        "second_chains_reused": second.chains_reused,
        "peak_rss_mb": peak[0],
    }), flush=True)


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
