"""Capture one result page: load it in a fresh context, keep the evidence, say what it was.

Returns a Capture in every case (a timeout, a crash or a block is a status, not an
exception), so the sweep never mistakes a failed page for a page without ads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from playwright.async_api import Browser, BrowserContext, Page, ProxySettings, Route
from playwright.async_api import Error as PlaywrightError

from monitor.capture.evidence import EvidenceStore
from monitor.capture.profiles import context_options
from monitor.engines.base import Engine
from monitor.models import Capture, CaptureStatus, SearchTask

#: resource types the evidence does not need; blocking them saves bandwidth and memory
BLOCKED_RESOURCES = frozenset({"media", "font", "websocket", "eventsource", "manifest"})
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class CaptureOptions:
    timeout_s: float = 30.0
    #: accept the simulator's self-signed certificate (demo and tests only)
    ignore_https_errors: bool = False
    settle_ms: int = 300  # after load, for late ad slots
    #: a proxy URL per market id (scheme://user:password@host:port)
    proxies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PageResult:
    capture: Capture
    html: str  # empty when nothing could be read


async def new_task_context(
    browser: Browser, task: SearchTask, options: CaptureOptions
) -> BrowserContext:
    """A fresh context (no cookies from other tasks) dressed as the task's market and device."""
    proxy = proxy_settings(options.proxies.get(task.market.id))
    context = await browser.new_context(
        **context_options(task, browser.version),
        ignore_https_errors=options.ignore_https_errors,
        **({"proxy": proxy} if proxy else {}),
    )
    context.set_default_timeout(options.timeout_s * 1000)
    await context.route("**/*", _block_heavy)
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


async def _block_heavy(route: Route) -> None:
    if route.request.resource_type in BLOCKED_RESOURCES:
        await route.abort()
    else:
        await route.continue_()


async def capture_page(
    context: BrowserContext,
    task: SearchTask,
    engine: Engine,
    evidence: EvidenceStore,
    options: CaptureOptions,
) -> PageResult:
    """Load the task's result page in `context` and keep its HTML and screenshot."""
    url = engine.search_url(task)
    started = time.monotonic()
    page = await context.new_page()
    try:
        return await _load_and_keep(page, task, engine, evidence, options, url, started)
    except (PlaywrightError, TimeoutError, OSError) as error:
        return await _failed(page, task, evidence, url, started, error)
    finally:
        await _close_quietly(page)


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
    # a slow sub-resource must not lose a page whose document is already here
    with contextlib.suppress(PlaywrightError):
        await page.wait_for_load_state("load", timeout=options.timeout_s * 500)
    await page.wait_for_timeout(options.settle_ms)
    html = await page.content()
    # CSS pixels: a phone profile's 2.6x device pixels cost 7x the encoding for no evidence
    screenshot = await page.screenshot(full_page=True, scale="css",
                                       timeout=options.timeout_s * 1000)
    status_code = response.status if response else None
    status = engine.classify(page.url, status_code, html)
    capture = Capture(
        task=task, status=status, url=url, final_url=page.url, http_status=status_code,
        captured_at=datetime.now(UTC), html_path=evidence.save_html(html),
        screenshot_path=evidence.save_screenshot(screenshot),
        elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return PageResult(capture, html)


async def _failed(
    page: Page,
    task: SearchTask,
    evidence: EvidenceStore,
    url: str,
    started: float,
    error: BaseException,
) -> PageResult:
    """An error capture, keeping whatever the page had got to as evidence."""
    html = ""
    html_path = None
    try:
        html = await asyncio.wait_for(page.content(), CLOSE_TIMEOUT_S)
        html_path = evidence.save_html(html) if html else None
    except (PlaywrightError, TimeoutError):
        pass  # the renderer is gone; the error message is the evidence
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    capture = Capture(
        task=task, status=CaptureStatus.error, url=url, final_url=_safe_url(page) or url,
        http_status=None, captured_at=datetime.now(UTC), html_path=html_path,
        error=message[:500], elapsed_ms=int((time.monotonic() - started) * 1000),
    )
    return PageResult(capture, "")


def _safe_url(page: Page) -> str | None:
    try:
        return page.url
    except PlaywrightError:
        return None


async def _close_quietly(page: Page) -> None:
    # a crashed page cannot be closed; its context will be
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(page.close(), CLOSE_TIMEOUT_S)


async def close_context(context: BrowserContext) -> None:
    # the browser is being torn down or has crashed; nothing is left to save
    with contextlib.suppress(PlaywrightError, TimeoutError):
        await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
