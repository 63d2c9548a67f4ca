"""Every call into the browser, bounded.

A Playwright call waits for the browser's answer, and most have no timeout of their own
(launch's aside: new_context, new_page, content, evaluate, a CDP send, close…). A browser
that died or stopped answering can leave such a call waiting for ever: after Chromium's main
process was killed, `new_page()` was seen never to return. So the capture code and the chain
follower make every browser call through one `BrowserCalls` per browser: each call gets a
deadline, and once the browser is known to be lost (it disconnected, or the keeper gave up
on it) every call still waiting on it — and every later one — ends at once with
`BrowserLost` instead of waiting out its deadline.

The deadline is enforced here, in Python, with asyncio's own timeout; calls that take a
Playwright timeout too get a slightly longer bound (`GRACE_S`), so Playwright's error, which
says more, normally comes first.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import TypeVar

from playwright.async_api import Error as PlaywrightError

T = TypeVar("T")

#: added to a Playwright timeout to bound the same call from outside
GRACE_S = 2.0


class CallTimedOut(TimeoutError):
    """A browser call that got no answer within its bound."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} timed out after {seconds:g} s")
        self.what = what
        self.seconds = seconds


class BrowserLost(PlaywrightError):
    """The browser went away, or was given up on, while (or before) a call waited on it.

    A Playwright error, so every `except PlaywrightError` that copes with a closed browser
    copes with this one too."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what}: {reason}")
        self.reason = reason


class BrowserCalls:
    """The calls into one browser: each bounded, all cut short when the browser is lost."""

    def __init__(self, timeout_s: float) -> None:
        #: the bound of a call that names none
        self.timeout_s = timeout_s
        #: why the browser was lost, once it was
        self.lost: str | None = None
        self._waiting: set[asyncio.Timeout] = set()

    def lose(self, reason: str) -> None:
        """The browser is gone or hung: end every call waiting on it now, and every later one
        before it starts. Idempotent; the first reason stays."""
        if self.lost is None:
            self.lost = reason
        if self._waiting:
            now = asyncio.get_running_loop().time()
            for bound in list(self._waiting):
                # one already expiring (its deadline came first) cannot be moved, and needs
                # not be: it is ending anyway, and says BrowserLost as it does
                if not bound.expired():
                    bound.reschedule(now)  # expires at once: the call raises BrowserLost

    async def __call__(self, call: Awaitable[T], what: str, timeout_s: float | None = None) -> T:
        """`await call`, within `timeout_s` (default: `self.timeout_s`). Raises CallTimedOut
        (a TimeoutError) when the browser does not answer in time, BrowserLost when it is
        lost meanwhile; anything the call itself raises passes through."""
        if self.lost is not None:
            _discard(call)
            raise BrowserLost(what, self.lost)
        seconds = self.timeout_s if timeout_s is None else timeout_s
        bound = asyncio.timeout(seconds)
        try:
            async with bound:
                self._waiting.add(bound)
                try:
                    return await call
                finally:
                    self._waiting.discard(bound)
        except TimeoutError:
            if not bound.expired():
                raise  # a timeout from inside the call (a nested bound): not ours to name
            if self.lost is not None:
                raise BrowserLost(what, self.lost) from None
            raise CallTimedOut(what, seconds) from None


async def bounded(call: Awaitable[T], what: str, timeout_s: float) -> T:
    """One bounded call where there is no browser to lose yet (a launch) or none at hand."""
    return await BrowserCalls(timeout_s)(call, what)


def _discard(call: Awaitable[object]) -> None:
    # a call that will never be awaited: close its coroutine, or Python warns it was never
    # awaited (and it never reaches the browser)
    if inspect.iscoroutine(call):
        call.close()
