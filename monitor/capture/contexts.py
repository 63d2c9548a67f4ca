"""Browser contexts per market profile (engine, market, device), each reused for a bounded
number of searches and then replaced.

Reuse saves a renderer start per search and keeps what a profile earned once (a consent
choice) for the next searches of the same profile; the bound keeps a context's memory and
cookie history from growing without end. Profiles never share a context.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import Browser, BrowserContext

from monitor.capture.page import CaptureOptions, close_context, new_task_context
from monitor.models import SearchTask

Profile = tuple[str, str, str]  # engine, market id, device


@dataclass
class _Slot:
    context: BrowserContext
    uses: int = 0
    active: int = 0
    retired: bool = False


class ContextPool:
    def __init__(self, browser: Browser, options: CaptureOptions, reuse: int) -> None:
        self.browser = browser
        self.options = options
        self.reuse = max(reuse, 1)
        self._current: dict[Profile, _Slot] = {}
        self._by_context: dict[int, _Slot] = {}

    @staticmethod
    def profile(task: SearchTask) -> Profile:
        return (task.engine, task.market.id, str(task.device))

    async def acquire(self, task: SearchTask) -> BrowserContext:
        """A context for the task's profile: the current one, or a new one when it is used up."""
        key = self.profile(task)
        slot = self._current.get(key)
        if slot is None or slot.uses >= self.reuse:
            if slot is not None:
                await self._retire(slot)
            slot = _Slot(await new_task_context(self.browser, task, self.options))
            self._current[key] = slot
            self._by_context[id(slot.context)] = slot
        slot.uses += 1
        slot.active += 1
        return slot.context

    async def release(self, context: BrowserContext, *, broken: bool = False) -> None:
        """The task is done with `context`; a broken context (crashed page) is not reused."""
        slot = self._by_context.get(id(context))
        if slot is None:
            return
        slot.active -= 1
        if broken:
            await self._retire(slot)
        elif slot.retired and slot.active == 0:
            await self._close(slot)

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
        await close_context(slot.context)
