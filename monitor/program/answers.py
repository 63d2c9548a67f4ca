"""The answers a person gives bidwatch (`init`'s questions, an export's cells), each checked
with the program's own field types (Slug, Domain, TimeZone…): a refusal reads as
`rules check` would word it, only earlier, and says why.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import TZPATH

from pydantic import TypeAdapter, ValidationError

from monitor.addresses import checked_address
from monitor.errors import BidwatchError
from monitor.models import Device
from monitor.program.fields import ENGINE_NAMES, Domain, Language, Slug, TimeZone
from monitor.program.models import UULE_MAX_BYTES
from monitor.text import clean_text

#: a brand name, term or city longer than this is no answer anyone meant to give
MAX_TEXT = 200


class AnswerError(BidwatchError):
    """An answer that cannot go into a program; the message says why."""


# One check per kind of answer: the value as it goes into the program, or AnswerError.


def _by_field(annotation: Any, value: str) -> str:
    try:
        return str(TypeAdapter(annotation).validate_python(value))
    except ValidationError as error:
        message = str(error.errors(include_url=False)[0]["msg"])
        raise AnswerError(message.removeprefix("Value error, ")) from None


def text_answer(value: str, what: str) -> str:
    """Plain text of one line: controls and bidi overrides removed, not empty, not huge."""
    cleaned = clean_text(value)
    if not cleaned:
        raise AnswerError(f"the {what} is empty")
    if len(cleaned) > MAX_TEXT:
        raise AnswerError(f"the {what} is {len(cleaned)} characters long; at most {MAX_TEXT}")
    return cleaned


def slug_of(name: str) -> str:
    """An id from a name: 'Kupon Hémat!' -> 'kupon-hemat'; '' when no letter or digit is
    Latin (an Arabic name gives no slug: the caller says what to use instead)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-")


def brand_id_answer(value: str) -> str:
    return _by_field(Slug, value.strip())


def domain_answer(value: str) -> str:
    return _by_field(Domain, value)


def country_answer(value: str) -> str:
    country = value.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise AnswerError(f"'{value.strip()}' is not a two-letter country code (e.g. US, GB, AE)")
    return country


def language_answer(value: str) -> str:
    language = value.strip().lower()
    try:
        return _by_field(Language, language)
    except AnswerError:
        raise AnswerError(f"'{value.strip()}' is not a language code: two or three letters "
                          "(e.g. en, ar, id)") from None


def timezone_answer(value: str) -> str:
    return _by_field(TimeZone, value.strip())


def city_answer(value: str) -> str | None:
    """Google's canonical location name, or None for the whole country."""
    if not value.strip():
        return None
    city = text_answer(value, "city")
    if len(city.encode()) > UULE_MAX_BYTES:
        raise AnswerError(f"'{city}' is too long for Google's uule location "
                          f"({len(city.encode())} bytes, at most {UULE_MAX_BYTES})")
    return city


def engine_answer(value: str) -> str:
    engine = value.strip().lower()
    if engine not in ENGINE_NAMES:
        raise AnswerError(f"unknown engine '{value.strip()}'; known: {', '.join(ENGINE_NAMES)}")
    return engine


def network_answer(value: str) -> str:
    from monitor.networks.names import network_names

    network = value.strip().lower()
    known = network_names()
    if network not in known:
        from difflib import get_close_matches

        close = get_close_matches(network, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(known)}"
        raise AnswerError(f"unknown network '{value.strip()}'{hint}")
    return network


def device_answer(value: str) -> str:
    device = value.strip().lower()
    known = [d.value for d in Device]
    if device not in known:
        raise AnswerError(f"unknown device '{value.strip()}'; known: {', '.join(known)}")
    return device


def email_answer(value: str) -> str:
    try:
        return checked_address(value.strip())
    except ValueError as error:
        raise AnswerError(str(error)) from None


@dataclass(frozen=True)
class MarketAnswer:
    country: str
    language: str
    timezone: str
    city: str | None = None

    @property
    def id(self) -> str:
        return f"{self.country.lower()}-{self.language}"


def market_answer(spec: str) -> MarketAnswer:
    """`US:en:America/New_York[:New York,New York,United States]` as a market."""
    parts = spec.split(":", 3)
    if len(parts) < 3:
        raise AnswerError(f"'{spec}' is not COUNTRY:LANGUAGE:TIMEZONE[:CITY] "
                          "(e.g. US:en:America/New_York)")
    city = city_answer(parts[3]) if len(parts) == 4 else None
    return MarketAnswer(country_answer(parts[0]), language_answer(parts[1]),
                        timezone_answer(parts[2]), city)


def country_zones(country: str) -> list[str]:
    """The IANA zones of a country, from the system's zone1970.tab (empty when it is not
    there): the time-zone question's default."""
    for base in TZPATH:
        table = Path(base) / "zone1970.tab"
        try:
            lines = table.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        return [fields[2] for line in lines if not line.startswith("#")
                and len(fields := line.split("\t")) >= 3 and country in fields[0].split(",")]
    return []


def each(values: Sequence[str], check: Callable[[str], str], what: str, *,
         required: bool = False) -> tuple[str, ...]:
    """Every value checked, duplicates refused: a list answer (`required`: not empty)."""
    if required and not values:
        raise AnswerError(f"give at least one {what}")
    checked = tuple(check(v) for v in values)
    seen: set[str] = set()
    for value in checked:
        if value in seen:
            raise AnswerError(f"{what} '{value}' is given twice")
        seen.add(value)
    return checked
