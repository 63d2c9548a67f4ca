"""Google: how to ask (a localised /search URL) and how to read (paid ads, page status).

Reading is layered, most durable first (see research/serp-ad-markup.md):
1. containers by id: #tads (top), #tadsb/#bottomads (bottom), #mbEnd/#rhs (right), stable
   since 2013; with no container (no-JS pages) top/bottom follows document order against the
   organic results;
2. item markers: the data-text-ad attribute (2021+), then item classes of each era;
3. click-URL shapes: a heading link carrying data-rw or an /aclk URL is an ad even when every
   class name has changed; its item is the largest block around it holding no other heading.
Field reading uses roles (role=heading, role=text), the cite element, data attributes and the
visible/hidden anchor pair; it never reads the localised "Ad"/"Sponsored" label.
"""

from __future__ import annotations

import base64
import string
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from monitor.engines.base import Engine
from monitor.engines.blocks import PageMarkers, classify_page
from monitor.engines.dom import (
    Node,
    ancestors,
    attr,
    closest,
    doc_order,
    first_match,
    is_hidden,
    is_inside,
    looks_like_url,
    never_raises,
    outermost,
    parse,
    ranked,
    text_of,
    unique,
)
from monitor.engines.markets import query_string
from monitor.models import AdKind, AdPosition, CaptureStatus, ObservedAd, SearchTask, Sitelink

HOSTS = ("www.google.com", "google.com")

_UULE_KEY = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_UULE_PREFIX = "w+CAIQICI"

#: item markers across eras: data attribute first, then the item classes of 2013-2024
_ITEM = "[data-text-ad], .uEierd, li.ads-ad, div.ads-ad, li.ads-fr, li.taf, li.tam, li.tal"
_CONTAINER_POSITION = {
    "tads": AdPosition.top,
    "tadsb": AdPosition.bottom,
    "bottomads": AdPosition.bottom,
    "mbEnd": AdPosition.right,
    "rhs": AdPosition.right,
    "rhs_block": AdPosition.right,
}
_CONTAINERS = "#tads, #tadsb, #bottomads, #mbEnd"
_HEADING = "[role=heading], h3"
_CLICK_ANCHOR = "a[data-rw], a[href*='/aclk?'], a[href*='/pagead/aclk']"
_PRODUCT = (
    ".pla-unit, .commercial-unit-desktop-top .pla-unit-container,"
    " .mnr-c.pla-unit, .cu-container .pla-unit"
)
_LOCAL = "gls-profile-entrypoint, [data-lsa-ad]"
#: hotel ads and other formats that are neither text nor product ads
_OTHER_FORMATS = "#atvcap"
_ORGANIC = "a[href^='/url?'], #rso .g, #search .g, div.g"
#: blocks a fallback item never grows past
_BOUNDARY_IDS = frozenset({"main", "center_col", "rcnt", "search", "rso", "res", "tvcap", "taw"})


def uule(canonical_name: str) -> str:
    """Google's `uule` for a canonical location name ("Chicago,Illinois,United States").

    "w+CAIQICI" + one key character for the name's UTF-8 length + base64 of the name. One key
    character covers at most 63 bytes, so longer names cannot be encoded.
    """
    raw = canonical_name.strip().encode("utf-8")
    if not raw:
        raise ValueError("uule needs a canonical location name; got an empty one")
    if len(raw) >= len(_UULE_KEY):
        raise ValueError(
            f"location {canonical_name!r} is {len(raw)} bytes in UTF-8; uule encodes at most "
            f"{len(_UULE_KEY) - 1}: use a shorter canonical name (e.g. the city's parent region)"
        )
    return _UULE_PREFIX + _UULE_KEY[len(raw)] + base64.b64encode(raw).decode("ascii")


def search_url(task: SearchTask) -> str:
    """google.com/search localised by gl/hl (every TLD now serves google.com) and uule."""
    market = task.market
    params = [
        ("q", task.query),
        ("gl", market.country.lower()),
        ("hl", market.language.lower()),
        ("pws", "0"),
    ]
    if market.city:
        params.append(("uule", uule(market.city)))
    if task.page > 1:
        params.append(("start", str((task.page - 1) * 10)))
    # uule is sent literally, as Google's own links carry it ("w+CAIQICI…")
    return "https://www.google.com/search?" + query_string(params, literal=frozenset({"uule"}))


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    """Facts about the whole page that an item's position depends on."""

    order: dict[int, int]
    first_tads: int | None  # mem_id of the first #tads (a later one is a no-JS bottom block)
    first_organic: int | None  # document index of the first organic result


def _page_facts(tree: LexborHTMLParser) -> _Page:
    order = doc_order(tree)
    tads = tree.css_first("#tads")
    organic = tree.css_first(_ORGANIC)
    return _Page(
        order=order,
        first_tads=tads.mem_id if tads is not None else None,
        first_organic=order.get(organic.mem_id) if organic is not None else None,
    )


def _position(item: Node, page: _Page) -> AdPosition:
    for ancestor in ancestors(item):
        position = _CONTAINER_POSITION.get(attr(ancestor, "id"))
        if position is AdPosition.top and ancestor.mem_id != page.first_tads:
            return AdPosition.bottom
        if position is not None:
            return position
    if page.first_organic is None:
        return AdPosition.top
    before = page.order.get(item.mem_id, 0) < page.first_organic
    return AdPosition.top if before else AdPosition.bottom


def _is_sitelink_heading(heading: Node) -> bool:
    """Sitelink titles are headings too (2023: h3 > div[role=listitem] > a)."""
    if heading.css_first("[role=listitem]") is not None:
        return True
    return any(attr(a, "role") in ("listitem", "list") for a in ancestors(heading))


def _headline_node(item: Node) -> Node | None:
    return first_match(item, _HEADING, lambda h: not _is_sitelink_heading(h) and bool(text_of(h)))


def _is_click_url(url: str) -> bool:
    return "/aclk?" in url or "/pagead/aclk" in url


def _heading_is_ad(heading: Node) -> bool:
    """A heading whose link (around or inside it) is shaped like a Google ad click."""
    around = closest(heading, lambda n: n.tag == "a")
    anchors = [around] if around is not None else []
    anchors += heading.css("a")
    return any(attr(a, "data-rw") or _is_click_url(attr(a, "href")) for a in anchors)


def _grow(heading: Node, peers: list[Node], stop: set[int]) -> Node:
    """The largest block around `heading` that holds no other heading (its ad's item)."""
    peer_paths = [
        {a.mem_id for a in ancestors(p)} | {p.mem_id} for p in peers if p.mem_id != heading.mem_id
    ]
    item = heading
    for parent in ancestors(heading):
        if parent.mem_id in stop or parent.tag == "body" or attr(parent, "id") in _BOUNDARY_IDS:
            break
        if any(parent.mem_id in path for path in peer_paths):
            break
        item = parent
    return item


def _fallback_items(tree: LexborHTMLParser, known: list[Node]) -> list[Node]:
    """Ads no item marker caught: headings in ad containers, or with ad-click links anywhere."""
    headings = [h for h in unique(tree.css(_HEADING)) if not _is_sitelink_heading(h)]
    container_ids = _ids(unique(tree.css(_CONTAINERS)))
    known_ids = _ids(known)
    found: list[Node] = []
    for heading in headings:
        lineage = {a.mem_id for a in ancestors(heading)}
        if not lineage.isdisjoint(known_ids) or not text_of(heading):
            continue
        if not lineage.isdisjoint(container_ids) or _heading_is_ad(heading):
            found.append(_grow(heading, headings, container_ids))
    return found


def _items(tree: LexborHTMLParser, page: _Page) -> list[Node]:
    marked = outermost(tree.css(_ITEM))
    excluded = unique(tree.css(f"{_PRODUCT}, {_LOCAL}, {_OTHER_FORMATS}"))
    items = outermost(marked + _fallback_items(tree, marked))
    items = [i for i in items if not is_inside(i, excluded) and i.mem_id not in _ids(excluded)]
    return sorted(items, key=lambda n: page.order.get(n.mem_id, 0))


def _ids(nodes: list[Node]) -> set[int]:
    return {n.mem_id for n in nodes}


def _link_node(item: Node, heading: Node) -> Node | None:
    around = closest(heading, lambda n: n.tag == "a" and bool(attr(n, "href")))
    if around is not None:
        return around
    inside = [a for a in heading.css("a[href]") if not is_hidden(a)]
    if inside:
        return inside[0]
    return first_match(item, "a[href]", lambda a: not is_hidden(a) and bool(text_of(a)))


def _paired_hidden(item: Node, heading: Node, link: Node) -> Node | None:
    """The hidden /aclk twin of the visible link: id "s0p1" for "vs0p1", or hidden in the h3."""
    link_id = attr(link, "id")
    for anchor in item.css("a[href]"):
        if not is_hidden(anchor):
            continue
        if link_id.startswith("v") and attr(anchor, "id") == link_id[1:]:
            return anchor
    return first_match(heading, "a[href]", is_hidden)


def _click_url(item: Node, heading: Node, link: Node) -> str | None:
    rewrite = attr(link, "data-rw")
    if rewrite:
        return rewrite
    hidden = _paired_hidden(item, heading, link)
    if hidden is not None and attr(hidden, "href") != attr(link, "href"):
        return attr(hidden, "href")
    href = attr(link, "href")
    return href if _is_click_url(href) else None


def _display_node(item: Node, heading: Node) -> Node | None:
    def usable(node: Node) -> bool:
        return not is_inside(node, [heading]) and bool(text_of(node))

    for selector in ("cite", "[role=text]", "[data-dtld]"):
        node = first_match(item, selector, usable)
        if node is not None:
            return node
    return first_match(item, "span, div", lambda n: usable(n) and looks_like_url(text_of(n)))


#: page chrome inside an ad: menus, "why this ad" bubbles, ratings, icons
_CHROME_ROLES = frozenset({"button", "menu", "menuitem", "dialog", "img", "tooltip"})
_CHROME_TAGS = frozenset({"g-bubble", "g-dropdown-menu", "g-popup", "g-menu", "svg", "img"})
_CHROME_INSIDE = "a, cite, h3, [role=text], [role=img], [role=button], [role=menu], svg, img"


def _is_chrome(node: Node) -> bool:
    return (
        node.tag in _CHROME_TAGS
        or attr(node, "role") in _CHROME_ROLES
        or attr(node, "aria-hidden") == "true"
        or is_hidden(node)
    )


def _in_chrome(node: Node, item: Node) -> bool:
    for ancestor in ancestors(node):
        if ancestor.mem_id == item.mem_id:
            return False
        if _is_chrome(ancestor):
            return True
    return False


def _description(item: Node, link: Node, heading: Node, labels: set[str | None]) -> str:
    """The first block of words outside the headline link, with no links, URLs or chrome.

    `labels` are texts already read as something else (the advertiser's name and display
    URL, which 2023+ ads repeat outside the link): a long advertiser name is not a
    description.
    """

    def is_body_text(node: Node) -> bool:
        if is_inside(node, [link, heading]) or node.css_first(_CHROME_INSIDE) is not None:
            return False
        if _is_chrome(node) or _in_chrome(node, item):
            return False
        text = text_of(node)
        return (len(text) >= 20 and " " in text and not looks_like_url(text)
                and text not in labels)

    node = first_match(item, "div, p, span", is_body_text)
    return text_of(node)


def _advertiser(display: Node | None, headline: str) -> str | None:
    """2023+: the advertiser's name sits just before the display URL's box."""
    if display is None or display.parent is None:
        return None
    sibling = display.parent.prev
    while sibling is not None and not sibling.is_element_node:
        sibling = sibling.prev
    if sibling is None or sibling.css_first(_HEADING) is not None or sibling.tag == "h3":
        return None
    name = text_of(sibling)
    usable = name and name != headline and not looks_like_url(name) and len(name) <= 80
    return name if usable else None


def _is_sitelink(anchor: Node) -> bool:
    if attr(anchor, "data-rw") or _is_click_url(attr(anchor, "href")):
        return True
    previous = anchor.prev
    return previous is not None and previous.tag == "a" and is_hidden(previous)


def _sitelinks(item: Node, heading: Node, link: Node) -> tuple[Sitelink, ...]:
    out: list[Sitelink] = []
    for anchor in item.css("a[href]"):
        if anchor.mem_id == link.mem_id or is_hidden(anchor) or is_inside(anchor, [link, heading]):
            continue
        text = text_of(anchor)
        if text and not looks_like_url(text) and _is_sitelink(anchor):
            sitelink = Sitelink(text=text, url=attr(anchor, "href"))
            if sitelink not in out:
                out.append(sitelink)
    return tuple(out)


def _read_item(item: Node, position: AdPosition) -> ObservedAd | None:
    heading = _headline_node(item)
    link = _link_node(item, heading) if heading is not None else None
    if heading is None or link is None:
        return None
    display = _display_node(item, heading)
    headline = text_of(heading)
    advertiser = _advertiser(display, headline)
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=headline,
        description=_description(item, link, heading, {advertiser, text_of(display)}),
        display_url=text_of(display),
        link=attr(link, "href"),
        click_url=_click_url(item, heading, link),
        advertiser=advertiser,
        sitelinks=_sitelinks(item, heading, link),
    )


def _read_unit(unit: Node, kind: AdKind, position: AdPosition) -> ObservedAd | None:
    """A product or local ad: a title and where it leads; never a text ad."""
    link = first_match(unit, "a[href]", lambda a: not is_hidden(a))
    if link is None:
        return None
    title = text_of(unit.css_first(_HEADING)) or attr(link, "aria-label") or text_of(link)
    href = attr(link, "href")
    rewrite = attr(link, "data-rw") or (href if _is_click_url(href) else "")
    return ObservedAd(
        kind=kind,
        position=position,
        rank=0,
        headline=title,
        description="",
        display_url=text_of(unit.css_first("cite, [role=text]")),
        link=href,
        click_url=rewrite or None,
    )


def _read_units(tree: LexborHTMLParser, page: _Page) -> list[ObservedAd]:
    ads: list[ObservedAd] = []
    for selector, kind in ((_PRODUCT, AdKind.shopping), (_LOCAL, AdKind.local)):
        for unit in outermost(tree.css(selector)):
            ad = _read_unit(unit, kind, _position(unit, page))
            if ad is not None:
                ads.append(ad)
    return ads


@never_raises
def read_ads(html: str) -> list[ObservedAd]:
    """Every paid ad on a Google result page: text ads, then product and local ads."""
    tree = parse(html)
    if tree is None:
        return []
    page = _page_facts(tree)
    ads = [_read_item(item, _position(item, page)) for item in _items(tree, page)]
    return ranked([ad for ad in ads if ad is not None] + _read_units(tree, page))


# ---- page status ---------------------------------------------------------------------------

MARKERS = PageMarkers(
    captcha_hosts=("sorry.google.", "ipv4.google.com", "ipv6.google.com"),
    captcha_paths=("/sorry",),
    captcha_selectors="form[action*='/sorry/'], #infoDiv iframe[src*='recaptcha']",
    captcha_snippets=("/sorry/", "google.com/recaptcha/"),
    consent_hosts=("consent.google.", "consent.youtube."),
    consent_selectors="form[action*='consent.google.'], form[action*='/save'] [name=set_eom]",
    result_selectors="#search, #rso, #res, #main, #center_col, #tvcap, #tads, #botstuff",
    content_selectors=f"{_ORGANIC}, {_ITEM}, #rso [data-hveid], #search h3, #res h3, {_PRODUCT}",
)


def classify(final_url: str, status: int | None, html: str) -> CaptureStatus:
    return classify_page(MARKERS, final_url, status, html)


def recognises(html: str) -> bool:
    """Google's tracking attributes plus its results layout or search form."""
    tree = parse(html)
    if tree is None:
        return False
    tracked = tree.css_first("[data-ved], [data-hveid], a[href*='/aclk?'], a[data-rw]")
    layout = tree.css_first(
        "#gsr, #rso, #tvcap, #tads, #center_col, #searchform, #hdtb, #main a[href^='/url?'],"
        " form[action='/search'] input[name=q], link[rel=canonical][href*='google.']"
    )
    return tracked is not None and layout is not None


ENGINE = Engine(
    name="google",
    hosts=HOSTS,
    search_url=search_url,
    read_ads=read_ads,
    classify=classify,
    recognises=recognises,
)
