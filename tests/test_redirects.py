"""Redirect chains: offline unwrapping, and live following in a real Chromium.

The live tests start a small loopback HTTP server that answers for every host name (Chromium
runs with --host-resolver-rules=MAP * 127.0.0.1:<port>), so real-looking URLs such as
http://prf.hn/... reach it. The guard's `resolve` seam maps names the same way.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import re
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, async_playwright

from monitor.capture.browser import LAUNCH_ARGS
from monitor.engines import detect_engine, get_engine, is_engine_click_url
from monitor.models import AdKind, AdPosition, Chain, Hop, HopHow, ObservedAd
from monitor.resolve import follow as follow_module
from monitor.resolve.follow import follow, meta_refresh, parse_refresh, resolve_chain
from monitor.resolve.guard import AddressGuard
from monitor.resolve.unwrap import decode_once, engine_hops, join_chains, unwrap
from tests.corpus_support import CORPUS, needs_corpus

LANDING = "https://www.lumora.com/sale?x=1"
PRF = f"https://prf.hn/click/camref:1100l5xYz/pubref:kw/destination:{quote(LANDING, safe='')}"


def bing_aclick(target: str) -> str:
    encoded = base64.urlsafe_b64encode(target.encode()).decode().rstrip("=")
    return f"https://www.bing.com/aclick?ld=e8abc&u=a1{encoded}"


# ---- offline ------------------------------------------------------------------------------


def test_unwraps_google_aclk_into_network_destination() -> None:
    url = f"https://www.googleadservices.com/pagead/aclk?sa=L&ai=Cx&adurl={quote(PRF, safe='')}"
    assert [h.url for h in unwrap(url)] == [PRF, LANDING]
    assert all(h.how is HopHow.decoded for h in unwrap(url))


def test_unwraps_duckduckgo_bing_partnerize_nested() -> None:
    bing = bing_aclick(PRF)
    ddg = f"https://duckduckgo.com/y.js?ad_domain=lumora.com&ad_provider=bingv7aa&u3={quote(bing)}"
    assert [h.url for h in unwrap(ddg)] == [bing, PRF, LANDING]


def test_unwraps_yahoo_ru_segment() -> None:
    awin = f"https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&ued={quote(LANDING)}"
    ru = quote(awin, safe="")
    yahoo = f"https://r.search.yahoo.com/cbclk2/dWU9/RV=2/RE=17/RO=10/RU={ru}/RK=2/RS=x-"
    assert [h.url for h in unwrap(yahoo)] == [awin, LANDING]


@pytest.mark.parametrize(
    ("url", "destination"),
    [
        (f"https://click.linksynergy.com/deeplink?id=Ab1&mid=2417&murl={quote(LANDING)}", LANDING),
        (f"https://ad.admitad.com/g/9a03/?ulp={quote(LANDING)}", LANDING),
        (f"https://track.webgains.com/click.html?wgcampaignid=1&wgtarget={quote(LANDING)}",
         LANDING),
        (f"https://rover.ebay.com/rover/1/711-1/1?campid=5&mpre={quote(LANDING)}", LANDING),
        (f"https://t.cfjump.com/1/t/2?Url={quote(LANDING)}", LANDING),
        (f"https://lumora.sjv.io/c/1/2/3?u={quote(quote(LANDING, safe=''))}", LANDING),
        ("https://www.google.com/url?q=https://www.lumora.com/&sa=U", "https://www.lumora.com/"),
    ],
)
def test_network_destination_params(url: str, destination: str) -> None:
    assert decode_once(url) == destination


def test_unwrap_stops_at_plain_urls_and_bad_values() -> None:
    assert unwrap("https://www.lumora.com/mattress") == []
    assert unwrap("https://www.bing.com/aclick?u=a1!!!notbase64") == []
    assert unwrap("https://www.googleadservices.com/pagead/aclk?sa=L&adurl=") == []


def test_engine_click_urls() -> None:
    for url in (
        "https://www.googleadservices.com/pagead/aclk?sa=L",
        "https://www.google.com/aclk?sa=l",
        "https://www.google.co.uk/aclk?sa=l",
        "https://www.bing.com/aclick?ld=x",
        "https://r.search.yahoo.com/cbclk2/x/RU=y/RK=2",
        "https://duckduckgo.com/y.js?u3=x",
    ):
        assert is_engine_click_url(url), url
    for url in ("https://www.google.com/search?q=x", PRF, "https://www.bing.com/search?q=a"):
        assert not is_engine_click_url(url), url


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("0; url=https://a.example/", (0.0, "https://a.example/")),
        ("3;URL='/next'", (3.0, "/next")),
        ("0", (0.0, None)),
        (" 1 , url = \"x\" ", (1.0, "x")),
    ],
)
def test_parse_refresh(content: str, expected: tuple[float, str | None]) -> None:
    assert parse_refresh(content) == expected


def test_meta_refresh_found_in_markup() -> None:
    html = '<html><head><META HTTP-EQUIV="Refresh" content="0;url=/x"></head></html>'
    assert meta_refresh(html) == "0;url=/x"
    assert meta_refresh("<p>none</p>") is None


def test_a_landing_page_nested_past_any_bound_is_read_within_the_readers_bounds() -> None:
    # a stranger's page: 50 000 nested elements cost lexbor minutes unbounded; the refresh
    # before them is found, and one after the depth bound is not reached (nor waited for)
    deep = "<div>" * 50_000
    assert meta_refresh(f'<meta http-equiv=refresh content="0;url=/y">{deep}') == "0;url=/y"
    assert meta_refresh(f'{deep}<meta http-equiv=refresh content="0;url=/z">') is None


# ---- live ---------------------------------------------------------------------------------


class ChainServer(http.server.ThreadingHTTPServer):
    """Answers for every host; remembers (host, path, cookie) of each request."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ChainHandler)
        self.seen: list[tuple[str, str, str]] = []

    def hosts(self) -> set[str]:
        return {host for host, _, _ in self.seen}


PAGES = {
    "/meta": '<html><head><meta http-equiv="refresh" content="0;url=http://www.lumora.com/m">'
    "</head><body>bridge</body></html>",
    "/js": "<html><body>bridge<img src='http://metadata.internal/pixel.png'><script>"
    "fetch('http://metadata.internal/steal').catch(() => {});"
    "setTimeout(() => { location.href = 'http://www.lumora.com/j'; }, 100);"
    "</script></body></html>",
    # "redirecting in 2.5 s…": longer than any fixed quiet wait a follower could afford
    "/late-js": "<html><body>wait<script>"
    "setTimeout(() => { location.replace('http://www.lumora.com/late'); }, 2500);"
    "</script></body></html>",
    # a geo or consent check: the redirect waits for an API that answers in 0.8 s
    "/after-api": "<html><body>checking<script>"
    "fetch('/slow-api').then(r => r.json()).then(j => { location.href = j.next; });"
    "</script></body></html>",
    # a page that polls forever (from its load handler on, re-arming a short timer)
    "/polling": "<html><body>landing<script>"
    "function poll() { setTimeout(poll, 150); }"
    "window.addEventListener('load', poll);"
    "</script></body></html>",
    # a long poll that never answers
    "/long-poll": "<html><body>landing<script>fetch('/hang').catch(() => {});</script>"
    "</body></html>",
}
#: how long /slow-api and /hang take to answer
SLOW_API_S = 0.8
HANG_S = 20
REDIRECTS = {
    "/302": "http://www.lumora.com/landing?clickref=1100lqw",
    "/to-metadata": "http://metadata.internal/latest/meta-data/",
    "/to-link-local": "http://169.254.169.254/latest/",
    "/set-cookie": "http://www.lumora.com/after-cookie",
}


class ChainHandler(http.server.BaseHTTPRequestHandler):
    server: ChainServer

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        path = self.path.split("?")[0]
        self.server.seen.append((host, self.path, self.headers.get("Cookie") or ""))
        if path.startswith("/loop/"):
            return self._redirect(f"/loop/{int(path.rsplit('/', 1)[1]) + 1}")
        if path == "/pagead/aclk":
            return self._redirect("http://prf.hn/302")
        if path in ("/slow-api", "/hang"):
            time.sleep(SLOW_API_S if path == "/slow-api" else HANG_S)
            return self._page('{"next": "http://www.lumora.com/after-api-landing"}')
        if path in REDIRECTS:
            return self._redirect(REDIRECTS[path], cookie=path == "/set-cookie")
        self._page(PAGES.get(path, f"<html><body>landing {path}</body></html>"))

    def _redirect(self, location: str, cookie: bool = False) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        if cookie:
            self.send_header("Set-Cookie", "aff=sleepsaver; Path=/; Domain=.lumora.com")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _page(self, html: str) -> None:
        body = html.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


class BrowserThread:
    """One Chromium for the module, driven from an event loop on its own thread."""

    def __init__(self, port: int, executable: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.playwright = self.run(async_playwright().start())
        self.browser: Browser = self.run(
            self.playwright.chromium.launch(
                executable_path=str(executable),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules=MAP * 127.0.0.1:{port}"],
            )
        )

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.run(self.browser.close())
        self.run(self.playwright.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def server() -> Iterator[ChainServer]:
    chain_server = ChainServer()
    thread = threading.Thread(target=chain_server.serve_forever, daemon=True)
    thread.start()
    yield chain_server
    chain_server.shutdown()
    chain_server.server_close()


@pytest.fixture(scope="module")
def browser(server: ChainServer, browser_path: Path) -> Iterator[BrowserThread]:
    driver = BrowserThread(server.server_address[1], browser_path)
    yield driver
    driver.close()


def simulator_guard() -> AddressGuard:
    """Every name is the loopback server, except metadata.internal (a cloud metadata name)."""

    def resolve(host: str) -> list[str]:
        return ["169.254.169.254"] if host == "metadata.internal" else ["127.0.0.1"]

    return AddressGuard(allow_private=True, resolve=resolve)


async def _follow(browser: Browser, url: str, **options: Any) -> Chain:
    context = await browser.new_context()
    try:
        return await follow(context, url, guard=simulator_guard(), settle_s=0.4, **options)
    finally:
        await context.close()


@pytest.mark.browser
@pytest.mark.parametrize(("start", "landing"), [
    ("/late-js", "http://www.lumora.com/late"),
    ("/after-api", "http://www.lumora.com/after-api-landing"),
])
def test_waits_for_what_the_landing_page_is_still_doing(
    browser: BrowserThread, start: str, landing: str
) -> None:
    # a timer set while the page loaded, or a request in flight, keeps it from counting as
    # quiet: the redirect after them is a hop
    chain = browser.run(_follow(browser.browser, f"http://bridge.example{start}", timeout_s=10))
    assert chain.error is None
    assert chain.landing_url == landing
    assert chain.hops[-1].how is HopHow.js


@pytest.mark.browser
@pytest.mark.parametrize("start", ["/polling", "/long-poll"])
def test_a_page_that_never_rests_still_lands(browser: BrowserThread, start: str) -> None:
    # a script polling forever, or a request that never answers, is the page's business:
    # the chain lands there, long before its own bound
    began = time.monotonic()
    chain = browser.run(_follow(browser.browser, f"http://www.lumora.com{start}", timeout_s=10))
    assert chain.error is None, chain.error
    assert chain.landing_url == f"http://www.lumora.com{start}"
    assert time.monotonic() - began < 8  # not the chain's bound of 10 s


@pytest.mark.browser
def test_follows_http_redirect(browser: BrowserThread) -> None:
    chain = browser.run(_follow(browser.browser, "http://prf.hn/302"))
    assert chain.error is None
    assert [(h.url, h.how, h.status) for h in chain.hops] == [
        ("http://prf.hn/302", HopHow.start, 302),
        ("http://www.lumora.com/landing?clickref=1100lqw", HopHow.http, 200),
    ]
    assert chain.landing_url == "http://www.lumora.com/landing?clickref=1100lqw"
    assert chain.hops[1].elapsed_ms >= chain.hops[0].elapsed_ms


@pytest.mark.browser
def test_follows_meta_refresh(browser: BrowserThread) -> None:
    chain = browser.run(_follow(browser.browser, "http://bridge.example/meta"))
    assert chain.error is None
    assert [(h.how, h.status) for h in chain.hops] == [(HopHow.start, 200), (HopHow.meta, 200)]
    assert chain.landing_url == "http://www.lumora.com/m"


@pytest.mark.browser
def test_follows_javascript_and_guards_subresources(
    browser: BrowserThread, server: ChainServer
) -> None:
    chain = browser.run(_follow(browser.browser, "http://bridge.example/js"))
    assert chain.error is None
    assert [h.how for h in chain.hops] == [HopHow.start, HopHow.js]
    assert chain.landing_url == "http://www.lumora.com/j"
    assert "metadata.internal" not in server.hosts()  # the script's fetch was refused


@pytest.mark.browser
def test_stops_at_hop_limit(browser: BrowserThread) -> None:
    chain = browser.run(_follow(browser.browser, "http://loop.example/loop/0", max_hops=4))
    assert chain.error is not None and "hop limit (4)" in chain.error
    assert len(chain.hops) == 4
    assert chain.landing_url == "http://loop.example/loop/3"


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/to-metadata", "/to-link-local"])
def test_guard_stops_a_hop_before_it_is_requested(
    browser: BrowserThread, server: ChainServer, path: str
) -> None:
    chain = browser.run(_follow(browser.browser, f"http://prf.hn{path}"))
    assert chain.error is not None and chain.error.startswith("guard:")
    assert "link-local" in chain.error
    assert [h.url for h in chain.hops] == [f"http://prf.hn{path}"]
    assert "metadata.internal" not in server.hosts()
    assert "169.254.169.254" not in server.hosts()


@pytest.mark.browser
def test_refused_start_is_not_requested(browser: BrowserThread, server: ChainServer) -> None:
    chain = browser.run(_follow(browser.browser, "http://metadata.internal/"))
    assert chain.hops == () and chain.error is not None and "link-local" in chain.error
    assert "metadata.internal" not in server.hosts()


@pytest.mark.browser
def test_timeout_is_an_error_not_an_exception(browser: BrowserThread) -> None:
    chain = browser.run(_follow(browser.browser, "http://bridge.example/js", timeout_s=0.05))
    assert chain.error is not None and "timeout" in chain.error


@pytest.mark.browser
def test_a_closed_context_ends_the_chain_with_an_error_not_an_exception(
    browser: BrowserThread,
) -> None:
    """The browser (or its context) went away before the chain started: new_page() raises
    TargetClosedError, which once cancelled a whole sweep; it is the chain's error now."""

    async def follow_in_a_closed_context() -> Chain:
        context = await browser.browser.new_context()
        await context.close()
        return await follow(context, "http://prf.hn/302", guard=simulator_guard(), settle_s=0.4)

    chain = browser.run(follow_in_a_closed_context())
    assert chain.hops == () and chain.landing_url == "http://prf.hn/302"
    assert chain.error is not None and chain.error.startswith("browser error: "), chain.error


@pytest.mark.browser
def test_a_browser_call_that_never_answers_ends_the_chain_within_its_bound(
    browser: BrowserThread,
) -> None:
    """Every browser call of the follower goes through the caller's bound (here one that
    never answers past the first call): the chain ends with an error, inside its timeout."""
    calls_made: list[str] = []

    async def stuck_after_new_page(call: Any, what: str, timeout_s: float | None = None) -> Any:
        calls_made.append(what)
        if what == "new_page":
            return await call
        call.close()  # never sent: the browser "does not answer"
        async with asyncio.timeout(0.3 if timeout_s is None else min(timeout_s, 0.3)):
            await asyncio.Event().wait()

    async def run() -> tuple[Chain, float]:
        context = await browser.browser.new_context()
        try:
            started = time.monotonic()
            chain = await follow(context, "http://prf.hn/302", guard=simulator_guard(),
                                 timeout_s=5, calls=stuck_after_new_page)
            return chain, time.monotonic() - started
        finally:
            await context.close()

    chain, seconds = browser.run(run())
    assert calls_made[:2] == ["new_page", "new_cdp_session"] and "close page" in calls_made
    assert chain.error is not None and chain.error.startswith("browser error: "), chain.error
    assert seconds < 5


def test_no_context_is_a_chain_decoded_offline_that_says_why() -> None:
    ad = _ad("http://www.googleadservices.com/pagead/aclk?sa=L&ai=x&adurl="
             + quote("http://prf.hn/click/camref:1100l5xYz/destination:"
                     + quote("https://www.lumora.com/sale", safe=""), safe=""))
    chain = asyncio.run(resolve_chain(ad, context=None, guard=simulator_guard(),
                                      follow_click_urls=False, max_hops=10, timeout_s=1))
    assert chain.error == follow_module.NO_BROWSER
    assert chain.hops[0].url == ad.link and len(chain.hops) >= 2  # the offline hops stand


@pytest.mark.browser
def test_cookies_stay_in_their_context(browser: BrowserThread, server: ChainServer) -> None:
    browser.run(_follow(browser.browser, "http://www.lumora.com/set-cookie"))
    after = [c for h, p, c in server.seen if p == "/after-cookie"]
    assert after and "aff=sleepsaver" in after[-1]  # within one chain, like a real click
    browser.run(_follow(browser.browser, "http://www.lumora.com/fresh"))
    fresh = [c for h, p, c in server.seen if p == "/fresh"]
    assert fresh == [""]  # a fresh context carries nothing over


def _ad(click_url: str | None) -> ObservedAd:
    return ObservedAd(
        kind=AdKind.text, position=AdPosition.top, rank=1, headline="Lumora Sale",
        description="", display_url="www.lumora.com", link="http://www.lumora.com/ad",
        click_url=click_url,
    )  # fmt: skip


async def _resolve(browser: Browser, ad: ObservedAd, follow_click_urls: bool) -> Chain:
    context = await browser.new_context()
    try:
        return await resolve_chain(
            ad, context=context, guard=simulator_guard(), follow_click_urls=follow_click_urls,
            max_hops=10, timeout_s=15, settle_s=0.4,
        )  # fmt: skip
    finally:
        await context.close()


ACLK = "http://www.googleadservices.com/pagead/aclk?sa=L&ai=x&adurl=" + quote(
    "http://prf.hn/302", safe=""
)


@pytest.mark.browser
def test_engine_click_url_not_requested_by_default(
    browser: BrowserThread, server: ChainServer
) -> None:
    chain = browser.run(_resolve(browser.browser, _ad(ACLK), follow_click_urls=False))
    assert "www.googleadservices.com" not in server.hosts()
    assert [(h.url, h.how) for h in chain.hops] == [
        ("http://www.lumora.com/ad", HopHow.start),
        ("http://prf.hn/302", HopHow.decoded),
        ("http://www.lumora.com/landing?clickref=1100lqw", HopHow.http),
    ]
    assert chain.hops[1].status == 302
    assert chain.landing_url == "http://www.lumora.com/landing?clickref=1100lqw"
    assert chain.start_url == "http://www.lumora.com/ad"


@pytest.mark.browser
def test_engine_click_url_followed_when_program_says_so(
    browser: BrowserThread, server: ChainServer
) -> None:
    chain = browser.run(_resolve(browser.browser, _ad(ACLK), follow_click_urls=True))
    assert "www.googleadservices.com" in server.hosts()
    assert chain.hops[0].url == ACLK and chain.hops[0].status == 302
    assert chain.landing_url == "http://www.lumora.com/landing?clickref=1100lqw"


@pytest.mark.browser
def test_ad_without_click_url_follows_its_link(browser: BrowserThread) -> None:
    chain = browser.run(_resolve(browser.browser, _ad(None), follow_click_urls=False))
    assert [(h.how, h.status) for h in chain.hops] == [(HopHow.start, 200)]
    assert chain.landing_url == "http://www.lumora.com/ad"


# -- where live following starts (pure) ----------------------------------------------------


BING_SJV = "https://www.bing.com/aclick?ld=x&u=a1" + base64.urlsafe_b64encode(
    b"https://lumora.sjv.io/c/2345678/1234567/15890?u=https%3A%2F%2Fwww.lumora.co.id%2Fpromo"
).decode().rstrip("=")


def test_bing_link_that_is_the_click_url_starts_live_at_the_network_not_the_landing() -> None:
    ad = replace(_ad(BING_SJV), link=BING_SJV)
    hops = engine_hops(ad)
    assert [(h.how, h.url.split("?")[0]) for h in hops] == [
        (HopHow.start, "https://www.bing.com/aclick"),
        (HopHow.decoded, "https://lumora.sjv.io/c/2345678/1234567/15890"),
    ]


def test_a_network_link_is_followed_live_from_the_network_itself() -> None:
    ad = replace(_ad(None), link="https://lumora.sjv.io/c/1/2/3?u=https%3A%2F%2Flumora.co.id")
    assert [h.url for h in engine_hops(ad)] == [ad.link]


def test_when_following_cannot_start_the_offline_destination_stands_in() -> None:
    offline = [Hop("https://lumora.sjv.io/c/1/2/3?u=https%3A%2F%2Flumora.co.id%2Fx", HopHow.start)]
    refused = Chain(start_url=offline[0].url, hops=(), landing_url=offline[0].url,
                    error="refused: 10.0.0.1 is private")
    chain = join_chains(offline[0].url, offline, refused)
    assert chain.landing_url == "https://lumora.co.id/x"
    assert chain.hops[-1].how is HopHow.decoded and chain.error


# ---- engine click URLs are never followed unless the program says so -----------------------

#: a 2016 Yahoo ad (yahoo_brave_1): Yahoo's cbclk2 carries a 2015-era Bing r.msn.com click
YAHOO_VIA_MSN = (
    "http://r.search.yahoo.com/cbclk2/dWU9OTRF/RV=2/RE=1455464359/RO=10/RU="
    + quote("http://51000061.r.msn.com/?ld=d3hMT_vk&u=" + quote(LANDING, safe=""), safe="")
    + "/RK=0/RS=Z1v-"
)


def test_a_bing_r_msn_com_click_is_decoded_offline_never_the_place_to_start_following() -> None:
    ad = replace(_ad(None), link=YAHOO_VIA_MSN)
    hops = engine_hops(ad)
    assert [h.url.split("?")[0] for h in hops] == [
        YAHOO_VIA_MSN, "http://51000061.r.msn.com/", "https://www.lumora.com/sale"
    ]
    assert is_engine_click_url(hops[1].url)
    assert not is_engine_click_url(hops[-1].url)


#: where an engine charges for a click, independently of the engines' own definitions
_ENGINE_CLICK_HOST = re.compile(
    r"(?:.+\.)?(?:google\.[a-z.]+|googleadservices\.com|bing\.com|r\.msn\.com|duckduckgo\.com)"
    r"|r\.search\.yahoo\.[a-z.]+"
)


def _requested_with_click_following_off(ads: list[ObservedAd]) -> list[str]:
    """The URLs resolve_chain would ask the browser for, every ad, follow_click_urls off."""
    requested: list[str] = []

    async def recording_follow(context: Any, url: str, **_: Any) -> Chain:
        requested.append(url)
        return Chain(start_url=url, hops=(Hop(url, HopHow.start),), landing_url=url)

    async def resolve_all() -> None:
        for ad in ads:
            await resolve_chain(ad, context=cast(BrowserContext, None), guard=AddressGuard(),
                                follow_click_urls=False, max_hops=10, timeout_s=1)  # fmt: skip

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(follow_module, "follow", recording_follow)
        asyncio.run(resolve_all())
    return requested


@needs_corpus
def test_no_corpus_ad_of_any_era_has_its_engine_click_requested() -> None:
    pages = sorted((CORPUS / "pages").glob("*.html"))
    ads = []
    for page in pages:
        html = page.read_text("utf-8", "replace")
        ads += get_engine(detect_engine(html) or "google").read_ads(html)
    assert len({ad.click_url or ad.link for ad in ads}) > 60
    requested = _requested_with_click_following_off(ads)
    assert requested  # the advertisers' own URLs are followed
    assert [u for u in requested if _ENGINE_CLICK_HOST.fullmatch(urlsplit(u).hostname or "")] == []
