"""Where an ad leads, decoded without a request: engine click wrappers, then the destinations
network URLs carry.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import replace
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.attribute.networks import destination_url, recognise
from monitor.models import Chain, Hop, HopHow, ObservedAd

MAX_UNWRAP_DEPTH = 10


# ---- engine click URLs ----------------------------------------------------------------------

_GOOGLE_HOST = re.compile(r"(?:www\.)?google\.[a-z.]+|(?:www\.)?googleadservices\.com")
_ENGINE_CLICKS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (_GOOGLE_HOST, re.compile(r"/(?:pagead/)?aclk")),
    (re.compile(r"(?:www\.)?bing\.com"), re.compile(r"/aclic?k")),
    (re.compile(r"r\.search\.yahoo\.com"), re.compile(r"/")),
    (re.compile(r"(?:www\.)?duckduckgo\.com"), re.compile(r"/y\.js")),
)


def is_engine_click_url(url: str) -> bool:
    """True for an engine's paid click URL: requesting it may charge the advertiser."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return any(h.fullmatch(host) and p.match(parts.path) for h, p in _ENGINE_CLICKS)


# ---- offline unwrapping ---------------------------------------------------------------------


def unwrap(url: str) -> list[Hop]:
    """Every destination nested in `url` (engine and network wrappers), outermost first."""
    hops: list[Hop] = []
    seen = {url}
    current: str | None = url
    while current and len(hops) < MAX_UNWRAP_DEPTH:
        current = decode_once(current)
        if current is None or current in seen:
            break
        seen.add(current)
        hops.append(Hop(url=current, how=HopHow.decoded))
    return hops


def decode_once(url: str) -> str | None:
    """The destination one wrapper of `url` carries, or None when it carries none."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for decoder in (_google, _bing, _yahoo, _duckduckgo):
        found = decoder(host, parts.path, parts.query)
        if found:
            return destination_url(found)
    ids = recognise(url)
    return ids.landing_url if ids else None


def _param(query: str, *names: str) -> str | None:
    params = dict(parse_qsl(query, keep_blank_values=True))
    return next((params[n] for n in names if params.get(n)), None)


def _google(host: str, path: str, query: str) -> str | None:
    if not _GOOGLE_HOST.fullmatch(host):
        return None
    if re.match(r"/(?:pagead/)?aclk", path):
        return _param(query, "adurl")
    return _param(query, "q", "url") if path == "/url" else None


def _bing(host: str, path: str, query: str) -> str | None:
    if not re.fullmatch(r"(?:www\.)?bing\.com", host) or not re.match(r"/aclic?k", path):
        return None
    value = _param(query, "u")
    if value and value.startswith("a1"):
        return _base64url(value[2:])
    return value


def _base64url(value: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _yahoo(host: str, path: str, query: str) -> str | None:
    if host != "r.search.yahoo.com":
        return None
    segment = next((s for s in path.split("/") if s.startswith("RU=")), None)
    return unquote(segment[3:]) if segment else None


def _duckduckgo(host: str, path: str, query: str) -> str | None:
    if not re.fullmatch(r"(?:www\.)?duckduckgo\.com", host):
        return None
    if path == "/y.js":
        return _param(query, "u3")
    return _param(query, "uddg") if path.startswith("/l/") else None


def offline_chain(ad: ObservedAd) -> Chain:
    """Where an ad leads, decoded without a single request: engine wrappers, then the
    destinations network URLs carry. For judging saved pages."""
    hops = engine_hops(ad)
    hops += [h for h in unwrap(hops[-1].url) if h.url != hops[-1].url]
    return Chain(start_url=ad.link, hops=tuple(hops), landing_url=hops[-1].url)


def engine_hops(ad: ObservedAd) -> list[Hop]:
    """The ad's link, then where the engine's click wrapper says a click goes: the first URL
    that is the advertiser's own. Live following starts at the last hop.

    The click URL's destination wins over the visible link: the visible link often omits the
    tracking template that a click really passes through. Network destination parameters
    are not decoded here: the live chain shows where the network really sends a click.
    """
    start = Hop(url=ad.link, how=HopHow.start)
    for url in (ad.click_url, ad.link):
        destinations = _engine_destinations(url)
        if destinations and not is_engine_click_url(destinations[-1]):
            hops = [start]
            hops += [Hop(url=u, how=HopHow.decoded) for u in destinations if u != ad.link]
            return hops
    return [start]


def _engine_destinations(url: str | None) -> list[str]:
    """The URLs nested in an engine click URL, outermost first ([] for any other URL)."""
    found: list[str] = []
    current = url
    while current and is_engine_click_url(current) and len(found) < MAX_UNWRAP_DEPTH:
        current = decode_once(current)
        if current:
            found.append(current)
    return found


def join_chains(start_url: str, offline: list[Hop], live: Chain) -> Chain:
    """The offline hops, then the live ones after the URL they share. When following could
    not leave that URL (refused, timed out), what it decodes to offline stands in, so the
    network and destination are still known."""
    hops = list(offline)
    if live.hops:
        hops[-1] = replace(hops[-1], status=live.hops[0].status)
        hops.extend(live.hops[1:])
    if len(live.hops) <= 1 and live.error:
        hops.extend(unwrap(offline[-1].url))
        return Chain(start_url=start_url, hops=tuple(hops), landing_url=hops[-1].url,
                     error=live.error)
    landing = live.landing_url if live.hops else hops[-1].url
    return Chain(start_url=start_url, hops=tuple(hops), landing_url=landing, error=live.error)
