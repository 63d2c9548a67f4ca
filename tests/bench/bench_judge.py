"""The rule engine: sightings judged per second on one core, compile once, evaluate many.

Three scenarios, one JSON line each:
- `example`: the shipped program (rules/, 4 policies, 4 partners);
- `regional`: 1,000 partners and 50 policies in the shape large programs take: each rule
  written per market (and a stricter ad-copy rule per engine), plus six special rules;
- `synthetic`: a deliberately broad worst case built here in memory and validated by
  monitor.program.models: 1,000 partners with network ids and domains, a third with agreements and
  permissions, and 50 policies drawn from every kind of condition (engine/market/device/
  hour/weekday scoped, brand in copy, networks, regular expressions, not, partner lists,
  competitors), several near-duplicates of each other, so a sighting breaches ~9 at once.

Sightings stream from a generator (never a list of a million), assembled from pools of
tasks, ads and attributions, so memory stays flat; max RSS is read at 10% and at 100%.
The rate counts the time spent in `Judge.judge` only; `end_to_end_per_s` includes making
the sightings. `python -m tests.bench.bench_judge [N]` judges N sightings per scenario.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.judge import compile_policies
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    Hop,
    HopHow,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.program import Program, load_program

RULES = Path(__file__).resolve().parents[2] / "rules"
SIGHTINGS = 1_000_000
ENGINES = ["google", "bing", "duckduckgo", "yahoo"]
NETWORKS = ["awin", "cj", "impact", "partnerize", "rakuten", "admitad", "skimlinks", "sovrn"]
MARKETS = [("us-en", "US", "en", "America/New_York"), ("gb-en", "GB", "en", "Europe/London"),
           ("de-de", "DE", "de", "Europe/Berlin"), ("fr-fr", "FR", "fr", "Europe/Paris"),
           ("ae-ar", "AE", "ar", "Asia/Dubai"), ("id-id", "ID", "id", "Asia/Jakarta"),
           ("au-en", "AU", "en", "Australia/Sydney"), ("br-pt", "BR", "pt", "America/Sao_Paulo")]
MODIFIERS = ["coupon", "promo code", "discount", "login", "sale"]
TERM_GROUPS = ["brand", *(f"brand+{m}" for m in MODIFIERS), "misspelling", "generic"]
GROUP_PATTERNS = ["brand-any", "brand+*", "brand", "misspelling", "brand+coupon", "generic"]
WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
REGEXES = [r"\d+% off", r"\bcoupons?\b", r"official (site|store)", r"free (delivery|shipping)",
           r"lum[o0]ra", r"promo\s*code"]


def one_core() -> None:
    """Pin to one CPU, so the figure is per core whatever the machine."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def max_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# --- the synthetic program -------------------------------------------------------------------


def synthetic_program(partners: int = 1000, policies: int = 50, seed: int = 11) -> Program:
    """A realistic, validated program: many partners, varied policies, some agreements."""
    rng = random.Random(seed)
    partner_rows = [_partner(i, rng) for i in range(partners)]
    policy_rows = [_policy(i, rng, [p["id"] for p in partner_rows]) for i in range(policies)]
    policy_ids = [p["id"] for p in policy_rows]
    agreements = [_agreement(p["id"], rng, policy_ids) for p in partner_rows if rng.random() < 0.35]
    return Program.model_validate({
        "name": "Synthetic brand protection", "engines": ENGINES,
        "devices": ["desktop", "mobile"],
        "markets": [{"id": m, "country": c, "language": lang, "timezone": tz}
                    for m, c, lang, tz in MARKETS],
        "brands": [{"id": "lumora", "name": "Lumora", "terms": ["Lumora", "Lumora Sleep"],
                    "modifiers": MODIFIERS, "misspellings": ["Lumra", "Lumorra", "Loumora"],
                    "domains": ["lumora.com", "lumora.co.id"]}],
        "partners": partner_rows,
        "competitors": [{"id": f"rival{i}", "name": f"Rival {i}", "domains": [f"rival{i}.com"]}
                        for i in range(5)],
        "policies": policy_rows, "agreements": agreements,
        "notices": {"sender_email": "compliance@lumora.com", "sender_name": "Compliance",
                    "program_manager": "Dana"},
        "schedule": {"cron": "15 */3 * * *"},
        "allowlist": ["sleepcentral-outlet.com"], "ignore": ["amazon.com"],
    })


def regional_program(partners: int = 1000, seed: int = 13) -> Program:
    """The shape large programs take: each rule written per market or per engine (legal
    terms differ by country), plus a few special rules. 50 policies, 1,000 partners; a
    sighting is in one market on one engine, so only a handful of rules concern it."""
    rng = random.Random(seed)
    base = synthetic_program(partners=partners, policies=10, seed=seed)  # for its partners
    rules = [_regional_policy(kind, {"market": [m[0]]}, f"{kind}-{m[0]}")
             for m in MARKETS for kind in _REGIONAL]
    rules += [_regional_policy("brand-in-copy", {"engine": [e]}, f"copy-strict-{e}")
              for e in ENGINES]
    partner_ids = [p.id for p in base.partners]
    rules += [_policy(i, rng, partner_ids) | {"id": f"special-{i}"}
              for i in (3, 5, 9, 13, 15, 19)]
    policy_ids = [r["id"] for r in rules]
    agreements = [_agreement(p, rng, policy_ids) for p in partner_ids if rng.random() < 0.35]
    data = base.model_dump(mode="json", exclude={"policies", "agreements"})
    return Program.model_validate(data | {"policies": rules, "agreements": agreements,
                                          "name": "Regional brand protection"})


_REGIONAL = {
    "brand-bidding": ({"term_group": "brand-any"}, ["partner", "unknown"]),
    "direct-linking": ({"all": [{"landing_domain": "brand"}, {"network": "any"}]}, ["partner"]),
    "brand-in-copy": ({"brand_in": ["headline", "display_url"]}, ["partner", "unknown"]),
    "competitor": ({"query_contains_brand": True}, ["competitor"]),
    "night-bidding": ({"all": [{"term_group": "brand-any"},
                               {"local_hour": {"from": 22, "to": 6}}]}, ["partner"]),
}


def _regional_policy(kind: str, scope: dict[str, Any], policy_id: str) -> dict[str, Any]:
    condition, applies_to = _REGIONAL[kind]
    return {"id": policy_id, "title": f"{kind} ({policy_id})", "severity": "high",
            "notice": "brand_bidding", "applies_to": applies_to,
            "when": {"all": [scope, condition]}}


def _partner(index: int, rng: random.Random) -> dict[str, Any]:
    networks = rng.sample(NETWORKS, rng.randint(1, 3))
    return {"id": f"p{index:04d}", "name": f"Partner {index}", "language": "en",
            "network_ids": [{"network": n, "publisher_id": str(100000 + index)}
                            for n in networks],
            "domains": [f"partner{index}.com"] + ([f"deals{index}.net"] if index % 3 else [])}


def _agreement(partner: str, rng: random.Random, policy_ids: list[str]) -> dict[str, Any]:
    versions = [{"version": "2023", "effective_from": date(2023, 1, 1),
                 "effective_to": date(2024, 12, 31), "permissions": _permissions(rng, policy_ids)},
                {"version": "2025", "effective_from": date(2025, 1, 1),
                 "permissions": _permissions(rng, policy_ids)}]
    return {"partner": partner, "versions": versions[rng.randint(0, 1):]}


def _permissions(rng: random.Random, policy_ids: list[str]) -> list[dict[str, Any]]:
    out = []
    for policy in rng.sample(policy_ids, rng.randint(0, 4)):
        permission: dict[str, Any] = {"policy": policy}
        if rng.random() < 0.7:
            permission["engines"] = rng.sample(ENGINES, rng.randint(1, 2))
        if rng.random() < 0.6:
            permission["markets"] = rng.sample([m[0] for m in MARKETS], rng.randint(1, 3))
        if rng.random() < 0.6:
            permission["term_groups"] = rng.sample(GROUP_PATTERNS, rng.randint(1, 2))
        if rng.random() < 0.2:
            permission["devices"] = [rng.choice(["desktop", "mobile"])]
        out.append(permission)
    return out


def _policy(index: int, rng: random.Random, partner_ids: list[str]) -> dict[str, Any]:
    kind = index % len(_POLICY_SHAPES)
    when, applies_to = _POLICY_SHAPES[kind](rng, partner_ids)
    return {"id": f"pol-{index:02d}-{_POLICY_SHAPES[kind].__name__.strip('_')}",
            "title": f"Synthetic policy {index}",
            "severity": rng.choice(["low", "medium", "high", "critical"]),
            "notice": "brand_bidding", "applies_to": applies_to, "when": when}


def _scoped(rng: random.Random) -> dict[str, Any]:
    """One random scope: engine, market, device, local hours or weekdays."""
    choice = rng.randrange(5)
    if choice == 0:
        return {"engine": rng.sample(ENGINES, rng.randint(1, 2))}
    if choice == 1:
        return {"market": rng.sample([m[0] for m in MARKETS], rng.randint(1, 3))}
    if choice == 2:
        return {"device": rng.choice(["desktop", "mobile"])}
    if choice == 3:
        start = rng.randrange(24)
        return {"local_hour": {"from": start, "to": (start + rng.randint(4, 12)) % 24}}
    return {"weekday": rng.sample(WEEKDAY_NAMES, rng.randint(1, 3))}


def _brand_bidding(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    brand = {"any": [{"term_group": rng.choice(["brand-any", "brand+*"])},
                     {"query_contains_brand": True}]}
    return {"all": [brand, _scoped(rng)]}, ["partner", "unknown"]


def _brand_in_copy(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    fields = rng.sample(["headline", "description", "display_url"], rng.randint(1, 2))
    return {"all": [{"brand_in": fields}, _scoped(rng)]}, ["partner", "unknown"]


def _network_direct(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    via = {"network": "any"} if rng.random() < 0.5 else {"network": rng.sample(NETWORKS, 2)}
    return {"all": [{"landing_domain": "brand"}, via]}, ["partner"]


def _regex(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    field = rng.choice(["headline", "description", "display_url", "query"])
    pattern = {"matches": {"field": field, "pattern": rng.choice(REGEXES)}}
    return {"all": [{"term_group": rng.choice(GROUP_PATTERNS)}, pattern]}, ["partner", "unknown"]


def _outside_markets(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    markets = rng.sample([m[0] for m in MARKETS], 2)
    return {"all": [{"term_group": "brand-any"}, {"not": {"market": markets}},
                    {"position": rng.sample(["top", "bottom", "right"], 2)}]}, ["partner"]


def _listed_partners(rng: random.Random, partner_ids: list[str]) -> tuple[Any, list[str]]:
    listed = {"partner": rng.sample(partner_ids, 20)}
    return {"all": [listed, {"term_group": rng.choice(GROUP_PATTERNS)}]}, ["partner"]


def _competitor(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    return {"all": [{"query_contains_brand": True}, _scoped(rng)]}, ["competitor"]


def _display_domain(rng: random.Random, _: list[str]) -> tuple[Any, list[str]]:
    return {"any": [{"display_domain": "brand"},
                    {"all": [{"brand_in": ["display_url"]}, _scoped(rng)]}]}, ["partner", "unknown"]


_POLICY_SHAPES = [_brand_bidding, _brand_in_copy, _network_direct, _regex, _outside_markets,
                  _listed_partners, _competitor, _display_domain, _brand_bidding, _regex]


# --- the sightings -------------------------------------------------------------------------


def sighting_stream(program: Program, n: int, seed: int = 7) -> Iterator[Sighting]:
    """`n` varied, reproducible sightings, made one at a time from pools of parts."""
    rng = random.Random(seed)
    tasks = _tasks(program, rng)
    ads = [_ad(i, rng) for i in range(400)]
    attributions = _attributions(program, rng)
    chains = {d: Chain(f"https://{d}/", (Hop(f"https://{d}/", HopHow.start),), f"https://{d}/")
              for d in {a.landing_domain or "unknown.example" for a in attributions}}
    start = datetime(2024, 6, 1, tzinfo=UTC)
    choice, randrange = rng.choice, rng.randrange
    for i in range(n):
        attribution = choice(attributions)
        yield Sighting(choice(tasks), choice(ads), chains[attribution.landing_domain or
                                                         "unknown.example"],
                       attribution, start + timedelta(seconds=i * 47 + randrange(60)))


def _tasks(program: Program, rng: random.Random) -> list[SearchTask]:
    queries = {"brand": ["lumora", "lumora sleep"], "misspelling": ["lumra", "loumora"],
               "generic": ["best mattress", "mattress deals", "lumroa bed"]}
    tasks = []
    for engine in program.engines:
        for market in program.markets:
            for device in program.devices:
                for group in TERM_GROUPS:
                    modifier = group.partition("+")[2]
                    query = f"lumora {modifier}" if modifier else rng.choice(queries[group])
                    tasks.append(SearchTask("lumora", engine, query, group, market.ref(), device))
    return tasks


def _ad(index: int, rng: random.Random) -> ObservedAd:
    headline = rng.choice(["Lumora Sale - 40% Off", "Mattress Deals Today", "Lumora Coupons",
                           "Official Lumora Store", "Sleep Better Tonight", "Lumra Promo Code"])
    description = rng.choice(["Free delivery on every order.", "Compare the best mattresses.",
                              "Lumora sleep deals, updated daily.", "Top coupons for 2025"])
    display = rng.choice([f"www.deals{index}.net/lumora", "www.lumora.com", f"shop{index}.com",
                          f"www.lumorasleep-deals{index}.com"])
    position = rng.choice([AdPosition.top, AdPosition.top, AdPosition.bottom, AdPosition.right])
    return ObservedAd(AdKind.text, position, rng.randint(1, 4), headline, description, display,
                      f"https://{display}")


def _attributions(program: Program, rng: random.Random) -> list[Attribution]:
    out = []
    for partner in program.partners:
        ids = rng.choice(partner.network_ids)
        landing = rng.choice(["lumora.com", partner.domains[0]])
        out.append(Attribution(AdvertiserClass.partner, partner.id,
                               NetworkIds(ids.network, publisher_id=ids.publisher_id),
                               display_domain=partner.domains[-1], landing_domain=landing))
    for i in range(300):
        network = NetworkIds(rng.choice(NETWORKS)) if i % 4 == 0 else None
        landing = rng.choice([f"cheap{i}.example", "lumora.com", "amazon.com"])
        out.append(Attribution(AdvertiserClass.unknown, None, network, f"ads{i}.example", landing))
    out += [Attribution(AdvertiserClass.competitor, None, None, f"rival{i}.com", f"rival{i}.com")
            for i in range(5) for _ in range(20)]
    out += [Attribution(AdvertiserClass.brand, None, None, "lumora.com", "lumora.com")] * 50
    return out


# --- the run --------------------------------------------------------------------------------


def run(scenario: str, program: Program, n: int) -> dict[str, object]:
    started = time.perf_counter()
    judge = compile_policies(program)
    compile_ms = (time.perf_counter() - started) * 1000
    findings, judging, rss_at_10 = 0, 0.0, 0.0
    clock, tenth = time.perf_counter, max(n // 10, 1)
    wall = clock()
    for count, sighting in enumerate(sighting_stream(program, n), 1):
        before = clock()
        findings += len(judge.judge(sighting))
        judging += clock() - before
        if count == tenth:
            rss_at_10 = max_rss_mb()
    wall = clock() - wall
    return {"benchmark": "judge", "scenario": scenario, "policies": len(program.policies),
            "partners": len(program.partners), "agreements": len(program.agreements),
            "sightings": n, "findings": findings, "compile_ms": round(compile_ms, 1),
            "seconds": round(judging, 2), "sightings_per_s": round(n / judging),
            "findings_per_s": round(findings / judging),
            "end_to_end_per_s": round(n / wall),
            "max_rss_mb_at_10pct": rss_at_10, "max_rss_mb_at_100pct": max_rss_mb()}


def main(n: int = SIGHTINGS) -> None:
    one_core()
    print(json.dumps(run("example", load_program(RULES), n)), flush=True)
    print(json.dumps(run("regional", regional_program(), n)), flush=True)
    print(json.dumps(run("synthetic", synthetic_program(), n)), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else SIGHTINGS)
