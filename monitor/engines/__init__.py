"""The engines bidwatch asks: one module each, registered here by name.

A new engine is one module exposing `ENGINE` and one line in `_MODULES`; a module is
imported when an engine is first used, not when its name is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.engines.base import Engine
    from monitor.engines.markets import accept_language

#: every engine's name and its module, in the order `detect_engine` tries pages in: the most
#: specific fingerprints first (a DuckDuckGo page links to Yahoo and Bing click URLs; Google's
#: data-ved is unmistakable)
_MODULES = {"google": "google", "bing": "bing", "duckduckgo": "duckduckgo", "yahoo": "yahoo"}


@cache
def _engines() -> dict[str, Engine]:
    engines: dict[str, Engine] = {}
    for name, module in _MODULES.items():
        engine: Engine = import_module(f"monitor.engines.{module}").ENGINE
        if engine.name != name:  # the names listed above must be the engines' own
            raise RuntimeError(f"monitor.engines.{module} builds {engine.name!r}, not {name!r}")
        engines[name] = engine
    return engines


class _Engines(Mapping[str, "Engine"]):
    """name → Engine. The names are known without importing a reader: `--help`, the
    `--engine` choices and `rules check` need only them, and the readers (lexbor, the page
    models) cost a command that reads no page a few tens of milliseconds at start-up."""

    def __getitem__(self, name: str) -> Engine:
        if name not in _MODULES:
            raise KeyError(name)
        return _engines()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)

    def __repr__(self) -> str:
        return f"ENGINES({', '.join(_MODULES)})"


ENGINES: Mapping[str, Engine] = _Engines()


def __getattr__(name: str) -> object:
    # the names this package exported when it imported every engine at once
    if name == "Engine":
        from monitor.engines.base import Engine

        return Engine
    if name == "accept_language":
        from monitor.engines.markets import accept_language

        return accept_language
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
