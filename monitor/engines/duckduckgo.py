"""DuckDuckGo: how to ask (the no-JS /html/ endpoint with a kl region), how to read, and
what its click URLs are and where they lead.

DDG's ads are syndicated (Microsoft/Yahoo) and every one links through duckduckgo.com/y.js.
Reading, most durable first: result blocks whose title link has the y.js ad shape; ad markers
(`result--ad` class, data-testid/data-layout="ad" of the newer markup); placement from the
main ad block (#ads: top), the sidebar (right), and document order against organic results
(before: top; between: inline; after: bottom).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
from monitor.engines.urls import UrlParts, query_value, url_parts
from monitor.models import AdKind, AdPosition, ObservedAd, SearchTask, Sitelink

HOSTS = ("duckduckgo.com", "html.duckduckgo.com", "www.duckduckgo.com")

#: DDG region codes (https://duckduckgo.com/duckduckgo-help-pages/settings/params/): most are
#: country-language; a few markets differ (uk-en for GB, xa-ar/xa-en for the Arab states)
_REGIONS: dict[tuple[str, str], str] = {
    ("AE", "ar"): "xa-ar",
    ("AE", "en"): "xa-en",
    ("SA", "ar"): "xa-ar",
    ("SA", "en"): "xa-en",
    ("GB", "en"): "uk-en",
    ("ID", "id"): "id-en",
    ("ID", "en"): "id-en",
    ("US", "es"): "us-es",
    ("CA", "fr"): "ca-fr",
    ("BE", "nl"): "be-nl",
    ("BE", "fr"): "be-fr",
    ("CH", "de"): "ch-de",
    ("CH", "fr"): "ch-fr",
    ("CH", "it"): "ch-it",
    ("MY", "ms"): "my-ms",
    ("MY", "en"): "my-en",
    ("PH", "tl"): "ph-tl",
    ("TW", "zh"): "tw-tzh",
    ("HK", "zh"): "hk-tzh",
    ("CN", "zh"): "cn-zh",
    ("JP", "ja"): "jp-jp",
    ("KR", "ko"): "kr-kr",
    ("SE", "sv"): "se-sv",
    ("DK", "da"): "dk-da",
    ("GR", "el"): "gr-el",
    ("CZ", "cs"): "cz-cs",
    ("EE", "et"): "ee-et",
    ("UA", "uk"): "ua-uk",
    ("IL", "he"): "il-he",
    ("VN", "vi"): "vn-vi",
    ("SI", "sl"): "sl-sl",
}
#: countries whose code-language pair DDG spells as country-country ("de-de", "fr-fr")
_SAME = frozenset(
    {"AT", "BG", "BR", "DE", "ES", "FI", "FR", "HR", "HU", "IT", "LT", "LV", "MX", "NL", "NO"}
    | {"PL", "PT", "RO", "RU", "SK", "TH", "TR"}
)
#: English-language markets DDG offers
_ENGLISH = frozenset(["AU", "CA", "IE", "IN", "NZ", "SG", "US", "ZA", "PK"])


def region(country: str, language: str) -> str:
    """DDG's kl code for a market; "wt-wt" (no region) when DDG has none for it."""
    country, language = country.upper(), language.lower()
    known = _REGIONS.get((country, language))
    if known:
        return known
    if country in _SAME and language == _default_language(country):
        return f"{country.lower()}-{country.lower()}"
    if country in _ENGLISH and language == "en":
        return f"{country.lower()}-en"
    return "wt-wt"


def _default_language(country: str) -> str:
    odd = {"AT": "de", "BR": "pt", "MX": "es", "NO": "nb", "DK": "da"}
    return odd.get(country, country.lower())


def search_url(task: SearchTask) -> str:
    """duckduckgo.com/html/ (no-JS results) with kl=<region>; paging by offset s."""
    params = [("q", task.query), ("kl", region(task.market.country, task.market.language))]
    if task.page > 1:
        params.append(("s", str((task.page - 1) * 30)))
    return "https://duckduckgo.com/html/?" + query_string(params)


# ---- click URLs ----------------------------------------------------------------------------

#: duckduckgo.com and its no-JS host html.duckduckgo.com
_CLICK_HOSTS = re.compile(r"(?:[\w-]+\.)*duckduckgo\.com")


def _ddg_parts(url: str) -> UrlParts | None:
    """The parts of a URL on a DDG host, or of a relative href (DDG's page links /y.js?…
    relatively); None for any other host."""
    parts = url_parts(url)
    return parts if not parts.host or _CLICK_HOSTS.fullmatch(parts.host) else None


def is_click_url(url: str) -> bool:
    """DDG's ad click: duckduckgo.com/y.js?… (absolute, protocol-relative or relative)."""
    if "y.js" not in url:  # the readers ask this of every link: most are answered here
        return False
    parts = _ddg_parts(url)
    return parts is not None and parts.path == "/y.js"


def click_destination(url: str) -> str | None:
    """Where a DDG click goes: an ad click's `u3`, an organic /l/ redirect's `uddg`."""
    parts = _ddg_parts(url)
    if parts is None:
        return None
    if parts.path == "/y.js":
        return query_value(parts.query, "u3")
    return query_value(parts.query, "uddg") if parts.path.startswith("/l/") else None


# ---- reading -------------------------------------------------------------------------------

_AD_MARKED = ".result--ad, [data-testid=ad], [data-layout=ad], [data-nrn=ad]"
_ORGANIC = (
    ".result:not(.result--ad):not(.result--more):not(.result--sep),"
    " article[data-testid=result], li[data-layout=organic]"
)
_HEADING = "h2, h3, [role=heading]"


@dataclass(frozen=True, slots=True)
class _Page:
    order: DocOrder
    organic: list[Node]  # organic results, in document order


def _position(item: Node, page: _Page) -> AdPosition:
    for ancestor in ancestors(item):
        names = classes(ancestor)
        if attr(ancestor, "id") == "ads" or "results--ads--main" in names:
            return AdPosition.top
        if any("sidebar" in n or "rrail" in n for n in names):
            return AdPosition.right
    if not page.organic:
        return AdPosition.top
    key = page.order.key(item)
    before = page.order.key(page.organic[0]) < key
    after = page.order.key(page.organic[-1]) > key
    if not before:
        return AdPosition.top
    return AdPosition.inline if after else AdPosition.bottom


def _is_result_block(node: Node) -> bool:
    return node.tag == "article" or "result" in classes(node) or bool(attr(node, "data-layout"))


def _items(tree: LexborHTMLParser) -> list[Node]:
    marked = list(tree.css(_AD_MARKED))
    by_click = []
    for heading in tree.css(_HEADING):
        if any(is_click_url(attr(a, "href")) for a in heading.css("a[href]")):
            block = closest(heading, _is_result_block)
            by_click.append(block or heading.parent or heading)
    return outermost(marked + by_click)


def _title_link(item: Node) -> Node | None:
    heading = item.css_first(_HEADING)
    scope = heading if heading is not None else item
    return first_match(scope, "a[href]", lambda a: bool(text_of(a)) and not _is_badge(a))


def _is_badge(anchor: Node) -> bool:
    return any(name.startswith("badge") for name in classes(anchor))


def _display_url(item: Node, link: Node) -> str:
    node = item.css_first(".result__url, [data-testid=result-extras-url-link], cite")
    if node is not None:
        return text_of(node)
    for anchor in item.css("a[href], span"):
        text = text_of(anchor)
        if anchor.mem_id != link.mem_id and looks_like_url(text):
            return text
    return attr(item, "data-domain")


def _description(item: Node) -> str:
    node = item.css_first(".result__snippet, [data-result=snippet]")
    return text_of(node)


def _sitelinks(item: Node, link: Node) -> tuple[Sitelink, ...]:
    out: list[Sitelink] = []
    for anchor in item.css("a.sponsored__sitelink, [data-testid=sitelink] a"):
        text = text_of(anchor)
        if text and anchor.mem_id != link.mem_id:
            out.append(Sitelink(text=text, url=attr(anchor, "href")))
    return tuple(out)


def _read_item(item: Node, position: AdPosition) -> ObservedAd | None:
    link = _title_link(item)
    if link is None:
        return None
    href = attr(link, "href")
    return ObservedAd(
        kind=AdKind.text,
        position=position,
        rank=0,
        headline=text_of(link),
        description=_description(item),
        display_url=_display_url(item, link),
        link=href,
        click_url=href if is_click_url(href) else None,
        advertiser=None,
        sitelinks=_sitelinks(item, link),
    )


def _organic(tree: LexborHTMLParser, items: list[Node]) -> list[Node]:
    """Organic results (marked ones outside the ads, else plain titles), in document order."""
    ad_ids = {n.mem_id for n in items}
    marked = [
        n
        for n in unique(tree.css(_ORGANIC))
        if n.mem_id not in ad_ids and not any(a.mem_id in ad_ids for a in ancestors(n))
    ]
    return marked or organic_ends(tree, "#links", is_click_url)


@never_raises_page
def read_page(html: str) -> PageReading:
    """Every paid text ad on a DuckDuckGo result page (JS or no-JS markup) and the ad clicks
    outside them."""
    tree = parse(html)
    if tree is None:
        return PageReading([])
    items = _items(tree)
    page = _Page(DocOrder(), _organic(tree, items))
    items.sort(key=page.order.key)
    read = [(item, _read_item(item, _position(item, page))) for item in items]
    found = [(item, ad) for item, ad in read if ad is not None]
    ads = ranked(ad for _, ad in found)
    strays = click_urls_outside(
        tree.css("[href*='y.js?']"), ("href",), is_click_url, [n for n, _ in found], ad_urls(ads)
    )
    return PageReading(ads, strays)



# ---- page status ---------------------------------------------------------------------------

MARKERS = PageMarkers(
    captcha_hosts=(),
    captcha_paths=("/anomaly",),
    captcha_selectors=(
        "form#challenge-form, .anomaly-modal, form[action*='anomaly'], #anomaly-modal"
    ),
    captcha_snippets=("anomaly-modal", "challenge-form"),
    consent_hosts=(),
    consent_selectors="",
    result_selectors="#links, .results, .serp__results, [data-testid=mainline], #react-layout",
    content_selectors=f"{_ORGANIC}, {_AD_MARKED}, .result__a",
    no_results_selectors=".no-results, .result--no-result, [data-testid=no-results]",
)



def recognises(html: str) -> bool:
    """DDG's search form, result list or vqd token."""
    return has_all(
        html,
        "form#search_form, form[action*='duckduckgo.com'], input[name=vqd], .results--main,"
        " #links.results, a.result__a, #duckbar, [data-testid=mainline]",
    )


ENGINE = Engine(
    name="duckduckgo",
    hosts=HOSTS,
    search_url=search_url,
    read_page=read_page,
    markers=MARKERS,
    recognises=recognises,
    is_click_url=is_click_url,
    click_destination=click_destination,
)
