"""Pacing: a minimum interval, plus random jitter, between two requests to the same engine,
so a sweep never hammers one engine (and its rhythm is not a fingerprint)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class EnginePacer:
    """`await pacer.wait(engine)` before each search; engines are paced independently."""

    def __init__(
        self,
        interval_s: float,
        jitter_s: float,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval_s = interval_s
        self.jitter_s = jitter_s
        self._rng = rng or random.Random()
        self._clock = clock
        self._next: dict[str, float] = {}

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


def shuffled(items: Sequence[T], rng: random.Random | None = None) -> list[T]:
    """The tasks in random order: no engine, market or query always comes first."""
    out = list(items)
    (rng or random.Random()).shuffle(out)
    return out
