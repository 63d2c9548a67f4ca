"""Run by the WebSearcher virtualenv (not ours): WebSearcher's pages/s over the given pages.

Usage: .venv-websearcher/bin/python tests/bench/websearcher_rate.py SECONDS PAGE...
Prints one JSON object: pages, seconds, pages_per_s, ads (components of type "ad" found).
"""

import json
import sys
import time
from pathlib import Path

import WebSearcher


def main() -> None:
    seconds = float(sys.argv[1])
    pages = [Path(p).read_text("utf-8", "replace") for p in sys.argv[2:]]
    ads = sum(
        sum(1 for c in WebSearcher.parse_serp(html)["results"] if c.get("type") == "ad")
        for html in pages
    )
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for html in pages:
            WebSearcher.parse_serp(html)
            count += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"pages": count, "seconds": round(elapsed, 2),
                      "pages_per_s": round(count / elapsed, 1), "ads": ads}))


if __name__ == "__main__":
    main()
