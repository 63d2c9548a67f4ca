"""Pacing: a minimum interval, plus random jitter, between two requests to the same engine
(through the same egress: direct or one proxy), so a sweep never hammers one engine and its
rhythm is not a fingerprint; and a cool-down after a block.

A captcha or a 429 is never fought: the engine (on that egress) is left alone for a jittered,
exponentially growing time, and the blocked task is asked again after it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class EnginePacer:
    """`await pacer.wait(key)` before each search; keys (an engine, or an engine through one
    proxy: see `pace_key`) are paced and cooled down independently."""

    def __init__(
        self,
        interval_s: float,
        jitter_s: float,
        *,
        cooldown_s: float = 60.0,
        cooldown_max_s: float = 1800.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self.cooldown_s = cooldown_s
        self.cooldown_max_s = cooldown_max_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._next: dict[str, float] = {}
        self._strikes: dict[str, int] = {}

    def cool_down(self, key: str) -> float:
        """A block on `key`: nothing is asked of it for base·2^(blocks in a row − 1) seconds
        (capped), jittered to between half and all of that so retries never synchronise.
        Returns the cool-down in seconds."""
        strikes = self._strikes.get(key, 0) + 1
        self._strikes[key] = strikes
        full = min(self.cooldown_max_s, self.cooldown_s * 2 ** (strikes - 1))
        delay = self._rng.uniform(full / 2, full)
        now = self._clock()
        self._next[key] = max(self._next.get(key, now), now + delay)
        return delay

    def answered(self, key: str) -> None:
        """A page came back unblocked: the next block starts the backoff afresh."""
        self._strikes.pop(key, None)

    def cooling_for(self, key: str) -> float:
        """Seconds until `key` may be asked again (0 when it may now)."""
        return max(0.0, self._next.get(key, 0.0) - self._clock())

    def reserve(self, engine: str) -> float:
        """Book the engine's next slot; returns how long to wait for it. (No await inside:
        on one event loop, concurrent tasks book one after another.)"""
        now = self._clock()
        start = max(now, self._next.get(engine, now))
        self._next[engine] = start + self.interval_s + self._rng.uniform(0, self.jitter_s)
        return start - now

    async def wait(self, engine: str) -> float:
        """Sleep until `engine` may be asked again; returns the seconds slept."""
        delay = self.reserve(engine)
        if delay > 0:
            await asyncio.sleep(delay)
        return delay


def pace_key(engine: str, proxy: str | None) -> str:
    """Pacing and cool-downs are per engine and egress: a block seen through one proxy says
    nothing about another. Only the proxy's host and port make the key (no credentials)."""
    if not proxy:
        return engine
    parts = urlsplit(proxy)
    return f"{engine}@{parts.hostname}:{parts.port or ''}"


def shuffled(items: Sequence[T], rng: random.Random | None = None) -> list[T]:
    """The tasks in random order: no engine, market or query always comes first."""
    out = list(items)
    (rng or random.Random()).shuffle(out)
    return out
