"""The scenario file: which ads show where, which URLs redirect, which sites answer.

A scenario is YAML validated by the pydantic models below (extra keys are errors). See
docs/simulator.md for the format with examples.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import BidwatchError
from monitor.program.fields import EngineName, TimeZone

DeviceName = Literal["desktop", "mobile"]
Hour = Annotated[int, Field(ge=0, le=23)]


class ScenarioError(BidwatchError, ValueError):
    """A scenario file that cannot be read or does not validate; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _absolute_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value


def _compile_patterns(patterns: list[str]) -> list[str]:
    for pattern in patterns:
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
    return patterns


AbsoluteUrl = Annotated[str, AfterValidator(_absolute_url)]
Patterns = Annotated[list[str], AfterValidator(_compile_patterns)]


class Market(_Strict):
    """A market the simulator recognises from the engines' locale parameters."""

    id: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    language: str = Field(pattern=r"^[a-z]{2,3}$")
    timezone: TimeZone


class Sitelink(_Strict):
    text: str
    url: AbsoluteUrl


class Ad(_Strict):
    """One text ad and the searches it shows on. Unset filters mean "any"."""

    id: str
    engines: list[EngineName] | None = None
    markets: list[str] | None = None
    #: regular expressions, each matched against the whole normalised query, case-insensitively
    queries: Annotated[Patterns, Field(min_length=1)]
    devices: list[DeviceName] | None = None
    #: local hours (0-23, in the market's time zone) when the ad shows; unset = always
    hours: list[Hour] | None = None
    position: Literal["top", "bottom"] = "top"
    advertiser: str
    headline: str
    #: a responsive search ad: each impression shows the next of headline, then these, in
    #: turn (the same ad, as the engines rotate its copy)
    rotating_headlines: list[str] = []
    description: str = ""
    display_url: str
    link: AbsoluteUrl
    sitelinks: list[Sitelink] = []

    def headline_for(self, impression: int) -> str:
        """The headline of the ad's `impression`-th showing."""
        choices = [self.headline, *self.rotating_headlines]
        return choices[impression % len(choices)]


class Hop(_Strict):
    """A URL that sends the browser on: by HTTP status, meta refresh or script.

    `at` is matched on host and decoded path (the query string is ignored); a path ending in
    `*` matches by prefix. `to` may hold `{click_id}` (a fresh random id) and `{arg:NAME}`
    (the decoded value of the request's query parameter NAME).
    """

    at: AbsoluteUrl
    kind: Literal["http", "meta", "js"]
    to: str
    status: Literal[301, 302, 303, 307, 308] = 302
    #: seconds before a meta refresh or script navigates
    delay: float = Field(default=0, ge=0, le=10)

    @property
    def host(self) -> str:
        return (urlsplit(self.at).hostname or "").lower()

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.at).path or "/")


class Chain(_Strict):
    """A named redirect chain; its hops are looked up by URL, in any order."""

    id: str
    hops: list[Hop] = Field(min_length=1)


class Site(_Strict):
    """A landing site: every path on these hosts answers with this page."""

    hosts: list[str] = Field(min_length=1)
    title: str
    text: str = ""
    language: str = "en"


MisbehaviourKind = Literal["consent", "captcha", "rate_limit", "hang", "slow", "broken", "crash"]


class Misbehaviour(_Strict):
    """Answer a search with a block, a wall, a stall or bad markup instead of results."""

    kind: MisbehaviourKind
    engines: list[EngineName] | None = None
    markets: list[str] | None = None
    queries: Patterns | None = None
    #: for hang (how long the page stalls) and slow (delay before the normal page)
    seconds: float = Field(default=60, ge=0, le=3600)
    #: consent: the wall comes back even after consent was given (a cookie that never sticks)
    sticky: bool = False

    _queries = field_validator("queries")(
        classmethod(lambda cls, v: None if v is None else _compile_patterns(v))
    )


class Misbehave(_Strict):
    enabled: bool = False
    rules: list[Misbehaviour] = []


class Scenario(_Strict):
    """Everything the simulator serves."""

    name: str = "scenario"
    markets: list[Market] = Field(min_length=1)
    ads: list[Ad] = []
    chains: list[Chain] = []
    sites: list[Site] = []
    misbehave: Misbehave = Misbehave()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        _unique("markets", [m.id for m in self.markets])
        _unique("ads", [a.id for a in self.ads])
        _unique("chains", [c.id for c in self.chains])
        known = {m.id for m in self.markets}
        for ad in self.ads:
            _known_markets(f"ad {ad.id!r}", ad.markets, known)
        for rule in self.misbehave.rules:
            _known_markets(f"misbehave rule {rule.kind!r}", rule.markets, known)
        return self

    def market(self, market_id: str) -> Market | None:
        return next((m for m in self.markets if m.id == market_id), None)

    def hops(self) -> list[Hop]:
        return [hop for chain in self.chains for hop in chain.hops]


def _unique(what: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            raise ValueError(f"{what}: duplicate id {item!r}")
        seen.add(item)


def _known_markets(owner: str, markets: list[str] | None, known: set[str]) -> None:
    unknown = sorted(set(markets or []) - known)
    if unknown:
        raise ValueError(f"{owner}: unknown market(s) {', '.join(unknown)}")


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; raise ScenarioError naming the file and field."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    try:
        return Scenario.model_validate(data or {})
    except ValidationError as exc:
        raise ScenarioError(f"{path}: invalid scenario\n{_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
