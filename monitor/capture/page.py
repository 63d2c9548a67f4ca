"""Capture one result page: load it in a fresh context, keep the evidence, say what it was.

Returns a Capture in every case (a timeout, a crash or a block is a status, not an
exception), so the sweep never mistakes a failed page for a page without ads.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Page,
    ProxySettings,
    Route,
    StorageState,
)
from playwright.async_api import Error as PlaywrightError

from monitor.capture.boxes import READ_TIMEOUT_S, LinkReader, boxes_on_screenshot, png_size
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
#: a capture that takes this many page timeouts means the browser, not the page, is stuck
WATCHDOG_FACTOR = 3


@dataclass(frozen=True)
class PageResult:
    capture: Capture
    html: str  # empty when nothing could be read
    lost: str | None = None  # LOST_*: what besides the page broke


async def new_task_context(
    browser: Browser,
    task: SearchTask,
    options: CaptureOptions,
    storage_state: StorageState | None = None,
) -> BrowserContext:
    """A fresh context dressed as the task's market and device: no cookies from other tasks,
    only `storage_state` (what this market profile earned before: a consent cookie)."""
    proxy = proxy_settings(options.proxies.get(task.market.id))
    context = await browser.new_context(
        **context_options(task, browser.version),
        ignore_https_errors=options.ignore_https_errors,
        proxy=proxy,
        storage_state=storage_state,
    )
    context.set_default_timeout(options.timeout_s * 1000)
    await context.route(HEAVY_RESOURCES, _abort)
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
    await route.abort("blockedbyclient")


async def capture_page(
    context: BrowserContext,
    task: SearchTask,
    engine: Engine,
    evidence: EvidenceStore,
    options: CaptureOptions,
    page: Page | None = None,
) -> PageResult:
    """Load the task's result page in `context` and keep its HTML and screenshot. With no
    `page` given, a tab is opened for it and closed after; a given one is left open."""
    url = engine.search_url(task)
    started = time.monotonic()
    own_page = page is None
    previous_url = page.url if page is not None else None  # a reused page's last search
    crashed: list[bool] = []

    def on_crash(_: Page) -> None:
        crashed.append(True)

    try:
        if page is None:
            page = await context.new_page()
        page.on("crash", on_crash)
        # Playwright's own timeouts cover each step; this one covers a browser that stops
        # answering altogether (content() has no timeout of its own)
        async with asyncio.timeout(options.timeout_s * WATCHDOG_FACTOR):
            return await _load_and_keep(page, task, engine, evidence, options, url, started)
    except (PlaywrightError, TimeoutError, OSError) as error:
        lost = _what_was_lost(context, error, bool(crashed))
        result = await _failed(page, task, evidence, url, started, error, lost)
        if result.capture.final_url == previous_url:  # it never left the last search
            result = replace(result, capture=replace(result.capture, final_url=url))
        return result
    finally:
        if page is not None:
            page.remove_listener("crash", on_crash)
            if own_page:
                await close_page(page)


def _what_was_lost(context: BrowserContext, error: BaseException, crashed: bool) -> str | None:
    """Why a failed page failed, when it was more than the page: the sweep retries these on a
    fresh context (a renderer crash) or a fresh browser (the browser gone or hung)."""
    if context.browser is not None and not context.browser.is_connected():
        return LOST_BROWSER
    if type(error) is TimeoutError:  # the watchdog, not one of Playwright's own timeouts
        return LOST_HUNG
    if crashed or "crash" in str(error).lower():
        return LOST_RENDERER
    return None


async def _load_and_keep(
    page: Page,
    task: SearchTask,
    engine: Engine,
    evidence: EvidenceStore,
    options: CaptureOptions,
    url: str,
    started: float,
) -> PageResult:
    response = await page.goto(url, wait_until="domcontentloaded",
                               timeout=options.timeout_s * 1000)
    html = await _settled_html(page, options)
    status_code = response.status if response else None
    status = engine.classify(page.url, status_code, html)
    passed = None
    if status is CaptureStatus.consent and options.pass_consent:
        passed = await pass_consent(page, engine, options.timeout_s)
    if passed:
        # what counts now is the page the consent led to (the wall again, if it came back)
        html = await _settled_html(page, options)
        status_code = passed.http_status
        status = engine.classify(page.url, status_code, html)
    screenshot, link_boxes = await _screenshot_with_boxes(page, options)
    # compressing and hashing release the GIL: off the event loop, they overlap other pages
    html_path, screenshot_path = await asyncio.gather(
        asyncio.to_thread(evidence.save_html, html),
        asyncio.to_thread(evidence.save_screenshot, screenshot))
    capture = Capture(
        task=task, status=status, url=url, final_url=page.url, http_status=status_code,
        captured_at=datetime.now(UTC), html_path=html_path, screenshot_path=screenshot_path,
        elapsed_ms=int((time.monotonic() - started) * 1000), link_boxes=link_boxes,
    )
    return PageResult(capture, html)


async def _screenshot_with_boxes(
    page: Page, options: CaptureOptions
) -> tuple[bytes, tuple[LinkBox, ...]]:
    """The full-page screenshot, and where the page's links sit on it: read just before and
    just after it, so only links that stayed put while it was taken are kept."""
    reader = LinkReader(page, min(READ_TIMEOUT_S, options.timeout_s)) \
        if options.link_boxes else None
    try:
        before = await reader.read() if reader else None
        # CSS pixels: a phone profile's 2.6x device pixels cost 7x the encoding for no
        # evidence
        screenshot = await page.screenshot(full_page=True, scale="css",
                                           timeout=options.timeout_s * 1000)
        after = await reader.read() if reader and before else None
    finally:
        if reader:
            await reader.close()
    return screenshot, boxes_on_screenshot(before, after, png_size(screenshot))


async def _settled_html(page: Page, options: CaptureOptions) -> str:
    # a slow sub-resource must not lose a page whose document is already here
    with contextlib.suppress(PlaywrightError):
        await page.wait_for_load_state("load", timeout=options.timeout_s * 500)
    await page.wait_for_timeout(options.settle_ms)
    return await page.content()


async def _failed(
    page: Page | None,
    task: SearchTask,
    evidence: EvidenceStore,
    url: str,
    started: float,
    error: BaseException,
    lost: str | None,
) -> PageResult:
    """An error capture, keeping whatever the page had got to as evidence."""
    html_path = None
    if page is not None and lost is None:
        try:
            html = await asyncio.wait_for(page.content(), CLOSE_TIMEOUT_S)
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
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return (f"{lost} ({first_line})" if lost else first_line)[:500]


def _safe_url(page: Page) -> str | None:
    try:
        return page.url
    except PlaywrightError:
        return None


async def close_page(page: Page) -> None:
    # a crashed page cannot be closed; its context will be
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(page.close(), CLOSE_TIMEOUT_S)


async def close_context(context: BrowserContext) -> None:
    # the browser is being torn down or has crashed; nothing is left to save
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
