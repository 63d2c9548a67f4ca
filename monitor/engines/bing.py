"""Bing: how to ask (mkt/setlang) and how to read (paid ads, page status).

Reading, most durable first (research/serp-ad-markup.md):
1. placement: ol#b_results (top, or bottom when the block is marked b_adBottom or follows
   the organic results) and ol#b_context / #b_rrail (right);
2. items: every heading link whose URL has Bing's click shape (bing.com/aclick, /aclk,
   *.r.msn.com) is an ad; its item is the nearest list item or div.sb_add around it;
3. classes (li.b_ad, div.sb_add) as a further marker, never as the only one.
Product carousels (pa_*, adsMvCarousel) are shopping ads, never text ads.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from monitor.engines.base import Engine
from monitor.engines.blocks import PageMarkers, classify_page
from monitor.engines.dom import (
    Node,
    ancestors,
    attr,
    classes,
    closest,
    doc_order,
    first_match,
    is_hidden,
    is_inside,
    never_raises,
    organic_indexes,
    outermost,
    parse,
    ranked,
    text_of,
    unique,
)
from monitor.engines.markets import query_string
from monitor.models import AdKind, AdPosition, CaptureStatus, ObservedAd, SearchTask, Sitelink

HOSTS = ("www.bing.com", "bing.com")

_ITEM = "div.sb_add"
_HEADING = "h2, h3, [role=heading]"
_PRODUCT = ".pa_item, .pa_vCard, .adsMvCarousel .slide, li.pa_mlo .slide"
_PRODUCT_BLOCK = ".pa_carousel_mlo, .adsMvCarousel, li.pa_mlo, .pa_sb"
_RIGHT_IDS = frozenset({"b_context", "b_rrail"})
_ORGANIC = "li.b_algo"


def search_url(task: SearchTask) -> str:
    """bing.com/search with mkt=<lang>-<CC> (the market) and setlang (the UI language)."""
    lang = task.market.language.lower()
    params = [
        ("q", task.query),
        ("mkt", f"{lang}-{task.market.country.upper()}"),
        ("setlang", lang),
    ]
    if task.page > 1:
        params.append(("first", str((task.page - 1) * 10 + 1)))
    return "https://www.bing.com/search?" + query_string(params)


def is_click_url(url: str) -> bool:
    """Bing's paid-click shapes: bing.com/aclick?ld=…&u=…, bing.com/aclk?ld=…, *.r.msn.com."""
    lowered = url.lower()
    return "/aclick?" in lowered or "bing.com/aclk?" in lowered or ".r.msn.com/" in lowered


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    order: dict[int, int]
    first_organic: int | None


def _position(item: Node, page: _Page) -> AdPosition:
    for ancestor in ancestors(item):
        if attr(ancestor, "id") in _RIGHT_IDS:
            return AdPosition.right
        if any("adBottom" in name for name in classes(ancestor)):
            return AdPosition.bottom
        if any("adTop" in name for name in classes(ancestor)):
            return AdPosition.top
    if page.first_organic is None:
        return AdPosition.top
    before = page.order.get(item.mem_id, 0) < page.first_organic
    return AdPosition.top if before else AdPosition.bottom


def _ad_headings(tree: LexborHTMLParser) -> list[Node]:
    """Headings whose link has Bing's paid-click shape."""
    return [
        heading
        for heading in unique(tree.css(_HEADING))
        if any(is_click_url(attr(a, "href")) for a in heading.css("a[href]"))
    ]


def _item_of(heading: Node) -> Node:
    marked = closest(heading, lambda n: "sb_add" in classes(n))
    if marked is not None:
        return marked
    return closest(heading, lambda n: n.tag == "li") or heading.parent or heading


def _items(tree: LexborHTMLParser, page: _Page) -> list[Node]:
    by_click = [_item_of(h) for h in _ad_headings(tree)]
    marked = [n for n in tree.css(_ITEM) if n.css_first(_HEADING) is not None]
    products = unique(tree.css(_PRODUCT_BLOCK))
    items = [i for i in outermost(marked + by_click) if not is_inside(i, products)]
    return sorted(items, key=lambda n: page.order.get(n.mem_id, 0))


def _headline_link(item: Node) -> tuple[Node, Node] | None:
    for heading in item.css(_HEADING):
        link = first_match(heading, "a[href]", lambda a: not is_hidden(a))
        if link is not None and text_of(link):
            return heading, link
    return None


def _description(item: Node, heading: Node) -> str:
    """The first caption paragraph, without the localised "Ad" slug in front of it."""
    for paragraph in item.css("p"):
        if is_inside(paragraph, [heading]) or paragraph.css_first("cite") is not None:
            continue
        text = text_of(paragraph)
        slug = text_of(paragraph.css_first("span.b_adSlug, .b_adSlug"))
        if slug and text.startswith(slug):
            text = text[len(slug) :].strip()
        if text:
            return text
    return ""


def _sitelinks(item: Node, heading: Node) -> tuple[Sitelink, ...]:
    out: list[Sitelink] = []
    for anchor in item.css("a[href]"):
        if (
            is_inside(anchor, [heading])
            or anchor.css_first("cite")
            or closest(anchor, lambda n: n.tag == "cite")
        ):
            continue
        text, href = text_of(anchor), attr(anchor, "href")
        if text and is_click_url(href) and Sitelink(text, href) not in out:
            out.append(Sitelink(text=text, url=href))
    return tuple(out)


def _read_item(item: Node, position: AdPosition) -> ObservedAd | None:
    found = _headline_link(item)
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
        display_url=text_of(item.css_first("cite")),
        link=href,
        click_url=href if is_click_url(href) else None,
        sitelinks=_sitelinks(item, heading),
    )


def _read_products(tree: LexborHTMLParser, page: _Page) -> list[ObservedAd]:
    ads: list[ObservedAd] = []
    for card in outermost(tree.css(_PRODUCT)):
        link = first_match(card, "a[href]", lambda a: not is_hidden(a))
        if link is None:
            continue
        href = attr(link, "href")
        title = attr(link, "title") or attr(link, "aria-label") or text_of(link)
        ads.append(
            ObservedAd(
                kind=AdKind.shopping,
                position=_position(card, page),
                rank=0,
                headline=title,
                description="",
                display_url=text_of(card.css_first("cite, .pa_sellerName, .b_adurl")),
                link=href,
                click_url=href if is_click_url(href) else None,
            )
        )
    return ads


@never_raises
def read_ads(html: str) -> list[ObservedAd]:
    """Every paid ad on a Bing result page: text ads (top, bottom, right), then product ads."""
    tree = parse(html)
    if tree is None:
        return []
    order = doc_order(tree)
    organic = organic_indexes(tree, order, "#b_results", is_click_url)
    page = _Page(order, min(organic, default=None))
    ads = [_read_item(item, _position(item, page)) for item in _items(tree, page)]
    return ranked([ad for ad in ads if ad is not None] + _read_products(tree, page))


# ---- page status ---------------------------------------------------------------------------

MARKERS = PageMarkers(
    captcha_hosts=(),
    captcha_paths=("/turing/captcha", "/turing/"),
    captcha_selectors="#b_captcha, form[action*='/turing/captcha'], iframe[src*='/turing/captcha']",
    captcha_snippets=("/turing/captcha",),
    consent_hosts=(),
    consent_selectors="#bnp_container, #bnp_cookie_banner, form[action*='consent']",
    result_selectors="ol#b_results, #b_content, #b_results",
    content_selectors=f"{_ORGANIC}, li.b_ad, div.sb_add, {_PRODUCT}, #b_results h2 a",
    no_results_selectors="li.b_no, #b_results .b_no",
)


def classify(final_url: str, status: int | None, html: str) -> CaptureStatus:
    return classify_page(MARKERS, final_url, status, html)


def recognises(html: str) -> bool:
    """Bing's results list or search form (ids stable since 2012)."""
    tree = parse(html)
    if tree is None:
        return False
    return (
        tree.css_first("ol#b_results, #b_content, form#sb_form, #sb_form_q, #b_header") is not None
    )


ENGINE = Engine(
    name="bing",
    hosts=HOSTS,
    search_url=search_url,
    read_ads=read_ads,
    classify=classify,
    recognises=recognises,
)
