"""Start-up: the median wall time of `bidwatch --help` and `bidwatch rules check rules/` over
10 runs each, as subprocesses (what a script or cron job pays per call), and `bidwatch parse`
over every corpus page in one call, start-up included (pages per second), beside the readers'
own rate on the same files in this process (one core, no start-up): what bounds `parse`, whose
pool of processes can at best multiply it by the cores.

`python -m tests.bench.bench_startup [RUNS]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIDWATCH = Path(sys.executable).with_name("bidwatch")
CORPUS = ROOT.parent / "shared" / "serp-corpus" / "pages"


def wall(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([str(BIDWATCH), *args], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def median_s(args: list[str], env: dict[str, str], runs: int) -> float:
    wall(args, env)  # the first run warms the page cache; it is not counted
    return round(statistics.median(wall(args, env) for _ in range(runs)), 3)


def parse_rate(env: dict[str, str]) -> dict[str, object]:
    pages = sorted(CORPUS.glob("*.html"))
    if not pages:
        return {"parse_skipped": f"{CORPUS} is absent"}
    # the corpus, repeated: many files in one call, as a script parsing a day's evidence does
    files = [str(p) for p in pages] * max(1, 240 // len(pages))
    seconds = min(wall(["parse", "--json", *files], env) for _ in range(3))
    return {"parse_files": len(files), "parse_pages_per_s": round(len(files) / seconds, 1),
            "readers_one_core_pages_per_s": readers_rate(pages),
            "cores": len(os.sched_getaffinity(0))}


def readers_rate(pages: list[Path]) -> float:
    """Pages per second of what `parse` does per file (read, detect the engine, read the
    ads), serially in this process, the best of three passes over the corpus."""
    from monitor.services.commands import parse_file

    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for page in pages:
            parse_file(page, "auto")
        best = min(best, time.perf_counter() - started)
    return round(len(pages) / best, 1)


def reference_s() -> float:
    """Seconds this machine takes for a fixed piece of pure Python (ten million additions),
    the best of three: start-up is interpreter work, so figures from two machines, or from
    one machine on two days, compare once divided by this."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for number in range(10_000_000):
            total += number
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def main(runs: int = 10) -> None:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "BIDWATCH_HOME": home, "BIDWATCH_RULES": str(ROOT / "rules")}
        print(json.dumps({
            "benchmark": "startup", "runs": runs,
            "help_median_s": median_s(["--help"], env, runs),
            "rules_check_median_s": median_s(["rules", "check", "rules/"], env, runs),
            **parse_rate(env),
            "reference_loop_s": reference_s(),
            "load_average": round(os.getloadavg()[0], 2),
        }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
