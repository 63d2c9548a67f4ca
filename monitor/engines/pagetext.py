"""A page's text as the readers take it: bytes decoded by what the page says it is, and the
text bounded in size and nesting before any parser sees it.

Why bounds: lexbor's tree building costs the square of the nesting depth (100 000 nested
`<div>`s did not finish in 120 s), and a saved page given to `bidwatch parse` or `rules
test` can be anything. A browser caps nesting itself (Chromium's parser stops nesting at 512
elements), so a page captured in a sweep is never cut by the depth bound here; a file can be.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache

#: the most of a page that is read: ten times a large result page (Google's run to 2.5 MB),
#: what the readers get through in about two seconds, and at most ~450 MB in lexbor (a page
#: of nothing but attributes costs it 13 bytes a byte)
MAX_PAGE_BYTES = 24 * 1024 * 1024
#: the deepest nesting read: Chromium's own cap, far past any result page (about 40 levels)
MAX_DEPTH = 512

#: a start tag, an end tag or a comment opening; a tag runs to the next ">" (or the end), so
#: a search never backtracks and the scan is one pass
_TAG = r"(?P<tag><!--|<(?P<slash>/?)(?P<name>[A-Za-z][^\t\n\f\r />]*)(?P<attributes>[^>]*)>?)"
_TOKEN = re.compile(_TAG)
#: the same, after any text and "leaf" elements (`<span class=x>text</span>`: no markup
#: inside) before it, consumed in C without backtracking (atomic groups, possessive repeats):
#: a leaf opens and closes one level and leaves nothing open, and skipping leaves halves
#: the tags the loop sees. Only while nothing waits to be reopened: a parser reopens
#: formatting elements inside a leaf too, and each time must count.
#: A "<" that starts no tag is consumed too, and the end of the text ends a match: every
#: search then succeeds where it starts (a search that could fail would be retried at each
#: following character, over the same text: quadratic on a long run without a tag).
_TOKEN_AFTER_LEAVES = re.compile(
    r"(?>[^<]++|<(?P<leaf>[A-Za-z][A-Za-z0-9]*+)(?=[\s/>])[^<>]*+>[^<]*+</(?P=leaf)>"
    r"|<(?!!--|/?[A-Za-z]))*+(?:" + _TAG + r"|\Z)")


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: elements that have no content and no end tag
_VOID = _names(
    "area base basefont bgsound br col embed frame hr img input keygen link meta param"
    " source track wbr")
#: elements whose content is text up to their end tag, never markup (noscript is markup to a
#: parser without scripting, as lexbor is)
_RAW_TEXT = _names("script style textarea title xmp iframe noembed noframes")
#: a start tag that closes an open sibling of these names first (`<li>` after `<li>`)
_CLOSES_SIBLING = {
    "li": {"li"}, "dt": {"dt", "dd"}, "dd": {"dt", "dd"}, "option": {"option"},
    "optgroup": {"optgroup", "option"}, "tr": {"tr", "td", "th"}, "td": {"td", "th"},
    "th": {"td", "th"}, "p": {"p"}, "rb": {"rb", "rt", "rp"}, "rt": {"rb", "rt", "rp"},
    "rp": {"rb", "rt", "rp"},
}
#: block start tags that close an open <p>
_CLOSES_P = _names(
    "address article aside blockquote details dialog div dl fieldset figcaption figure"
    " footer form h1 h2 h3 h4 h5 h6 header hgroup hr main menu nav ol pre section table ul")
#: the HTML standard's "special" elements: an end tag never closes past one of them, unless
#: it is itself special (then only a scope boundary stops it)
_SPECIAL = _names(
    "address applet area article aside base basefont bgsound blockquote body br button"
    " caption center col colgroup dd details dir div dl dt embed fieldset figcaption"
    " figure footer form frame frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html"
    " iframe img input keygen li link listing main marquee menu meta nav noembed noframes"
    " noscript object ol p param plaintext pre script search section select source style"
    " summary table tbody td template textarea tfoot th thead title tr track ul wbr xmp mi"
    " mo mn ms mtext annotation-xml foreignobject desc")
#: what ends an element's scope: an end tag of a special element stops at these
_SCOPE = _names(
    "applet caption html table td th marquee object template mi mo mn ms mtext"
    " annotation-xml foreignobject desc title")
#: more scope boundaries for the end tags of <p> and <li>
_EXTRA_SCOPE = {"p": ("button",), "li": ("ol", "ul")}
#: end tags a parser never closes by (it stays in the body)
_NEVER_CLOSED = frozenset(("html", "body"))
#: the formatting elements, which a parser reopens when an ancestor closed them
_FORMATTING = _names("a b big code em font i nobr s small strike strong tt u")
#: elements that start afresh what a parser reopens (a table cell, a caption…)
_MARKERS = _names("applet caption marquee object template td th")
#: identical formatting elements (tag and attributes) a parser reopens at most
_IDENTICAL = 3
#: formatting elements reopened in all, counted generously (at each start tag, every one
#: that might be): each reopening is a new element, and a page can ask for them in a loop
MAX_REOPENED = 200_000
_TOO_DEEP = f"elements nested more than {MAX_DEPTH} deep"
_RAW_END = {name: re.compile(f"</{name}", re.IGNORECASE) for name in _RAW_TEXT}
#: start tags that need more than a push, and end tags that need more than a pop
_SLOW_START = (_VOID | _RAW_TEXT | _FORMATTING | _MARKERS | set(_CLOSES_SIBLING)
               | {"plaintext", "svg", "math"})
_SLOW_END = _FORMATTING | _MARKERS | _NEVER_CLOSED | {"form", "svg", "math"}


@dataclass(frozen=True, slots=True)
class BoundedPage:
    """The text the readers parse, and why it is not the whole page (None when it is)."""

    html: str
    cut: str | None = None


@lru_cache(maxsize=2)  # a page is parsed several times (classify, recognise, read): scan once
def bound_page(html: str) -> BoundedPage:
    """`html` up to MAX_PAGE_BYTES characters and MAX_DEPTH levels of nesting: a page past
    either is cut there (at the start tag that would nest too deep), and says so."""
    cut = None
    if "\x00" in html:  # lexbor drops NULs from text, but at 17 bytes of memory each
        html = html.replace("\x00", "")
    if len(html) > MAX_PAGE_BYTES:
        html = html[:MAX_PAGE_BYTES]
        cut = f"more than {_size(MAX_PAGE_BYTES)}: read the first part"
    if html.count("<") > MAX_DEPTH:  # fewer tags than that cannot nest that deep
        found = too_deep_at(html)
        if found is not None:
            at, why = found
            html = html[:at]
            cut = f"{why} at character {at}: read up to there"
    return BoundedPage(html, cut)


def _size(characters: int) -> str:
    mb = 1024 * 1024
    return f"{characters // mb} MB" if characters % mb == 0 else f"{characters:,} characters"


def too_deep_at(html: str) -> tuple[int, str] | None:
    """Where the first start tag nesting deeper than MAX_DEPTH begins, and why, or None.

    The HTML tree builder's rules, roughly and in one pass: comments and raw-text elements
    are skipped, void elements never open, a few start tags close an open sibling (`<li>`,
    `<td>`, `<p>`…), and an end tag closes up to its element the way the standard says:
    never past a special element (a misnested `</b>` or `</span>` leaves a `<div>` open, and a
    parser keeps it), never past a scope boundary (`</div>` stops at a `<table>`), and
    `</body>` not at all. Formatting elements closed by an ancestor (`<div><b></div>`) are
    reopened by the parser before later content, so they count as open until their own end
    tag or their cell ends. Where this is unsure it keeps elements open: the estimate errs
    deep, so a page it passes is no deeper for lexbor (on the corpus the two agree)."""
    tree = _Nesting()
    # the common tokens (a plain start tag, an end tag closing the innermost element) are
    # handled inline: a 20 MB page is half a million tags, and a call each doubles the time
    stack, at, specials, scopes = tree.stack, tree.at, tree.specials, tree.scopes
    in_svg, in_math = at.setdefault("svg", []), at.setdefault("math", [])  # kept in place
    position, end = 0, len(html)
    while position < end:
        resumed = False
        leaves = not tree.reopened[-1].total
        for token in (_TOKEN_AFTER_LEAVES if leaves else _TOKEN).finditer(html, position):
            tag, slash, name, attributes = token.groups()[-4:]
            if tag is None:  # the end of the text
                return None
            if name is None:  # a comment: skip to its end
                close = html.find("-->", token.end())
                if close < 0:
                    return None
                position, resumed = close + 3, True
                break
            name = name.lower()
            if slash:
                if stack and stack[-1][0] == name and name not in _SLOW_END:
                    index = len(stack) - 1
                    stack.pop()
                    at[name].pop()
                    if specials and specials[-1] == index:
                        specials.pop()
                    if scopes and scopes[-1] == index:
                        scopes.pop()
                    continue
                tree.end(name)
            elif name not in _SLOW_START and leaves and not in_svg and not in_math:
                if stack and stack[-1][0] == "p" and name in _CLOSES_P:
                    tree.pop("p")
                index = len(stack)
                if index >= MAX_DEPTH:
                    return token.start("tag"), _TOO_DEEP
                stack.append((name, name))
                at.setdefault(name, []).append(index)
                if name in _SPECIAL:
                    specials.append(index)
                if name in _SCOPE:
                    scopes.append(index)
                continue
            elif name in _VOID or (tree.foreign() and attributes.endswith("/")):
                continue  # no content; in SVG and MathML, <path …/> closes itself
            elif name == "plaintext":  # everything after it is text
                return None
            else:
                tree.implied(name)
                refused = tree.refused(MAX_DEPTH)
                if refused:
                    return token.start("tag"), refused
                tree.push(name, attributes.strip())
                if name in _RAW_TEXT:
                    close_tag = _RAW_END[name].search(html, token.end())
                    if close_tag is None:
                        return None
                    position, resumed = close_tag.start(), True
                    break
            if leaves == bool(tree.reopened[-1].total):  # skipping leaves is on, or off, now
                position, resumed = token.end(), True
                break
        if not resumed:
            return None
    return None


@dataclass
class _Reopened:
    """Formatting elements an ancestor closed that the parser will reopen (its "list of
    active formatting elements", down to the last cell or other marker)."""

    total: int = 0
    by_key: dict[str, int] = field(default_factory=dict)  # tag and attributes -> how many
    keys: dict[str, list[str]] = field(default_factory=dict)  # tag -> its keys, last first

    def add(self, name: str, key: str) -> None:
        if self.by_key.get(key, 0) >= _IDENTICAL:
            return  # the parser keeps at most three identical ones ("Noah's Ark")
        self.by_key[key] = self.by_key.get(key, 0) + 1
        self.keys.setdefault(name, []).append(key)
        self.total += 1

    def remove(self, name: str) -> bool:
        keys = self.keys.get(name)
        if not keys:
            return False
        self.by_key[keys.pop()] -= 1
        self.total -= 1
        return True


class _Nesting:
    """The open elements, with where each name, special element and scope boundary sits, so
    every decision is O(1) and each element is pushed and popped once: linear in the page."""

    def __init__(self) -> None:
        self.stack: list[tuple[str, str]] = []  # (tag, tag and attributes)
        self.at: dict[str, list[int]] = {}  # tag -> its indexes on the stack, innermost last
        self.specials: list[int] = []
        self.scopes: list[int] = []
        self.reopened = [_Reopened()]  # one per open marker (cell, caption…), innermost last
        self.reopenings = 0

    def foreign(self) -> bool:
        return bool(self.at.get("svg") or self.at.get("math"))

    def refused(self, limit: int) -> str | None:
        """Why one more element does not fit, or None: the parser's depth is the open
        elements plus the formatting elements it reopens before the content to come; and
        each reopening makes new elements, so their number is bounded too (else a page of 30
        bytes a repeat makes the parser build hundreds of elements each time)."""
        pending = self.reopened[-1].total
        self.reopenings += pending
        if len(self.stack) + pending >= limit:
            return _TOO_DEEP
        if self.reopenings > MAX_REOPENED:
            return f"misnested formatting reopened more than {MAX_REOPENED} times"
        return None

    def push(self, name: str, attributes: str) -> None:
        index = len(self.stack)
        self.stack.append((name, f"{name} {attributes}"))
        self.at.setdefault(name, []).append(index)
        if name in _SPECIAL:
            self.specials.append(index)
        if name in _SCOPE:
            self.scopes.append(index)
        if name in _MARKERS:
            self.reopened.append(_Reopened())

    def pop(self, closing: str) -> None:
        index = len(self.stack) - 1
        name, key = self.stack.pop()
        self.at[name].pop()
        if self.specials and self.specials[-1] == index:
            self.specials.pop()
        if self.scopes and self.scopes[-1] == index:
            self.scopes.pop()
        if name in _MARKERS and len(self.reopened) > 1:
            self.reopened.pop()  # the parser forgets what it would reopen inside a cell
        elif name in _FORMATTING and name != closing:
            self.reopened[-1].add(name, key)

    def implied(self, name: str) -> None:
        """What a start tag closes or opens first: a sibling (`<li>` after `<li>`), an open
        `<p>` before a block, the `<tbody>` and `<tr>` a parser puts around a bare `<td>`."""
        if not self.stack:
            return
        top = self.stack[-1][0]
        if top in _CLOSES_SIBLING.get(name, ()) or (top == "p" and name in _CLOSES_P):
            self.pop(top)
            top = self.stack[-1][0] if self.stack else ""
        if name in ("td", "th", "tr") and top == "table":
            self.push("tbody", "")
            top = "tbody"
        if name in ("td", "th") and top in ("tbody", "thead", "tfoot"):
            self.push("tr", "")

    def end(self, name: str) -> None:
        open_at = self.at.get(name)
        if not open_at:
            # a formatting element the parser would reopen, closed: it no longer will
            self.reopened[-1].remove(name)
            return  # else an end tag with nothing to close is ignored, as parsers ignore it
        if name in _NEVER_CLOSED:
            return
        index = open_at[-1]
        top = len(self.stack) - 1
        if name == "form" and index != top:
            return  # a parser takes only the form out, leaving what is inside it open
        if name in _SPECIAL:
            blocked = any(
                (self.at.get(other) or [-1])[-1] > index for other in _EXTRA_SCOPE.get(name, ())
            ) or (bool(self.scopes) and self.scopes[-1] > index)
        else:  # formatting and other elements: a special element inside stays open
            blocked = bool(self.specials) and self.specials[-1] > index
        if blocked:
            return
        while len(self.stack) > index:
            self.pop(name)


# ---------------------------------------------------------------------------------------------
# Bytes to text: what a saved file says it is.

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)
#: <meta charset=…> or <meta http-equiv=Content-Type content="…; charset=…">, in the first
#: 1024 bytes as the HTML standard's prescan reads them
_META_CHARSET = re.compile(rb"<meta[^>]{0,512}?charset\s*=\s*[\"']?\s*([A-Za-z0-9_:.+-]{1,40})",
                           re.IGNORECASE)
#: labels the HTML standard reads as another encoding than Python's codec of the same name
_WHATWG = {"latin1": "cp1252", "iso8859-1": "cp1252", "ascii": "cp1252", "us-ascii": "cp1252",
           "iso-8859-1": "cp1252"}


def page_encoding(data: bytes) -> str:
    """The codec a saved page's bytes are in: a byte-order mark first, then UTF-16 written
    without one (every other byte NUL around the ASCII of markup), then UTF-8 when the bytes
    are valid UTF-8 (the store keeps every page as UTF-8 whatever its <meta> says), then the
    page's <meta> charset, else UTF-8."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    sample = data[:512]
    if len(sample) >= 8:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.8 * len(odd) and even.count(0) == 0:
            return "utf-16-le"
        if even.count(0) > 0.8 * len(even) and odd.count(0) == 0:
            return "utf-16-be"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        declared = _META_CHARSET.search(data[:1024])
        if declared is not None:
            label = declared.group(1).decode("ascii").lower()
            try:
                name = codecs.lookup(label).name
            except LookupError:
                return "utf-8"
            if name.startswith("utf-16"):  # a <meta> readable as ASCII cannot be UTF-16
                return "utf-8"
            return _WHATWG.get(name, _WHATWG.get(label, name))
    return "utf-8"


def decode_page(data: bytes) -> str:
    """A saved page's text, decoded by `page_encoding`; a byte that does not decode becomes
    U+FFFD, so junk reads as text, never as an error."""
    return data.decode(page_encoding(data), "replace")
