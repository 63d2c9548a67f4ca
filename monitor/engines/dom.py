"""Small helpers for reading result pages with selectolax (lexbor).

The engine readers share these: safe parsing, ancestor walks, cleaned text, document order,
URL-looking text, and rank assignment. Nothing here renders or trusts page content.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from functools import wraps

from selectolax.lexbor import LexborHTMLParser, LexborNode

from monitor.models import AdKind, AdPosition, ObservedAd
from monitor.text import clean_text

Node = LexborNode
Reader = Callable[[str], list[ObservedAd]]

#: elements whose content is never visible text
_NON_TEXT = "script, style, noscript, template"
#: a host (with a dot) at the start, optionally after a scheme: "www.x.com/…", "https://x.ch"
_URLISH = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:[\w-]+\.)+[\w-]*[^\W\d_][\w-]*(?::\d+)?(?:[/?#› ]|$)", re.I
)


def parse(html: str | bytes | None) -> LexborHTMLParser | None:
    """A parsed tree, or None for empty or unparseable input."""
    if not html:
        return None
    if isinstance(html, bytes):
        html = html.decode("utf-8", errors="replace")
    if not isinstance(html, str):
        return None
    tree = LexborHTMLParser(html.replace("\x00", ""))
    return tree if tree.root is not None else None


def never_raises(reader: Reader) -> Reader:
    """Readers get hostile, truncated or binary input; a bad page yields no ads, never a crash."""

    @wraps(reader)
    def safe(html: str) -> list[ObservedAd]:
        try:
            return reader(html)
        except Exception:  # the contract: bad markup reads as "no ads" (classify decides why)
            return []

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


def has_id(*ids: str) -> Callable[[Node], bool]:
    wanted = set(ids)
    return lambda node: attr(node, "id") in wanted


def has_class(*names: str) -> Callable[[Node], bool]:
    wanted = set(names)
    return lambda node: not wanted.isdisjoint(classes(node))


def is_hidden(node: Node) -> bool:
    style = attr(node, "style").replace(" ", "").lower()
    return "display:none" in style or "hidden" in node.attributes


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


def doc_order(tree: LexborHTMLParser) -> dict[int, int]:
    """Each element's index in document order (for 'before/after the results' decisions)."""
    return {node.mem_id: i for i, node in enumerate(tree.root.traverse())}


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


def organic_indexes(
    tree: LexborHTMLParser, order: dict[int, int], scope: str, is_click: Callable[[str], bool]
) -> list[int]:
    """Document indexes of organic titles: headings in `scope` whose link is not a paid click.

    Structural on purpose, so ads can be placed above or below the results even when the
    engine renames every class.
    """
    indexes: list[int] = []
    for heading in unique(tree.css(f"{scope} h2, {scope} h3")):
        links = heading.css("a[href]")
        if links and not any(is_click(attr(a, "href")) for a in links):
            indexes.append(order.get(heading.mem_id, 0))
    return indexes
