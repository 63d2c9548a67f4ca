"""The daemon's memory over many sweeps that find new cases: what its per-minute outbox job
(delivery, then the /metrics counts) holds at its peak, sweep after sweep.

No browser: each "sweep" records new cases as a sweep would (a sighting and a finding each,
with a full-page screenshot of a realistic size), then the daemon's own job functions run
(monitor.daemon.tasks.deliver and status_counts) against a real SMTP server on loopback.

`python -m tests.bench.bench_daemon [SWEEPS]` prints one JSON line per sweep and a summary:
the growth of the job's peak per sweep after the first few (tracemalloc's peak: Python's
heap, exact and repeatable). It should be about zero: a job whose memory grows with the
history (every notice ever sent) never levels off. `--rss` measures the process's RSS after
each sweep instead, without tracemalloc (which, started and stopped every sweep, would
itself make the RSS grow).
"""

from __future__ import annotations

import gc
import io
import json
import sys
import tempfile
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from PIL import Image, ImageDraw

from monitor.daemon.tasks import deliver, status_counts
from monitor.dev.mailsink import MailSink
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from tests.notify_support import RULES, Breach, record_breach

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
PARTNERS = (("sleepsaver", "en"), ("kuponhemat", "id"), ("dealspotter", "en"),
            ("arabiccoupons", "ar"))


@dataclass(frozen=True)
class Sample:
    sweep: int
    sent: int  # outbox items sent so far (the history)
    mb: float  # the outbox job's peak (tracemalloc), or the RSS after the sweep


def page_screenshot() -> bytes:
    """A result page's full-page screenshot, about as large as a real one (1280 x 2600)."""
    image = Image.new("RGB", (1280, 2600), "white")
    draw = ImageDraw.Draw(image)
    for row in range(0, 2600, 26):  # lines of "text" in a few shades
        shade = 40 + (row * 37) % 120
        draw.rectangle((120, row + 6, 120 + (row * 53) % 900 + 200, row + 18),
                       fill=(shade, shade, 200 - shade // 2))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def outbox_job_peaks(sweeps: int, home: Path, *, rss: bool = False) -> list[Sample]:
    """`sweeps` rounds of: new cases recorded, then the daemon's outbox job, measured (its
    peak, or with `rss` the process's RSS after it)."""
    screenshot = page_screenshot()
    samples = []
    with MailSink(home.parent / "mail") as sink:
        settings = Settings(home=home, rules=RULES, database_url=None,
                            notice_url=sink.smtp_url(), outbox_backoff_s=0)
        deps = build_deps(settings)
        try:
            for sweep in range(1, sweeps + 1):
                at = T0 + timedelta(hours=sweep)
                for partner, language in PARTNERS:
                    record_breach(deps.store, home, Breach(
                        partner, language=language, landing_domain=f"lumora-{sweep}.com"), at)
                for shot in (home / "evidence").glob("*.png"):  # as large as a real one
                    shot.write_bytes(screenshot)
                if not rss:
                    tracemalloc.start()
                try:
                    deliver(deps, settings)
                    counts = status_counts(deps.store)
                    _, peak = tracemalloc.get_traced_memory()
                finally:
                    tracemalloc.stop()
                if rss:
                    gc.collect()
                measured = rss_mb() if rss else round(peak / 1e6, 2)
                samples.append(Sample(sweep, counts.outbox.get("sent", 0), measured))
        finally:
            deps.store.close()
    return samples


def growth_per_sweep(samples: list[Sample], skip: int = 3) -> float:
    """The least-squares slope (MB per sweep) after the first `skip` sweeps."""
    points = [(s.sweep, s.mb) for s in samples[skip:]]
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def main(sweeps: int = 20, *, rss: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        samples = outbox_job_peaks(sweeps, Path(tmp) / "home", rss=rss)
    what = "rss_mb" if rss else "outbox_job_peak_mb"
    for sample in samples:
        print(json.dumps({"sweep": sample.sweep, "sent": sample.sent, what: sample.mb}))
    print(json.dumps({"benchmark": "daemon", "sweeps": sweeps,
                      "cases_per_sweep": len(PARTNERS),
                      f"{what}_growth_per_sweep": round(growth_per_sweep(samples), 3)}))


if __name__ == "__main__":
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    main(numbers[0] if numbers else 20, rss="--rss" in sys.argv[1:])
