"""Attribution: tracking URLs recognised per second, and ads attributed per second, on one core.

The URLs are the network tests' own (every form of every network, each look-alike that must
not match, and their host-spelling variants: upper case, a trailing dot, :443), so the
mix is what the table meets: mostly recognised, some not. `attribute` runs over three-hop
chains (the ad's link, the network URL, the landing page) against the example program.
`python -m tests.bench.bench_attribution [ROUNDS]` (default 20 rounds over the URLs).
"""

from __future__ import annotations

import json
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from monitor.attribute.partners import attribute
from monitor.models import AdKind, AdPosition, Chain, Hop, HopHow, ObservedAd
from monitor.networks.table import recognise
from monitor.program import load_program
from monitor.resources import example_rules
from tests.test_networks import CASES
from tests.test_networks_markets import FORMS


def spellings(url: str) -> list[str]:
    """The URL and the host spellings a browser treats as the same place."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return [url, urlunsplit(parts._replace(netloc=host.upper())),
            urlunsplit(parts._replace(netloc=host + ".")),
            urlunsplit(parts._replace(netloc=host + ":443"))] if host else [url]


def urls() -> list[str]:
    base = [url for url, *_ in CASES] + [url for _, url, _, _ in FORMS] + [
        lookalike for *_, lookalike in FORMS if lookalike]
    return [spelt for url in base for spelt in spellings(url)]


def main(rounds: int) -> None:
    program = load_program(example_rules())
    pool = urls()
    started = time.process_time()
    recognised = sum(recognise(url) is not None for _ in range(rounds) for url in pool)
    recognise_s = time.process_time() - started
    ad = ObservedAd(AdKind.text, AdPosition.top, 1, "Lumora Sale", "", "www.sleepsaver.net",
                    "https://go.sleepsaver.net/r/lumora")
    chains = [Chain(ad.link, (Hop(ad.link, HopHow.start), Hop(url, HopHow.http, 302),
                              Hop("https://www.lumora.com/sale", HopHow.http, 200)),
                    "https://www.lumora.com/sale") for url in pool]
    started = time.process_time()
    for _ in range(max(rounds // 4, 1)):
        for chain in chains:
            attribute(ad, chain, program)
    attribute_s = time.process_time() - started
    attributed = len(chains) * max(rounds // 4, 1)
    print(json.dumps({
        "benchmark": "attribution", "urls": len(pool),
        "recognised_share": round(recognised / (len(pool) * rounds), 3),
        "recognise_per_s": round(len(pool) * rounds / recognise_s),
        "attribute_per_s": round(attributed / attribute_s),
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
