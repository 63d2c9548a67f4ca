"""The engine seam: how to ask an engine (a URL for a task) and how to read its answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.models import CaptureStatus, ObservedAd, SearchTask


@dataclass(frozen=True, slots=True)
class PageReading:
    """What a reader found on one result page."""

    ads: list[ObservedAd]
    #: the engine's ad-click URLs found outside every ad the reader recognised: a sign that
    #: the markup changed and an ad was missed, reported instead of passing in silence
    stray_click_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Engine:
    """One search engine. A new engine is one module that builds one of these."""

    name: str
    #: hosts the engine answers on (the simulator serves the same ones)
    hosts: tuple[str, ...]
    #: the result-page URL for a task (market and device steer it)
    search_url: Callable[[SearchTask], str]
    #: every paid ad on a result page; never raises on bad markup
    read_ads: Callable[[str], list[ObservedAd]]
    #: (final_url, http_status, html) -> ok, no_results, consent, captcha, rate_limited, error
    classify: Callable[[str, int | None, str], CaptureStatus]
    #: True when a saved page looks like this engine's (for `parse --engine auto`)
    recognises: Callable[[str], bool]
    #: the ads and the stray ad-click URLs of a page, in one parse; never raises
    read_page: Callable[[str], PageReading] | None = None

    def reading(self, html: str) -> PageReading:
        """The page's ads and stray clicks (engines without `read_page` report no strays)."""
        if self.read_page is not None:
            return self.read_page(html)
        return PageReading(self.read_ads(html))
