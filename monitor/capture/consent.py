"""Passing a consent wall: one click on the engine's least-consent button, once per market
profile. The cookie it earns stays in the profile's browser context (and is carried into the
context that replaces it), so later searches of the profile go straight to the results.

Only consent walls are clicked through. A captcha is never solved or evaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Response

from monitor.capture.calls import GRACE_S, BrowserCalls, BrowserLost
from monitor.engines.base import Engine
from monitor.engines.blocks import GENERIC_CONSENT_BUTTONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsentPassed:
    button: str  # the selector clicked
    http_status: int | None  # of the page the click led to
    #: the response that brought that page (None: it came without one)
    response: Response | None = None


async def pass_consent(
    page: Page, engine: Engine, timeout_s: float, calls: BrowserCalls | None = None
) -> ConsentPassed | None:
    """Click the first consent button found (least consent first) and wait for the page it
    leads to; None when there was no button or the click led nowhere."""
    calls = calls or BrowserCalls(timeout_s)
    for selector in (*engine.markers.consent_buttons, *GENERIC_CONSENT_BUTTONS):
        button = page.locator(selector).first
        try:
            if await calls(button.count(), "consent button") == 0:
                continue
            # the click and the navigation share one bound: each has its own timeout, and
            # the navigation is awaited only after the click
            response = await calls(_click_and_follow(page, selector, timeout_s),
                                   "consent click", 2 * timeout_s + GRACE_S)
        except BrowserLost:
            raise  # not the wall's doing: the page fails, and is asked again
        except PlaywrightError as error:
            log.info("%s consent button %s did not lead anywhere: %s", engine.name, selector,
                     str(error).splitlines()[0])
            return None
        log.info("%s consent wall passed with %s", engine.name, selector)
        return ConsentPassed(selector, response.status if response else None, response)
    return None


async def _click_and_follow(page: Page, selector: str, timeout_s: float) -> Response | None:
    async with page.expect_navigation(wait_until="domcontentloaded",
                                      timeout=timeout_s * 1000) as navigation:
        await page.locator(selector).first.click(timeout=timeout_s * 1000)
    return await navigation.value
