"""The pieces of a URL that engines' click-URL shapes are told by: host, path, parameters.

Each engine module defines its own shapes with these (`is_click_url`, `click_destination`);
its reader and the chain code both ask that one definition.
"""

from __future__ import annotations

import base64
from typing import NamedTuple
from urllib.parse import parse_qsl, urlsplit


class UrlParts(NamedTuple):
    """A URL's lower-case host ("" for a relative href), path and raw query."""

    host: str
    path: str
    query: str


#: what an unparseable URL reads as: nothing an engine's shape matches
_NO_PARTS = UrlParts("", "", "")


def url_parts(url: str) -> UrlParts:
    """Host, path and query of `url`; hrefs are hostile, so one urlsplit refuses reads as empty."""
    try:
        parts = urlsplit(url)
        return UrlParts((parts.hostname or "").lower(), parts.path, parts.query)
    except ValueError:  # e.g. "http://[::1" (an unclosed IPv6 literal)
        return _NO_PARTS


def query_value(query: str, *names: str) -> str | None:
    """The first of `names` with a non-empty value in `query` (decoded once), or None."""
    params = dict(parse_qsl(query, keep_blank_values=True))
    return next((params[n] for n in names if params.get(n)), None)


def base64url_text(value: str) -> str | None:
    """UTF-8 text from unpadded base64url (Bing's `u=a1…`), or None when it is not that."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except ValueError:  # bad padding or alphabet, non-ASCII input, or bytes that are not UTF-8
        return None
