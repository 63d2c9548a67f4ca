"""Affiliate-network recognisers: the table is data (networks.yaml); this module validates it,
holds the few decoders a row may name, and matches URLs against the rows.

A row says which hosts (registered domains and their subdomains, a regex for the whole host,
or any host), which path shape (a regex whose named groups
are NetworkIds fields) and which query parameters (case-insensitive, first present wins) carry
the ids. `values` pins a parameter to a shape (a common name such as clickid or clickref counts
only in the shape its network gives it); `query_shape` reads queries that are not key=value.
Click rows describe the network's own tracking URL; landing rows describe what the network
appends to the merchant's landing page (awc, cjevent, irclickid…). A new network is a new row
in networks.yaml (a `split` there when a value packs two ids around a separator); a decoder
(monitor/networks/decoders.py) only when a value needs decoding or parsing, which the row
names.

Canonical network names (use these in rules/partners.yaml): see NETWORK_NAMES.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.errors import ConfigError
from monitor.models import NetworkIds
from monitor.networks.decoders import DECODERS, DecodeFn, Fields, splitter
from monitor.networks.decoders import decoder as decoder  # where rows' decoders register
from monitor.networks.decoders import rakuten_eaid as rakuten_eaid  # partners compare EAIDs
from monitor.networks.hosts import (
    BrowserUrl,
    browser_url,
    in_domain,
    names_inside,
    registered_domain,
)
from monitor.networks.names import FAST_LOADER, TABLE_PATH

IdField = Literal[
    "publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id", "landing_url"
]
ID_FIELDS: tuple[str, ...] = get_args(IdField)


class NetworkTableError(ConfigError):
    """networks.yaml is not a valid table; the message names the file, line, row and field."""


# ---- the table's schema (networks.yaml) -----------------------------------------------------


def _compiles(value: str) -> str:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"not a regular expression: {error}") from None
    return value


Regex = Annotated[str, AfterValidator(_compiles)]
# Query names are lower-cased before matching, so a row's names are too.
ParamName = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True, to_lower=True)]
# canonical_network() keeps only these characters, so a name with others could never be named.
NetworkName = Annotated[str, StringConstraints(pattern=r"^[0-9a-z]+$")]
# A listed domain is compared with normalised hosts, so it is written as they are.
DomainName = Annotated[
    str, StringConstraints(pattern=r"^(?:[0-9a-z-]+\.)+[0-9a-z-]+$", to_lower=True)
]


def _name_key(name: str) -> str:
    """A network name as canonical_network compares it: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: tuple[str, ...] = ()  # other spellings rules may use ("Commission Junction")
    aggregator: bool = False  # re-wraps other networks' links: its publisher is a sub-affiliate

    @field_validator("aliases")
    @classmethod
    def _aliases_have_letters(cls, aliases: tuple[str, ...]) -> tuple[str, ...]:
        for alias in aliases:
            if not _name_key(alias):
                raise ValueError(f"alias {alias!r} has no letters or digits")
        return aliases


class Split(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    field: IdField
    at: str = Field(min_length=1)
    into: IdField

    @model_validator(mode="after")
    def _into_another_field(self) -> Split:
        if self.field == self.into:
            raise ValueError(f"into must name another field than {self.field!r}")
        return self


class Row(BaseModel):
    """One pattern: how a URL of `network` looks and where its ids are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: NetworkName
    domains: tuple[DomainName, ...] = ()  # the host is one of these or a subdomain of one
    hosts: Regex | None = None  # whole host, case-insensitive; None (and no domains) = any
    path: Regex | None = None  # matched at the start of the path; named groups → fields
    query_shape: Regex | None = None  # searched in the raw query; named groups → fields
    params: dict[IdField, tuple[ParamName, ...]] = {}  # field → parameter names, first wins
    requires: tuple[ParamName, ...] = ()  # at least one of these parameters is present
    values: dict[ParamName, Regex] = {}  # parameter → regex its value must fullmatch
    split: Split | None = None
    decode: str | None = None  # a name in DECODERS

    @field_validator("params")
    @classmethod
    def _names_given(cls, params: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, names in params.items():
            if not names:
                raise ValueError(f"{name}: give at least one parameter name")
        return params

    @field_validator("decode")
    @classmethod
    def _known_decoder(cls, name: str | None) -> str | None:
        if name is not None and name not in DECODERS:
            raise ValueError(f"no decoder named {name!r}; known: {', '.join(sorted(DECODERS))}")
        return name

    @model_validator(mode="after")
    def _matches_something(self) -> Row:
        if not (self.domains or self.hosts or self.path or self.query_shape or self.requires
                or self.values):
            raise ValueError(
                "give domains, hosts, path, query_shape, requires or values: "
                "a row without any of them would match every URL"
            )
        return self

    @model_validator(mode="after")
    def _one_way_to_name_hosts(self) -> Row:
        if self.domains and self.hosts:
            raise ValueError("give domains or hosts, not both")
        return self

    @model_validator(mode="after")
    def _groups_are_fields(self) -> Row:
        # A named group that no one reads would be dropped silently; say so instead.
        reads = DECODERS[self.decode].reads if self.decode else frozenset()
        for name in ("path", "query_shape"):
            regex = getattr(self, name)
            groups = set(re.compile(regex).groupindex) if regex else set()
            unknown = sorted(groups - set(ID_FIELDS) - reads)
            if unknown:
                raise ValueError(
                    f"{name}: group(s) {', '.join(unknown)} are not id fields "
                    f"({', '.join(ID_FIELDS)}) nor read by the row's decoder"
                )
        return self


class NetworkTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    networks: dict[NetworkName, Network] = Field(min_length=1)
    click_urls: tuple[Row, ...] = ()
    landing_markers: tuple[Row, ...] = ()


SECTIONS = ("click_urls", "landing_markers")


def load_table(path: Path = TABLE_PATH) -> NetworkTable:
    """Read and check the network table; NetworkTableError names file, line, row and field."""
    return parse_table(path.read_text(encoding="utf-8"), str(path))


def parse_table(text: str, source: str = "networks.yaml") -> NetworkTable:
    try:
        data = yaml.load(text, Loader=FAST_LOADER)
    except yaml.YAMLError as error:
        raise NetworkTableError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise NetworkTableError(
            f"{source}: expected a mapping with networks, click_urls, landing_markers"
        )
    try:
        table = NetworkTable.model_validate(data)
    except ValidationError as error:
        problems = [
            (tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in error.errors()
        ]
        raise NetworkTableError(_describe(source, text, data, problems)) from None
    problems = _cross_check(table)
    if problems:
        raise NetworkTableError(_describe(source, text, data, problems))
    return table


def _cross_check(table: NetworkTable) -> list[tuple[tuple[str | int, ...], str]]:
    """What one row cannot check alone: names declared, each network used, aliases unique."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    used: set[str] = set()
    for section in SECTIONS:
        for index, row in enumerate(getattr(table, section)):
            used.add(row.network)
            if row.network not in table.networks:
                problems.append(
                    ((section, index, "network"), f"{row.network!r} is not listed under networks:")
                )
    owners = {name: name for name in table.networks}
    for name, network in table.networks.items():
        if name not in used:
            problems.append((("networks", name), "no click_urls or landing_markers row uses it"))
        for alias in network.aliases:
            owner = owners.setdefault(_name_key(alias), name)
            if owner != name:
                problems.append(
                    (("networks", name, "aliases"), f"{alias!r} already names {owner!r}")
                )
    return problems


def _describe(
    source: str, text: str, data: Any, problems: list[tuple[tuple[Any, ...], str]]
) -> str:
    """One line per problem: file, line, row (with its network) and field."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # only now: line numbers cost a parse
    lines = [f"{source}: {len(problems)} problem(s) in the network table:"]
    for loc, message in problems:
        where = f"{source}, line {_line(root, loc)}" if root is not None else source
        if len(loc) >= 2 and loc[0] in SECTIONS and isinstance(loc[1], int):
            row = data[loc[0]][loc[1]]
            network = row.get("network") if isinstance(row, dict) else None
            what = f"{loc[0]} row {loc[1] + 1}" + (f" ({network})" if network else "")
            fields = loc[2:]
        elif len(loc) >= 2 and loc[0] == "networks":
            what, fields = f"networks: {loc[1]}", loc[2:]
        else:
            what, fields = (str(loc[0]) if loc else "table"), loc[1:]
        field_path = ".".join(str(part) for part in fields if part != "[key]")
        lines.append(f"  {where}: {what}: " + (f"{field_path}: " if field_path else "") + message)
    return "\n".join(lines)


def _line(root: yaml.Node, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the deepest node `loc` reaches in the composed YAML."""
    node = root
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


# ---- the compiled table -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pattern:
    """A row of the table, compiled for matching."""

    network: str
    hosts: str | None  # regex matched against the whole host; None = any host
    path: str | None = None  # regex searched at the start of the path; named groups → fields
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field → param names
    requires: tuple[str, ...] = ()  # at least one of these parameters must be present
    values: Mapping[str, str] = field(default_factory=dict)  # param → regex it must fullmatch
    query_shape: str | None = None  # regex searched in the raw query; named groups → fields
    landing: bool = False  # marks a merchant landing page, not a click URL
    aggregator: bool = False
    refine: DecodeFn | None = None
    domains: tuple[str, ...] = ()  # the host is one of these or a subdomain of one
    host_re: re.Pattern[str] | None = field(init=False, default=None)
    path_re: re.Pattern[str] | None = field(init=False, default=None)
    query_re: re.Pattern[str] | None = field(init=False, default=None)
    value_res: tuple[tuple[str, re.Pattern[str]], ...] = field(init=False, default=())
    required: frozenset[str] = field(init=False, default=frozenset())

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
        object.__setattr__(self, "required", frozenset(self.requires))


def compile_table(table: NetworkTable) -> tuple[Pattern, ...]:
    """Click rows first, then landing markers, each in the file's order: first match wins."""
    return tuple(
        _compile_row(
            row,
            landing=section == "landing_markers",
            aggregator=table.networks[row.network].aggregator,
        )
        for section in SECTIONS
        for row in getattr(table, section)
    )


def _compile_row(row: Row, *, landing: bool, aggregator: bool) -> Pattern:
    steps = [splitter(row.split.field, row.split.into, row.split.at)] if row.split else []
    if row.decode:
        steps.append(DECODERS[row.decode].decode)
    params = {str(name): names for name, names in row.params.items()}
    return Pattern(
        row.network,
        row.hosts,
        row.path,
        params,
        row.requires,
        dict(row.values),
        row.query_shape,
        landing=landing,
        aggregator=aggregator,
        refine=_in_turn(steps),
        domains=tuple(row.domains),
    )


def _in_turn(steps: list[DecodeFn]) -> DecodeFn | None:
    if len(steps) <= 1:
        return steps[0] if steps else None

    def refine(found: Fields) -> Fields:
        for step in steps:
            found = step(found)
        return found

    return refine


@dataclass(frozen=True, slots=True)
class HostIndex:
    """The rows to try for a host, in the table's order, found by its registered domain.

    Rows that list domains are tried only for hosts under their registered domains; rows
    with a host regex or no host condition are tried for every host.
    """

    everywhere: tuple[Pattern, ...]
    by_domain: Mapping[str, tuple[Pattern, ...]]
    network_domains: frozenset[str]  # every listed domain: what a look-alike host spells

    def rows_for(self, host: str) -> tuple[Pattern, ...]:
        registered = registered_domain(host)
        return self.by_domain.get(registered or "", self.everywhere)


def index_hosts(patterns: Sequence[Pattern]) -> HostIndex:
    """The rows grouped by the registered domains they list, each group merged back in the
    table's order with the rows that match any host."""
    order = {id(p): i for i, p in enumerate(patterns)}
    everywhere = tuple(p for p in patterns if not p.domains)
    grouped: dict[str, list[Pattern]] = {}
    for pattern in patterns:
        for registered in {registered_domain(d) or d for d in pattern.domains}:
            grouped.setdefault(registered, []).append(pattern)
    by_domain = {
        registered: tuple(sorted((*rows, *everywhere), key=lambda p: order[id(p)]))
        for registered, rows in grouped.items()
    }
    domains = frozenset(d for p in patterns for d in p.domains)
    return HostIndex(everywhere, by_domain, domains)


# Loaded once, on first use, and kept: the sweep matches every hop of every chain against
# these rows, but a command that never recognises a URL (`rules check`, `--help`) should not
# pay for validating, compiling and indexing them (nor for tldextract's suffix list).


@cache
def network_table() -> NetworkTable:
    """The bundled table, validated (NetworkTableError when it is not valid)."""
    return load_table()


@cache
def patterns() -> tuple[Pattern, ...]:
    return compile_table(network_table())


@cache
def host_index() -> HostIndex:
    return index_hosts(patterns())


@cache
def network_names() -> tuple[str, ...]:
    """The validated table's network names (monitor.networks.names reads them without
    validating the rows, for the program's checks)."""
    return tuple(network_table().networks)


@cache
def _aliases() -> dict[str, str]:
    return {_name_key(alias): name for name, network in network_table().networks.items()
            for alias in network.aliases}


# The module's constants of old, now computed when first read (PEP 562).
_LAZY: dict[str, Callable[[], object]] = {
    "TABLE": network_table, "PATTERNS": patterns, "HOSTS": host_index,
    "NETWORK_NAMES": network_names,
}

if TYPE_CHECKING:
    TABLE: NetworkTable
    PATTERNS: tuple[Pattern, ...]
    HOSTS: HostIndex
    NETWORK_NAMES: tuple[str, ...]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return _LAZY[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def canonical_network(name: str) -> str:
    """The canonical name for a network as written in rules ("Commission Junction" → "cj")."""
    key = _name_key(name)
    return _aliases().get(key, key)


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
    """The outermost network on a chain (its first click URL), completed with that network's
    landing-page ids. Without a click URL on the chain, the first landing-page marker stands
    alone. The networks inside it: recognise_layers."""
    layers = recognise_layers(urls)
    return layers[0] if layers else None


def recognise_layers(urls: Sequence[str]) -> tuple[NetworkIds, ...]:
    """Every affiliate network a chain went through, outermost first.

    An aggregator (Skimlinks, Sovrn) or a network that re-wraps another's link is the outer
    layer, the network it sent the click through the next. Click URLs of one network in a row
    (a vanity short link, then its /c/ URL) are one layer; a landing page's ids complete the
    innermost layer of their network, or, when no click of that network is on the chain,
    are a layer of their own after the clicks.
    """
    hits = [hit for hit in map(_recognise, urls) if hit is not None]
    layers: list[NetworkIds] = []
    for landing, ids in sorted(hits, key=lambda hit: hit[0]):  # clicks first, stable
        same = next((i for i in range(len(layers) - 1, -1, -1)
                     if layers[i].network == ids.network), None)
        if same is not None and (landing or _same_publisher(layers[same], ids)):
            layers[same] = merge(layers[same], ids)
        else:
            layers.append(ids)
    return tuple(layers)


def _same_publisher(known: NetworkIds, ids: NetworkIds) -> bool:
    return known.publisher_id is None or ids.publisher_id in (None, known.publisher_id)


def merge(click: NetworkIds, landing: NetworkIds) -> NetworkIds:
    """Fill the click's empty fields from the landing page's ids of the same network."""
    updates = {
        name: getattr(landing, name)
        for name in ("publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id")
        if getattr(click, name) is None and getattr(landing, name) is not None
    }
    return replace(click, **updates)


def _recognise(url: str) -> tuple[bool, NetworkIds] | None:
    """(is a landing-page marker, ids) for the first row that matches `url`, read as a
    browser reads it. A host that spells a network's domain inside someone else's
    (brand.sjv.io.evil.example) matches no row at all."""
    parts = browser_url(url)
    if not parts.host:
        return None
    hosts = host_index()
    rows = hosts.rows_for(parts.host)
    if rows is hosts.everywhere and names_inside(parts.host, hosts.network_domains):
        return None
    query = _query(parts.query, parts.fragment)
    present = frozenset(name for name, value in query.items() if value)
    for pattern in rows:  # click rows, then landing markers
        # Cheapest test first: most rows fail on a parameter the URL does not carry.
        if pattern.required and pattern.required.isdisjoint(present):
            continue
        found = _match(pattern, parts, query)
        if found is not None:
            return pattern.landing, _ids(pattern, found, url)
    return None


def _match(pattern: Pattern, parts: BrowserUrl, query: Mapping[str, str]) -> Fields | None:
    """The fields `pattern` reads from the URL, or None; its `requires` is checked before."""
    if pattern.domains and not any(in_domain(parts.host, d) for d in pattern.domains):
        return None
    if pattern.host_re is not None and not pattern.host_re.fullmatch(parts.host):
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
    extra = parse_qsl(fragment.lstrip("!/?")) if "=" in fragment else []
    for name, value in (*parse_qsl(raw, keep_blank_values=True), *extra):
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
