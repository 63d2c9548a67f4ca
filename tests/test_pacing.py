"""Pacing between searches on one engine, random task order, and per-market proxies."""

from __future__ import annotations

import asyncio
import random
from itertools import pairwise

import pytest

from monitor.capture.pacing import EnginePacer, pace_key, shuffled
from monitor.capture.page import proxy_settings


def test_searches_on_one_engine_are_spaced_and_engines_are_independent() -> None:
    pacer = EnginePacer(0.15, 0.0)

    async def three_google_one_bing() -> list[float]:
        return list(await asyncio.gather(
            pacer.wait("google"), pacer.wait("google"), pacer.wait("google"), pacer.wait("bing")))

    google_1, google_2, google_3, bing = asyncio.run(three_google_one_bing())
    assert google_1 == pytest.approx(0, abs=0.02)
    assert google_2 == pytest.approx(0.15, abs=0.03)
    assert google_3 == pytest.approx(0.30, abs=0.03)
    assert bing == pytest.approx(0, abs=0.02)


def test_jitter_stays_within_its_bound() -> None:
    pacer = EnginePacer(1.0, 0.5, rng=random.Random(3), clock=lambda: 0.0)
    delays = [pacer.reserve("yahoo") for _ in range(20)]
    gaps = [later - earlier for earlier, later in pairwise(delays)]
    assert delays[0] == 0 and all(1.0 <= gap <= 1.5 for gap in gaps)
    assert len({round(g, 6) for g in gaps}) > 1  # jittered, not a fixed rhythm


def test_tasks_are_shuffled_but_none_lost() -> None:
    tasks = list(range(50))
    once, again = shuffled(tasks, random.Random(1)), shuffled(tasks, random.Random(2))
    assert sorted(once) == tasks and once != tasks and once != again


def test_proxy_credentials_go_in_their_own_fields() -> None:
    assert proxy_settings("http://user%40corp:p%3Ass@proxy.example:3128") == {
        "server": "http://proxy.example:3128", "username": "user@corp", "password": "p:ss"}
    assert proxy_settings("socks5://proxy.example:1080") == {"server": "socks5://proxy.example:1080"}
    assert proxy_settings(None) is None


def test_a_block_cools_the_engine_down_with_jittered_exponential_backoff() -> None:
    now = [0.0]
    pacer = EnginePacer(0.0, 0.0, cooldown_s=10, cooldown_max_s=35,
                        rng=random.Random(7), clock=lambda: now[0])
    waits = [pacer.cool_down("google") for _ in range(4)]
    # between half and all of 10, 20, 35 (capped), 35
    for wait, full in zip(waits, (10, 20, 35, 35), strict=True):
        assert full / 2 <= wait <= full
    assert pacer.cooling_for("google") == pytest.approx(max(waits))
    assert pacer.cooling_for("bing") == 0  # other engines are not held back
    pacer.answered("google")  # a page came back: the next block starts afresh
    assert 5 <= pacer.cool_down("google") <= 10


def test_cool_downs_never_synchronise_and_egress_keys_hide_credentials() -> None:
    pacer = EnginePacer(0.0, 0.0, cooldown_s=100, rng=random.Random(1), clock=lambda: 0.0)
    first_blocks = {round(pacer.cool_down(f"engine-{i}"), 3) for i in range(20)}
    assert len(first_blocks) == 20
    assert pace_key("google", None) == "google"
    key = pace_key("google", "http://user:secret@proxy.example:3128")
    assert key == "google@proxy.example:3128" and "secret" not in key


def test_a_cooling_engine_makes_its_next_search_wait() -> None:
    pacer = EnginePacer(0.0, 0.0, cooldown_s=0.2, rng=random.Random(2))
    pacer.cool_down("bing")

    async def next_bing() -> float:
        return await pacer.wait("bing")

    assert 0.09 <= asyncio.run(next_bing()) <= 0.21
