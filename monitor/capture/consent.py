"""Passing a consent wall: one click on the engine's least-consent button, once per market
profile. The cookie it earns stays in the profile's browser context (and is carried into the
context that replaces it), so later searches of the profile go straight to the results.

Only consent walls are clicked through. A captcha is never solved or evaded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from monitor.engines.base import Engine
from monitor.engines.blocks import GENERIC_CONSENT_BUTTONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConsentPassed:
    button: str  # the selector clicked
    http_status: int | None  # of the page the click led to


async def pass_consent(page: Page, engine: Engine, timeout_s: float) -> ConsentPassed | None:
    """Click the first consent button found (least consent first) and wait for the page it
    leads to; None when there was no button or the click led nowhere."""
    for selector in (*engine.markers.consent_buttons, *GENERIC_CONSENT_BUTTONS):
        button = page.locator(selector).first
        try:
            if await button.count() == 0:
                continue
            async with page.expect_navigation(wait_until="domcontentloaded",
                                              timeout=timeout_s * 1000) as navigation:
                await button.click(timeout=timeout_s * 1000)
            response = await navigation.value
        except PlaywrightError as error:
            log.info("%s consent button %s did not lead anywhere: %s", engine.name, selector,
                     str(error).splitlines()[0])
            return None
        log.info("%s consent wall passed with %s", engine.name, selector)
        return ConsentPassed(selector, response.status if response else None)
    return None
