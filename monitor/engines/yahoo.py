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
    placed_by_order,
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

#: Yahoo's click redirector: r.search.yahoo.com everywhere, r.search.yahoo.co.jp in Japan;
#: a regional search host (it.search.yahoo.com …) serving the same /cbclk paths counts too
_REDIRECT_HOSTS = re.compile(r"(?:[\w-]+\.)*search\.yahoo(?:\.[a-z]{2,})+")


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
    organic: list[Node]  # the first and the last organic title (dom.organic_ends)


def _list_position(names: set[str]) -> AdPosition | None:
    joined = " ".join(names).lower()
    if "right" in joined:
        return AdPosition.right
    if "bottom" in joined:
        return AdPosition.bottom
    if "middle" in joined:  # a center ad list among the results (searchCenterMiddleAds)
        return AdPosition.middle
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
    return placed_by_order(page.order, item, page.organic)


def _is_ad_link(anchor: Node) -> bool:
    return is_click_url(attr(anchor, "href")) or attr(anchor, "data-matarget").startswith("ad")


@dataclass(frozen=True, slots=True)
class _Title:
    """An ad's title: the block the headline sits in, its link and the headline text."""

    block: Node  # the heading, or the link when it wraps the heading (2021-22) or has none
    link: Node
    headline: str
    heading: Node | None  # the heading element, where there is one


def _link_around(node: Node) -> Node | None:
    return closest(node, lambda n: n.tag == "a" and bool(attr(n, "href")))


def _title_of_heading(heading: Node) -> _Title | None:
    """h3 > a (2014-2019), or a > h3 with the display URL beside it in the link (2021-22)."""
    link = first_match(heading, "a[href]", lambda a: bool(text_of(a)))
    if link is not None:
        return _Title(heading, link, text_of(link), heading)
    around = _link_around(heading)
    if around is not None and text_of(heading):
        return _Title(around, around, text_of(heading), heading)
    return None


def _is_bare_title_link(anchor: Node) -> bool:
    text = text_of(anchor)
    return _is_ad_link(anchor) and bool(text) and not looks_like_url(text)


def _title(item: Node) -> _Title | None:
    for heading in item.css(_HEADING):
        found = _title_of_heading(heading)
        if found is not None:
            return found
    # no heading at all: the ad's first paid-click link with words (not its URL line)
    link = first_match(item, "a[href]", _is_bare_title_link)
    return _Title(link, link, text_of(link), None) if link is not None else None


def _ad_titles(tree: LexborHTMLParser) -> list[Node]:
    """Title nodes of ads: headings whose link (inside or around) is a paid click, and in
    the ad lists every title, even one with no heading."""
    titles: list[Node] = []
    for heading in unique(tree.css(_HEADING)):
        around = _link_around(heading)
        links = heading.css("a[href]") + ([around] if around is not None else [])
        if any(_is_ad_link(a) for a in links) and _title_of_heading(heading) is not None:
            titles.append(heading)
    for ad_list in tree.css(_AD_LISTS):
        for entry in outermost(ad_list.css("li")):
            found = [h for h in entry.css(_HEADING) if _title_of_heading(h) is not None]
            if not found:
                link = first_match(entry, "a[href]", _is_bare_title_link)
                found = [link] if link is not None else []
            titles += found
    return outermost(unique(titles))


def _title_counts(titles: list[Node]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for title in titles:
        for node in (title, *ancestors(title)):
            counts[node.mem_id] = counts.get(node.mem_id, 0) + 1
    return counts


def _grow(title: Node, counts: dict[int, int]) -> Node:
    """The ad around a title: its list item, or the largest block below it holding no other
    title (one list item can hold several div.dd ads)."""
    item = title
    for parent in ancestors(title):
        if parent.tag in ("ol", "ul", "body") or counts.get(parent.mem_id, 0) > 1:
            break
        item = parent
        if parent.tag == "li":
            break
    return item


def _items(tree: LexborHTMLParser) -> list[Node]:
    """The list item (or block) around each paid title."""
    titles = _ad_titles(tree)
    counts = _title_counts(titles)
    return outermost(_grow(title, counts) for title in titles)


def _display_url(item: Node, title: _Title) -> str:
    """The line right after the title (its class is obfuscated), else URL-looking text; in
    the 2021-22 layout it sits inside the title link, beside the heading."""
    sibling = title.block.next
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.next
    text = text_of(sibling)
    if text and looks_like_url(text):
        return text
    inside = [title.heading] if title.heading is not None else [title.link]
    around = {a.mem_id for a in ancestors(title.block)} | {title.block.mem_id}

    def is_url_line(node: Node) -> bool:
        # not the headline, nor a block holding it (the ad's whole text starts with the URL)
        if node.mem_id in around or is_inside(node, inside):
            return False
        return looks_like_url(text_of(node))

    return text_of(first_match(item, "cite, span, div, a", is_url_line))


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
    title = _title(item)
    if title is None:
        return None
    href = attr(title.link, "href")
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=title.headline,
        description=_description(item, title.block),
        display_url=_display_url(item, title),
        link=href,
        click_url=href if is_click_url(href) else None,
        sitelinks=_sitelinks(item, title.link),
    )


@never_raises_page
def read_page(html: str) -> PageReading:
    """Every paid text ad on a Yahoo result page (top, bottom and right-rail lists) and the
    ad clicks outside them."""
    tree = parse(html)
    if tree is None:
        return PageReading([])
    organic = organic_ends(tree, "#web", is_click_url)
    page = _Page(DocOrder(), organic)
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
