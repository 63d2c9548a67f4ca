"""Does a URL look like a tracking link, whether or not its network is known?

For `bidwatch attribute` to say "unrecognised tracking link" rather than nothing, and for the
sweep to count such links: they are the networks the table does not know yet. A URL looks
like tracking when it carries

- a redirect parameter: a query or fragment value that is itself an http(s) URL
  (`?url=https://…`, `&dest=//…`), once or twice percent-encoded;
- a publisher, affiliate or click id by a name only affiliate links use (`aff_id`, `pubid`,
  `clickid`, `subid`…), with a value;
- or a tracking path: a segment such as `click`, `aff_c`, `track`, `go`, `out` or `redirect`
  followed by an id (digits, a token of letters and digits, or `key:value`), a tracking word
  joined to its id (`click-7012345-1098`), or a click-ish script (`awclick.php`).

Analytics tags (utm_*), engine click ids (gclid, msclkid) and `ref=` alone are not tracking:
every landing page has them.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote

from monitor.networks.hosts import browser_url

#: Parameter names that only affiliate and tracking links carry (compared without case).
ID_PARAMETERS = frozenset({
    "aff", "affid", "aff_id", "affiliate", "affiliateid", "affiliate_id", "aff_sub",
    "pubid", "pub_id", "publisher", "publisherid", "publisher_id", "partnerid", "partner_id",
    "clickid", "click_id", "subid", "sub_id", "sub1", "offerid", "offer_id", "campaignid",
    "campaign_id", "trackingid", "tracking_id", "refid", "ref_id", "referrer_id", "a_aid",
    "btn_ref", "camref",
})
#: Path segments that name a redirecting or counting endpoint.
TRACKING_SEGMENTS = frozenset({
    "click", "clk", "c", "t", "r", "go", "goto", "out", "outbound", "aff", "aff_c", "aff_m",
    "affiliate", "track", "tracking", "trk", "redirect", "redir", "link", "links", "visit",
    "deeplink", "deep_link", "ref", "refer", "partner", "click.php", "redirect.php", "out.php",
    "go.php", "click.html", "click.aspx", "redirect.aspx", "a.ashx",
})
_ID_SEGMENT = re.compile(r"\d{3,}|(?=[A-Za-z]*\d)[A-Za-z0-9_-]{5,}|[A-Za-z_]+:[^/]+")
# A tracking word joined to its id (click-7012345-1098, out_5521) or a click-ish script.
_JOINED = re.compile(
    r"(?:click|clk|track|trk|go|out|redirect|redir|aff)[-_:]\w*\d\w*"
    r"|\w*(?:click|redir|track|jump|out)\w*\.(?:php|cfm|ashx|aspx|jsp|html?)",
    re.IGNORECASE,
)
_URL_VALUE = re.compile(r"(?:https?:)?//[\w-]+(?:\.[\w-]+)+", re.IGNORECASE)


def looks_like_tracking(url: str) -> bool:
    """True when `url` has the marks of a tracking link (see the module docstring)."""
    parts = browser_url(url)
    if not parts.host:
        return False
    fragment = parts.fragment.lstrip("!/?") if "=" in parts.fragment else ""
    params = [*parse_qsl(parts.query, keep_blank_values=True), *parse_qsl(fragment)]
    if any(_is_url(value) for _, value in params):
        return True
    if any(name.lower() in ID_PARAMETERS and value.strip() for name, value in params):
        return True
    return _tracking_path(parts.path)


def _is_url(value: str) -> bool:
    for _ in range(3):  # a destination may be encoded more than once
        if _URL_VALUE.match(value):
            return True
        decoded = unquote(value)
        if decoded == value:
            return False
        value = decoded
    return False


def _tracking_path(path: str) -> bool:
    segments = [s for s in path.split("/") if s]
    for index, segment in enumerate(segments):
        if _JOINED.fullmatch(segment):
            return True
        if segment.lower() not in TRACKING_SEGMENTS:
            continue
        following = segments[index + 1 : index + 2]
        if segment.lower().endswith((".php", ".html", ".aspx", ".ashx")) or (
            following and _ID_SEGMENT.fullmatch(following[0])
        ):
            return True
    return False
