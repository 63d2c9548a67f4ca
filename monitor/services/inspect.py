"""`bidwatch attribute`: what a URL says about who placed an ad — offline by default, or by
following its chain live in the browser (every hop through the SSRF guard, every connection
through the egress proxy)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from playwright.async_api import Browser, async_playwright

from monitor.attribute.partners import is_unrecognised_tracking
from monitor.capture.browser import find_browser, launch, proxied_args
from monitor.models import Chain, Hop, HopHow, NetworkIds
from monitor.networks.table import is_landing_marker, recognise_layers
from monitor.resolve.egress import EgressProxy
from monitor.resolve.follow import follow
from monitor.resolve.guard import AddressGuard
from monitor.resolve.unwrap import unwrap
from monitor.services.wiring import address_guard, egress_proxy
from monitor.settings import Settings

ID_FIELDS = ("network", "publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id")
RECOGNISED = "recognised"
UNRECOGNISED = "unrecognised tracking link"


def describe(url: str, chain: Chain) -> dict[str, Any]:
    """The attribution of one URL from the chain it starts: ids from every URL on it.

    `network` and its ids are the outermost network's (an aggregator's, when one re-wraps
    another network's link); `inner_networks` the ones it led through, in order. `tracking`
    says "recognised", "unrecognised tracking link" (no network known, but the URL or a hop
    has a tracking link's marks) or None.
    """
    layers = recognise_layers(chain.urls)
    ids = layers[0] if layers else None
    document: dict[str, Any] = {"url": url}
    document |= {name: getattr(ids, name) if ids else None for name in ID_FIELDS}
    tracking = RECOGNISED if ids else _unrecognised(chain)
    document["landing_url"] = _landing(url, chain, ids, tracking)
    document["inner_networks"] = [{name: getattr(inner, name) for name in ID_FIELDS}
                                  for inner in layers[1:]]
    document["tracking"] = tracking
    return document


def _unrecognised(chain: Chain) -> str | None:
    return UNRECOGNISED if is_unrecognised_tracking(chain) else None


def _landing(url: str, chain: Chain, ids: NetworkIds | None, tracking: str | None) -> str | None:
    """Where the URL leads: the chain's end; the URL itself when it is a page (no network,
    or a landing page carrying network ids); unknown for a click URL that names no
    destination, known or not (only following it would tell)."""
    if len(chain.hops) > 1:
        return chain.landing_url
    if tracking == UNRECOGNISED:
        return None
    if ids is None or is_landing_marker(url):
        return url
    return ids.landing_url


def offline_chain_of(url: str) -> Chain:
    hops = [Hop(url, HopHow.start), *unwrap(url)]
    return Chain(start_url=url, hops=tuple(hops), landing_url=hops[-1].url)


def attribute_offline(urls: Sequence[str]) -> list[dict[str, Any]]:
    return [describe(url, offline_chain_of(url)) for url in urls]


def attribute_live(urls: Sequence[str], settings: Settings) -> list[dict[str, Any]]:
    """Follow each URL live, in a fresh browser context each (no cookies carried over)."""
    return asyncio.run(_follow_all(urls, settings))


async def _follow_all(urls: Sequence[str], settings: Settings) -> list[dict[str, Any]]:
    guard = address_guard(settings)
    egress = egress_proxy(settings, guard)
    proxy_url = await asyncio.to_thread(egress.start)  # bounded by the proxy itself
    try:
        async with async_playwright() as playwright:
            browser = await launch(playwright, find_browser(settings.chromium),
                                   extra_args=proxied_args(proxy_url))
            try:
                return [await _follow_one(browser, url, settings, guard, egress)
                        for url in urls]
            finally:
                await browser.close()
    finally:
        await asyncio.to_thread(egress.stop)


async def _follow_one(browser: Browser, url: str, settings: Settings, guard: AddressGuard,
                      egress: EgressProxy) -> dict[str, Any]:
    context = await browser.new_context(ignore_https_errors=settings.simulator is not None)
    try:
        chain = await follow(context, url, guard=guard, max_hops=settings.max_hops,
                             timeout_s=settings.chain_timeout_s, egress=egress)
    finally:
        await context.close()
    document = describe(url, chain)
    document["hops"] = [{"url": h.url, "how": str(h.how), "status": h.status,
                         "elapsed_ms": h.elapsed_ms} for h in chain.hops]
    document["error"] = chain.error
    return document
