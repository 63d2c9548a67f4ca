"""Run the benchmarks: `python -m tests.bench [readers|judge|attribution|sweep ...]`.

Each runs in a process of its own, so one's CPU pinning or memory does not colour the next.
"""

from __future__ import annotations

import subprocess
import sys

BENCHMARKS = {
    "readers": "tests.bench.bench_readers",
    "judge": "tests.bench.bench_judge",
    "attribution": "tests.bench.bench_attribution",
    "sweep": "tests.bench.bench_sweep",
    "capture": "tests.bench.bench_capture",
    "startup": "tests.bench.bench_startup",
    "replay": "tests.bench.bench_replay",
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    runs = [subprocess.run([sys.executable, "-m", BENCHMARKS[name]], check=False)
            for name in names or list(BENCHMARKS)]
    return 1 if any(run.returncode for run in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
