"""Google: how to ask (a localised /search URL), how to read (paid ads, page status) and
what its click URLs are and where they lead.

Reading is layered, most durable first (see research/serp-ad-markup.md):
1. containers by id: #tads (top), #tadsb/#bottomads (bottom), #mbEnd/#rhs (right), stable
   since 2013; with no container (no-JS pages, the 2026 ad block inside #rso between
   results) document order against the organic results gives top, middle or bottom;
2. item markers: the data-text-ad attribute (2021+), then item classes of each era;
3. click-URL shapes: a heading link carrying data-rw or an /aclk URL is an ad even when every
   class name has changed; its item is the largest block around it holding no other heading.
Field reading uses roles (role=heading, role=text), the cite element, data attributes and the
visible/hidden anchor pair; it never reads the localised "Ad"/"Sponsored" label.
Ad clicks (data-rw, /aclk hrefs) outside every ad and ad unit read are reported as strays.
Speed: each part of a selector list walks the whole page, so page-wide queries are few and
reused, and per-ad work stays inside the ad.
"""

from __future__ import annotations

import base64
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial

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
    is_hidden_by,
    looks_like_url,
    never_raises_page,
    outermost,
    parse,
    placed_by_order,
    ranked,
    text_of,
    unique,
)
from monitor.engines.markets import query_string
from monitor.engines.urls import UrlParts, query_value, url_parts
from monitor.models import AdKind, AdPosition, ObservedAd, SearchTask, Sitelink

HOSTS = ("www.google.com", "google.com")

_UULE_KEY = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
_UULE_PREFIX = "w+CAIQICI"

#: item markers across eras: data attribute first, then the item classes of 2013-2024
_ITEM = "[data-text-ad], .uEierd, li.ads-ad, div.ads-ad, li.ads-fr, li.taf, li.tam, li.tal"
#: the same set in fewer selector passes (each part of a selector list walks the whole page)
_ITEM_FAST = "[data-text-ad], .uEierd, .ads-ad, li:is(.ads-fr, .taf, .tam, .tal)"
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
#: anything carrying an ad click: a data-rw rewrite, or an /aclk href (anchors, areas, divs)
_CLICK_MARKED = "[data-rw], [href*='aclk']"
#: product units (.pla-unit also covers the era variants .mnr-c.pla-unit, .cu-container …)
_PRODUCT = ".pla-unit, .commercial-unit-desktop-top .pla-unit-container"
#: local ads: local service ads, and the wrapper data-is-ad of a sponsored listing in the
#: local pack (2026: its place name opens a panel, its only links are /aclk action buttons)
_LOCAL = "gls-profile-entrypoint, [data-lsa-ad], [data-is-ad]"
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


# ---- click URLs ----------------------------------------------------------------------------

#: hosts Google's click redirects are served from (every country TLD, and the ad server)
#: googleads.g.doubleclick.net/aclk also charges the advertiser (search-partner and some
#: shopping clicks): counted as a click so that it is never followed by default
_CLICK_HOSTS = re.compile(
    r"(?:www\.)?google\.[a-z.]+|(?:www\.)?googleadservices\.com|googleads\.g\.doubleclick\.net"
)
_AD_CLICK_PATH = re.compile(r"/(?:pagead/)?aclk")


def _google_parts(url: str) -> UrlParts | None:
    """The parts of a URL on a Google host, or of a relative href (Google's own page links
    /aclk?… and /url?… relatively in no-JS and saved pages); None for any other host."""
    parts = url_parts(url)
    return parts if not parts.host or _CLICK_HOSTS.fullmatch(parts.host) else None


def is_click_url(url: str) -> bool:
    """Google's paid clicks: /aclk?… and /pagead/aclk?… (google.*, googleadservices.com)."""
    if "aclk" not in url:  # the readers ask this of every link: most are answered here
        return False
    parts = _google_parts(url)
    return parts is not None and _AD_CLICK_PATH.match(parts.path) is not None


def click_destination(url: str) -> str | None:
    """Where a Google click goes: an ad click's `adurl`, an organic /url's `q` (or `url`)."""
    parts = _google_parts(url)
    if parts is None:
        return None
    if _AD_CLICK_PATH.match(parts.path):
        return query_value(parts.query, "adurl")
    return query_value(parts.query, "q", "url") if parts.path == "/url" else None


# ---- reading -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    """Facts about the whole page that an item's position depends on."""

    order: DocOrder
    first_tads: int | None  # mem_id of the first #tads (a later one is a no-JS bottom block)
    organic: Callable[[], list[Node]]  # the first and the last organic result (on demand)
    clicks: list[Node]  # every element carrying an ad-click URL
    units: dict[AdKind, list[Node]]  # product, local and other ad units (never text ads)
    placed: NearestMark[AdPosition]  # the placement the nearest ad container gives
    listed: NearestMark[bool]  # True below a list or list item (sitelink headings)


def _page_facts(tree: LexborHTMLParser) -> _Page:
    tads = tree.css_first("#tads")
    return _Page(
        order=DocOrder(),
        first_tads=tads.mem_id if tads is not None else None,
        organic=cache(partial(_organic_ends, tree)),
        clicks=unique(tree.css(_CLICK_MARKED)),
        units={
            AdKind.shopping: outermost(tree.css(_PRODUCT)),
            AdKind.local: outermost(n for n in tree.css(_LOCAL) if not _wraps_text_ad(n)),
            AdKind.other: outermost(tree.css(_OTHER_FORMATS)),
        },
        placed=NearestMark(_container_position(tads.mem_id if tads is not None else None)),
        listed=NearestMark(_in_list),
    )


def _organic_ends(tree: LexborHTMLParser) -> list[Node]:
    """The first and the last organic result: asked only for an ad no container places
    (walking every organic match costs a large page more than finding the first)."""
    first = tree.css_first(_ORGANIC)
    if first is None:
        return []
    # a result has a title: the page's footer links (settings, sign-in) go through /url too
    titled = (n for n in reversed(tree.css(_ORGANIC)) if n.css_first(_HEADING) is not None)
    return [first, next(titled, first)]


def _is_text_item(node: Node) -> bool:
    """Whether `node` is what _ITEM marks (a text ad's item)."""
    if "data-text-ad" in node.attributes:
        return True
    marks = classes(node)
    if "uEierd" in marks or ("ads-ad" in marks and node.tag in ("li", "div")):
        return True
    return node.tag == "li" and not marks.isdisjoint({"ads-fr", "taf", "tam", "tal"})


def _wraps_text_ad(unit: Node) -> bool:
    """A data-is-ad block around, on or inside a text ad is that text ad, not a local unit
    (only local listings carry it so far; a text ad that gains it stays a text ad)."""
    if "data-is-ad" not in unit.attributes:
        return False
    if any(_is_text_item(n) for n in (unit, *ancestors(unit))):
        return True
    return any(_is_item(n) for n in unit.css(_ITEM_FAST))


def _container_position(first_tads: int | None) -> Callable[[Node], AdPosition | None]:
    """What an ad container says about placement (a second #tads is a no-JS bottom block)."""

    def judge(container: Node) -> AdPosition | None:
        position = _CONTAINER_POSITION.get(attr(container, "id"))
        if position is AdPosition.top and container.mem_id != first_tads:
            return AdPosition.bottom
        return position

    return judge


def _in_list(node: Node) -> bool | None:
    return True if attr(node, "role") in ("listitem", "list") else None


def _position(item: Node, page: _Page) -> AdPosition:
    placed = page.placed(item)
    if placed is not None:
        return placed
    return placed_by_order(page.order, item, page.organic())


def _is_sitelink_heading(heading: Node, page: _Page) -> bool:
    """Sitelink titles are headings too (2023: h3 > div[role=listitem] > a)."""
    if heading.css_first("[role=listitem]") is not None:
        return True
    return page.listed(heading) is not None


def _headline_node(item: Node, page: _Page) -> Node | None:
    return first_match(
        item, _HEADING, lambda h: not _is_sitelink_heading(h, page) and bool(text_of(h))
    )


def _heading_is_ad(heading: Node) -> bool:
    """A heading whose link (around or inside it) is shaped like a Google ad click."""
    around = closest(heading, lambda n: n.tag == "a")
    anchors = [around] if around is not None else []
    anchors += heading.css("a")
    return any(attr(a, "data-rw") or is_click_url(attr(a, "href")) for a in anchors)


def _grow(heading: Node, peer_count: dict[int, int], stop: set[int]) -> Node:
    """The largest block around `heading` that holds no other heading (its ad's item).

    `peer_count` says, for each node, how many headings it holds (itself included).
    """
    item = heading
    for parent in ancestors(heading):
        if parent.mem_id in stop or parent.tag == "body" or attr(parent, "id") in _BOUNDARY_IDS:
            break
        if peer_count.get(parent.mem_id, 0) > 1:
            break
        item = parent
    return item


def _heading_counts(tree: LexborHTMLParser, page: _Page) -> dict[int, int]:
    """How many (non-sitelink) headings each node holds, itself included."""
    counts: dict[int, int] = {}
    for heading in unique(tree.css(_HEADING)):
        if _is_sitelink_heading(heading, page):
            continue
        for node in (heading, *ancestors(heading)):
            counts[node.mem_id] = counts.get(node.mem_id, 0) + 1
    return counts


def _is_heading(node: Node) -> bool:
    return node.tag == "h3" or node.attributes.get("role") == "heading"


def _below(node: Node, selector: str) -> list[Node]:
    """Matches strictly below `node` (a node's own css() also matches the node)."""
    return [n for n in node.css(selector) if n.mem_id != node.mem_id]


def _candidate_headings(
    containers: list[Node], clicks: list[Node], known_ids: set[int]
) -> list[Node]:
    """Headings in an ad container, or around or inside an ad-click link (a superset).

    Walks up from each click link only until it meets a marked item: links in items that
    were already found lead to no new heading.
    """
    found = [h for container in containers for h in _below(container, _HEADING)]
    for link in clicks:
        if link.tag != "a":
            continue
        around: list[Node] = []
        for ancestor in ancestors(link):
            if ancestor.mem_id in known_ids:
                break
            if _is_heading(ancestor):
                around.append(ancestor)
        else:
            found += around + _below(link, _HEADING)
    return unique(found)


def _lineage(node: Node, known_ids: set[int], container_ids: set[int]) -> tuple[bool, bool]:
    """Whether `node` sits in a known item, and whether in an ad container (so far up)."""
    in_container = False
    for ancestor in ancestors(node):
        if ancestor.mem_id in known_ids:
            return True, in_container
        in_container = in_container or ancestor.mem_id in container_ids
    return False, in_container


def _fallback_items(tree: LexborHTMLParser, known: list[Node], page: _Page) -> list[Node]:
    """Ads no item marker caught: headings in ad containers, or with ad-click links anywhere.

    Only candidate headings are examined; the page's heading map that bounds each item is
    built only when one of them turns out to be an ad.
    """
    containers = unique(tree.css(_CONTAINERS))
    container_ids = _ids(containers)
    known_ids = _ids(known)
    found: list[Node] = []
    for heading in _candidate_headings(containers, page.clicks, known_ids):
        in_known, in_container = _lineage(heading, known_ids, container_ids)
        if in_known or _is_sitelink_heading(heading, page):
            continue
        if (in_container or _heading_is_ad(heading)) and text_of(heading):
            found.append(heading)
    if not found:
        return []
    counts = _heading_counts(tree, page)
    return [_grow(heading, counts, container_ids) for heading in found]


def _is_item(node: Node) -> bool:
    """Exactly _ITEM for the nodes _ITEM_FAST finds (.ads-ad counts on li and div only)."""
    return (
        node.tag in ("li", "div")
        or "data-text-ad" in node.attributes
        or ("uEierd" in classes(node))
    )


def _items(tree: LexborHTMLParser, page: _Page, excluded: list[Node]) -> list[Node]:
    marked = outermost(n for n in tree.css(_ITEM_FAST) if _is_item(n))
    items = outermost(marked + _fallback_items(tree, marked, page))
    excluded_ids = _ids(excluded)
    items = [
        i
        for i in items
        if i.mem_id not in excluded_ids and not any(a.mem_id in excluded_ids for a in ancestors(i))
    ]
    return sorted(items, key=page.order.key)


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
    return href if is_click_url(href) else None


def _display_node(item: Node, under_heading: set[int]) -> Node | None:
    def usable(node: Node) -> bool:
        return node.mem_id not in under_heading and bool(text_of(node))

    for selector in ("cite", "[role=text]", "[data-dtld]"):
        node = first_match(item, selector, usable)
        if node is not None:
            return node

    def url_like(node: Node) -> bool:
        # a host has a dot and cleaning adds none: a raw text without one is ruled out cheaply
        if node.mem_id in under_heading or "." not in node.text(deep=True):
            return False
        return looks_like_url(text_of(node))  # False for "", so this also checks usable()

    return first_match(item, "span, div", url_like)


#: page chrome inside an ad: menus, "why this ad" bubbles, ratings, icons
_CHROME_ROLES = frozenset({"button", "menu", "menuitem", "dialog", "img", "tooltip"})
_CHROME_TAGS = frozenset({"g-bubble", "g-dropdown-menu", "g-popup", "g-menu", "svg", "img"})
_CHROME_INSIDE = "a, cite, h3, [role=text], [role=img], [role=button], [role=menu], svg, img"


def _is_chrome(node: Node) -> bool:
    if node.tag in _CHROME_TAGS:
        return True
    attrs = node.attributes  # built once: each .attributes call copies every attribute
    role, hidden = attrs.get("role"), attrs.get("aria-hidden")
    if (role and role.strip() in _CHROME_ROLES) or (hidden and hidden.strip() == "true"):
        return True
    return is_hidden_by(attrs)


def _strictly_inside(nodes: list[Node]) -> set[int]:
    """Everything below the given nodes (a node's own css() matches the node too)."""
    return {d.mem_id for n in nodes for d in n.css("*") if d.mem_id != n.mem_id}


def _in_chrome(node: Node, item: Node) -> bool:
    for ancestor in ancestors(node):
        if ancestor.mem_id == item.mem_id:
            return False
        if _is_chrome(ancestor):
            return True
    return False


def _holders(item: Node) -> set[int]:
    """Blocks of `item` holding a link, URL, heading or chrome (and those elements)."""
    holders: set[int] = set()
    for marker in item.css(_CHROME_INSIDE):
        holders.add(marker.mem_id)
        for ancestor in ancestors(marker):
            if ancestor.mem_id in holders:  # the rest of the way up is already known
                break
            holders.add(ancestor.mem_id)
            if ancestor.mem_id == item.mem_id:
                break
    return holders


def _description(item: Node, under_headline: set[int], labels: set[str | None]) -> str:
    """The first block of words outside the headline link, with no links, URLs or chrome.

    `labels` are texts already read as something else (the advertiser's name and display
    URL, which 2023+ ads repeat outside the link): a long advertiser name is not a
    description. Cheap tests run first; the walk up for chrome only for text that passes.
    """
    blocked = _holders(item) | under_headline

    def is_body_text(node: Node) -> bool:
        # cleaning only drops characters, so a short raw text rules a block out cheaply
        if node.mem_id in blocked or len(node.text(deep=True)) < 20 or _is_chrome(node):
            return False
        text = text_of(node)
        if len(text) < 20 or " " not in text or looks_like_url(text) or text in labels:
            return False
        return not _in_chrome(node, item)

    node = first_match(item, "div, p, span", is_body_text)
    return text_of(node)


#: a bare domain: Google names an advertiser with no verified name by its domain (2026:
#: "booking.com"), while a copy of the display URL has a scheme, a path or a breadcrumb
_BARE_DOMAIN = re.compile(r"(?:[\w-]+\.)+[^\W\d_][\w-]*", re.I)


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
    if not name or name in (headline, text_of(display)) or len(name) > 80:
        return None
    return name if not looks_like_url(name) or _BARE_DOMAIN.fullmatch(name) else None


def _is_sitelink(anchor: Node) -> bool:
    if attr(anchor, "data-rw") or is_click_url(attr(anchor, "href")):
        return True
    previous = anchor.prev
    return previous is not None and previous.tag == "a" and is_hidden(previous)


def _sitelinks(item: Node, link: Node, under_headline: set[int]) -> tuple[Sitelink, ...]:
    out: list[Sitelink] = []
    for anchor in item.css("a[href]"):
        if anchor.mem_id == link.mem_id or anchor.mem_id in under_headline:
            continue
        if is_hidden(anchor) or not _is_sitelink(anchor):
            continue
        text = text_of(anchor)
        if text and not looks_like_url(text):
            sitelink = Sitelink(text=text, url=attr(anchor, "href"))
            if sitelink not in out:
                out.append(sitelink)
    return tuple(out)


def _read_item(item: Node, page: _Page) -> ObservedAd | None:
    position = _position(item, page)
    heading = _headline_node(item, page)
    link = _link_node(item, heading) if heading is not None else None
    if heading is None or link is None:
        return None
    under_heading = _strictly_inside([heading])
    under_headline = under_heading | _strictly_inside([link])  # the link may sit in the h3
    display = _display_node(item, under_heading)
    display_url = text_of(display)
    headline = text_of(heading)
    advertiser = _advertiser(display, headline)
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=headline,
        description=_description(item, under_headline, {advertiser, display_url}),
        display_url=display_url,
        link=attr(link, "href"),
        click_url=_click_url(item, heading, link),
        advertiser=advertiser,
        sitelinks=_sitelinks(item, link, under_headline),
    )


def _text_outside_chrome(node: Node | None) -> str:
    """A title's text without the chrome nested in it (2026 local listings put the "why this
    ad" button and its dialog, with a heading of its own, inside the place name's heading)."""
    if node is None:
        return ""
    if not any(_is_chrome(d) for d in _below(node, "*")):
        return text_of(node)
    copy = node.clone()  # the page itself stays whole for the other readers
    for junk in outermost(d for d in _below(copy, "*") if _is_chrome(d)):
        junk.decompose()
    return text_of(copy)


#: a price as shown: digits with a currency sign or a three-letter code on either side
#: ("$1,299.00", "1.299,00 €", "CHF 49.90"), never words around it
_PRICE = re.compile(
    r"(?:[^\w\s]{1,3}|[A-Z]{3})\s?\d[\d.,\s\u202f]*|\d[\d.,\s\u202f]*\s?(?:[^\w\s]{1,3}|[A-Z]{3})"
)


def _is_price(text: str) -> bool:
    if not _PRICE.fullmatch(text):
        return False
    return any(unicodedata.category(c) == "Sc" for c in text) or text[:3].isalpha() or (
        text[-3:].isalpha()
    )


def _leaf_texts(unit: Node, skip: set[int]) -> list[str]:
    """The texts of the unit's innermost text blocks, in document order, outside `skip`
    and outside chrome (menus, dialogs, hidden parts)."""
    texts: list[str] = []
    for node in unit.css("span, div"):
        if node.mem_id in skip or _below(node, "span, div") or _is_chrome(node):
            continue
        text = text_of(node)
        if text and not _in_chrome(node, unit):
            texts.append(text)
    return texts


def _price_and_merchant(unit: Node, title: Node | None) -> tuple[str | None, str | None]:
    """A product unit's price, and its merchant: the first short line after the price that
    is neither a price nor a URL nor a rating ("4.6 (2.1K)"); by position, never by label."""
    skip = _strictly_inside([title]) | {title.mem_id} if title is not None else set()
    texts = _leaf_texts(unit, skip)
    at = next((i for i, t in enumerate(texts) if _is_price(t)), None)
    if at is None:
        return None, None
    merchant = next(
        (
            t
            for t in texts[at + 1 :]
            if not _is_price(t) and len(t) <= 60 and not t[0].isdigit() and t[0] not in "(·"
        ),
        None,
    )
    return texts[at], merchant


def _unit_click(unit: Node, link: Node) -> str | None:
    """A unit's ad click: the link's data-rw, an /aclk href, or the hidden /aclk twin."""
    href = attr(link, "href")
    rewrite = attr(link, "data-rw") or (href if is_click_url(href) else "")
    if rewrite:
        return rewrite
    hidden = first_match(unit, "a[href]", lambda a: is_hidden(a) and is_click_url(attr(a, "href")))
    return attr(hidden, "href") or None


def _read_unit(unit: Node, kind: AdKind, position: AdPosition) -> ObservedAd | None:
    """A product or local ad: a title and where it leads; never a text ad."""
    link = first_match(unit, "a[href]", lambda a: not is_hidden(a))
    if link is None:
        return None
    heading = unit.css_first(_HEADING)
    title = _text_outside_chrome(heading) or attr(link, "aria-label") or text_of(link)
    if not title:  # an empty tile (still loading, or a placeholder) is not an ad to report
        return None
    # role=text also marks ratings and review counts ("(1.7K)"): there only a URL counts
    display = first_match(
        unit, "cite, [role=text]", lambda n: n.tag == "cite" or looks_like_url(text_of(n))
    )
    price, merchant = (
        _price_and_merchant(unit, heading) if kind is AdKind.shopping else (None, None)
    )
    return ObservedAd(
        kind=kind,
        position=position,
        rank=0,
        headline=title,
        description="",
        display_url=text_of(display),
        link=attr(link, "href"),
        click_url=_unit_click(unit, link),
        # a local listing is titled with the business's own name, a product by its merchant
        advertiser=title if kind is AdKind.local else merchant,
        merchant=merchant,
        price=price,
    )


def _read_units(page: _Page) -> list[tuple[Node, ObservedAd]]:
    """Product and local ads, each with the unit it was read from."""
    units: list[tuple[Node, ObservedAd]] = []
    for kind in (AdKind.shopping, AdKind.local):
        for unit in page.units[kind]:
            ad = _read_unit(unit, kind, _position(unit, page))
            if ad is not None:
                units.append((unit, ad))
    return units


def _read_text_ads(tree: LexborHTMLParser, page: _Page) -> list[tuple[Node, ObservedAd]]:
    excluded = [unit for units in page.units.values() for unit in units]
    items = _items(tree, page, excluded)
    read = [(item, _read_item(item, page)) for item in items]
    return [(item, ad) for item, ad in read if ad is not None]


@never_raises_page
def read_page(html: str) -> PageReading:
    """Every paid ad on a Google result page (text ads, then product and local ads) and the
    ad clicks outside them (outside text ads and every product, local or other ad unit)."""
    tree = parse(html)
    if tree is None:
        return PageReading([])
    page = _page_facts(tree)
    found = _read_text_ads(tree, page) + _read_units(page)
    ads = ranked(ad for _, ad in found)
    recognised = [node for node, _ in found] + [u for units in page.units.values() for u in units]
    strays = click_urls_outside(
        page.clicks, ("href", "data-rw"), is_click_url, recognised, ad_urls(ads)
    )
    return PageReading(ads, strays)



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
    # consent.google.* has one form per choice (set_eom=true is "Reject all"); the dialog
    # shown over www.google.* names its buttons W0wltc (reject) and L2AGLb (accept)
    consent_buttons=("form[action*='/save']:has(input[name=set_eom][value=true]) button",
                     "#W0wltc", "form[action*='/save']:has(input[name=set_eom]) button",
                     "#L2AGLb"),
)



def recognises(html: str) -> bool:
    """Google's tracking attributes plus its results layout or search form. Never the title,
    and never a bare /aclk link: Bing's 2020 clicks are bing.com/aclk? too, and a Bing page
    has a form action="/search" with a q field as well."""
    return has_all(
        html,
        "[data-ved], [data-hveid], a[data-rw], a[href^='/aclk?'],"
        " a[href*='.google.'][href*='/aclk?'], a[href*='googleadservices.com/pagead/aclk']",
        "#gsr, #rso, #tvcap, #tads, #center_col, #searchform, #hdtb, #main a[href^='/url?'],"
        " form[action='/search'] input[name=q], link[rel=canonical][href*='google.']",
    )


ENGINE = Engine(
    name="google",
    hosts=HOSTS,
    search_url=search_url,
    read_page=read_page,
    markers=MARKERS,
    recognises=recognises,
    is_click_url=is_click_url,
    click_destination=click_destination,
)
