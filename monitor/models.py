"""The records that pass between the stages of a sweep.

Each stage takes and returns these small immutable records; none of them is an ORM row
(the store maps them at its edge). Field names follow ../docs/architecture.md.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple


class Device(StrEnum):
    desktop = "desktop"
    mobile = "mobile"


class CaptureStatus(StrEnum):
    """What a captured page turned out to be. Only `ok` and `no_results` count as covered."""

    ok = "ok"
    no_results = "no_results"
    consent = "consent"
    captcha = "captcha"
    rate_limited = "rate_limited"
    error = "error"
    #: a result page whose document was cut short (a network error mid-body, no </html>):
    #: its ads are read and kept, but ads below the cut may be missing, so it is not covered
    partial = "partial"

    @property
    def covered(self) -> bool:
        return self in (CaptureStatus.ok, CaptureStatus.no_results)

    @property
    def blocked(self) -> bool:
        return self in (CaptureStatus.consent, CaptureStatus.captcha, CaptureStatus.rate_limited)


class AdKind(StrEnum):
    text = "text"
    shopping = "shopping"
    local = "local"
    other = "other"


class AdPosition(StrEnum):
    top = "top"
    bottom = "bottom"
    right = "right"
    #: between organic results, in a block of its own (Google's ad block inside #rso,
    #: Bing's b_adMiddle): neither above nor below the results
    middle = "middle"
    #: DuckDuckGo's ad block among its results (its own placement, kept apart from middle)
    inline = "inline"


class HopHow(StrEnum):
    start = "start"  # the URL the chain starts from
    decoded = "decoded"  # unwrapped offline from a parameter of the previous URL
    http = "http"  # HTTP 3xx redirect
    meta = "meta"  # <meta http-equiv=refresh>
    js = "js"  # a script navigated


class AdvertiserClass(StrEnum):
    brand = "brand"
    partner = "partner"
    competitor = "competitor"
    unknown = "unknown"


class Severity(StrEnum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True, slots=True)
class MarketRef:
    """The market a task runs in, copied from the program so a task stands alone."""

    id: str
    country: str  # ISO 3166-1 alpha-2, upper case
    language: str  # BCP 47 primary language, lower case
    timezone: str  # IANA name
    city: str | None = None  # canonical location name, e.g. "Chicago,Illinois,United States"


@dataclass(frozen=True, slots=True)
class SearchTask:
    """One query on one engine in one market on one device."""

    brand: str  # brand id
    engine: str  # engine name: google | bing | duckduckgo | yahoo
    query: str
    term_group: str  # e.g. "brand", "brand+coupon", "misspelling"
    market: MarketRef
    device: Device
    page: int = 1

    @property
    def key(self) -> str:
        """A stable id: the same task in two sweeps has the same key."""
        raw = "\x1f".join(
            [self.brand, self.engine, self.query, self.market.id, self.device, str(self.page)]
        )
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Capture:
    """What the browser saw for a task, with the evidence on disk."""

    task: SearchTask
    status: CaptureStatus
    url: str  # the URL asked for
    final_url: str
    http_status: int | None
    captured_at: datetime  # UTC
    html_path: str | None = None  # relative to $BIDWATCH_HOME
    screenshot_path: str | None = None
    error: str | None = None
    elapsed_ms: int = 0
    #: where the page's links sat on the screenshot (for outlining an ad on a thumbnail)
    link_boxes: tuple[LinkBox, ...] = ()


class LinkBox(NamedTuple):
    """A link's box on the screenshot, in screenshot pixels."""

    href: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Sitelink:
    text: str
    url: str


@dataclass(frozen=True, slots=True)
class ObservedAd:
    """One paid ad as read from a result page. Text is normalised; URLs are as in the markup."""

    kind: AdKind
    position: AdPosition
    rank: int  # 1-based within the position
    headline: str
    description: str
    display_url: str
    link: str  # the visible destination (the headline link's href)
    click_url: str | None = None  # the engine's click-tracking URL, where there is one
    advertiser: str | None = None
    sitelinks: tuple[Sitelink, ...] = ()
    #: a shopping ad's merchant and price, as the page shows them ("Amazon.com", "$1,299.00")
    merchant: str | None = None
    price: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "kind": str(self.kind),
            "position": str(self.position),
            "rank": self.rank,
            "headline": self.headline,
            "description": self.description,
            "display_url": self.display_url,
            "link": self.link,
            "click_url": self.click_url,
            "advertiser": self.advertiser,
            "sitelinks": [{"text": s.text, "url": s.url} for s in self.sitelinks],
            "merchant": self.merchant,
            "price": self.price,
        }


@dataclass(frozen=True, slots=True)
class PageReading:
    """What a reader found on one result page."""

    ads: list[ObservedAd]
    #: the engine's ad-click URLs found outside every ad the reader recognised: a sign that
    #: the markup changed and an ad was missed, reported instead of passing in silence
    stray_click_urls: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Hop:
    url: str
    how: HopHow
    status: int | None = None  # HTTP status where the hop was a response
    elapsed_ms: int = 0  # since the chain started


@dataclass(frozen=True, slots=True)
class LiveFollow:
    """The live part of a chain: whom it was followed for and when, which is what lets
    another ad with the same key reuse it instead of following it again."""

    #: the entry URL following started at · the market · the device: a cloaking page
    #: sends each of them elsewhere, so only the same key may share a chain
    key: str
    followed_at: datetime  # UTC
    live_from: int  # the hop the live part starts at (the offline hops come before it)


@dataclass(frozen=True, slots=True)
class Chain:
    """Where an ad leads: every hop from its first URL to the landing page."""

    start_url: str
    hops: tuple[Hop, ...]
    landing_url: str
    error: str | None = None  # why following stopped early (limit, SSRF guard, timeout…)
    live: LiveFollow | None = None  # None: nothing was followed live

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(h.url for h in self.hops)


@dataclass(frozen=True, slots=True)
class NetworkIds:
    """What an affiliate-network recogniser read from one URL."""

    network: str
    publisher_id: str | None = None
    advertiser_id: str | None = None
    creative_id: str | None = None
    sub_id: str | None = None
    click_id: str | None = None
    landing_url: str | None = None  # a destination carried in the URL, if any
    aggregator: bool = False  # sub-affiliate networks (Skimlinks, Sovrn…) hide the real publisher
    matched_url: str = ""


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who placed an ad."""

    advertiser_class: AdvertiserClass
    partner: str | None = None  # partner id from the program
    network: NetworkIds | None = None
    display_domain: str | None = None  # registrable domain of the display URL
    landing_domain: str | None = None  # registrable domain of the landing URL
    domains: tuple[str, ...] = ()  # every registrable domain on the chain, in order
    reason: str = ""  # how the partner (or class) was found
    #: the networks the outermost one (`network`) sent the click through, in order: an
    #: aggregator's link re-wrapped into the merchant's network names both publishers
    inner_networks: tuple[NetworkIds, ...] = ()


@dataclass(frozen=True, slots=True)
class Sighting:
    """One ad seen once: everything the rule engine judges."""

    task: SearchTask
    ad: ObservedAd
    chain: Chain
    attribution: Attribution
    seen_at: datetime  # UTC
    #: seconds since the chain was followed, when it was reused from an earlier follow
    #: (None: followed for this sighting, or nothing to follow)
    chain_age_s: float | None = None

    @property
    def offender(self) -> str:
        """Whom an incident is about: the partner, else the landing or display domain."""
        a = self.attribution
        return a.partner or a.landing_domain or a.display_domain or "unknown"


class Fact(NamedTuple):
    """One reason a policy matched: a named condition and what it saw.

    A named tuple rather than a frozen dataclass: the rule engine makes millions, and a
    tuple is built several times faster while staying just as immutable.
    """

    condition: str
    detail: str


class Finding(NamedTuple):
    """A breach: a sighting matched a policy and no agreement permits it. (A named tuple,
    like Fact, for the rule engine's speed.)"""

    policy: str
    severity: Severity
    offender: str
    partner: str | None
    term_group: str
    title: str
    clause: str | None = None
    notice_template: str | None = None
    facts: tuple[Fact, ...] = ()
    #: the partner's agreement version in force on the market's day (None: no agreement)
    agreement_version: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{f.condition}: {f.detail}" for f in self.facts)


@dataclass(frozen=True, slots=True)
class JudgedAd:
    """One ad after every stage: what the record stage stores for it."""

    ad: ObservedAd
    chain: Chain
    attribution: Attribution
    sighting: Sighting
    findings: tuple[Finding, ...]
