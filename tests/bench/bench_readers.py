"""Reading ads: pages per second on one core over the real captured pages, and, in the same
run, WebSearcher (PyPI) on the Google pages.

WebSearcher runs in its own virtualenv (.venv-websearcher, made by `make bench`), because it
brings selenium and friends that bidwatch does not need; its rate comes from a subprocess
timing only `parse_serp`, the same work ours does here.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from monitor.engines import detect_engine, get_engine

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "serp-corpus"
WEBSEARCHER_PYTHON = ROOT / ".venv-websearcher" / "bin" / "python"


def one_core() -> None:
    """Pin to one CPU, so the figure is per core whatever the machine."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def rate(paths: list[Path], seconds: float) -> dict[str, float]:
    pages = [p.read_text("utf-8", "replace") for p in paths]
    readers = [get_engine(detect_engine(html) or "google").read_page for html in pages]
    ads = sum(len(read(html).ads) for read, html in zip(readers, pages, strict=True))
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for read, html in zip(readers, pages, strict=True):
            read(html)
            count += 1
    elapsed = time.perf_counter() - started
    return {"pages": count, "pages_per_s": round(count / elapsed, 1), "ads": ads}


def websearcher_rate(paths: list[Path], seconds: float) -> dict[str, object]:
    if not WEBSEARCHER_PYTHON.exists():
        return {"skipped": f"{WEBSEARCHER_PYTHON} is absent (make bench installs it)"}
    script = Path(__file__).with_name("websearcher_rate.py")
    done = subprocess.run(
        ["taskset", "-c", str(min(os.sched_getaffinity(0))), str(WEBSEARCHER_PYTHON),
         str(script), str(seconds), *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(seconds: float = 5.0) -> None:
    pages_dir = CORPUS / "pages"
    if not pages_dir.is_dir():
        print(json.dumps({"benchmark": "readers", "skipped": f"{pages_dir} is absent"}))
        return
    one_core()
    every = sorted(pages_dir.glob("*.html"))
    google = [p for p in every if p.name.startswith("google_")]
    truth = json.loads((CORPUS / "truth.json").read_text())
    true_google_ads = sum(len(page["ads"]) for page in truth if page["file"].startswith("google_"))
    ours_all, ours_google = rate(every, seconds), rate(google, seconds)
    theirs = websearcher_rate(google, seconds)
    ratio = (round(ours_google["pages_per_s"] / theirs["pages_per_s"], 1)
             if isinstance(theirs.get("pages_per_s"), float | int) else None)
    print(json.dumps({
        "benchmark": "readers", "corpus_pages": len(every),
        "pages_per_s": ours_all["pages_per_s"], "google_pages_per_s": ours_google["pages_per_s"],
        "websearcher_google_pages_per_s": theirs.get("pages_per_s"),
        "speedup_vs_websearcher": ratio,
        "google_text_ads_true": true_google_ads, "google_ads_ours": ours_google["ads"],
        "google_ads_websearcher": theirs.get("ads"), "websearcher": theirs,
    }))


if __name__ == "__main__":
    main()
