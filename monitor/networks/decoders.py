"""The decoders a network-table row may name (`decode:`): values that need decoding or parsing
(base64, letter-coded tokens, key:value path segments) before they are ids.

A decoder takes the fields a row read and returns them completed; it is registered with
`@decoder("name", reads=(...))`, where `reads` names the regex groups it consumes that are not
id fields. The table checks at load time that every row's decoder is registered here.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

Fields = dict[str, str | None]

DecodeFn = Callable[[Fields], Fields]


@dataclass(frozen=True, slots=True)
class Decoder:
    decode: DecodeFn
    reads: frozenset[str]  # named regex groups it consumes that are not id fields


DECODERS: dict[str, Decoder] = {}


def decoder(name: str, *, reads: tuple[str, ...] = ()) -> Callable[[DecodeFn], DecodeFn]:
    """Register `decode` under `name`, for a row's `decode:` to refer to."""

    def register(decode: DecodeFn) -> DecodeFn:
        DECODERS[name] = Decoder(decode, frozenset(reads))
        return decode

    return register


@decoder("awin_click")
def _awc(found: Fields) -> Fields:
    # awc = {advertiser MID}_{unix time}_{hash}: the advertiser is readable, the click is whole.
    click = found.get("click_id") or ""
    if "_" in click:
        found["advertiser_id"] = click.split("_", 1)[0]
    return found


@decoder("rakuten_site")
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


@decoder("pepperjam_token", reads=("token",))
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


@decoder("partnerstack_key")
def _partnerstack_key(found: Fields) -> Fields:
    # gspk is the partner key in base64; a value that does not decode is kept as written.
    key = found.get("publisher_id")
    if key:
        try:
            padded = key + "=" * (-len(key) % 4)
            found["publisher_id"] = base64.b64decode(padded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            pass
    return found


@decoder("partnerize_path", reads=("segments",))
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


@decoder("tradedoubler_parens", reads=("parens",))
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


@decoder("tradetracker_tt")
def _tradetracker_tt(found: Fields) -> Fields:
    # tt = {campaign}_{material}_{affiliate site}_{reference}, on a direct-linked landing page.
    parts = (found.get("click_id") or "").split("_", 3)
    if len(parts) >= 3 and all(p.isdigit() for p in parts[:3]):
        found["advertiser_id"], found["creative_id"], found["publisher_id"] = parts[:3]
        found["sub_id"] = found.get("sub_id") or (parts[3] if len(parts) == 4 else None)
    return found


@decoder("plus_kept")
def _plus_kept(found: Fields) -> Fields:
    # A8.net's a8mat joins its parts with a literal +, which query parsing reads as a space.
    value = found.get("publisher_id")
    if value:
        found["publisher_id"] = value.replace(" ", "+")
    return found


@decoder("base64_destination")
def _base64_destination(found: Fields) -> Fields:
    # AccessTrade's url_enc carries the destination in base64url; a value that does not
    # decode to a URL is dropped rather than guessed at.
    value = found.get("landing_url")
    if value and not re.match(r"(?:https?:)?//|https?%3a", value, re.IGNORECASE):
        try:
            padded = value + "=" * (-len(value) % 4)
            found["landing_url"] = base64.urlsafe_b64decode(padded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            found["landing_url"] = None
    return found


def splitter(field_name: str, into: str, sep: str) -> DecodeFn:
    """A row's `split`: cut `field_name` at `sep`; the head stays, the tail goes to `into`
    when unset."""

    def split(found: Fields) -> Fields:
        value = found.get(field_name)
        if value and sep in value:
            head, tail = value.split(sep, 1)
            found[field_name] = head
            found[into] = found.get(into) or tail
        return found

    return split
