"""Invariant 5: an engine's paid click URL is never requested unless the program says so
(`follow_click_urls`), since requesting one may charge the advertiser.

Each engine module owns its click-URL shapes (`Engine.is_click_url`, `click_destination`);
the reader and the chain code both ask it. Checked here against every click URL of every
era in the shared corpus, and against shapes written down independently of the engine
modules (../shared/research/serp-ad-markup.md): every ad read from a corpus page is resolved
with following off, and the one URL live following would start at is never a click URL."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urljoin

import pytest

from monitor.engines import ENGINES, get_engine, is_engine_click_url
from monitor.resolve.follow import NO_BROWSER, resolve_chain
from monitor.resolve.guard import AddressGuard
from tests.corpus_support import TRUTH, corpus_html, needs_corpus

#: paid click shapes per engine, each era (host pattern, path pattern), written from the
#: research notes rather than from the engine modules, so the two can disagree
PAID_CLICK_SHAPES = [
    (r"(www\.)?google\.[a-z.]+", r"/aclk"),
    (r"(www\.)?googleadservices\.com", r"/pagead/aclk"),
    (r"googleads\.g\.doubleclick\.net", r"/aclk"),
    (r"(www\.)?bing\.com", r"/(aclick|aclk)"),
    (r"[a-z0-9.-]*\.r\.msn\.com", r"/"),
    (r"(www\.)?duckduckgo\.com", r"/y\.js"),
    (r"r\.search\.yahoo\.com", r"/cbclk2?/"),
    (r"r\.search\.yahoo\.co\.jp", r"/cbclk2?/"),
]
#: one written example of every shape and era, in case the corpus lacks one
SHAPE_EXAMPLES = [
    "https://www.google.com/aclk?sa=L&ai=DChcSE&adurl=https://www.lumora.com/",
    "https://www.google.co.id/aclk?sa=l&ai=x&adurl=",
    "https://www.googleadservices.com/pagead/aclk?sa=L&ai=C1&adurl=https://www.lumora.com/",
    "https://googleads.g.doubleclick.net/aclk?sa=L&ai=x&adurl=https://www.lumora.com/",
    "https://www.bing.com/aclick?ld=e8x&u=aHR0cHM6Ly93d3cubHVtb3JhLmNvbS8",
    "https://www.bing.com/aclk?ld=e8x&u=aHR0cHM6Ly93d3cubHVtb3JhLmNvbS8",
    "http://0.r.msn.com/?ld=d3abc&u=http%3a%2f%2fwww.lumora.com%2f",
    "https://bing.r.msn.com/?ld=abc&u=x",
    "https://duckduckgo.com/y.js?ad_domain=lumora.com&ad_provider=bingv7aa&u3=x",
    "http://r.search.yahoo.com/cbclk2/dWU9OTRF/RV=2/RE=1/RO=10/RU=http%3a%2f%2fx/RK=0/RS=y-",
    "https://r.search.yahoo.com/cbclk/dWU9OTRF/RV=2/RE=1/RU=x/RK=0/RS=y-",
    "https://r.search.yahoo.co.jp/cbclk/dWU9/RV=2/RE=1/RU=aHR0/RK=0/RS=x",
]


def is_paid_click_shape(url: str, base: str = "https://www.google.com/") -> bool:
    """The independent reading: a relative URL (a no-JS page's `/aclk?...`) is the page's."""
    absolute = urljoin(base, url)
    match = re.match(r"^https?://([^/?#]+)(/[^?#]*)?", absolute, re.IGNORECASE)
    if match is None:
        return False
    host, path = match.group(1).lower(), match.group(2) or "/"
    return any(re.fullmatch(h, host) and re.match(p, path) for h, p in PAID_CLICK_SHAPES)


def corpus_urls(page: dict[str, Any]) -> list[str]:
    return [url for ad in page["ads"] for url in (ad.get("href"), ad.get("click_url")) if url]


@pytest.mark.parametrize("url", SHAPE_EXAMPLES)
def test_every_written_click_shape_is_one_to_the_engines(url: str) -> None:
    assert is_paid_click_shape(url)
    assert is_engine_click_url(url), url


@needs_corpus
@pytest.mark.parametrize("page", TRUTH, ids=[p["file"] for p in TRUTH])
def test_every_corpus_click_url_is_one_to_its_engine_and_the_others_are_not(
    page: dict[str, Any],
) -> None:
    engine = get_engine(page["engine"])
    base = f"https://{engine.hosts[0]}/"
    for url in corpus_urls(page):
        if is_paid_click_shape(url, base):
            assert is_engine_click_url(urljoin(base, url)), url
        else:  # an advertiser's own link is never mistaken for a click (it is followed)
            assert not is_engine_click_url(url), url


class RecordingGuard(AddressGuard):
    """Records every URL the chain code would request, and allows it (a public address)."""

    def __init__(self) -> None:
        super().__init__(resolve=lambda _host: ["93.184.216.34"])
        self.asked: list[str] = []

    def check(self, url: str) -> None:
        self.asked.append(url)
        super().check(url)


@needs_corpus
@pytest.mark.parametrize("page", TRUTH, ids=[p["file"] for p in TRUTH])
def test_no_ad_of_any_era_has_its_click_url_requested_with_following_off(
    page: dict[str, Any],
) -> None:
    engine = get_engine(page["engine"])
    ads = engine.read_ads(corpus_html(page["file"]))
    assert ads, "the page's ads are read (else this test proves nothing)"
    for ad in ads:
        guard = RecordingGuard()
        chain = asyncio.run(resolve_chain(ad, context=None, guard=guard,
                                          follow_click_urls=False, max_hops=10, timeout_s=5))
        for url in guard.asked:
            assert not is_paid_click_shape(url, f"https://{engine.hosts[0]}/"), (ad.headline, url)
            assert not is_engine_click_url(url), (ad.headline, url)
        if guard.asked:  # live following would start here, in the browser it lacks
            assert chain.error == NO_BROWSER
        else:  # nothing but click URLs: said so, never requested
            assert chain.error and "not followed" in chain.error, (ad.headline, chain)


def test_every_engine_owns_its_click_shapes() -> None:
    # each shape belongs to exactly one engine module (the reader and the chain code ask it)
    for url in SHAPE_EXAMPLES:
        owners = [name for name, engine in ENGINES.items() if engine.is_click_url(url)]
        assert len(owners) == 1, (url, owners)
