"""Run every benchmark: `python -m tests.bench [name...]`."""

from __future__ import annotations

import sys

from tests.bench import bench_judge, bench_readers, bench_sweep

BENCHMARKS = {
    "readers": bench_readers.main,
    "judge": bench_judge.main,
    "sweep": bench_sweep.main,
}


def main(names: list[str]) -> int:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark {unknown}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names or list(BENCHMARKS):
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
