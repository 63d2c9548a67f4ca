"""`rules replay`: stored sightings judged again per second on one core, read-only.

A SQLite store is seeded in bulk (one transaction, executemany) with N sightings (1,000,000
by default) as a sweep records them — each with its own ad, chain and attribution rows —
over 30 days of the example program's tasks, drawn from a pool of 3,000 distinct ads
(partners through their networks, competitors, unknown advertisers, the brand's own, text
and shopping ads), each shown on the few searches its advertiser bids on, 5% of them with
copy not seen before (a rotating headline), with the findings the example program gives
them stored as the baseline. Then `replay_store` judges them again under two changed programs:

- `changed`: one severity raised and one permission granted (the program reads no time of
  day, so verdicts are shared per search, ad and market day);
- `night`: the same plus a policy on the local hour (verdicts shared only within a minute:
  nearly every sighting is judged afresh, the worst case).

One JSON line each: sightings/s over the whole replay (read, rebuild, judge, compare), by
the clock and per CPU second (on a shared machine the clock also counts others' work), the
differences found, max RSS (the store is seeded by a child process, so it is the replay's),
and whether the database's bytes are the same afterwards.
`python -m tests.bench.bench_replay [N]`.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.judge import compile_policies
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.plan import plan_tasks
from monitor.program import Program, load_program
from monitor.services.replay import replay_store
from monitor.settings import Settings
from monitor.store import Store
from tests.bench.bench_judge import max_rss_mb, one_core
from tests.whatif_support import RULES, Documents, agreement, changed_rules, policy

SIGHTINGS = 1_000_000
DAYS = 30
START = datetime(2026, 10, 1, tzinfo=UTC)
SEED = 19
BATCH = 50_000
#: an ad shows on the few searches its advertiser bids on, not on every one
TASKS_PER_AD = 4
#: the share of sightings whose ad copy is new (a rotating headline)
NEW_COPY = 0.05


# --- the pool of distinct ads --------------------------------------------------------------


def ad_pool(program: Program, rng: random.Random, size: int = 3000
            ) -> list[tuple[ObservedAd, Chain, Attribution]]:
    """Ads as the sweep records them: partners through their networks, competitors,
    unknown advertisers and the brand's own, in every position, text and shopping."""
    brand = program.brands[0]
    pool = []
    for index in range(size):
        kind = AdKind.shopping if index % 7 == 0 else AdKind.text
        position = rng.choice([AdPosition.top, AdPosition.bottom, AdPosition.right])
        who = index % 5
        term = rng.choice(brand.terms) if rng.random() < 0.6 else "Mattress"
        headline = f"{term} sale - up to {10 + index % 50}% off"
        if who <= 1 and program.partners:  # a partner, through its network
            partner = program.partners[index % len(program.partners)]
            ids = partner.network_ids[0] if partner.network_ids else None
            display = partner.domains[0] if partner.domains else f"{partner.id}.com"
            landing = rng.choice([brand.domains[0], display])
            network = NetworkIds(ids.network, ids.publisher_id) if ids else None
            attribution = Attribution(AdvertiserClass.partner, partner.id, network, display,
                                      landing, (display, landing), "network id")
        elif who == 2 and program.competitors:
            rival = program.competitors[index % len(program.competitors)]
            display = landing = rival.domains[0]
            attribution = Attribution(AdvertiserClass.competitor, None, None, display, landing,
                                      (display,), "competitor domain")
        elif who == 3:
            display = landing = f"deals{index % 400}.example"
            attribution = Attribution(AdvertiserClass.unknown, None, None, display, landing,
                                      (display,), "")
        else:
            display = landing = brand.domains[index % len(brand.domains)]
            attribution = Attribution(AdvertiserClass.brand, None, None, display, landing,
                                      (display,), "brand domain")
        link = f"https://www.{display}/go/{index}"
        ad = ObservedAd(kind, position, 1 + index % 4, headline, f"Official {term} deals",
                        f"www.{display}/sale", link)
        pool.append((ad, Chain(link, (), f"https://www.{landing}/?p={index}"), attribution))
    return pool


# --- seeding ---------------------------------------------------------------------------------


def seed_store(path: Path, program: Program, count: int, rng: random.Random) -> None:
    """`count` sightings with their ads, chains, attributions and stored findings."""
    tasks = plan_tasks(program)
    store = Store(f"sqlite:///{path}")
    sweep_id, task_ids = store.begin_sweep("bench", tasks, dry_run=False, now=START)
    store.close()
    pool = ad_pool(program, rng)
    judge = compile_policies(program)
    connection = sqlite3.connect(path)
    with connection:
        connection.execute(
            "INSERT INTO incidents (id, key, offender, destination, severity, status, level, "
            "first_seen, last_seen, sighting_count, markets_json, devices_json, engines_json, "
            "term_groups_json) VALUES (1, 'bench', 'bench', '', 'high', 'new', 0, ?, ?, 0, "
            "'[]', '[]', '[]', '[]')", (_text(START), _text(START)))
        captures = {}
        for task in tasks:
            cursor = connection.execute(
                "INSERT INTO captures (task_id, sweep_id, engine, market, status, url, "
                "final_url, captured_at, elapsed_ms) VALUES (?, ?, ?, ?, 'ok', '', '', ?, 0)",
                (task_ids[task.key], sweep_id, task.engine, task.market.id, _text(START)))
            captures[task.key] = cursor.lastrowid
        verdicts: dict[tuple[int, int, str], list[tuple[str, str]]] = {}
        step = timedelta(days=DAYS) / count
        for first in range(0, count, BATCH):
            _seed_batch(connection, range(first, min(first + BATCH, count)), tasks, pool,
                        captures, sweep_id, judge, verdicts, step, rng)
    connection.close()


def _seed_batch(connection: sqlite3.Connection, numbers: range, tasks: list[SearchTask],
                pool: list[tuple[ObservedAd, Chain, Attribution]], captures: dict[str, Any],
                sweep_id: int, judge: Any, verdicts: dict[tuple[int, int, str], Any],
                step: timedelta, rng: random.Random) -> None:
    ads, chains, attributions, sightings, findings = [], [], [], [], []
    for number in numbers:
        ad_index = rng.randrange(len(pool))
        task_index = (ad_index * TASKS_PER_AD + rng.randrange(TASKS_PER_AD)) % len(tasks)
        task, (ad, chain, attribution) = tasks[task_index], pool[ad_index]
        if rng.random() < NEW_COPY:  # the advertiser rotated its copy: facts not seen before
            ad = replace(ad, headline=f"{ad.headline} ({number})")
            ad_index = -number
        seen = START + step * number
        ad_id = sighting_id = number + 1
        ads.append((ad_id, captures[task.key], str(ad.kind), str(ad.position), ad.rank,
                    ad.headline, ad.description, ad.display_url, ad.link))
        chains.append((ad_id, chain.start_url, chain.landing_url))
        ids = attribution.network
        attributions.append((ad_id, str(attribution.advertiser_class), attribution.partner,
                             ids.network if ids else None, ids.publisher_id if ids else None,
                             attribution.display_domain, attribution.landing_domain,
                             json.dumps(list(attribution.domains)), attribution.reason))
        sighting = Sighting(task, ad, chain, attribution, seen)
        sightings.append((sighting_id, sweep_id, captures[task.key], ad_id, _text(seen),
                          task.brand, task.engine, task.market.id, str(task.device),
                          task.query, task.term_group, sighting.offender,
                          str(attribution.advertiser_class)))
        key = (task_index, ad_index, seen.date().isoformat())  # the example reads no hour
        found = verdicts.get(key)
        if found is None:
            found = verdicts[key] = [(f.policy, str(f.severity)) for f in judge.judge(sighting)]
        findings.extend((sighting_id, policy_id, severity) for policy_id, severity in found)
    connection.executemany(
        "INSERT INTO ads (id, capture_id, kind, position, rank, headline, description, "
        "display_url, link, sitelinks_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')", ads)
    connection.executemany("INSERT INTO chains (ad_id, start_url, landing_url) "
                           "VALUES (?, ?, ?)", chains)
    connection.executemany(
        "INSERT INTO attributions (ad_id, advertiser_class, partner, network, publisher_id, "
        "aggregator, display_domain, landing_domain, domains_json, reason, inner_networks_json)"
        " VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, '[]')", attributions)
    connection.executemany(
        "INSERT INTO sightings (id, sweep_id, capture_id, ad_id, seen_at, brand, engine, "
        "market, device, query, term_group, offender, advertiser_class) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sightings)
    connection.executemany(
        "INSERT INTO findings (sighting_id, incident_id, policy, severity, title, facts_json) "
        "VALUES (?, 1, ?, ?, '', '[]')", findings)


def _text(value: datetime) -> str:
    """A time as the store keeps it in SQLite (UTC, microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


# --- the changed programs --------------------------------------------------------------------


def _changed(docs: Documents) -> None:
    policy(docs, "no-direct-linking")["severity"] = "critical"
    agreement(docs, "sleepsaver")["versions"][-1]["permissions"] = [
        {"policy": "no-brand-bidding", "engines": ["google"]}]


def _night(docs: Documents) -> None:
    _changed(docs)
    docs["policies"]["policies"].append({
        "id": "no-night-bidding", "title": "Bidding at night", "severity": "medium",
        "when": {"all": [{"term_group": "brand-any"}, {"local_hour": {"from": 22, "to": 6}}]}})


def _hash(path: Path) -> str:
    """The file's SHA-256, read in chunks (the store is hundreds of MB: RSS is the replay's)."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def main(count: int) -> None:
    one_core()
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as folder:
        root = Path(folder)
        settings = Settings(home=root / "home", rules=RULES, database_url=None)
        settings.home.mkdir()
        database = settings.home / "bidwatch.db"
        started = time.perf_counter()
        # seeded by a process of its own: this one's max RSS is the replay's alone
        subprocess.run([sys.executable, "-m", "tests.bench.bench_replay", "--seed",
                        str(database), str(count)], check=True)
        seeded_s = time.perf_counter() - started
        for name, edit in (("changed", _changed), ("night", _night)):
            rules = changed_rules(root / name, edit)
            before = _hash(database)
            started, cpu = time.perf_counter(), time.process_time()
            report = replay_store(settings, rules).as_json()
            elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
            print(json.dumps({
                "bench": "replay", "scenario": name, "sightings": report["sightings"],
                "seconds": round(elapsed, 2), "cpu_seconds": round(cpu_s, 2),
                "sightings_per_s": round(report["sightings"] / elapsed),
                "sightings_per_cpu_s": round(report["sightings"] / cpu_s),
                "changed_sightings": report["changed_sightings"], "totals": report["totals"],
                "seed_s": round(seeded_s, 1), "max_rss_mb": max_rss_mb(),
                "store_unchanged": _hash(database) == before,
            }), flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed"]:
        seed_store(Path(sys.argv[2]), load_program(RULES), int(sys.argv[3]), random.Random(SEED))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else SIGHTINGS)
