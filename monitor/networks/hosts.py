"""URLs as a browser reads them, and hosts by their registered domain.

The recognisers match a URL only after it is normalised the way a browser would before it
connects: tabs and newlines dropped, backslashes read as slashes, a scheme-relative or
scheme-less URL read as https, the host lower-cased, percent-decoded, IDNA-mapped and without
its trailing dot (the port is not part of the host). Percent-escapes of characters that mean
the same decoded (letters, digits, `-._~:()!*@,;`) are decoded in the path and query, so
`camref%3A…` is `camref:…`; escapes that change structure (`/ ? & = # %`) stay.

A network's host matches on its registered domain (eTLD+1 from the public-suffix snapshot
bundled with tldextract, private suffixes included; nothing is fetched): the host is a
listed domain or a subdomain of one, never a string that merely contains it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, unquote, urlsplit

if TYPE_CHECKING:
    from tldextract import TLDExtract

_STRIPPED = str.maketrans("", "", "\t\n\r")
_SAFE_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SAFE_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:()!*@,;"
)
_HOST_LIKE = re.compile(r"[\w-]+(?:\.[\w-]+)+(?::\d+)?(?:[/?#]|$)")


@dataclass(frozen=True, slots=True)
class BrowserUrl:
    """A URL normalised as a browser reads it: what the recognisers match."""

    host: str  # lower case, no trailing dot, no port; "" when the URL has no host
    path: str
    query: str  # raw, with only same-meaning escapes decoded
    fragment: str


def browser_url(url: str) -> BrowserUrl:
    """`url` as a browser would read it before connecting (see the module docstring)."""
    text = url.strip().translate(_STRIPPED)
    head, mark, rest = text.partition("?")
    text = head.replace("\\", "/") + mark + rest  # browsers read \ as / before the query
    if text.startswith("//"):
        text = "https:" + text
    elif "://" not in text[:12] and _HOST_LIKE.match(text):
        text = "https://" + text
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
    except ValueError:  # an invalid port or bracketed host: no browser would go there
        return BrowserUrl("", "", "", "")
    return BrowserUrl(
        normal_host(host), _decode_safe(parts.path), _decode_safe(parts.query), parts.fragment
    )


def split_url(url: str) -> SplitResult:
    """`url` normalised (browser_url), as a SplitResult for code that wants one."""
    parts = browser_url(url)
    return SplitResult("https", parts.host, parts.path, parts.query, parts.fragment)


@lru_cache(maxsize=4096)
def normal_host(host: str) -> str:
    """A host as a browser connects to it: percent-decoded, IDNA-mapped, lower case, no
    trailing dot."""
    host = unquote(host).strip().rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    return host


def _decode_safe(text: str) -> str:
    if "%" not in text:
        return text

    def decode(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _SAFE_CHARS else match.group(0).upper()

    return _SAFE_ESCAPE.sub(decode, text)


@lru_cache(maxsize=1)
def _extractor() -> TLDExtract:
    """The public-suffix snapshot bundled with tldextract; never fetched over the network.
    Made when a registered domain is first needed: tldextract (and the requests it imports)
    and the suffix trie cost a tenth of a second that most commands never need."""
    import tldextract

    return tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )


@lru_cache(maxsize=8192)
def registered_domain(host: str) -> str | None:
    """The registered domain (eTLD+1) of a normalised host; an IP address is itself; None for
    a host with no public suffix (localhost, evil.example)."""
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    return _extractor().extract_str(host).top_domain_under_public_suffix or None


def in_domain(host: str, domain: str) -> bool:
    """True when `host` is `domain` or a subdomain of it (label-wise, never a substring)."""
    return host == domain or host.endswith("." + domain)


def names_inside(host: str, domains: frozenset[str]) -> str | None:
    """A listed domain that `host` spells out left of its own registered domain
    (`brand.sjv.io.evil.example` spells sjv.io): a look-alike of that domain, or None."""
    registered = registered_domain(host)
    labels = host.split(".")
    own = len(registered.split(".")) if registered else 1
    prefix = labels[: len(labels) - own]
    for start in range(len(prefix)):
        for end in range(start + 2, len(prefix) + 1):
            candidate = ".".join(prefix[start:end])
            if candidate in domains:
                return candidate
    return None
