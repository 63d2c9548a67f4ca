"""Reading ads: pages per second on one core over the real captured pages."""

from __future__ import annotations

import json
import time
from pathlib import Path

from monitor.engines import detect_engine, get_engine

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "serp-corpus" / "pages"


def main(seconds: float = 5.0) -> None:
    if not CORPUS.is_dir():
        print(json.dumps({"benchmark": "readers", "skipped": f"{CORPUS} is absent"}))
        return
    pages = [(p.read_text("utf-8", "replace")) for p in sorted(CORPUS.glob("*.html"))]
    readers = [get_engine(detect_engine(html) or "google").read_ads for html in pages]
    count, ads, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for read, html in zip(readers, pages, strict=True):
            ads += len(read(html))
            count += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "readers", "pages": count, "seconds": round(elapsed, 2),
        "pages_per_s": round(count / elapsed, 1), "ads_per_page": round(ads / count, 2),
        "corpus_pages": len(pages),
    }))


if __name__ == "__main__":
    main()
