"""Where an ad leads, decoded without a request: engine click wrappers, then the destinations
network URLs carry.

The engines own their click-URL shapes and how to decode them (`monitor.engines`); this
module only asks them, and the network table, one wrapper at a time.
"""

from __future__ import annotations

from dataclasses import replace

from monitor.engines import engine_click_destination, is_engine_click_url
from monitor.models import Chain, Hop, HopHow, ObservedAd
from monitor.networks.table import destination_url, recognise

MAX_UNWRAP_DEPTH = 10


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
    found = engine_click_destination(url)
    if found:
        return destination_url(found)
    ids = recognise(url)
    return ids.landing_url if ids else None


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
