"""Small helpers for reading result pages with selectolax (lexbor).

The engine readers share these: safe parsing, ancestor walks, cleaned text, document order,
URL-looking text, and rank assignment. Nothing here renders or trusts page content.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Generic, TypeVar

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.engines.pagetext import bound_page, decode_page
from monitor.models import AdKind, AdPosition, ObservedAd, PageReading
from monitor.text import clean_text

Node = LexborNode
T = TypeVar("T")
PageReader = Callable[[str], PageReading]
#: at most this many stray click URLs are reported per page (a warning, not an inventory)
MAX_STRAYS = 50

#: elements whose content is never visible text
_NON_TEXT = "script, style, noscript, template"
#: a host (with a dot) at the start, optionally after a scheme: "www.x.com/…", "https://x.ch"
_URLISH = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:[\w-]+\.)+[\w-]*[^\W\d_][\w-]*(?::\d+)?(?:[/?#› ]|$)", re.I
)


def parse(html: str | bytes | None) -> LexborHTMLParser | None:
    """A parsed tree, or None for empty or unparseable input (lexbor itself drops NUL bytes).
    Bytes are decoded by what the page says it is; the text is bounded in size and nesting
    first (`pagetext.bound_page`), so no page costs lexbor more than a large result page.

    The tree is shared: detecting the engine, classing the page and reading its ads ask for
    the same page in turn, and parsing it once instead of three or four times is most of a
    reader's time. Nothing may change a tree it gets from here (clone a node first, as
    `text_of` does)."""
    if not html:
        return None
    if not isinstance(html, (str, bytes)):
        return None
    text = decode_page(html) if isinstance(html, bytes) else html
    last = _last_parsed.__dict__.get("page")
    if last is not None and last[0] is text:
        return last[1]
    tree = _parse_text(bound_page(text).html)
    # one per thread (a tree is not shared across threads), and only the last page: a
    # large page's tree is tens of megabytes
    _last_parsed.page = (text, tree)
    return tree


#: the last page each thread parsed, and its tree
_last_parsed = threading.local()


def _parse_text(html: str) -> LexborHTMLParser | None:
    try:
        tree = LexborHTMLParser(html)
    except UnicodeEncodeError:  # lone surrogates from a lossy decode: read the rest anyway
        tree = LexborHTMLParser(html.encode("utf-8", errors="replace"))
    return tree if tree.root is not None else None


def never_raises_page(reader: PageReader) -> PageReader:
    """Readers get hostile, truncated or binary input: a bad page reads as no ads and no
    strays, never as a crash."""

    @wraps(reader)
    def safe(html: str) -> PageReading:
        try:
            return reader(html)
        except Exception:  # the contract: bad markup reads as "no ads" (classify decides why)
            return PageReading([])

    return safe


def unique(nodes: Iterable[Node]) -> list[Node]:
    """Nodes without repeats, in the order given (a selector list can match a node twice)."""
    seen: set[int] = set()
    out: list[Node] = []
    for node in nodes:
        if node.mem_id not in seen:
            seen.add(node.mem_id)
            out.append(node)
    return out


def ancestors(node: Node) -> Iterator[Node]:
    parent = node.parent
    while parent is not None and parent.tag not in ("html", "-undef", "#document"):
        yield parent
        parent = parent.parent


def closest(node: Node, test: Callable[[Node], bool]) -> Node | None:
    """The nearest ancestor (not the node itself) that passes `test`."""
    return next((a for a in ancestors(node) if test(a)), None)


def is_inside(node: Node, others: Iterable[Node]) -> bool:
    ids = {o.mem_id for o in others}
    return any(a.mem_id in ids for a in ancestors(node))


def outermost(nodes: Iterable[Node]) -> list[Node]:
    """Drop every node that sits inside another one of the set (nested item markers)."""
    listed = unique(nodes)
    ids = {n.mem_id for n in listed}
    return [n for n in listed if not any(a.mem_id in ids for a in ancestors(n))]


def attr(node: Node | None, name: str) -> str:
    if node is None:
        return ""
    value = node.attributes.get(name)
    return value.strip() if value else ""


def classes(node: Node) -> set[str]:
    return set(attr(node, "class").split())


def is_hidden(node: Node) -> bool:
    return is_hidden_by(node.attributes)


def is_hidden_by(attrs: dict[str, str | None]) -> bool:
    """True for a `hidden` attribute or an inline display:none (from a node's attributes)."""
    if "hidden" in attrs:
        return True
    style = attrs.get("style")
    return style is not None and "display:none" in style.replace(" ", "").lower()


def text_of(node: Node | None) -> str:
    """The visible text of a node, cleaned; script and style content never counts."""
    if node is None:
        return ""
    if node.css_first(_NON_TEXT) is not None:
        node = node.clone()
        for junk in node.css(_NON_TEXT):
            junk.decompose()
    return clean_text(node.text(deep=True, separator=""))


def looks_like_url(text: str) -> bool:
    """True for display-URL text: "www.x.com/a b", "https://x.ch", "x.co.uk › shop"."""
    return bool(_URLISH.match(text))


class DocOrder:
    """Document-order keys, computed only for the nodes a reader compares.

    A key is the path of child indexes from the root, so tuple order is document order. A
    walk over every node of a large page costs more than the rest of the read, hence lazy.
    """

    def __init__(self) -> None:
        self._keys: dict[int, tuple[int, ...]] = {}
        self._child_indexes: dict[int, dict[int, int]] = {}

    def key(self, node: Node) -> tuple[int, ...]:
        path: list[Node] = []
        current: Node | None = node
        while current is not None and current.mem_id not in self._keys:
            path.append(current)
            current = current.parent
        key = self._keys[current.mem_id] if current is not None else ()
        for step in reversed(path):
            key = (*key, self._index(step))
            self._keys[step.mem_id] = key
        return key

    def _index(self, node: Node) -> int:
        parent = node.parent
        if parent is None:
            return 0
        indexes = self._child_indexes.get(parent.mem_id)
        if indexes is None:  # index all siblings at once: a wide parent is walked only once
            indexes = {child.mem_id: i for i, child in enumerate(parent.iter(include_text=True))}
            self._child_indexes[parent.mem_id] = indexes
        return indexes.get(node.mem_id, 0)


class NearestMark(Generic[T]):
    """The first answer `judge` gives on a node's ancestors, nearest first (None if none).

    Memoised per node: the ads of a page share most of their ancestors, so each ancestor
    is judged once per read.
    """

    def __init__(self, judge: Callable[[Node], T | None]) -> None:
        self._judge = judge
        self._found: dict[int, T | None] = {}

    def __call__(self, node: Node) -> T | None:
        walked: list[int] = []
        answer: T | None = None
        for ancestor in ancestors(node):
            if ancestor.mem_id in self._found:
                answer = self._found[ancestor.mem_id]
                break
            walked.append(ancestor.mem_id)
            answer = self._judge(ancestor)
            if answer is not None:
                break
        for mem_id in walked:
            self._found[mem_id] = answer
        return answer


def below(node: Node, selector: str) -> list[Node]:
    """Matches strictly below `node` (a node's own css() also matches the node itself)."""
    return [n for n in node.css(selector) if n.mem_id != node.mem_id]


def strictly_inside(nodes: Iterable[Node]) -> set[int]:
    """The mem_ids of everything below the given nodes."""
    return {d.mem_id for n in nodes for d in n.css("*") if d.mem_id != n.mem_id}


def first_match(node: Node, selector: str, test: Callable[[Node], bool]) -> Node | None:
    return next((n for n in node.css(selector) if test(n)), None)


def ranked(ads: Iterable[ObservedAd]) -> list[ObservedAd]:
    """Number ads 1, 2, … within each (kind, position), keeping the reading order."""
    counters: dict[tuple[AdKind, AdPosition], int] = {}
    out: list[ObservedAd] = []
    for ad in ads:
        key = (ad.kind, ad.position)
        counters[key] = counters.get(key, 0) + 1
        out.append(dataclasses.replace(ad, rank=counters[key]))
    return out


def organic_ends(tree: LexborHTMLParser, scope: str, is_click: Callable[[str], bool]) -> list[Node]:
    """The first and the last organic title, in document order (one node when they coincide,
    none when there is none): headings in `scope` whose links are not paid clicks.

    Structural on purpose, so ads can be placed above or below the results even when the
    engine renames every class. Only the ends are looked for: placement needs no more, and a
    page can hold thousands of headings.
    """
    headings = unique(tree.css(f"{scope} h2, {scope} h3"))
    first = next((h for h in headings if _is_organic_title(h, is_click)), None)
    if first is None:
        return []
    last = next(h for h in reversed(headings) if _is_organic_title(h, is_click))
    return [first] if last.mem_id == first.mem_id else [first, last]


def placed_by_order(order: DocOrder, item: Node, organic: list[Node]) -> AdPosition:
    """Where an ad with no placement mark sits against the organic results (`organic_ends`):
    above the first is top, below the last bottom, between them middle; top with none."""
    if not organic:
        return AdPosition.top
    key = order.key(item)
    if key < order.key(organic[0]):
        return AdPosition.top
    if key > order.key(organic[-1]):
        return AdPosition.bottom
    return AdPosition.middle


def _is_organic_title(heading: Node, is_click: Callable[[str], bool]) -> bool:
    links = heading.css("a[href]")
    return bool(links) and not any(is_click(attr(a, "href")) for a in links)


def click_urls_outside(
    candidates: Iterable[Node],
    names: tuple[str, ...],
    is_click: Callable[[str], bool],
    recognised: Iterable[Node],
    known: set[str],
) -> list[str]:
    """Click-shaped URLs in `names` attributes of `candidates` outside every recognised ad.

    URLs an ad already reports (`known`) never count; the rest are unique, in document order,
    capped at MAX_STRAYS.
    """
    inside = {n.mem_id for n in recognised}
    strays: list[str] = []
    for node in unique(candidates):
        if node.mem_id in inside or any(a.mem_id in inside for a in ancestors(node)):
            continue
        for name in names:
            url = attr(node, name)
            if url and is_click(url) and url not in known and url not in strays:
                strays.append(url)
                if len(strays) >= MAX_STRAYS:
                    return strays
    return strays


def ad_urls(ads: Iterable[ObservedAd]) -> set[str]:
    """Every URL the ads report: link, click URL and sitelinks."""
    urls: set[str] = set()
    for ad in ads:
        urls.update(u for u in (ad.link, ad.click_url) if u)
        urls.update(s.url for s in ad.sitelinks)
    return urls


def has_all(html: str, *selector_lists: str) -> bool:
    """True when the page has a match for every one of `selector_lists` (engine detection)."""
    tree = parse(html)
    return tree is not None and all(tree.css_first(s) is not None for s in selector_lists)
