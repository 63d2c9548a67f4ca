"""The daemon's outbox job does not grow with the history: over 15 sweeps that each find
four new cases (and so send four more notices), the job's peak memory stays level after
the first few. tests/bench/bench_daemon.py runs the same rounds for longer and prints them;
docs/notices.md gives the figures."""

from __future__ import annotations

from pathlib import Path

from tests.bench.bench_daemon import growth_per_sweep, outbox_job_peaks

#: MB per sweep: reading every row to count it grew the peak by ~0.16 MB per sweep here
#: (~56 KB per notice sent); counted by the store it is flat to within noise
GROWTH_BOUND_MB = 0.02


def test_the_outbox_job_peak_is_level_over_sweeps_that_find_new_cases(tmp_path: Path) -> None:
    samples = outbox_job_peaks(15, tmp_path / "home")

    assert samples[-1].sent == 15 * 4  # the history grew: every notice went out
    assert growth_per_sweep(samples) < GROWTH_BOUND_MB, samples
    assert samples[-1].mb <= samples[2].mb + 15 * GROWTH_BOUND_MB, samples
