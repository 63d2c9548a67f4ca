"""The engine seam: how to ask an engine (a URL for a task), how to read its answer, and
which URLs are its paid clicks and where they lead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from monitor.engines.blocks import PageMarkers, classify_page
from monitor.models import CaptureStatus, ObservedAd, PageReading, SearchTask

__all__ = ["Engine", "PageReading"]


@dataclass(frozen=True, slots=True)
class Engine:
    """One search engine. A new engine is one module that builds one of these."""

    name: str
    #: hosts the engine answers on (the simulator serves the same ones)
    hosts: tuple[str, ...]
    #: the result-page URL for a task (market and device steer it)
    search_url: Callable[[SearchTask], str]
    #: the ads and the stray ad-click URLs of a page, in one parse; never raises
    read_page: Callable[[str], PageReading]
    #: what marks a captcha, a consent wall, a result page and an empty one
    markers: PageMarkers
    #: True when a saved page looks like this engine's (for `parse --engine auto`)
    recognises: Callable[[str], bool]
    #: True for the engine's paid ad-click URL: requesting it may charge the advertiser
    #: (the reader finds ads by it; the chain code never follows one unless told to)
    is_click_url: Callable[[str], bool]
    #: the destination one of the engine's click redirects (paid or organic) carries, as
    #: carried (the caller checks it is an absolute URL), or None for any other URL
    click_destination: Callable[[str], str | None]

    def read_ads(self, html: str) -> list[ObservedAd]:
        """Every paid ad on a result page; never raises on bad markup."""
        return self.read_page(html).ads

    def classify(self, final_url: str, status: int | None, html: str) -> CaptureStatus:
        """What a loaded page is: ok, no_results, consent, captcha, rate_limited or error."""
        return classify_page(self.markers, final_url, status, html)
