"""The process's one browser, kept healthy: launched on first use, replaced after every
`recycle_after` tasks (a long-lived Chromium only grows), and replaced at once when it crashes
or stops answering.

Tasks lease the current browser. A recycled browser is closed when its last lease ends, so a
recycle never cuts a running task short, and the next browser starts only then, so two are
never up at once (the peak memory stays one browser's); a crash ends its tasks with an error
capture, which the sweep retries once on the new browser.

Every call into a browser goes through its lease's `BrowserCalls`: when the browser
disconnects (a crash, a kill) or stops answering, `lose` ends every call still waiting on it
at once, so the pages and chains in flight on it fail fast instead of hanging, and the next
task gets a new browser.

With an `egress` proxy (monitor.resolve.egress) every connection of the keeper's browsers goes
through it: it is started before the first browser is launched and stopped when the keeper
closes, after its browsers. A market with its own proxy is reached through it too: the
egress's route to each market proxy is opened with it, and each browser's contexts are given
the route instead of the market's proxy (`page.route_contexts_through`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from playwright.async_api import Browser, Playwright, StorageState
from playwright.async_api import Error as PlaywrightError

from monitor.capture.browser import BrowserChoice, launch, proxied_args
from monitor.capture.calls import BrowserCalls, bounded
from monitor.capture.contexts import ContextPool, Profile
from monitor.capture.page import CLOSE_TIMEOUT_S, CaptureOptions, route_contexts_through

log = logging.getLogger(__name__)

#: page timeouts a recycled browser's last tasks get to finish before the next one starts
#: anyway (a task's own calls are bounded well within it: this is only a backstop)
RECYCLE_WAIT_FACTOR = 10


class Egress(Protocol):
    """The proxy a keeper's browsers connect through (monitor.resolve.egress.EgressProxy).
    Both calls block for a bounded time (a few seconds at most)."""

    def start(self) -> str:
        """Start (or join) it; its URL for --proxy-server."""
        ...

    def stop(self) -> None:
        """Leave it; the last user stops it."""
        ...

    def route(self, upstream: str) -> str:
        """The proxy URL (no credentials) for contexts whose traffic leaves through the
        market proxy `upstream`, vetted here first."""
        ...


@dataclass
class BrowserLease:
    """One launched browser and its contexts, with the tasks it has served."""

    number: int
    browser: Browser
    contexts: ContextPool
    #: every call into this browser (bounded; all ended at once when it is lost)
    calls: BrowserCalls
    tasks_started: int = 0
    active: int = 0
    retired: bool = False
    #: the browser went away without us closing it (a crash, a kill), or stopped answering
    lost: bool = False
    _closed: asyncio.Event = field(default_factory=asyncio.Event)
    #: set once the browser is closed and its processes are gone
    gone: asyncio.Event = field(default_factory=asyncio.Event)


class BrowserKeeper:
    def __init__(
        self,
        playwright: Playwright,
        choice: BrowserChoice,
        options: CaptureOptions,
        *,
        context_reuse: int,
        recycle_after: int,
        idle_pages: int = 2,
        extra_args: tuple[str, ...] = (),
        egress: Egress | None = None,
    ) -> None:
        self.playwright = playwright
        self.choice = choice
        self.options = options
        self.context_reuse = context_reuse
        self.recycle_after = max(recycle_after, 1)
        self.idle_pages = idle_pages
        self.extra_args = extra_args
        self.egress = egress
        #: the egress proxy's URL while the keeper uses it
        self._proxy_url: str | None = None
        #: browsers replaced after a crash or a hang / after `recycle_after` tasks
        self.restarts = 0
        self.recycles = 0
        #: consent cookies per market profile, kept across browsers
        self.earned: dict[Profile, StorageState] = {}
        self._current: BrowserLease | None = None
        self._launches = 0
        self._lock = asyncio.Lock()
        self._all: list[BrowserLease] = []
        #: lost browsers being closed in the background
        self._closing: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[BrowserLease]:
        """The current browser for one task."""
        current = await self._healthy()
        current.tasks_started += 1
        current.active += 1
        try:
            yield current
        finally:
            current.active -= 1
            if current.retired and current.active == 0:
                await self._close(current)

    def lose(self, lease: BrowserLease, reason: str) -> None:
        """`lease`'s browser stopped answering: the next task gets a new one."""
        if not lease.lost:
            log.warning("browser %d lost (%s); the next task starts a new one", lease.number,
                        reason)
        lease.lost = True
        lease.calls.lose(reason)  # what still waits on it fails now, not at its timeout

    async def close(self) -> None:
        try:
            for lease in list(self._all):
                await self._close(lease)
            await asyncio.gather(*self._closing, return_exceptions=True)  # each one bounded
        finally:
            if self.egress is not None and self._proxy_url is not None:
                self._proxy_url = None
                await asyncio.to_thread(self.egress.stop)  # bounded by the proxy itself

    async def _healthy(self) -> BrowserLease:
        async with self._lock:
            current = self._current
            if current is not None and (current.lost or not current.browser.is_connected()):
                self.restarts += 1
                await self._retire(current, "it crashed or stopped answering")
            elif current is not None and current.tasks_started >= self.recycle_after:
                self.recycles += 1
                await self._retire(current, f"it served {current.tasks_started} tasks")
                await self._until_gone(current)
            if self._current is None:
                self._current = await self._launch()
            return self._current

    async def _until_gone(self, lease: BrowserLease) -> None:
        """Wait for a recycled browser's last tasks (each bounded) before the next browser
        starts, so two are never up at once; past a generous bound, start it anyway."""
        try:
            await asyncio.wait_for(lease.gone.wait(), self.options.timeout_s * RECYCLE_WAIT_FACTOR)
        except TimeoutError:
            log.warning("browser %d still busy after its recycle; starting the next one beside "
                        "it", lease.number)

    async def _launch(self) -> BrowserLease:
        self._launches += 1
        args = self.extra_args
        if self.egress is not None:
            if self._proxy_url is None:
                self._proxy_url = await asyncio.to_thread(self._start_egress, self.egress)
            args = (*args, *proxied_args(self._proxy_url))
        browser = await launch(self.playwright, self.choice, extra_args=args)
        if self.egress is not None:
            route_contexts_through(browser, self.egress.route)
        calls = BrowserCalls(self.options.timeout_s)
        lease = BrowserLease(self._launches, browser,
                             ContextPool(browser, self.options, self.context_reuse, self.earned,
                                         self.idle_pages, calls), calls)
        browser.on("disconnected", lambda _: self._disconnected(lease))
        self._all.append(lease)
        return lease

    def _start_egress(self, egress: Egress) -> str:
        """Start the egress proxy with a route to every market proxy (each bounded by the
        proxy itself), so a context's route is ready when the context is made; a route that
        cannot be opened fails the launch (the task is asked again), never sends a market
        around the proxy."""
        url = egress.start()
        try:
            for upstream in sorted(set(self.options.proxies.values())):
                egress.route(upstream)
        except BaseException:
            egress.stop()
            raise
        return url

    def _disconnected(self, lease: BrowserLease) -> None:
        if not lease._closed.is_set():
            self.lose(lease, "disconnected")

    async def _retire(self, lease: BrowserLease, why: str) -> None:
        log.info("replacing browser %d: %s", lease.number, why)
        lease.retired = True
        self._current = None
        if lease.active == 0:
            await self._close(lease)

    async def _close(self, lease: BrowserLease) -> None:
        if lease._closed.is_set():
            return
        lease._closed.set()
        if lease in self._all:
            self._all.remove(lease)
        try:
            if not lease.lost:
                await lease.contexts.close()
                await self._close_browser(lease)
            else:
                # a lost browser may not answer; its contexts and process go with the
                # connection, and closing it (a hung one takes the whole bound) is done
                # beside the tasks, not on the time of the one that happened to end last
                closing = asyncio.ensure_future(self._close_browser(lease))
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
        finally:
            lease.gone.set()  # whatever happened, nobody waits for it any longer

    @staticmethod
    async def _close_browser(lease: BrowserLease) -> None:
        # not through lease.calls, which a lost browser has closed: a hung browser must
        # still be told to go (Playwright kills its process when it does not answer)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await bounded(lease.browser.close(), "close browser", CLOSE_TIMEOUT_S)
