"""The value types the program's fields share: ids, domains, engine names, addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    Literal,
    get_args,
)
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from monitor.addresses import checked_address
from monitor.engines import ENGINES

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DOMAIN = re.compile(
    r"(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})"
)


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        raise ValueError(
            f"'{value}' is not a valid id: use lower-case letters, digits, '-' and '_' "
            "(e.g. 'no-brand-bidding')"
        )
    return value


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"'{value}' is not a domain name (e.g. 'lumora.com'; no scheme or path)")
    return value


def _domain_or_brand(value: str) -> str:
    return value if value.strip() == "brand" else _domain(value)


#: an id: lower-case letters, digits, '-' and '_', e.g. "no-brand-bidding"
Slug = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_slug),
                 WithJsonSchema({"type": "string", "pattern": f"^{_SLUG.pattern}$",
                                 "description": "an id: lower-case letters, digits, '-' and "
                                 "'_', e.g. no-brand-bidding"})]
#: the JSON Schema of a domain: a loose pattern (the value is lower-cased before the check)
_DOMAIN_SCHEMA = {"type": "string", "pattern": r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?\.?$",
                  "description": "a host name, no scheme or path, e.g. lumora.co.id; "
                  "it covers its subdomains"}
#: a host name or registrable domain, lower-cased, e.g. "lumora.co.id"
Domain = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_domain),
                   WithJsonSchema(_DOMAIN_SCHEMA)]
#: a domain, or the word `brand` for the brand's own domains
DomainOrBrand = Annotated[
    str, StringConstraints(strip_whitespace=True), AfterValidator(_domain_or_brand),
    WithJsonSchema({**_DOMAIN_SCHEMA, "description": "a domain (e.g. lumora.com), or `brand` "
                    "for the brand's own domains"}),
]
#: the engines bidwatch can ask, from the engine registry (one line there adds one here)
ENGINE_NAMES: tuple[str, ...] = tuple(ENGINES)
if TYPE_CHECKING:
    EngineName = str
else:
    EngineName = Literal[ENGINE_NAMES]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
#: a path into the program's data, as pydantic reports it: ("partners", 2, "network_ids", 0)
Loc = tuple[str | int, ...]
#: an email address, by the same rule the sender applies (a,b@x.com is refused here already)
Email = Annotated[str, AfterValidator(checked_address),
                  WithJsonSchema({"type": "string", "format": "email",
                                  "description": "an email address, e.g. compliance@lumora.com"})]
Text = Annotated[str, Field(min_length=1)]


def known_zone(value: str) -> str:
    """The name itself when zoneinfo knows it, else a ValueError saying what is expected."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London)") from None
    return value


#: an IANA time-zone name, e.g. "Asia/Jakarta"
TimeZone = Annotated[str, Field(min_length=1), AfterValidator(known_zone),
                     WithJsonSchema({"type": "string", "minLength": 1, "description":
                                     "an IANA time-zone name, e.g. Asia/Jakarta"})]
#: a language: its ISO 639 code, lower case, e.g. "ar"
Language = Annotated[str, Field(pattern=r"^[a-z]{2,3}$",
                                description="an ISO 639 language code, lower case, e.g. ar")]


class Model(BaseModel):
    """Every program model: unknown keys refused, values frozen, strings stripped."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def unique(values: Iterable[object], what: str) -> None:
    """Refuse a list naming one value twice."""
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} '{value}' is listed twice")
        seen.add(value)


def _listify(value: object) -> object:
    """Let a one-item list be written as a bare scalar: `engine: google`."""
    return [value] if isinstance(value, str | bool | int) else value


def one_or_many(item: Any) -> Any:
    """A non-empty list of `item`, where a single value may be written without brackets."""
    # the schema says what may be written (one value or a list); validation makes it a list
    listed = BeforeValidator(_listify, json_schema_input_type=item | list[item])
    return Annotated[list[item], listed, Field(min_length=1)]



def domain_in(domain: str, wanted: frozenset[str]) -> str | None:
    """The entry of `wanted` that `domain` is, or is a subdomain of; None when there is none."""
    while domain:
        if domain in wanted:
            return domain
        domain = domain.partition(".")[2]
    return None
