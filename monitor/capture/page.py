"""Capture one result page: load it in a fresh context, keep the evidence, say what it was.

Returns a Capture in every case (a timeout, a crash or a block is a status, not an
exception), so the sweep never mistakes a failed page for a page without ads. A result page
whose document was cut short is `partial` (its ads are read, but it does not count as
covered); a page whose full-page screenshot fails keeps its HTML and ads, with a viewport
screenshot or none, and says so in `Capture.error`. Every browser call is bounded
(`monitor.capture.calls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ProxySettings,
    Response,
    Route,
    StorageState,
)
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Request as PlaywrightRequest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from monitor.capture.boxes import READ_TIMEOUT_S, LinkReader, boxes_on_screenshot, png_size
from monitor.capture.calls import GRACE_S, BrowserCalls, BrowserLost, CallTimedOut, bounded
from monitor.capture.consent import pass_consent
from monitor.capture.evidence import EvidenceStore
from monitor.capture.profiles import context_options
from monitor.engines.base import Engine
from monitor.models import Capture, CaptureStatus, LinkBox, SearchTask

#: what the evidence does not need — web fonts, audio and video, streaming playlists, app
#: manifests — by URL, so the browser matches it itself: every other request goes out
#: without a round trip through Python (a catch-all route would cost one per request)
HEAVY_RESOURCES = re.compile(
    r"\.(?:woff2?|ttf|otf|eot|mp4|m4v|webm|ogv|ogg|oga|mp3|m4a|aac|wav|flac|m3u8|mpd|ts"
    r"|webmanifest)(?:[?#]|$)|//fonts\.gstatic\.com/",
    re.IGNORECASE,
)
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CaptureOptions:
    timeout_s: float = 30.0
    #: accept the simulator's self-signed certificate (demo and tests only)
    ignore_https_errors: bool = False
    settle_ms: int = 300  # after load, for late ad slots
    #: a proxy URL per market id (scheme://user:password@host:port)
    proxies: Mapping[str, str] = field(default_factory=dict)
    #: click through a consent wall (the least-consent button) instead of recording it
    pass_consent: bool = True
    #: record where the page's links sit on the screenshot (Capture.link_boxes)
    link_boxes: bool = True


#: why a capture failed when more than the page broke (PageResult.lost)
LOST_RENDERER = "the page's renderer crashed"
LOST_BROWSER = "the browser went away"
LOST_HUNG = "the browser stopped answering"
#: loading a page (navigation, settling, the HTML) that takes this many page timeouts means
#: the browser, not the page, is stuck
WATCHDOG_FACTOR = 3
#: the viewport screenshot that stands in for a full-page one that failed: it is small, so
#: it gets a shorter bound
FALLBACK_SCREENSHOT_S = 10.0
#: a page taller than this (CSS pixels) gets a viewport screenshot instead of a full-page
#: one: a result page is 2,000-10,000 px tall; one ad with a megabyte of headline made one
#: 143,679 px tall, whose full-page screenshot took 15 s and 28 MB
MAX_FULL_PAGE_PX = 30_000
#: how much of a document's end is searched for its closing tag (a page may end with a
#: comment or a script after it)
DOCUMENT_TAIL = 4096
#: why a result page is partial (Capture.error starts with it)
CUT_SHORT = "the result page was cut short"


@dataclass(frozen=True)
class PageResult:
    capture: Capture
    html: str  # empty when nothing could be read
    lost: str | None = None  # LOST_*: what besides the page broke
    #: the tab should not serve another search (its screenshot failed: it may still be busy)
    page_spent: bool = False


#: a market proxy URL → the proxy URL its contexts are given instead
EgressRoute = Callable[[str], str]

#: browsers whose every connection goes through the egress proxy, each with the egress's
#: `route` (monitor.resolve.egress.EgressProxy.route). Kept by browser, not passed in the
#: options: every context of such a browser must be routed, whoever opens it (the context
#: pool, the chain follower, which build their options apart), and the browser is what they
#: all share; weak, so a closed browser leaves nothing behind
_EGRESS_ROUTES: weakref.WeakKeyDictionary[Browser, EgressRoute] = weakref.WeakKeyDictionary()


def route_contexts_through(browser: Browser, route: EgressRoute) -> None:
    """`browser` sends every connection through the egress proxy (the keeper launched it
    so): a context of a market with its own proxy is then given `route(market proxy)`, the
    egress's listener for that proxy, and never the market's proxy itself, which Chromium
    would connect to directly, unvetted."""
    _EGRESS_ROUTES[browser] = route


async def context_proxy(
    browser: Browser, market_proxy: str | None
) -> ProxySettings | None:
    """The proxy settings for a context of a market whose own proxy is `market_proxy`: the
    egress's route to it for a browser that goes through the egress proxy (no credentials:
    the egress holds them), the market's proxy itself for a browser of its own (tests and
    launchers without the egress proxy)."""
    route = _EGRESS_ROUTES.get(browser)
    if not market_proxy or route is None:
        return proxy_settings(market_proxy)
    # at most a listener's start (bounded by the egress itself); off the loop
    routed = await asyncio.to_thread(route, market_proxy)
    return {"server": routed, "bypass": "<-loopback>"}  # loopback too, as the browser's own


async def new_task_context(
    browser: Browser,
    task: SearchTask,
    options: CaptureOptions,
    storage_state: StorageState | None = None,
    calls: BrowserCalls | None = None,
) -> BrowserContext:
    """A fresh context dressed as the task's market and device: no cookies from other tasks,
    only `storage_state` (what this market profile earned before: a consent cookie). A
    market's own proxy is reached through the egress proxy when `browser` goes through it
    (`route_contexts_through`)."""
    calls = calls or BrowserCalls(options.timeout_s)
    proxy = await context_proxy(browser, options.proxies.get(task.market.id))
    context = await calls(browser.new_context(
        **context_options(task, browser.version),
        ignore_https_errors=options.ignore_https_errors,
        proxy=proxy,
        storage_state=storage_state,
    ), "new_context")
    try:
        context.set_default_timeout(options.timeout_s * 1000)
        await calls(context.route(HEAVY_RESOURCES, _abort), "route")
    except BaseException:
        await close_context(context, calls)  # half made: nobody else would close it
        raise
    return context


def proxy_settings(url: str | None) -> ProxySettings | None:
    """Playwright's proxy settings from a proxy URL; credentials go in their own fields."""
    if not url:
        return None
    parts = urlsplit(url)
    server = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    proxy: ProxySettings = {"server": server}
    if parts.username:
        proxy["username"] = unquote(parts.username)
        proxy["password"] = unquote(parts.password or "")
    return proxy


async def _abort(route: Route) -> None:
    # a handler Playwright runs per heavy request: bounded too, and quiet when the page or
    # browser went away meanwhile (nobody waits for it but Playwright's dispatch)
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await bounded(route.abort("blockedbyclient"), "abort", CLOSE_TIMEOUT_S)


async def capture_page(
    context: BrowserContext,
    task: SearchTask,
    engine: Engine,
    evidence: EvidenceStore,
    options: CaptureOptions,
    page: Page | None = None,
    calls: BrowserCalls | None = None,
) -> PageResult:
    """Load the task's result page in `context` and keep its HTML and screenshot. With no
    `page` given, a tab is opened for it and closed after; a given one is left open.
    `calls` is the browser's (so a lost browser ends the capture at once)."""
    calls = calls or BrowserCalls(options.timeout_s)
    url = engine.search_url(task)
    started = time.monotonic()
    own_page = page is None
    previous_url = page.url if page is not None else None  # a reused page's last search
    crashed: list[bool] = []
    broken = _DocumentWatch()

    def on_crash(_: Page) -> None:
        crashed.append(True)
        broken.on_crash()

    try:
        if page is None:
            page = await calls(context.new_page(), "new_page")
        page.on("crash", on_crash)
        page.on("requestfailed", broken.on_failed)
        # each call has its own bound; this one covers a page whose calls each answer in
        # time but never add up to a loaded page
        async with asyncio.timeout(options.timeout_s * WATCHDOG_FACTOR):
            loaded = await _load(page, task, engine, options, url, calls, broken)
        shot = await _screenshot_with_boxes(page, options, calls, crashed)
        return await _keep(page, task, evidence, url, started, loaded, shot)
    except (PlaywrightError, TimeoutError, OSError) as error:
        lost = await _what_was_lost(context, error, bool(crashed), calls)
        if lost in (LOST_BROWSER, LOST_HUNG):
            # at once, not when the sweep hears of it: the calls still waiting on this
            # browser (this page's cleanup, the other pages) end now instead of at their
            # bounds
            calls.lose(lost)
        result = await _failed(page, task, evidence, url, started, error, lost, calls)
        if result.capture.final_url == previous_url:  # it never left the last search
            result = replace(result, capture=replace(result.capture, final_url=url))
        return result
    finally:
        if page is not None:
            page.remove_listener("crash", on_crash)
            page.remove_listener("requestfailed", broken.on_failed)
            if own_page:
                await close_page(page, calls)


async def _what_was_lost(
    context: BrowserContext, error: BaseException, crashed: bool, calls: BrowserCalls
) -> str | None:
    """Why a failed page failed, when it was more than the page: the sweep retries these on a
    fresh context (a renderer crash) or a fresh browser (the browser gone or hung)."""
    if isinstance(error, BrowserLost):
        return LOST_HUNG if error.reason == LOST_HUNG else LOST_BROWSER
    if context.browser is not None and not context.browser.is_connected():
        return LOST_BROWSER
    if type(error) is TimeoutError:  # the watchdog, not one of the calls' own bounds
        return LOST_HUNG
    if crashed or "crash" in str(error).lower():
        return LOST_RENDERER
    if await _browser_silent(error, context.browser, calls):
        return LOST_HUNG
    return None


async def _browser_silent(
    error: BaseException, browser: Browser | None, calls: BrowserCalls
) -> bool:
    """After `error`: whether it was the browser, not the page, that stopped answering. A
    timeout, ours or Playwright's, is most often a slow page; it is the browser's when the
    browser itself no longer answers either."""
    if not isinstance(error, CallTimedOut | PlaywrightTimeout):
        return False
    return not await browser_answers(browser, calls)


async def browser_answers(browser: Browser | None, calls: BrowserCalls) -> bool:
    """Whether the browser process itself still answers (a page may hang while it does)."""
    if browser is None or not browser.is_connected():
        return False
    try:
        session = await calls(browser.new_browser_cdp_session(), "probe", CLOSE_TIMEOUT_S)
        try:
            await calls(session.send("Browser.getVersion"), "probe", CLOSE_TIMEOUT_S)
        finally:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await calls(session.detach(), "probe", CLOSE_TIMEOUT_S)
    except (PlaywrightError, TimeoutError):
        return False
    return True


@dataclass(frozen=True)
class _Loaded:
    """A loaded page: what it is and its HTML."""

    status: CaptureStatus
    http_status: int | None
    html: str
    #: why the document is not whole (a partial page), or None
    cut_short: str | None = None


@dataclass(frozen=True)
class _Shot:
    png: bytes | None
    link_boxes: tuple[LinkBox, ...] = ()
    #: what went wrong with the screenshot, or None
    trouble: str | None = None
    #: a screenshot failed on the tab: it may still be busy with it, so it is not reused
    spent: bool = False


async def _load(
    page: Page,
    task: SearchTask,
    engine: Engine,
    options: CaptureOptions,
    url: str,
    calls: BrowserCalls,
    broken_documents: _DocumentWatch,
) -> _Loaded:
    # the navigation — its commit, the document's body, its DOMContentLoaded — has one page
    # timeout in all, as one goto(wait_until="domcontentloaded") had
    navigation = _Deadline(options.timeout_s)
    response = await calls(page.goto(url, wait_until="commit", timeout=navigation.ms()),
                           "goto", navigation.bound())
    broken = await _arrival(page, response, calls, broken_documents, navigation)
    html = await _settled_html(page, options, calls, wait_for_load=broken is None)
    status_code = response.status if response else None
    status = engine.classify(page.url, status_code, html)
    passed = None
    if status is CaptureStatus.consent and options.pass_consent:
        passed = await pass_consent(page, engine, options.timeout_s, calls)
    if passed:
        # what counts now is the page the consent led to (the wall again, if it came back)
        response = passed.response
        broken = await _arrival(page, response, calls, broken_documents,
                                _Deadline(options.timeout_s))
        html = await _settled_html(page, options, calls, wait_for_load=broken is None)
        status_code = passed.http_status
        status = engine.classify(page.url, status_code, html)
    cut_short = None
    if status.covered:  # only a result page can hide ads below where it was cut
        cut_short = broken or await document_cut_short(response, calls, options.timeout_s)
        if cut_short:
            status = CaptureStatus.partial
    return _Loaded(status, status_code, html, cut_short)


class _Deadline:
    """One time budget for several browser calls, each bounded by what is left of it."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def left(self) -> float:
        return max(self._at - time.monotonic(), 0.05)

    def ms(self) -> float:
        """What is left, for a Playwright timeout."""
        return self.left() * 1000

    def bound(self) -> float:
        """What is left, for the call's own bound (Playwright's timeout comes first)."""
        return self.left() + GRACE_S


async def _arrival(
    page: Page,
    response: Response | None,
    calls: BrowserCalls,
    broken: _DocumentWatch,
    navigation: _Deadline,
) -> str | None:
    """Wait for the committed document: its whole body, then its DOMContentLoaded. A body
    that breaks off (a connection lost: the browser's net::ERR_…) never brings the
    DOMContentLoaded; the page is then what arrived, and what broke is returned."""
    if response is not None:
        finished = asyncio.ensure_future(response.finished())
        failed = asyncio.ensure_future(broken.failure_of(response.request))
        try:
            await calls(asyncio.wait((finished, failed), return_when=asyncio.FIRST_COMPLETED),
                        "the document's body", navigation.left())
        finally:
            finished.cancel()
            failed.cancel()
        if failed.done() and not failed.cancelled():
            return f"{CUT_SHORT}: {failed.result()}"
        if finished.done() and not finished.cancelled():
            finished.result()  # the page closed meanwhile: raised here
    await calls(page.wait_for_load_state("domcontentloaded", timeout=navigation.ms()),
                "domcontentloaded", navigation.bound())
    return None


class _DocumentWatch:
    """What the page says of its documents while one loads: those whose body broke off,
    and a renderer crash. Playwright's `response.finished()` returns for neither (a crashed
    or busy renderer never reports the body finished), so the wait for a body races these
    (only failures and crashes come to this listener: it costs a page nothing)."""

    def __init__(self) -> None:
        self._failed: list[tuple[PlaywrightRequest, str]] = []
        self._crashed = False
        self._changed = asyncio.Event()

    def on_failed(self, request: PlaywrightRequest) -> None:
        failure = request.failure or "failed"
        # a document replaced by the next navigation (ERR_ABORTED) did not break: the page
        # moved on, and the document that counts is the next one
        if request.resource_type == "document" and "ERR_ABORTED" not in failure:
            self._failed.append((request, failure))
            self._changed.set()

    def on_crash(self) -> None:
        self._crashed = True
        self._changed.set()

    async def failure_of(self, request: PlaywrightRequest) -> str:
        """Wait until `request` fails: its failure text; PageCrashed when the renderer
        crashes first."""
        while True:
            if self._crashed:
                raise PageCrashed("the page crashed while its document loaded")
            for failed, failure in self._failed:
                if failed is request:
                    return failure
            self._changed.clear()
            await self._changed.wait()


class PageCrashed(PlaywrightError):
    """The page's renderer crashed (a Playwright error, as Playwright's own would be)."""


async def document_cut_short(
    response: Response | None, calls: BrowserCalls, timeout_s: float
) -> str | None:
    """Why a document that arrived without a network error is still not whole — its body
    ends before `</html>` (a server that sent a short Content-Length, or closed a body that
    had none early) — or None when it is, or when it cannot be told (no response: the same
    document; a body the browser no longer holds). The DOM cannot tell: the parser closes
    whatever was left open, so `content()` always ends in `</html>`; the bytes can."""
    if response is None:
        return None
    try:
        body = await calls(response.body(), "the document's body", timeout_s)
    except PlaywrightError:
        return None  # evicted from the browser's buffers: no sign of a cut either way
    if b"</html" not in body[-DOCUMENT_TAIL:].lower():
        return f"{CUT_SHORT}: its document ends before </html> ({len(body)} bytes)"
    return None


def read_only_in_part(capture: Capture, why: str) -> Capture:
    """A captured result page the readers could read only in part (it was past the readers'
    bounds, `engines.pagetext`): partial, not covered, since ads past the cut are unread, and
    why, before any other note."""
    if not capture.status.covered:
        return capture
    note = f"{CUT_SHORT} for reading: {why}"
    error = "; ".join(n for n in (note, capture.error) if n)[:500]
    return replace(capture, status=CaptureStatus.partial, error=error)


async def _keep(
    page: Page,
    task: SearchTask,
    evidence: EvidenceStore,
    url: str,
    started: float,
    loaded: _Loaded,
    shot: _Shot,
) -> PageResult:
    # compressing and hashing release the GIL: off the event loop, they overlap other pages
    html_path, screenshot_path = await asyncio.gather(
        asyncio.to_thread(evidence.save_html, loaded.html),
        asyncio.to_thread(evidence.save_screenshot, shot.png) if shot.png else _nothing())
    notes = [note for note in (loaded.cut_short, shot.trouble) if note]
    capture = Capture(
        task=task, status=loaded.status, url=url, final_url=page.url,
        http_status=loaded.http_status, captured_at=datetime.now(UTC), html_path=html_path,
        screenshot_path=screenshot_path, error="; ".join(notes)[:500] or None,
        elapsed_ms=int((time.monotonic() - started) * 1000), link_boxes=shot.link_boxes,
    )
    return PageResult(capture, loaded.html, page_spent=shot.spent)


async def _nothing() -> None:
    return None


async def _screenshot_with_boxes(
    page: Page, options: CaptureOptions, calls: BrowserCalls, crashed: list[bool]
) -> _Shot:
    """The full-page screenshot, and where the page's links sit on it: read just before and
    just after it, so only links that stayed put while it was taken are kept.

    A page too big or too busy to be shot whole (an ad with a megabyte of headline) must not
    cost the page: its HTML and ads are kept, with a viewport screenshot instead, or none,
    and the trouble is said. A lost browser or a crashed renderer is still a failed page
    (raised): the sweep asks it again, and the evidence it then gets is whole."""
    reader = LinkReader(page, min(READ_TIMEOUT_S, options.timeout_s), calls) \
        if options.link_boxes else None
    try:
        before = await reader.read() if reader else None
        height = before.height if before else await _page_height(page, calls)
        if height is not None and height > MAX_FULL_PAGE_PX:
            return await _viewport_screenshot(
                page, calls, crashed, f"the page is too tall for a full-page screenshot "
                                      f"({height:.0f} px)")
        try:
            # CSS pixels: a phone profile's 2.6x device pixels cost 7x the encoding for no
            # evidence
            screenshot = await calls(
                page.screenshot(full_page=True, scale="css", timeout=options.timeout_s * 1000),
                "screenshot", options.timeout_s + GRACE_S)
        except (PlaywrightError, TimeoutError) as error:
            _raise_if_lost(error, page, crashed)
            if await _browser_silent(error, page.context.browser, calls):
                # the browser hung, not the page: a failed page, asked again on a new
                # browser, whose evidence is then whole
                calls.lose(LOST_HUNG)
                raise BrowserLost("screenshot", LOST_HUNG) from error
            trouble = f"full-page screenshot failed ({_first_line(error)})"
            return replace(await _viewport_screenshot(page, calls, crashed, trouble),
                           spent=True)
        after = await reader.read() if reader and before else None
    finally:
        if reader:
            await reader.close()
    return _Shot(screenshot, boxes_on_screenshot(before, after, png_size(screenshot)))


async def _page_height(page: Page, calls: BrowserCalls) -> float | None:
    """The page's height in CSS pixels, or None when it cannot be read (the page's own
    script may lie: this only chooses the kind of screenshot)."""
    try:
        height = await calls(page.evaluate(
            "Math.max(document.documentElement.scrollHeight,"
            " document.body ? document.body.scrollHeight : 0)"), "page height", READ_TIMEOUT_S)
    except (PlaywrightError, TimeoutError):
        return None
    return float(height) if isinstance(height, int | float) else None


async def _viewport_screenshot(
    page: Page, calls: BrowserCalls, crashed: list[bool], trouble: str
) -> _Shot:
    """What the page showed on screen, when the whole page could not be shot; no link boxes
    (the page may have moved under a screenshot that failed half-way)."""
    try:
        screenshot = await calls(
            page.screenshot(full_page=False, scale="css",
                            timeout=FALLBACK_SCREENSHOT_S * 1000),
            "viewport screenshot", FALLBACK_SCREENSHOT_S + GRACE_S)
    except (PlaywrightError, TimeoutError) as error:
        _raise_if_lost(error, page, crashed)
        return _Shot(None, trouble=f"{trouble}; no screenshot ({_first_line(error)})",
                     spent=True)
    return _Shot(screenshot, trouble=f"{trouble}; the viewport only")


def _raise_if_lost(error: BaseException, page: Page, crashed: list[bool]) -> None:
    browser = page.context.browser
    if (isinstance(error, BrowserLost) or crashed or page.is_closed()
            or (browser is not None and not browser.is_connected())):
        raise error


async def _settled_html(
    page: Page, options: CaptureOptions, calls: BrowserCalls, *, wait_for_load: bool = True
) -> str:
    # a slow sub-resource must not lose a page whose document is already here (and a
    # document that broke off never fires its load event)
    if wait_for_load:
        with contextlib.suppress(PlaywrightError, CallTimedOut):
            await calls(page.wait_for_load_state("load", timeout=options.timeout_s * 500),
                        "load", options.timeout_s / 2 + GRACE_S)
    # a plain sleep, not page.wait_for_timeout: waiting needs no answer from the browser
    await asyncio.sleep(options.settle_ms / 1000)
    return await calls(page.content(), "content")


async def _failed(
    page: Page | None,
    task: SearchTask,
    evidence: EvidenceStore,
    url: str,
    started: float,
    error: BaseException,
    lost: str | None,
    calls: BrowserCalls,
) -> PageResult:
    """An error capture, keeping whatever the page had got to as evidence."""
    html_path = None
    if page is not None and lost is None:
        try:
            html = await calls(page.content(), "content", CLOSE_TIMEOUT_S)
            html_path = evidence.save_html(html) if html else None
        except (PlaywrightError, TimeoutError):
            pass  # the renderer is gone; the error message is the evidence
    capture = Capture(
        task=task, status=CaptureStatus.error, url=url,
        final_url=(_safe_url(page) if page is not None else None) or url,
        http_status=None, captured_at=datetime.now(UTC), html_path=html_path,
        error=_error_message(error, lost), elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return PageResult(capture, "", lost)


def failed_capture(
    task: SearchTask, engine: Engine, error: BaseException, lost: str | None
) -> PageResult:
    """An error capture for a task whose page could not even be opened."""
    url = engine.search_url(task)
    capture = Capture(task=task, status=CaptureStatus.error, url=url, final_url=url,
                      http_status=None, captured_at=datetime.now(UTC),
                      error=_error_message(error, lost))
    return PageResult(capture, "", lost)


def _error_message(error: BaseException, lost: str | None) -> str:
    first_line = _first_line(error)
    return (f"{lost} ({first_line})" if lost else first_line)[:500]


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _safe_url(page: Page) -> str | None:
    try:
        return page.url
    except PlaywrightError:
        return None


async def close_page(page: Page, calls: BrowserCalls | None = None) -> None:
    # a crashed page cannot be closed; its context will be
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await (calls or BrowserCalls(CLOSE_TIMEOUT_S))(page.close(), "close page",
                                                       CLOSE_TIMEOUT_S)


async def close_context(context: BrowserContext, calls: BrowserCalls | None = None) -> None:
    # the browser is being torn down or has crashed; nothing is left to save
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await (calls or BrowserCalls(CLOSE_TIMEOUT_S))(context.close(), "close context",
                                                       CLOSE_TIMEOUT_S)
