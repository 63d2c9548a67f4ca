"""The engines bidwatch asks: one module each, registered here by name.

A new engine is one module exposing `ENGINE` and one line in `ENGINES`.
"""

from __future__ import annotations

from monitor.engines import bing, duckduckgo, google, yahoo
from monitor.engines.base import Engine
from monitor.engines.markets import accept_language

#: every engine, in the order `detect_engine` tries pages in: the most specific fingerprints
#: first (a DuckDuckGo page links to Yahoo and Bing click URLs; Google's data-ved is unmistakable)
ENGINES: dict[str, Engine] = {
    engine.name: engine for engine in (google.ENGINE, bing.ENGINE, duckduckgo.ENGINE, yahoo.ENGINE)
}


def get_engine(name: str) -> Engine:
    """The engine called `name` (case-insensitive)."""
    try:
        return ENGINES[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(ENGINES))
        raise KeyError(f"unknown engine {name!r}; known engines: {known}") from None


def is_engine_click_url(url: str) -> bool:
    """True for any engine's paid click URL: requesting it may charge the advertiser."""
    return any(engine.is_click_url(url) for engine in ENGINES.values())


def engine_click_destination(url: str) -> str | None:
    """The destination any engine's click redirect carries (as carried), or None."""
    for engine in ENGINES.values():
        found = engine.click_destination(url)
        if found:
            return found
    return None


def detect_engine(html: str) -> str | None:
    """The name of the engine whose result page this is, or None when none recognises it."""
    for name, engine in ENGINES.items():
        try:
            if engine.recognises(html):
                return name
        except Exception:  # a recogniser choking on hostile bytes simply does not recognise
            continue
    return None


__all__ = [
    "ENGINES",
    "Engine",
    "accept_language",
    "detect_engine",
    "engine_click_destination",
    "get_engine",
    "is_engine_click_url",
]
