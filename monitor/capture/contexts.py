"""Browser contexts per market profile (market, device), each reused for a bounded number
of searches and then replaced.

A context is dressed as one market and device (locale, time zone, place, proxy, user agent);
the engines of a market share it, as one phone in that city would — their cookies are each
engine's own site's anyway. Reuse saves a context and renderer start per search and keeps
what a profile earned once (a consent choice) for its next searches; the bound keeps a
context's memory and cookie history from growing without end. A replaced context hands its
cookies to the next one of its profile (`earned`, which may outlive the browser), so consent
is given once per profile. Profiles never share a context or a cookie.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from playwright.async_api import Browser, BrowserContext, Page, StorageState
from playwright.async_api import Error as PlaywrightError

from monitor.capture.calls import BrowserCalls
from monitor.capture.page import (
    CLOSE_TIMEOUT_S,
    CaptureOptions,
    close_context,
    close_page,
    new_task_context,
)
from monitor.models import SearchTask

Profile = tuple[str, str]  # market id, device


@dataclass
class _Slot:
    context: BrowserContext
    uses: int = 0
    active: int = 0
    retired: bool = False
    broken: bool = False
    #: pages a finished search left open: the next search of the profile navigates one of
    #: them instead of opening a tab (a new tab costs a renderer process start)
    idle: list[Page] = field(default_factory=list)


class ContextPool:
    def __init__(
        self,
        browser: Browser,
        options: CaptureOptions,
        reuse: int,
        earned: dict[Profile, StorageState] | None = None,
        idle_pages: int = 2,
        calls: BrowserCalls | None = None,
    ) -> None:
        self.browser = browser
        self.options = options
        #: the browser's calls (the keeper's, so losing the browser ends them at once)
        self.calls = calls or BrowserCalls(options.timeout_s)
        self.reuse = max(reuse, 1)
        #: open pages kept for reuse across all profiles, least recently used closed first
        #: (each holds a renderer: ~100-200 MB, so the bound is what keeps memory flat)
        self.idle_pages = max(idle_pages, 0)
        self._idle_order: list[tuple[_Slot, Page]] = []
        #: cookies and storage each profile's last healthy context left behind
        self.earned: dict[Profile, StorageState] = {} if earned is None else earned
        self._current: dict[Profile, _Slot] = {}
        self._by_context: dict[int, _Slot] = {}
        self._profile_of: dict[int, Profile] = {}

    @staticmethod
    def profile(task: SearchTask) -> Profile:
        return (task.market.id, str(task.device))

    async def acquire(self, task: SearchTask) -> BrowserContext:
        """A context for the task's profile: the current one, or a new one when it is used up."""
        key = self.profile(task)
        slot = self._current.get(key)
        if slot is None or slot.uses >= self.reuse:
            if slot is not None:
                await self._retire(slot)
            slot = _Slot(await new_task_context(self.browser, task, self.options,
                                                self.earned.get(key), self.calls))
            self._current[key] = slot
            self._by_context[id(slot.context)] = slot
            self._profile_of[id(slot.context)] = key
        slot.uses += 1
        slot.active += 1
        return slot.context

    async def page(self, context: BrowserContext) -> Page:
        """A page of `context` for one search: an idle one, or a new one."""
        slot = self._by_context.get(id(context))
        if slot is not None and slot.idle:
            page = slot.idle.pop()
            self._idle_order.remove((slot, page))
            return page
        return await self.calls(context.new_page(), "new_page")

    async def release(
        self,
        context: BrowserContext,
        *,
        broken: bool = False,
        page: Page | None = None,
        keep_page: bool = True,
    ) -> None:
        """The task is done with `context` (and `page`); a broken context (a failed page) is
        not reused, and neither is its page; nor is a page the task says is spent
        (`keep_page` false), though its context is."""
        slot = self._by_context.get(id(context))
        if slot is None:
            return
        slot.active -= 1
        if (page is not None and keep_page and not broken and not slot.retired
                and not page.is_closed()):
            await self._keep_idle(slot, page)
        elif page is not None:
            await close_page(page, self.calls)
        if broken:
            slot.broken = True
            await self._retire(slot)
        elif slot.retired and slot.active == 0:
            await self._close(slot)

    async def _keep_idle(self, slot: _Slot, page: Page) -> None:
        slot.idle.append(page)
        self._idle_order.append((slot, page))
        while len(self._idle_order) > self.idle_pages:
            oldest_slot, oldest = self._idle_order.pop(0)
            oldest_slot.idle.remove(oldest)
            await close_page(oldest, self.calls)

    async def close(self) -> None:
        for slot in list(self._by_context.values()):
            await self._close(slot)

    async def _retire(self, slot: _Slot) -> None:
        slot.retired = True
        for key, current in list(self._current.items()):
            if current is slot:
                del self._current[key]
        if slot.active == 0:
            await self._close(slot)

    async def _close(self, slot: _Slot) -> None:
        self._by_context.pop(id(slot.context), None)
        self._idle_order = [(s, p) for s, p in self._idle_order if s is not slot]
        slot.idle.clear()
        profile = self._profile_of.pop(id(slot.context), None)
        if profile is not None and not slot.broken:
            await self._keep_earned(profile, slot.context)
        await close_context(slot.context, self.calls)

    async def _keep_earned(self, profile: Profile, context: BrowserContext) -> None:
        # a browser that is going away cannot be asked; the profile keeps what it had
        with contextlib.suppress(PlaywrightError, TimeoutError):
            state = await self.calls(context.storage_state(), "storage_state", CLOSE_TIMEOUT_S)
            if state.get("cookies") or state.get("origins"):
                self.earned[profile] = state
