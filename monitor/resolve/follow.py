"""Where an ad leads, followed live hop by hop in the browser; `resolve_chain` puts the
offline hops (`monitor.resolve.unwrap`) first and starts following where they end.

Live following runs in a page of a Playwright BrowserContext that the caller supplies, so the
hops go through the browser's own network stack (JavaScript bridges run). Two fences stand
between a chain and an address it must not reach:

* the browser's egress proxy (monitor.resolve.egress, docs/egress.md): every connection the
  browser makes — hops, subresources, WebSockets, popups, prefetches, service workers — is
  vetted there, at the moment it connects, to the address it connects to. Given `egress`,
  the follower asks it why a hop failed, so a hop it refused ends the chain with the guard's
  reason (the browser only says "tunnel failed" for https);
* every request of the chain's own page is paused with the DevTools Fetch domain and checked
  by the guard before it leaves, which names a refused hop before anything connects and
  keeps what a chain never needs (images, styles, fonts) from loading at all. Fetch is used
  rather than Playwright's route(): route() is not called for the requests after an HTTP
  redirect (checked with Playwright 1.65).

A hop's body is read (for a meta refresh) only when it is small enough: at most
BODY_FETCH_LIMIT by its Content-Length, and never more than the proxy lets through.

Cookies: following shares the context's cookie jar, as a real click would. The caller must give
a fresh context per task and close it afterwards, so nothing carries from one chain to another.

Never raises for chain trouble: a browser that closes, crashes or stops answering mid-chain
ends that chain with `Chain.error` set, like a refused hop or the chain's timeout. Every call
into the browser is bounded by the caller's `Calls` (the sweep hands over the capture
stage's, which also ends the calls at once when the browser is lost; capture and resolve are
independent layers and never import each other), or by a plain timeout without one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from monitor.engines import is_engine_click_url
from monitor.engines.dom import parse
from monitor.models import Chain, Hop, HopHow, ObservedAd
from monitor.resolve.egress import EgressProxy
from monitor.resolve.guard import AddressGuard, BlockedAddress, split_target
from monitor.resolve.unwrap import engine_hops, join_chains

log = logging.getLogger(__name__)
T = TypeVar("T")

#: request types a redirect chain never needs; the rest are aborted too, see _SUBRESOURCES_KEPT
_SUBRESOURCES_KEPT = frozenset({"Script", "XHR", "Fetch"})
#: how long a loaded page must stay quiet (no hop, no request in flight, no navigation
#: started, no redirect timer due) before its URL counts as the landing page: long enough
#: for a script's `location = …` to reach the browser's network stack
DEFAULT_SETTLE_S = 0.3
#: meta refreshes slower than this are a page reloading itself, not a redirect
MAX_META_DELAY_S = 10.0
#: a page's timers ("redirecting in 3 s…") are waited for up to this delay, and only those
#: set while it loaded (a script polling forever re-arms later ones, and is not a redirect)
MAX_TIMER_S = MAX_META_DELAY_S
#: a request in flight for longer than this (a long poll, a stalled analytics beacon) no
#: longer keeps the page from counting as quiet
LONG_REQUEST_S = 2.0
#: how much of a hop's HTML is searched for a meta refresh
BODY_SCAN_LIMIT = 256 * 1024
#: a hop whose Content-Length says more is not read at all (the egress proxy bounds the
#: ones that say nothing)
BODY_FETCH_LIMIT = 2 * 1024 * 1024
#: the bound of one browser call when the caller gives no `Calls` of its own
CALL_TIMEOUT_S = 10.0
#: closing the follower's page, and releasing its paused requests
CLOSE_TIMEOUT_S = 5.0
#: the chain's error when there is no browser to follow it in
NO_BROWSER = "browser error: no browser to follow in"


class Calls(Protocol):
    """One bounded browser call: `await call` within `timeout_s` (the implementation's
    default when None), raising a TimeoutError past it or a Playwright error when the
    browser is gone."""

    async def __call__(
        self, call: Awaitable[T], what: str, timeout_s: float | None = None
    ) -> T: ...


async def timed(call: Awaitable[T], what: str, timeout_s: float | None = None) -> T:
    """`Calls` with only a timeout, for callers that keep no browser of their own."""
    async with asyncio.timeout(CALL_TIMEOUT_S if timeout_s is None else timeout_s):
        return await call


# ---- live following -------------------------------------------------------------------------


@dataclass
class _Follow:
    """The state of one live follow: hops so far, and why it stopped (if it did)."""

    guard: AddressGuard
    max_hops: int
    egress: EgressProxy | None = None
    started: float = field(default_factory=time.monotonic)
    hops: list[Hop] = field(default_factory=list)
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    activity: asyncio.Event = field(default_factory=asyncio.Event)
    loaded: bool = False
    meta_target: str | None = None
    meta_delay_s: float = 0.0
    main_frame: str = ""
    #: the page's requests in flight, with when each began
    in_flight: dict[int, float] = field(default_factory=dict)
    #: the page-side name of the timer watch (`_TIMER_WATCH`), unguessable per follow
    timer_watch: str = field(default_factory=lambda: f"__bidwatch_{secrets.token_hex(8)}")

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def request_started(self, request: Any) -> None:
        self.in_flight[id(request)] = time.monotonic()
        self.activity.set()

    def request_ended(self, request: Any) -> None:
        self.in_flight.pop(id(request), None)

    def network_busy(self) -> bool:
        """Whether a request that began recently is still in flight."""
        recent = time.monotonic() - LONG_REQUEST_S
        return any(began > recent for began in self.in_flight.values())

    def stop(self, reason: str) -> None:
        if self.error is None and not self.done.is_set():
            self.error = reason
        self.done.set()

    def egress_refusal(self, url: str) -> tuple[bool, str] | None:
        """(refused, why) when the egress proxy refused or cut a connection to `url`'s host
        and port during this chain; None without a proxy or a word from it."""
        if self.egress is None:
            return None
        try:
            _scheme, host, port = split_target(url)
        except BlockedAddress:
            return None
        note = self.egress.note(host, port, since=self.started)
        return None if note is None else (note.refused, note.reason)


async def follow(
    context: BrowserContext | None,
    url: str,
    *,
    guard: AddressGuard,
    max_hops: int = 10,
    timeout_s: float = 20.0,
    settle_s: float = DEFAULT_SETTLE_S,
    calls: Calls = timed,
    egress: EgressProxy | None = None,
) -> Chain:
    """Follow `url` hop by hop in a new page of `context`; never raises for chain trouble.

    Stops with Chain.error set at the hop limit, the timeout, a hop the guard (or the
    `egress` proxy the context's browser connects through) refuses, a network error, or a
    browser error (the browser closed, crashed or stopped answering; no `context` at all: it
    could not give one). The landing URL is the last hop reached.
    """
    state = _Follow(guard=guard, max_hops=max_hops, egress=egress)
    page: Page | None = None
    chain_bound = asyncio.timeout(timeout_s)
    try:
        async with chain_bound:
            # inside the chain's bound: a resolver that never answers the guard, or a browser
            # going away that leaves new_page() unanswered, ends the chain
            try:
                await asyncio.to_thread(guard.check, url)
            except BlockedAddress as refused:
                return Chain(start_url=url, hops=(), landing_url=url,
                             error=f"guard: {refused.reason}")
            if context is None:
                return Chain(start_url=url, hops=(), landing_url=url, error=NO_BROWSER)
            page = await calls(context.new_page(), "new_page")
            await _run(page, context, url, state, settle_s, calls)
    except TimeoutError as exc:
        if chain_bound.expired():
            state.stop(f"timeout after {timeout_s:g} s")
        else:  # one call's own bound: the browser stopped answering
            state.stop(f"browser error: {_first_line(exc)}")
    except PlaywrightError as exc:
        state.stop(f"browser error: {_first_line(exc)}")
    except Exception as exc:  # a CDP reply of an unexpected shape: this chain ends, not the sweep
        log.warning("following %s failed", url[:200], exc_info=True)
        state.stop(f"error: {type(exc).__name__}: {_first_line(exc)}")
    finally:
        if page is not None:
            with contextlib.suppress(PlaywrightError, TimeoutError):
                await calls(page.close(), "close page", CLOSE_TIMEOUT_S)
    landing = state.hops[-1].url if state.hops else url
    return Chain(start_url=url, hops=tuple(state.hops), landing_url=landing, error=state.error)


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


async def _run(
    page: Page, context: BrowserContext, url: str, state: _Follow, settle: float, calls: Calls
) -> None:
    cdp = await calls(context.new_cdp_session(page), "new_cdp_session")
    tree = await calls(cdp.send("Page.getFrameTree"), "Page.getFrameTree")
    state.main_frame = tree["frameTree"]["frame"]["id"]
    tasks: set[asyncio.Task[None]] = set()

    def on_paused(event: dict[str, Any]) -> None:
        task = asyncio.ensure_future(_on_paused(cdp, state, event, calls))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_popup(popup: Page) -> None:
        # a chain never needs a second window (its connections go through the egress proxy
        # like any other, but it need not run at all)
        task = asyncio.ensure_future(_close_quietly(popup, calls))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    def on_failed(request: Any) -> None:
        state.request_ended(request)
        _on_failed(state, page, request)

    def on_navigation(event: dict[str, Any]) -> None:
        # a navigation the page began (a script, a form, a refresh): it is not quiet yet,
        # even before the request reaches the network stack
        if event.get("frameId") == state.main_frame:
            state.activity.set()

    cdp.on("Fetch.requestPaused", on_paused)
    cdp.on("Page.frameRequestedNavigation", on_navigation)
    cdp.on("Page.frameStartedLoading", on_navigation)
    page.on("load", lambda _page: _mark_loaded(state, page.url))
    page.on("request", state.request_started)
    page.on("requestfinished", state.request_ended)
    page.on("requestfailed", on_failed)
    page.on("popup", on_popup)
    await calls(cdp.send("Page.enable"), "Page.enable")
    await calls(cdp.send("Page.addScriptToEvaluateOnNewDocument", {
        "source": _TIMER_WATCH.replace("WATCH", state.timer_watch)
                              .replace("MAX_MS", str(int(MAX_TIMER_S * 1000)))}),
        "Page.addScriptToEvaluateOnNewDocument")
    await calls(cdp.send("Fetch.enable", {"patterns": _FETCH_PATTERNS}), "Fetch.enable")
    navigation = asyncio.ensure_future(_navigate(page, url, calls))
    try:
        await _wait_until_settled(state, page, settle, calls)
    finally:
        navigation.cancel()
        for task in list(tasks):
            task.cancel()
        # Release requests still paused, or closing the page waits for them.
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await calls(cdp.send("Fetch.disable"), "Fetch.disable", 2)


async def _close_quietly(page: Page, calls: Calls) -> None:
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await calls(page.close(), "close popup", CLOSE_TIMEOUT_S)


_FETCH_PATTERNS = [
    {"urlPattern": "*", "requestStage": "Request"},
    {"urlPattern": "*", "resourceType": "Document", "requestStage": "Response"},
]


async def _navigate(page: Page, url: str, calls: Calls) -> None:
    # Errors surface through the requestfailed and Fetch handlers, which know the hop; the
    # chain's own bound cancels a navigation that never commits.
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await calls(page.goto(url, wait_until="commit", timeout=0), "goto")


async def _wait_until_settled(
    state: _Follow, page: Page, settle: float, calls: Calls
) -> None:
    """Return when the chain stopped, or as soon as its loaded page is quiet: nothing
    happened for `settle` s (no hop, no navigation begun, no recent request in flight) and
    no redirect timer of the page is due. A meta refresh is waited for as announced."""
    while not state.done.is_set():
        state.activity.clear()
        quiet = settle + (state.meta_delay_s if state.meta_target else 0.0)
        if await _activity_within(state, quiet) or not state.loaded or state.network_busy():
            continue
        due_s = await _timer_due_s(state, page, calls)
        if due_s is None:
            continue  # the document changed under the question: not quiet
        if due_s <= 0:
            return
        # a timer set while the page loaded fires within MAX_TIMER_S: what it does decides
        await _activity_within(state, due_s + settle)


async def _activity_within(state: _Follow, seconds: float) -> bool:
    """Whether anything happened (or the chain stopped) within `seconds`."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (state.activity, state.done)]
    finished, pending = await asyncio.wait(waiters, timeout=seconds,
                                           return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()
    return bool(finished)


async def _timer_due_s(state: _Follow, page: Page, calls: Calls) -> float | None:
    """Seconds until the last pending timer the page set while it loaded fires (0 for none),
    or None when the page could not be asked (it is navigating)."""
    try:
        due_ms = await calls(page.evaluate(f"() => window.{state.timer_watch}?.() ?? 0"),
                             "the page's timers", CLOSE_TIMEOUT_S)
    except PlaywrightError:
        return None
    try:
        return min(max(float(due_ms), 0.0) / 1000, MAX_TIMER_S)
    except (TypeError, ValueError):  # the page's own script answered in our place
        return 0.0


#: run before a hop's own scripts: counts the setTimeout timers (up to MAX_MS) set while
#: the page loads (until its load event and a moment after), forgetting each one as it fires
#: or is cleared, and answers when the last fires. setInterval and later timers are the
#: page polling, never a redirect to wait for. (The page can see this and lie to it; it
#: gains nothing it could not have by redirecting after the wait.)
_TIMER_WATCH = """(() => {
  const due = new Map();
  const setTimer = window.setTimeout, clearTimer = window.clearTimeout;
  let loadedAt = Infinity;
  window.addEventListener("load", () => { loadedAt = performance.now(); }, { once: true });
  window.setTimeout = function (handler, delay, ...rest) {
    const ms = Number(delay) || 0;
    const counted = ms <= MAX_MS && performance.now() <= loadedAt + 100;
    let id;
    const run = typeof handler === "function"
      ? function () { due.delete(id); return handler.apply(this, arguments); }
      : function () { due.delete(id); return (0, eval)(String(handler)); };
    id = setTimer.call(this, run, delay, ...rest);
    if (counted) due.set(id, performance.now() + ms);
    return id;
  };
  window.clearTimeout = function (id) { due.delete(id); return clearTimer.call(this, id); };
  Object.defineProperty(window, "WATCH", { value: () => {
    let last = 0;
    const now = performance.now();
    for (const at of due.values()) last = Math.max(last, at - now);
    return last;
  } });
})();"""


def _mark_loaded(state: _Follow, url: str) -> None:
    # Only the current hop's document counts: an earlier one may finish after a script moved on.
    if state.hops and _same_url(url, state.hops[-1].url):
        state.loaded = True
        state.activity.set()


def _on_failed(state: _Follow, page: Page, request: Any) -> None:
    try:
        in_main_frame = request.frame == page.main_frame
    except PlaywrightError:
        return  # a worker's request: it has no frame
    if not in_main_frame or not request.is_navigation_request():
        return
    failure = request.failure or "failed"
    if "ERR_ABORTED" in failure:
        # Superseded by the next navigation, a download or a 204: the page stays where it is.
        _mark_loaded(state, request.url)
        return
    egress = state.egress_refusal(request.url)
    if egress is not None and egress[0]:
        state.stop(f"guard: {egress[1]}")  # a tunnel the proxy refused: "tunnel failed"
    elif egress is not None:
        state.stop(f"network error at {request.url[:200]}: {failure} (egress: {egress[1]})")
    else:
        state.stop(f"network error at {request.url[:200]}: {failure}")


async def _on_paused(
    cdp: CDPSession, state: _Follow, event: dict[str, Any], calls: Calls
) -> None:
    request_id = event["requestId"]
    try:
        if "responseStatusCode" in event or "responseErrorReason" in event:
            await _on_response(cdp, state, event, calls)
            await calls(cdp.send("Fetch.continueRequest", {"requestId": request_id}),
                        "Fetch.continueRequest")
        elif await _allow_request(state, event):
            await calls(cdp.send("Fetch.continueRequest", {"requestId": request_id}),
                        "Fetch.continueRequest")
        else:
            await calls(cdp.send(
                "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
            ), "Fetch.failRequest")
    except (PlaywrightError, TimeoutError) as exc:
        # The page closed or the request went away while we decided: nothing left to do,
        # unless the browser stopped answering, which ends the chain.
        if isinstance(exc, TimeoutError):
            state.stop(f"browser error: {_first_line(exc)}")
        return


async def _allow_request(state: _Follow, event: dict[str, Any]) -> bool:
    url = event["request"]["url"]
    kind = event.get("resourceType", "Other")
    is_hop = kind == "Document" and event.get("frameId") == state.main_frame
    if not is_hop and kind not in _SUBRESOURCES_KEPT:
        return False
    if state.done.is_set():
        return False
    if is_hop and len(state.hops) >= state.max_hops:
        state.stop(f"hop limit ({state.max_hops}) reached before {url[:200]}")
        return False
    try:
        await asyncio.to_thread(state.guard.check, url)
    except BlockedAddress as refused:
        if is_hop:
            state.stop(f"guard: {refused.reason}")
        return False
    if is_hop:
        _record_hop(state, url, redirected="redirectedRequestId" in event)
    return True


def _record_hop(state: _Follow, url: str, *, redirected: bool) -> None:
    if not state.hops:
        how = HopHow.start
    elif redirected:
        how = HopHow.http
    elif state.meta_target is not None and _same_url(url, state.meta_target):
        how = HopHow.meta
    else:
        how = HopHow.js
    state.hops.append(Hop(url=url, how=how, elapsed_ms=state.elapsed_ms()))
    state.loaded = False
    state.meta_target = None
    state.activity.set()


async def _on_response(
    cdp: CDPSession, state: _Follow, event: dict[str, Any], calls: Calls
) -> None:
    if event.get("frameId") != state.main_frame or not state.hops:
        return
    status = event.get("responseStatusCode")
    state.hops[-1] = replace(state.hops[-1], status=status)
    url = event["request"]["url"]
    if status == 403 and (egress := state.egress_refusal(url)) is not None and egress[0]:
        state.stop(f"guard: {egress[1]}")  # the proxy's own answer: the hop never left
        return
    headers = {h["name"].lower(): h["value"] for h in event.get("responseHeaders", [])}
    refresh = headers.get("refresh")
    if status == 200 and "html" in headers.get("content-type", "text/html") \
            and _length(headers) <= BODY_FETCH_LIMIT:
        body = await _response_body(cdp, event["requestId"], calls)
        # a stranger's page, parsed off the loop (within the readers' bounds)
        refresh = await asyncio.to_thread(meta_refresh, body) or refresh
    if refresh:
        _expect_meta(state, url, refresh)


def _length(headers: dict[str, str]) -> int:
    """The body's length by its Content-Length; 0 when it does not say (then the egress
    proxy's bound is the bound)."""
    try:
        return max(int(headers.get("content-length", "0")), 0)
    except ValueError:
        return 0


async def _response_body(cdp: CDPSession, request_id: str, calls: Calls) -> str:
    """The first BODY_SCAN_LIMIT bytes of a hop's body as text; empty when the browser has
    none to give (the body failed, was cut, or the page went away): the hop's own end
    tells what happened."""
    try:
        answer = await calls(cdp.send("Fetch.getResponseBody", {"requestId": request_id}),
                             "Fetch.getResponseBody")
    except PlaywrightError:
        return ""
    raw = answer.get("body", "")
    if answer.get("base64Encoded"):
        # only as much of the base64 as the scan needs is decoded (4 characters: 3 bytes)
        prefix = raw[: (BODY_SCAN_LIMIT // 3 + 1) * 4]
        raw = base64.b64decode(prefix)[:BODY_SCAN_LIMIT].decode("utf-8", "replace")
    return str(raw[:BODY_SCAN_LIMIT])


def _expect_meta(state: _Follow, base_url: str, refresh: str) -> None:
    delay, target = parse_refresh(refresh)
    if target is None or delay > MAX_META_DELAY_S:
        return
    state.meta_target = urljoin(base_url, target)
    state.meta_delay_s = delay


def meta_refresh(html: str) -> str | None:
    """The content of the first <meta http-equiv="refresh">, if the page has one. A stranger's
    page: parsed within the readers' bounds (a deeply nested one costs lexbor the square of
    its depth)."""
    tree = parse(html)
    if tree is None:
        return None
    for node in tree.css("meta[http-equiv]"):
        if (node.attributes.get("http-equiv") or "").strip().lower() == "refresh":
            return node.attributes.get("content") or None
    return None


def parse_refresh(content: str) -> tuple[float, str | None]:
    """(delay in seconds, target URL or None) from a refresh value like "0; url='/next'"."""
    match = re.match(r"\s*([\d.]*)\s*[;,]?\s*(?:url\s*=\s*)?(.*)", content, re.IGNORECASE)
    if match is None:
        return 0.0, None
    delay_text, target = match.groups()
    try:
        delay = float(delay_text) if delay_text else 0.0
    except ValueError:
        delay = 0.0
    target = target.strip().strip("'\"").strip()
    return delay, target or None


def _same_url(left: str, right: str) -> bool:
    return left.split("#", 1)[0] == right.split("#", 1)[0]


# ---- an ad's chain --------------------------------------------------------------------------


async def resolve_chain(
    ad: ObservedAd,
    *,
    context: BrowserContext | None,
    guard: AddressGuard,
    follow_click_urls: bool,
    max_hops: int,
    timeout_s: float,
    settle_s: float = DEFAULT_SETTLE_S,
    calls: Calls = timed,
    egress: EgressProxy | None = None,
) -> Chain:
    """Resolve where `ad` leads. Engine click URLs are requested only if follow_click_urls.
    Without a `context` (the browser could not give one) the chain is what offline decoding
    tells, with the reason it was not followed."""
    offline, entry = live_entry(ad, follow_click_urls)
    if entry is None:
        return Chain(
            start_url=ad.link, hops=tuple(offline), landing_url=offline[-1].url,
            error="only engine click URLs; not followed (follow_click_urls is off)",
        )  # fmt: skip
    live = await follow(
        context, entry, guard=guard, max_hops=max_hops, timeout_s=timeout_s,
        settle_s=settle_s, calls=calls, egress=egress,
    )  # fmt: skip
    return after_offline(ad, offline, live)


def live_entry(ad: ObservedAd, follow_click_urls: bool) -> tuple[list[Hop], str | None]:
    """The offline hops `resolve_chain` puts first, and the URL it starts following live at;
    None when it follows nothing (only engine click URLs, not followed unless the program
    says so). An engine click URL followed from the start has no offline hops."""
    if follow_click_urls and ad.click_url:
        return [], ad.click_url
    offline = engine_hops(ad)
    return offline, None if is_engine_click_url(offline[-1].url) else offline[-1].url


def after_offline(ad: ObservedAd, offline: list[Hop], live: Chain) -> Chain:
    """The live part of a chain after the ad's offline hops."""
    return join_chains(ad.link, offline, live) if offline else live
