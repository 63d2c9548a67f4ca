"""Market → request details shared by the engines: query strings and Accept-Language."""

from __future__ import annotations

from urllib.parse import quote_plus

from monitor.models import SearchTask


def accept_language(task: SearchTask) -> str:
    """The Accept-Language header a local user of the market sends, e.g. "ar-AE,ar;q=0.9,en;q=0.5".

    English is added last as a fallback for non-English markets, as browsers commonly do.
    """
    lang = task.market.language.lower()
    country = task.market.country.upper()
    header = f"{lang}-{country},{lang};q=0.9"
    return header if lang == "en" else f"{header},en;q=0.5"


def query_string(params: list[tuple[str, str]], literal: frozenset[str] = frozenset()) -> str:
    """`k=v&…` with values form-encoded, except keys in `literal` (already URL-safe values)."""
    return "&".join(
        f"{key}={value if key in literal else quote_plus(value)}" for key, value in params
    )
