"""Bing: how to ask (mkt/setlang), how to read (paid ads, page status) and what its click
URLs are and where they lead.

Reading, most durable first (research/serp-ad-markup.md):
1. placement: ol#b_results (top; bottom when the block is marked b_adBottom or follows the
   organic results; middle when marked b_adMiddle or between them) and ol#b_context /
   #b_rrail (right);
2. items: every heading link whose URL has Bing's click shape (bing.com/aclick, /aclk,
   *.r.msn.com) is an ad; its item is the nearest list item or div.sb_add around it;
3. classes (li.b_ad, div.sb_add) as a further marker, never as the only one.
Product carousels (pa_*, adsMvCarousel) are shopping ads, never text ads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from monitor.engines.base import Engine, PageReading
from monitor.engines.blocks import PageMarkers
from monitor.engines.dom import (
    DocOrder,
    NearestMark,
    Node,
    ad_urls,
    ancestors,
    attr,
    classes,
    click_urls_outside,
    closest,
    first_match,
    has_all,
    is_hidden,
    is_inside,
    never_raises_page,
    organic_ends,
    outermost,
    parse,
    placed_by_order,
    ranked,
    strictly_inside,
    text_of,
    unique,
)
from monitor.engines.markets import query_string
from monitor.engines.urls import UrlParts, base64url_text, query_value, url_parts
from monitor.models import AdKind, AdPosition, ObservedAd, SearchTask, Sitelink

HOSTS = ("www.bing.com", "bing.com")

_ITEM = "div.sb_add"
_HEADING = "h2, h3, [role=heading]"
_PRODUCT = ".pa_item, .pa_vCard, .adsMvCarousel .slide, li.pa_mlo .slide"
_PRODUCT_BLOCK = ".pa_carousel_mlo, .adsMvCarousel, li.pa_mlo, .pa_sb"
_RIGHT_IDS = frozenset({"b_context", "b_rrail"})
_ORGANIC = "li.b_algo"
#: links with one of Bing's click shapes (is_click_url decides; the selector only narrows)
_CLICK_MARKED = "[href*='/aclick?' i], [href*='bing.com/aclk?' i], [href*='.r.msn.com/' i]"


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


# ---- click URLs ----------------------------------------------------------------------------

#: bing.com and its country hosts (cn.bing.com …) serve /aclick and /aclk
_CLICK_HOSTS = re.compile(r"(?:[\w-]+\.)*bing\.com")
#: the 2015 era: <account>.r.msn.com/?ld=…&u=<landing>, as Yahoo's RU= still carried in 2016
_MSN_CLICK_HOSTS = re.compile(r"(?:[\w-]+\.)+r\.msn\.com")
_AD_CLICK_PATH = re.compile(r"/acl(?:ic)?k", re.IGNORECASE)  # /aclick and /aclk
#: a relative href on Bing's page: only /aclick (a relative /aclk is Google's shape)
_RELATIVE_AD_CLICK_PATH = re.compile(r"/aclick", re.IGNORECASE)


def _click_parts(url: str) -> UrlParts | None:
    lowered = url.lower()
    if "aclk" not in lowered and "aclick" not in lowered and "r.msn.com" not in lowered:
        return None  # the readers ask this of every link: most are answered here
    parts = url_parts(url)
    if not parts.host:
        return parts if _RELATIVE_AD_CLICK_PATH.match(parts.path) else None
    if _MSN_CLICK_HOSTS.fullmatch(parts.host):
        return parts
    on_bing = _CLICK_HOSTS.fullmatch(parts.host) is not None
    return parts if on_bing and _AD_CLICK_PATH.match(parts.path) else None


def is_click_url(url: str) -> bool:
    """Bing's paid clicks, every era: bing.com/aclick?ld=…&u=… (2019+), bing.com/aclk?ld=…
    (2020), <id>.r.msn.com/?ld=…&u=… (2015)."""
    return _click_parts(url) is not None


def click_destination(url: str) -> str | None:
    """Where a Bing click goes: its `u`, a URL as is, or base64url of it after "a1"."""
    parts = _click_parts(url)
    value = query_value(parts.query, "u") if parts is not None else None
    if value and value.startswith("a1"):
        return base64url_text(value[2:])
    return value


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    order: DocOrder
    organic: list[Node]  # the first and the last organic title (dom.organic_ends)
    placed: NearestMark[AdPosition]


def _block_position(block: Node) -> AdPosition | None:
    """The placement a block marks: the right rail by id, top/bottom ad blocks by class."""
    if attr(block, "id") in _RIGHT_IDS:
        return AdPosition.right
    names = classes(block)
    if any("adBottom" in name for name in names):
        return AdPosition.bottom
    if any("adMiddle" in name for name in names):
        return AdPosition.middle
    if any("adTop" in name for name in names):
        return AdPosition.top
    return None


def _position(item: Node, page: _Page) -> AdPosition:
    marked = page.placed(item)
    if marked is not None:
        return marked
    return placed_by_order(page.order, item, page.organic)


def _ad_headings(clicks: list[Node]) -> list[Node]:
    """Headings whose link has Bing's paid-click shape: the headings above each click link.

    Click links share most ancestors; a walk up stops where an earlier walk passed.
    """
    seen: set[int] = set()
    headings: list[Node] = []
    for link in clicks:
        if link.tag != "a":
            continue
        for node in (link, *_ancestors_until(link, seen)):
            if node.tag in ("h2", "h3") or node.attributes.get("role") == "heading":
                headings.append(node)
    return unique(headings)


def _ancestors_until(node: Node, seen: set[int]) -> list[Node]:
    """The ancestors of `node` below the first one already in `seen` (which grows)."""
    out: list[Node] = []
    for ancestor in ancestors(node):
        if ancestor.mem_id in seen:
            break
        seen.add(ancestor.mem_id)
        out.append(ancestor)
    return out


def _item_of(heading: Node) -> Node:
    marked = closest(heading, lambda n: "sb_add" in classes(n))
    if marked is not None:
        return marked
    return closest(heading, lambda n: n.tag == "li") or heading.parent or heading


def _items(
    tree: LexborHTMLParser, page: _Page, products: list[Node], clicks: list[Node]
) -> list[Node]:
    by_click = [_item_of(h) for h in _ad_headings(clicks)]
    marked = [n for n in tree.css(_ITEM) if n.css_first(_HEADING) is not None]
    items = [i for i in outermost(marked + by_click) if not is_inside(i, products)]
    return sorted(items, key=page.order.key)


def _headline_link(item: Node) -> tuple[Node, Node] | None:
    for heading in item.css(_HEADING):
        link = first_match(heading, "a[href]", lambda a: not is_hidden(a))
        if link is not None and text_of(link):
            return heading, link
    return None


def _description(item: Node, under_heading: set[int]) -> str:
    """The first caption paragraph, without the localised "Ad" slug in front of it."""
    for paragraph in item.css("p"):
        if paragraph.mem_id in under_heading or paragraph.css_first("cite") is not None:
            continue
        text = text_of(paragraph)
        slug = text_of(paragraph.css_first("span.b_adSlug, .b_adSlug"))
        if slug and text.startswith(slug):
            text = text[len(slug) :].strip()
        if text:
            return text
    return ""


def _sitelinks(item: Node, under_heading: set[int]) -> tuple[Sitelink, ...]:
    """Links with Bing's click shape outside the headline and the display URL."""
    out: list[Sitelink] = []
    for anchor in item.css("a[href]"):
        href = attr(anchor, "href")
        if not is_click_url(href) or anchor.mem_id in under_heading:
            continue
        if anchor.css_first("cite") or closest(anchor, lambda n: n.tag == "cite"):
            continue
        text = text_of(anchor)
        if text and Sitelink(text, href) not in out:
            out.append(Sitelink(text=text, url=href))
    return tuple(out)


def _read_item(item: Node, position: AdPosition) -> ObservedAd | None:
    found = _headline_link(item)
    if found is None:
        return None
    heading, link = found
    href = attr(link, "href")
    under_heading = strictly_inside([heading])
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=text_of(link),
        description=_description(item, under_heading),
        display_url=text_of(item.css_first("cite")),
        link=href,
        click_url=href if is_click_url(href) else None,
        sitelinks=_sitelinks(item, under_heading),
    )


def _read_product(card: Node, position: AdPosition) -> ObservedAd | None:
    link = first_match(card, "a[href]", lambda a: not is_hidden(a))
    if link is None:
        return None
    title = attr(link, "title") or attr(link, "aria-label") or text_of(link)
    if not title:  # an empty tile (still loading, or a placeholder) is not an ad to report
        return None
    href = attr(link, "href")
    return ObservedAd(
        kind=AdKind.shopping,
        position=position,
        rank=0,
        headline=title,
        description="",
        display_url=text_of(card.css_first("cite, .pa_sellerName, .b_adurl")),
        link=href,
        click_url=href if is_click_url(href) else None,
    )


def _read_products(tree: LexborHTMLParser, page: _Page) -> list[tuple[Node, ObservedAd]]:
    read = [
        (card, _read_product(card, _position(card, page))) for card in outermost(tree.css(_PRODUCT))
    ]
    return [(card, ad) for card, ad in read if ad is not None]


def _read_text_ads(
    tree: LexborHTMLParser, page: _Page, products: list[Node], clicks: list[Node]
) -> list[tuple[Node, ObservedAd]]:
    read = [
        (item, _read_item(item, _position(item, page)))
        for item in _items(tree, page, products, clicks)
    ]
    return [(item, ad) for item, ad in read if ad is not None]


@never_raises_page
def read_page(html: str) -> PageReading:
    """Every paid ad on a Bing result page (text ads: top, bottom, right; then product ads)
    and the ad clicks outside them."""
    tree = parse(html)
    if tree is None:
        return PageReading([])
    organic = organic_ends(tree, "#b_results", is_click_url)
    page = _Page(DocOrder(), organic, NearestMark(_block_position))
    products = unique(tree.css(_PRODUCT_BLOCK))
    clicks = unique(tree.css(_CLICK_MARKED))
    found = _read_text_ads(tree, page, products, clicks) + _read_products(tree, page)
    ads = ranked(ad for _, ad in found)
    recognised = [node for node, _ in found] + products
    strays = click_urls_outside(clicks, ("href",), is_click_url, recognised, ad_urls(ads))
    return PageReading(ads, strays)



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
    consent_buttons=("#bnp_btn_reject", "#bnp_btn_accept"),
)



def recognises(html: str) -> bool:
    """Bing's results list, search form or ad blocks (ids and classes stable since 2012), or
    its own script and form hosts; never the title (2022 pages end theirs in "- Search")."""
    return has_all(
        html,
        "ol#b_results, #b_content, form#sb_form, #sb_form_q, #b_header, li.b_ad,"
        " form[action*='bing.com/search'], script[src*='r.bing.com/'], link[href*='r.bing.com/']",
    )


ENGINE = Engine(
    name="bing",
    hosts=HOSTS,
    search_url=search_url,
    read_page=read_page,
    markers=MARKERS,
    recognises=recognises,
    is_click_url=is_click_url,
    click_destination=click_destination,
)
