"""The rule engine: sightings judged per second against the example program (compiled once)."""

from __future__ import annotations

import json
import random
import resource
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    Device,
    Hop,
    HopHow,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.policy import compile_policies
from monitor.program import Program, load_program

RULES = Path(__file__).resolve().parents[2] / "rules"


def sightings(program: Program, n: int, seed: int = 7) -> list[Sighting]:
    """A varied, reproducible set: partners, unknowns, competitors, the brand itself."""
    rng = random.Random(seed)
    markets = [m.ref() for m in program.markets]
    partners = [p.id for p in program.partners] + [None, None]
    start = datetime(2026, 11, 1, tzinfo=UTC)
    out = []
    for i in range(n):
        partner = rng.choice(partners)
        link = f"https://www.site{i % 97}.com/p"
        ad = ObservedAd(AdKind.text, AdPosition.top, 1, rng.choice(["Lumora Sale", "Mattress"]),
                        "Free delivery", rng.choice(["www.lumora.com", "deals.example"]), link)
        chain = Chain(link, (Hop(link, HopHow.start),), "https://www.lumora.com/")
        attribution = Attribution(
            AdvertiserClass.partner if partner else rng.choice(list(AdvertiserClass)),
            partner=partner, network=NetworkIds("cj", publisher_id="7012345") if partner else None,
            display_domain="lumora.com", landing_domain="lumora.com")
        task = SearchTask("lumora", rng.choice(["google", "bing"]),
                          rng.choice(["lumora", "lumora coupon", "mattress"]),
                          rng.choice(["brand", "brand+coupon", "adhoc"]), rng.choice(markets),
                          rng.choice([Device.desktop, Device.mobile]))
        out.append(Sighting(task, ad, chain, attribution, start + timedelta(minutes=i)))
    return out


def main(n: int = 50_000) -> None:
    program = load_program(RULES)
    started = time.perf_counter()
    judge = compile_policies(program)
    compiled = time.perf_counter() - started
    batch = sightings(program, n)
    started = time.perf_counter()
    findings = sum(len(judge.judge(s)) for s in batch)
    elapsed = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "judge", "policies": len(program.policies),
        "partners": len(program.partners), "sightings": n, "findings": findings,
        "compile_ms": round(compiled * 1000, 1), "seconds": round(elapsed, 2),
        "sightings_per_s": round(n / elapsed),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
