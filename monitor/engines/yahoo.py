"""Yahoo: how to ask (the regional search host), how to read (paid ads, page status) and
what its click URLs are and where they lead.

Reading, most durable first: a title link with Yahoo's paid-click shape
(r.search.yahoo.com/cbclk…, or data-matarget="ad…" in the 2023+ markup) makes an ad; the ad
lists (ol.searchCenterTopAds / …BottomAds / searchRight…Ads, stable since ~2014) give the
placement, else the right rail (#right) or document order against the organic list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from selectolax.lexbor import LexborHTMLParser

from monitor.engines.base import Engine, PageReading
from monitor.engines.blocks import PageMarkers
from monitor.engines.dom import (
    DocOrder,
    Node,
    ad_urls,
    ancestors,
    attr,
    classes,
    click_urls_outside,
    closest,
    first_match,
    has_all,
    is_inside,
    looks_like_url,
    never_raises_page,
    organic_ends,
    outermost,
    parse,
    ranked,
    text_of,
    unique,
)
from monitor.engines.markets import query_string
from monitor.engines.urls import UrlParts, url_parts
from monitor.models import AdKind, AdPosition, ObservedAd, SearchTask, Sitelink

#: Yahoo's regional search hosts (the region is chosen by subdomain, not by a parameter)
_REGIONAL_HOSTS: dict[tuple[str, str], str] = {
    ("GB", "en"): "uk.search.yahoo.com",
    ("IE", "en"): "ie.search.yahoo.com",
    ("DE", "de"): "de.search.yahoo.com",
    ("AT", "de"): "at.search.yahoo.com",
    ("CH", "de"): "ch.search.yahoo.com",
    ("CH", "fr"): "fr-ch.search.yahoo.com",
    ("FR", "fr"): "fr.search.yahoo.com",
    ("ES", "es"): "es.search.yahoo.com",
    ("IT", "it"): "it.search.yahoo.com",
    ("NL", "nl"): "nl.search.yahoo.com",
    ("CA", "en"): "ca.search.yahoo.com",
    ("CA", "fr"): "qc.search.yahoo.com",
    ("AU", "en"): "au.search.yahoo.com",
    ("NZ", "en"): "nz.search.yahoo.com",
    ("IN", "en"): "in.search.yahoo.com",
    ("SG", "en"): "sg.search.yahoo.com",
    ("MY", "en"): "malaysia.search.yahoo.com",
    ("PH", "en"): "ph.search.yahoo.com",
    ("ID", "id"): "id.search.yahoo.com",
    ("ID", "en"): "id.search.yahoo.com",
    ("HK", "zh"): "hk.search.yahoo.com",
    ("TW", "zh"): "tw.search.yahoo.com",
    ("BR", "pt"): "br.search.yahoo.com",
    ("MX", "es"): "mx.search.yahoo.com",
    ("AR", "es"): "ar.search.yahoo.com",
    ("US", "es"): "espanol.search.yahoo.com",
}
DEFAULT_HOST = "search.yahoo.com"
HOSTS = (DEFAULT_HOST, *sorted(set(_REGIONAL_HOSTS.values())))


def host_for(country: str, language: str) -> str:
    """The regional host for a market, search.yahoo.com when Yahoo has none for it."""
    return _REGIONAL_HOSTS.get((country.upper(), language.lower()), DEFAULT_HOST)


def search_url(task: SearchTask) -> str:
    """<region>.search.yahoo.com/search?p=…, paging by result offset b (1, 11, 21…)."""
    params = [("p", task.query), ("ei", "UTF-8")]
    if task.page > 1:
        params.append(("b", str((task.page - 1) * 10 + 1)))
    host = host_for(task.market.country, task.market.language)
    return f"https://{host}/search?" + query_string(params)


# ---- click URLs ----------------------------------------------------------------------------

#: Yahoo's click redirector: r.search.yahoo.com everywhere, r.search.yahoo.co.jp in Japan
_REDIRECT_HOSTS = re.compile(r"r\.search\.yahoo(?:\.[a-z]{2,})+")


def _redirect_parts(url: str) -> UrlParts | None:
    parts = url_parts(url)
    return parts if _REDIRECT_HOSTS.fullmatch(parts.host) else None


def is_click_url(url: str) -> bool:
    """Yahoo's paid clicks: r.search.yahoo.com/cbclk/… or /cbclk2/… (and _ylt variants).

    Organic results go through the same redirector (/_ylt=…/RU=…) and are no paid click.
    """
    if "/cbclk" not in url:  # the readers ask this of every link: most are answered here
        return False
    parts = _redirect_parts(url)
    return parts is not None and "/cbclk" in parts.path  # after a /_ylt=… segment, too


def click_destination(url: str) -> str | None:
    """Where a Yahoo click (paid or organic) goes: its /RU=<URL-encoded destination>/ segment."""
    parts = _redirect_parts(url)
    if parts is None:
        return None
    segment = next((s for s in parts.path.split("/") if s.startswith("RU=")), None)
    return unquote(segment[3:]) if segment else None


# ---- reading -------------------------------------------------------------------------------

_HEADING = "h3, h2, [role=heading]"
_AD_LISTS = "ol[class*=Ads], ul[class*=Ads]"
#: links with Yahoo's click shape (is_click_url decides; the selector only narrows)
_CLICK_MARKED = "[href*='/cbclk']"
_ORGANIC = "#web ol.searchCenterMiddle > li, #web li .algo, .algo-sr, div.algo"


@dataclass(frozen=True, slots=True)
class _Page:
    order: DocOrder
    first_organic: Node | None


def _list_position(names: set[str]) -> AdPosition | None:
    joined = " ".join(names).lower()
    if "right" in joined:
        return AdPosition.right
    if "bottom" in joined:
        return AdPosition.bottom
    if "top" in joined or "north" in joined:
        return AdPosition.top
    return None


def _position(item: Node, page: _Page) -> AdPosition:
    for ancestor in ancestors(item):
        if attr(ancestor, "id") == "right":
            return AdPosition.right
        if any("Ads" in name for name in classes(ancestor)):
            position = _list_position(classes(ancestor))
            if position is not None:
                return position
    if page.first_organic is None:
        return AdPosition.top
    before = page.order.key(item) < page.order.key(page.first_organic)
    return AdPosition.top if before else AdPosition.bottom


def _is_ad_link(anchor: Node) -> bool:
    return is_click_url(attr(anchor, "href")) or attr(anchor, "data-matarget").startswith("ad")


def _items(tree: LexborHTMLParser) -> list[Node]:
    """The list item (or block) around each heading whose link is a paid click."""
    found: list[Node] = []
    for heading in unique(tree.css(_HEADING)):
        if any(_is_ad_link(a) for a in heading.css("a[href]")):
            item = closest(heading, lambda n: n.tag == "li") or heading.parent or heading
            found.append(item)
    for ad_list in tree.css(_AD_LISTS):
        found += [li for li in ad_list.css("li") if li.css_first(f"{_HEADING} a[href]")]
    return outermost(found)


def _title(item: Node) -> tuple[Node, Node] | None:
    for heading in item.css(_HEADING):
        link = first_match(heading, "a[href]", lambda a: bool(text_of(a)))
        if link is not None:
            return heading, link
    return None


def _display_url(item: Node, heading: Node) -> str:
    """The line right after the title (its class is obfuscated), else URL-looking text."""
    sibling = heading.next
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.next
    text = text_of(sibling)
    if text and looks_like_url(text):
        return text
    node = first_match(
        item,
        "cite, span, div, a",
        lambda n: not is_inside(n, [heading]) and looks_like_url(text_of(n)),
    )
    return text_of(node)


def _description(item: Node, heading: Node) -> str:
    """The first paragraph of ad copy (not the seller-rating line, which links to reviews)."""

    def is_copy(node: Node) -> bool:
        if is_inside(node, [heading]) or len(text_of(node)) < 20:
            return False
        return all(_is_ad_link(a) for a in node.css("a[href]"))

    return text_of(first_match(item, "p", is_copy))


def _sitelinks(item: Node, link: Node) -> tuple[Sitelink, ...]:
    out: list[Sitelink] = []
    for anchor in unique(item.css("ul a[href], li li a[href]")):
        text = text_of(anchor)
        if text and anchor.mem_id != link.mem_id and _is_ad_link(anchor):
            out.append(Sitelink(text=text, url=attr(anchor, "href")))
    return tuple(out)


def _read_item(item: Node, position: AdPosition) -> ObservedAd | None:
    found = _title(item)
    if found is None:
        return None
    heading, link = found
    href = attr(link, "href")
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=text_of(link),
        description=_description(item, heading),
        display_url=_display_url(item, heading),
        link=href,
        click_url=href if is_click_url(href) else None,
        sitelinks=_sitelinks(item, link),
    )


@never_raises_page
def read_page(html: str) -> PageReading:
    """Every paid text ad on a Yahoo result page (top, bottom and right-rail lists) and the
    ad clicks outside them."""
    tree = parse(html)
    if tree is None:
        return PageReading([])
    organic = organic_ends(tree, "#web", is_click_url)
    page = _Page(DocOrder(), organic[0] if organic else None)
    items = sorted(_items(tree), key=page.order.key)
    read = [(item, _read_item(item, _position(item, page))) for item in items]
    found = [(item, ad) for item, ad in read if ad is not None]
    ads = ranked(ad for _, ad in found)
    strays = click_urls_outside(
        tree.css(_CLICK_MARKED), ("href",), is_click_url, [n for n, _ in found], ad_urls(ads)
    )
    return PageReading(ads, strays)



# ---- page status ---------------------------------------------------------------------------

MARKERS = PageMarkers(
    captcha_hosts=(),
    captcha_paths=("/captcha", "/sorry"),
    captcha_selectors="form[action*='captcha'], #captcha, iframe[src*='captcha']",
    captcha_snippets=("captcha",),
    consent_hosts=("consent.yahoo.com", "guce.yahoo.com", "consent.yahoo.co.jp"),
    consent_selectors="form.consent-form, form[action*='consent'], .consent-wizard",
    result_selectors="#web, #results, ol.searchCenterMiddle, #main .compTitle, #right",
    content_selectors=f"{_ORGANIC}, {_AD_LISTS}, #web h3 a, .compTitle a",
    no_results_selectors=".zrp, .zrp-container, .compNoResult, ol.reg.searchCenterMiddle .dd.zrp",
    # consent.yahoo.com / guce.yahoo.com: "Reject all" then "Accept all"
    consent_buttons=("button.reject-all", "button[name=reject]", "button.accept-all",
                     "button[name=agree]"),
)



def recognises(html: str) -> bool:
    """Yahoo's results layout (#web with searchCenter lists) or its search form."""
    return has_all(
        html,
        "ol.searchCenterMiddle, ol[class*=searchCenter], form[action*='search.yahoo.'],"
        " #yschsp, #sbq-wrap, a[href*='r.search.yahoo.com'][data-matarget]",
    )


ENGINE = Engine(
    name="yahoo",
    hosts=HOSTS,
    search_url=search_url,
    read_page=read_page,
    markers=MARKERS,
    recognises=recognises,
    is_click_url=is_click_url,
    click_destination=click_destination,
)
