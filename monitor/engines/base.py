"""The engine seam: how to ask an engine (a URL for a task) and how to read its answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.models import CaptureStatus, ObservedAd, SearchTask


@dataclass(frozen=True, slots=True)
class Engine:
    """One search engine. A new engine is one module that builds one of these."""

    name: str
    #: hosts the engine answers on (the simulator serves the same ones)
    hosts: tuple[str, ...]
    #: the result-page URL for a task (market and device steer it)
    search_url: Callable[[SearchTask], str]
    #: every paid ad on a result page; never raises on bad markup
    read_ads: Callable[[str], list[ObservedAd]]
    #: what a loaded page is: ok, no_results, consent, captcha, rate_limited or error
    classify: Callable[[str, int | None, str], CaptureStatus]
    #: True when a saved page looks like this engine's (for `parse --engine auto`)
    recognises: Callable[[str], bool]
