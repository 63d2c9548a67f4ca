"""A whole sweep against the local simulator: tasks per second and peak memory, browser
processes included. Every stage runs: capture, read, chains, attribution, judge, record."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from monitor.dev.simulator import DEFAULT_SCENARIO, Simulator
from monitor.plan import plan_tasks
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.sweep import run_sweep

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


def main(tasks_wanted: int = 48, concurrency: int = 2) -> None:
    with tempfile.TemporaryDirectory() as home, Simulator(DEFAULT_SCENARIO).start() as sim:
        settings = Settings(home=Path(home), rules=RULES, simulator=sim.address,
                            allow_private_networks=True, concurrency=concurrency,
                            pace_s=0, pace_jitter_s=0)
        deps = build_deps(settings)
        tasks = plan_tasks(deps.program)[:tasks_wanted]
        peak = [0.0]

        def sample(_capture: object, _ads: int) -> None:
            peak[0] = max(peak[0], rss_mb_with_children())

        started = time.perf_counter()
        report = asyncio.run(run_sweep(deps, tasks, dry_run=True, progress=sample))
        elapsed = time.perf_counter() - started
        deps.store.close()
    print(json.dumps({
        "benchmark": "sweep", "tasks": report.tasks, "captured": report.captured,
        "ads": report.ads, "concurrency": concurrency, "seconds": round(elapsed, 1),
        "tasks_per_s": round(report.tasks / elapsed, 2), "peak_rss_mb": peak[0],
    }))


if __name__ == "__main__":
    main()
