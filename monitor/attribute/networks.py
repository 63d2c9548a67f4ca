"""Affiliate-network recognisers: one table of patterns, a few small functions for odd fields.

A row says which hosts (a regex, or any host), which path shape (a regex whose named groups
are NetworkIds fields) and which query parameters (case-insensitive, first present wins) carry
the ids. `values` pins a parameter to a shape (a common name such as clickid or clickref counts
only in the shape its network gives it); `query_shape` reads queries that are not key=value.
Click rows describe the network's own tracking URL; landing rows describe what the network
appends to the merchant's landing page (awc, cjevent, irclickid…). A new network is a new row;
a `refine` function only when a value needs splitting or decoding.

Canonical network names (use these in rules/partners.yaml): see NETWORK_NAMES.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from monitor.models import NetworkIds

Fields = dict[str, str | None]
ID_FIELDS = ("publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id", "landing_url")


@dataclass(frozen=True, slots=True)
class Pattern:
    network: str
    hosts: str | None  # regex matched against the whole host; None = any host
    path: str | None = None  # regex searched at the start of the path; named groups → fields
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field → param names
    requires: tuple[str, ...] = ()  # at least one of these parameters must be present
    values: Mapping[str, str] = field(default_factory=dict)  # param → regex it must fullmatch
    query_shape: str | None = None  # regex searched in the raw query; named groups → fields
    landing: bool = False  # marks a merchant landing page, not a click URL
    aggregator: bool = False
    refine: Callable[[Fields], Fields] | None = None
    host_re: re.Pattern[str] | None = field(init=False, default=None)
    path_re: re.Pattern[str] | None = field(init=False, default=None)
    query_re: re.Pattern[str] | None = field(init=False, default=None)
    value_res: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        # Compile once, when the table is built.
        if self.hosts is not None:
            object.__setattr__(self, "host_re", re.compile(self.hosts, re.IGNORECASE))
        if self.path is not None:
            object.__setattr__(self, "path_re", re.compile(self.path, re.IGNORECASE))
        if self.query_shape is not None:
            object.__setattr__(self, "query_re", re.compile(self.query_shape, re.IGNORECASE))
        checks = tuple((k, re.compile(v, re.IGNORECASE)) for k, v in self.values.items())
        object.__setattr__(self, "value_res", checks)


# ---- refiners: values that need splitting or decoding -------------------------------------


def _split_first(field_name: str, into: str, sep: str) -> Callable[[Fields], Fields]:
    """Split `field_name` at `sep`: the head stays, the tail goes to `into` when unset."""

    def refine(found: Fields) -> Fields:
        value = found.get(field_name)
        if value and sep in value:
            head, tail = value.split(sep, 1)
            found[field_name] = head
            found[into] = found.get(into) or tail
        return found

    return refine


def _awc(found: Fields) -> Fields:
    # awc = {advertiser MID}_{unix time}_{hash}: the advertiser is readable, the click is whole.
    click = found.get("click_id") or ""
    if "_" in click:
        found["advertiser_id"] = click.split("_", 1)[0]
    return found


def _rakuten_offer(found: Fields) -> Fields:
    # offerid = {MID}.{link id}
    offer = found.get("advertiser_id") or ""
    if "." in offer:
        found["advertiser_id"], found["creative_id"] = offer.split(".", 1)
    return found


def _rakuten_site(found: Fields) -> Fields:
    # ranSiteID = {EAID with * and / written as . and _}-{random}; the click is whole.
    site = found.get("click_id") or ""
    if not found.get("publisher_id") and "-" in site:
        found["publisher_id"] = site.rsplit("-", 1)[0]
    found["publisher_id"] = rakuten_eaid(found.get("publisher_id"))
    return found


def rakuten_eaid(value: str | None) -> str | None:
    """Rakuten EAIDs may hold * and /, which landing parameters spell . and _."""
    return value.replace(".", "*").replace("_", "/") if value else value


_PJ_LETTERS = str.maketrans("BEFGHIJKLMN", "-0123456789")


def _pepperjam_token(found: Fields) -> Fields:
    # token = {type}-{program}-{publisher}-{creative}, plain or letter-coded (E..N = 0..9,
    # B = '-'); inferred from observed links, so an unknown shape keeps no ids.
    token = found.pop("token", None) or ""
    if token and set(token) <= set("BEFGHIJKLMN"):
        token = token.translate(_PJ_LETTERS)
    parts = token.split("-")
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        found["advertiser_id"], found["publisher_id"], found["creative_id"] = parts[1:]
    return found


def _partnerstack_key(found: Fields) -> Fields:
    # gspk is the partner key in base64.
    key = found.get("publisher_id")
    if key and found.pop("encoded", None):
        try:
            padded = key + "=" * (-len(key) % 4)
            found["publisher_id"] = base64.b64decode(padded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return found


def _mark_encoded(found: Fields) -> Fields:
    found["encoded"] = "1"
    return _partnerstack_key(found)


def _partnerize_path(found: Fields) -> Fields:
    # /click/camref:X/pubref:Y/creativeref:Z/destination:URL — key:value path segments.
    segments = found.pop("segments", None) or ""
    names = {"camref": "publisher_id", "pubref": "sub_id", "creativeref": "creative_id"}
    head, _, destination = segments.partition("/destination:")
    for segment in head.split("/"):
        key, _, value = segment.partition(":")
        if key.lower() in names and value:
            found[names[key.lower()]] = unquote(value)
    if destination:
        found["landing_url"] = destination
    return found


def _tradedoubler_parens(found: Fields) -> Fields:
    # Older links spell the query as p(123)a(456)g(789)epi(kw)url(https://…): url( comes last
    # and may itself hold parentheses, so it takes the rest.
    text = found.pop("parens", None) or ""
    head, _, destination = text.partition("url(")
    names = {"p": "advertiser_id", "a": "publisher_id", "g": "creative_id", "epi": "sub_id"}
    for key, value in re.findall(r"(\w+)\(([^()]*)\)", head):
        if key.lower() in names and value:
            found[names[key.lower()]] = value
    if destination:
        found["landing_url"] = destination.removesuffix(")")
    return found


def _chain(*steps: Callable[[Fields], Fields]) -> Callable[[Fields], Fields]:
    def refine(found: Fields) -> Fields:
        for step in steps:
            found = step(found)
        return found

    return refine


# ---- the table ------------------------------------------------------------------------------

CJ_HOSTS = (
    r"(?:www\.)?(?:anrdoezrs\.net|jdoqocy\.com|tkqlhce\.com|dpbolvw\.net|kqzyfj\.com|"
    r"qksrv\.net|apmebf\.com|awltovhc\.com|ftjcfx\.com|lduhtrp\.net|tqlkg\.com|yceml\.net)"
)
# Impact's shared click domains, where a vanity short link carries no ids in the URL.
IMPACT_HOSTS = r"[\w-]+\.(?:sjv\.io|pxf\.io|7eer\.net|ojrq\.net|evyy\.net)"
AMAZON_HOSTS = (
    r"(?:[\w-]+\.)*amazon\.(?:com|ca|com\.mx|com\.br|co\.uk|de|fr|it|es|nl|se|pl|"
    r"com\.tr|ae|sa|eg|in|co\.jp|sg|com\.au|cn|com\.be)"
)
EBAY_HOSTS = (
    r"(?:[\w-]+\.)*ebay\.(?:com|co\.uk|de|fr|it|es|at|ch|ie|nl|pl|ca|com\.au|com\.sg|"
    r"com\.my|ph|com\.hk|in|be)"
)

PATTERNS: tuple[Pattern, ...] = (
    Pattern(
        "partnerize",
        r"(?:[\w-]+\.)?prf\.hn",
        r"/click/(?P<segments>camref:.+)",
        refine=_partnerize_path,
    ),
    Pattern(
        "cj",
        CJ_HOSTS,
        r"/click-(?P<publisher_id>\d+)-(?P<creative_id>\d+)",
        {"sub_id": ("sid",), "landing_url": ("url",)},
    ),
    Pattern(
        "cj",
        CJ_HOSTS,
        r"/links/(?P<publisher_id>\d+)/type/dlg/(?:sid/(?P<sub_id>[^/]+)/)?(?P<landing_url>.+)",
    ),
    Pattern(
        "awin",
        r"(?:www\.)?awin1\.com",
        r"/(?:cread|awclick|pclick)\.php",
        {
            "publisher_id": ("awinaffid", "id", "a", "r"),
            "advertiser_id": ("awinmid", "mid", "m", "v"),
            "creative_id": ("linkid", "s"),
            "sub_id": ("clickref", "pref1"),
            "landing_url": ("ued", "p"),
        },
    ),
    Pattern("awin", r"tidd\.ly", r"/\w{4,}/?$"),
    Pattern(
        "shareasale",
        r"(?:www\.)?shareasale\.com",
        r"/(?:r|u|m-pr)\.cfm",
        {
            "publisher_id": ("u", "userid"),
            "advertiser_id": ("m", "merchantid"),
            "creative_id": ("b", "productid"),
            "sub_id": ("afftrack",),
            "landing_url": ("urllink",),
        },
    ),
    Pattern(
        "rakuten",
        r"(?:click\.)?linksynergy\.(?:[\w-]+\.)?com",
        r"/(?:fs-bin/click|deeplink|link)",
        {
            "publisher_id": ("id",),
            "advertiser_id": ("mid", "offerid"),
            "sub_id": ("u1", "subid"),
            "landing_url": ("murl",),
        },
        refine=_rakuten_offer,
    ),
    Pattern(
        "tradedoubler",
        r"[\w-]+\.tradedoubler\.com",
        r"/click",
        {
            "publisher_id": ("a",),
            "advertiser_id": ("p",),
            "creative_id": ("g",),
            "sub_id": ("epi",),
            "landing_url": ("url", "_td_deeplink"),
        },
        requires=("a", "p"),
    ),
    Pattern(
        "tradedoubler",
        r"[\w-]+\.tradedoubler\.com",
        r"/click",
        query_shape=r"^(?P<parens>p\(\d+\).*)",
        refine=_tradedoubler_parens,
    ),
    Pattern(
        "admitad",
        r"(?:[\w-]+\.)?admitad\.com",
        r"/(?:g|goto)/(?P<publisher_id>[0-9a-f]+)",
        {"sub_id": ("subid",), "landing_url": ("ulp",)},
        aggregator=True,
    ),
    Pattern(
        "skimlinks",
        r"go\.(?:skimresources|redirectingat)\.com",
        None,
        {"publisher_id": ("id",), "sub_id": ("xcust",), "landing_url": ("url",)},
        requires=("id",),
        aggregator=True,
        refine=_split_first("publisher_id", "creative_id", "X"),
    ),
    Pattern(
        "sovrn",
        r"redirect\.viglink\.com",
        None,
        {"publisher_id": ("key",), "sub_id": ("cuid",), "landing_url": ("u",)},
        requires=("key",),
        aggregator=True,
    ),
    Pattern(
        "pepperjam",
        r"(?:www\.)?(?:pntra|pjtra|gopjn|pjatr|pntrs|pntrac)\.com",
        r"/t/(?P<token>[^/?#]+)",
        {"sub_id": ("sid",), "landing_url": ("url",)},
        refine=_pepperjam_token,
    ),
    Pattern(
        "webgains",
        r"track\.webgains\.com",
        r"/click\.html",
        {
            "publisher_id": ("wgcampaignid",),
            "advertiser_id": ("wgprogramid",),
            "sub_id": ("clickref",),
            "landing_url": ("wgtarget",),
        },
    ),
    Pattern(
        "flexoffers",
        r"track\.flexlinks(?:pro)?\.com",
        r"/a\.ashx",
        {"publisher_id": ("foid",), "sub_id": ("fobs", "fobs1"), "landing_url": ("url",)},
        refine=_split_first("publisher_id", "advertiser_id", "."),
    ),
    Pattern(
        "avantlink",
        r"(?:[\w-]+\.)?avantlink\.com",
        r"/click\.php",
        {
            "publisher_id": ("pw",),
            "advertiser_id": ("mi",),
            "sub_id": ("ctc",),
            "landing_url": ("url",),
        },
    ),
    Pattern(
        "commissionfactory",
        r"t\.cfjump\.com",
        r"/(?P<publisher_id>\d+)/(?:t/(?P<advertiser_id>\d+)|b/(?P<creative_id>\d+))",
        {"sub_id": ("uniqueid",), "landing_url": ("url",)},
    ),
    Pattern(
        "button",
        r"r\.bttn\.io",
        None,
        {"publisher_id": ("btn_ref",), "sub_id": ("btn_pub_ref",), "landing_url": ("btn_url",)},
        requires=("btn_ref",),
    ),
    Pattern(
        "partnerstack", r"[\w-]+\.grsm\.io", r"/(?P<publisher_id>[\w-]+)", {"sub_id": ("sid",)}
    ),
    Pattern("amazon", r"amzn\.(?:to|eu|asia)|a\.co", r"/(?:d/)?\w+"),
    Pattern(
        "amazon",
        AMAZON_HOSTS,
        r"/exec/obidos/(?:asin|redirect)/\w+/(?P<publisher_id>[\w-]+-2\d)\b",
    ),
    Pattern(
        "amazon",
        AMAZON_HOSTS,
        None,
        {"publisher_id": ("tag",), "sub_id": ("ascsubtag",)},
        requires=("tag",),
    ),
    Pattern("ebay", r"ebay\.us", r"/\w{4,}/?$"),
    Pattern(
        "ebay",
        r"rover\.ebay\.com",
        r"/rover/\d+/(?P<advertiser_id>[\d-]+)/",
        {"publisher_id": ("campid",), "sub_id": ("customid",), "landing_url": ("mpre",)},
    ),
    Pattern(
        "ebay",
        EBAY_HOSTS,
        None,
        {"publisher_id": ("campid",), "advertiser_id": ("mkrid",), "sub_id": ("customid",)},
        requires=("campid",),
    ),
    Pattern("impact", IMPACT_HOSTS, r"/[A-Za-z0-9]{4,10}/?$"),
    # Rows on any host come after the host-specific ones: they match by shape alone.
    Pattern(
        "admitad",
        None,
        r"/(?:g|goto)/(?P<publisher_id>[0-9a-f]{30})(?:/|$)",
        {"sub_id": ("subid",), "landing_url": ("ulp",)},
        aggregator=True,
    ),
    Pattern(
        "impact",
        None,
        r"/c/(?P<publisher_id>\d+)/(?P<creative_id>\d+)/(?P<advertiser_id>\d+)",
        {"sub_id": ("subid1", "subid"), "landing_url": ("u",)},
    ),
    Pattern(
        "tune",
        None,
        r"/aff_c\b",
        {
            "publisher_id": ("aff_id",),
            "advertiser_id": ("offer_id",),
            "sub_id": ("aff_sub", "aff_sub1"),
            "landing_url": ("url",),
        },
        requires=("offer_id",),
    ),
    Pattern(
        "postaffiliatepro",
        None,
        r"/(?:affiliate/)?scripts/click\.php",
        {
            "publisher_id": ("a_aid", "ref"),
            "creative_id": ("a_bid",),
            "sub_id": ("data1", "chan"),
            "landing_url": ("desturl",),
        },
        requires=("a_aid", "ref"),
    ),
    Pattern(
        "everflow",
        None,
        r"(?-i:/(?P<publisher_id>[0-9A-Z]{4,7})/(?P<advertiser_id>[0-9A-Z]{4,7})/?$)",
        {"sub_id": ("sub1",), "landing_url": ("url",)},
        requires=("sub1", "sub2", "sub3", "source_id"),
    ),
    # Landing-page markers: what a network appends when it sends the user on.
    Pattern(
        "cj",
        None,
        None,
        # Advertisers may append PID/AID/SID next to cjevent; read them only beside it.
        {
            "click_id": ("cjevent",),
            "publisher_id": ("pid", "cj_pid"),
            "creative_id": ("aid", "cj_aid"),
            "sub_id": ("sid", "cj_sid"),
        },
        ("cjevent",),
        landing=True,
    ),
    Pattern(
        "awin",
        None,
        None,
        {"click_id": ("awc",)},
        ("awc",),
        landing=True,
        refine=_awc,
    ),
    Pattern(
        "impact",
        None,
        None,
        {"click_id": ("irclickid",), "publisher_id": ("irpid",), "creative_id": ("iradid",)},
        ("irclickid",),
        landing=True,
    ),
    Pattern(
        "impact",
        None,
        None,
        {"click_id": ("clickid",), "publisher_id": ("irpid",), "creative_id": ("iradid",)},
        ("clickid",),
        values={"irgwc": r"1"},
        landing=True,
    ),
    Pattern("shareasale", None, None, {"click_id": ("sscid",)}, ("sscid",), landing=True),
    Pattern(
        "rakuten",
        None,
        None,
        {"click_id": ("ransiteid",), "publisher_id": ("raneaid",), "advertiser_id": ("ranmid",)},
        ("ransiteid", "raneaid"),
        landing=True,
        refine=_rakuten_site,
    ),
    Pattern("tradedoubler", None, None, {"click_id": ("tduid",)}, ("tduid",), landing=True),
    Pattern(
        "admitad",
        None,
        None,
        {"click_id": ("admitad_uid",)},
        ("admitad_uid",),
        landing=True,
        aggregator=True,
    ),
    Pattern("avantlink", None, None, {"click_id": ("avad",)}, ("avad",), landing=True),
    Pattern(
        "webgains",
        None,
        None,
        {"click_id": ("wgu",), "publisher_id": ("siteid",)},
        ("wgu",),
        landing=True,
    ),
    Pattern(
        "everflow",
        None,
        None,
        {
            "click_id": ("_ef_transaction_id",),
            "publisher_id": ("affid",),
            "advertiser_id": ("oid",),
        },
        ("_ef_transaction_id",),
        landing=True,
    ),
    Pattern(
        "refersion",
        None,
        None,
        {"publisher_id": ("rfsn",)},
        ("rfsn",),
        landing=True,
        refine=_split_first("publisher_id", "click_id", "."),
    ),
    Pattern(
        "partnerstack",
        None,
        None,
        {"publisher_id": ("gspk",), "click_id": ("gsxid", "ps_xid")},
        ("gspk",),
        landing=True,
        refine=_mark_encoded,
    ),
    Pattern(
        "partnerstack",
        None,
        None,
        {"publisher_id": ("ps_partner_key",), "click_id": ("ps_xid", "gsxid")},
        ("ps_partner_key", "ps_xid"),
        landing=True,
    ),
    Pattern(
        "tapfiliate",
        None,
        None,
        {"publisher_id": ("tap_a",), "sub_id": ("tap_s",)},
        ("tap_a",),
        landing=True,
    ),
    Pattern(
        "postaffiliatepro",
        None,
        None,
        {"publisher_id": ("a_aid",), "creative_id": ("a_bid",)},
        ("a_aid",),
        landing=True,
    ),
    Pattern("button", None, None, {"click_id": ("btn_ref",)}, ("btn_ref",), landing=True),
    Pattern(
        "tune",
        None,
        None,
        {
            "click_id": ("transaction_id",),
            "publisher_id": ("aff_id",),
            "advertiser_id": ("offer_id",),
        },
        ("aff_id",),
        values={"transaction_id": r"[\w-]{6,}"},
        landing=True,
    ),
    # clickId is a common name: Ascend's only with its source mark, or in its numeric shape.
    Pattern(
        "pepperjam",
        None,
        None,
        {"click_id": ("clickid",)},
        ("clickid",),
        values={"source": r"pepperjam|ascend"},
        landing=True,
    ),
    Pattern(
        "pepperjam",
        None,
        None,
        {"click_id": ("clickid",)},
        ("clickid",),
        values={"utm_source": r"pepperjam|ascend"},
        landing=True,
    ),
    Pattern(
        "pepperjam",
        None,
        None,
        {"click_id": ("clickid",)},
        values={"clickid": r"\d{9,12}"},
        landing=True,
    ),
    # Partnerize clickrefs read {digits}l{token}; a bare clickref of another shape is not theirs.
    Pattern(
        "partnerize",
        None,
        None,
        {"click_id": ("clickref",)},
        values={"clickref": r"\d{3,5}l\w+"},
        landing=True,
    ),
)

NETWORK_NAMES: tuple[str, ...] = tuple(dict.fromkeys(p.network for p in PATTERNS))

_ALIASES = {
    "commissionjunction": "cj",
    "cjaffiliate": "cj",
    "awinshareasale": "awin",
    "linkshare": "rakuten",
    "rakutenadvertising": "rakuten",
    "rakutenlinkshare": "rakuten",
    "impactradius": "impact",
    "ascend": "pepperjam",
    "ascendpartner": "pepperjam",
    "viglink": "sovrn",
    "sovrncommerce": "sovrn",
    "hasoffers": "tune",
    "amazonassociates": "amazon",
    "ebaypartnernetwork": "ebay",
    "epn": "ebay",
    "pap": "postaffiliatepro",
    "cf": "commissionfactory",
    "performancehorizon": "partnerize",
}


def canonical_network(name: str) -> str:
    """The canonical name for a network as written in rules ("Commission Junction" → "cj")."""
    key = re.sub(r"[^0-9a-z]", "", name.casefold())
    return _ALIASES.get(key, key)


# ---- recognising ----------------------------------------------------------------------------


def recognise(url: str) -> NetworkIds | None:
    """The ids an affiliate network left in `url` (a click URL or a landing page), or None."""
    hit = _recognise(url)
    return hit[1] if hit else None


def is_landing_marker(url: str) -> bool:
    """True when `url` is a landing page carrying a network's ids (awc=, cjevent=…), not a
    click URL that still has to redirect somewhere."""
    hit = _recognise(url)
    return bool(hit and hit[0])


def recognise_chain(urls: Sequence[str]) -> NetworkIds | None:
    """The first network click on a chain, completed with that network's landing-page ids.

    Without a click URL on the chain, the first landing-page marker stands alone.
    """
    hits = [hit for hit in map(_recognise, urls) if hit is not None]
    first_click = next((i for i, (landing, _) in enumerate(hits) if not landing), None)
    if first_click is None:
        return hits[0][1] if hits else None
    result = hits[first_click][1]
    for landing, ids in hits[first_click + 1 :]:
        if landing and ids.network == result.network:
            result = merge(result, ids)
    return result


def merge(click: NetworkIds, landing: NetworkIds) -> NetworkIds:
    """Fill the click's empty fields from the landing page's ids of the same network."""
    updates = {
        name: getattr(landing, name)
        for name in ("publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id")
        if getattr(click, name) is None and getattr(landing, name) is not None
    }
    return replace(click, **updates)


_CLICK_ROWS = tuple(p for p in PATTERNS if not p.landing)
_LANDING_ROWS = tuple(p for p in PATTERNS if p.landing)


def _recognise(url: str) -> tuple[bool, NetworkIds] | None:
    """(is a landing-page marker, ids) for the first row that matches `url`."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if not host:
        return None
    query = _query(parts.query, parts.fragment)
    for pattern in (*_CLICK_ROWS, *_LANDING_ROWS):
        found = _match(pattern, host, parts, query)
        if found is not None:
            return pattern.landing, _ids(pattern, found, url)
    return None


def _match(
    pattern: Pattern, host: str, parts: SplitResult, query: Mapping[str, str]
) -> Fields | None:
    if pattern.host_re is not None and not pattern.host_re.fullmatch(host):
        return None
    found: Fields = {}
    for regex, text, anchored in (
        (pattern.path_re, parts.path, True),
        (pattern.query_re, parts.query, False),
    ):
        if regex is not None:
            shape = regex.match(text) if anchored else regex.search(text)
            if shape is None:
                return None
            found.update({k: unquote(v) for k, v in shape.groupdict().items() if v})
    if pattern.requires and not any(query.get(name) for name in pattern.requires):
        return None
    if not all(regex.fullmatch(query.get(name, "")) for name, regex in pattern.value_res):
        return None
    for field_name, names in pattern.params.items():
        value = next((query[n] for n in names if query.get(n)), None)
        if value and not found.get(field_name):
            found[field_name] = value
    return found


def _ids(pattern: Pattern, found: Fields, url: str) -> NetworkIds:
    if pattern.refine is not None:
        found = pattern.refine(found)
    found["landing_url"] = destination_url(found.get("landing_url"))
    values = {name: found.get(name) or None for name in ID_FIELDS}
    return NetworkIds(
        network=pattern.network, aggregator=pattern.aggregator, matched_url=url, **values
    )


def _query(raw: str, fragment: str = "") -> dict[str, str]:
    """Query parameters with lower-case names; the first value of each name wins.

    Parameters in a `#a=1&b=2` fragment count too, after the query's: Tapfiliate and Post
    Affiliate Pro links may carry their ids there.
    """
    params: dict[str, str] = {}
    extra = fragment.lstrip("!/?") if "=" in fragment else ""
    for name, value in (*parse_qsl(raw, keep_blank_values=True), *parse_qsl(extra)):
        params.setdefault(name.lower(), value)
    return params


def destination_url(value: str | None) -> str | None:
    """A destination carried in a parameter as an absolute http(s) URL, or None.

    Values may be encoded more than once, or lack a scheme (ShareASale's urllink).
    """
    if not value:
        return None
    for _ in range(3):
        if re.match(r"https?(?::|%3a)", value, re.IGNORECASE) and "://" not in value[:10]:
            value = unquote(value)
    if value.startswith("//"):
        value = "https:" + value
    elif not re.match(r"https?://", value, re.IGNORECASE):
        if not re.match(r"[\w-]+(\.[\w-]+)+(/|$)", value):
            return None
        value = "https://" + value
    host = urlsplit(value).hostname or ""
    return value if "." in host else None
