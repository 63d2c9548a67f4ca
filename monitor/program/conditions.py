"""The condition grammar of a policy's `when:`: every leaf kind, its params, and the tree.

A leaf kind is declared here once (name, params type, description); `all`, `any` and `not`
combine them. The grammar is the program's: validation, `rules check`, the JSON Schema and
the docs read it. How a kind is judged is the judge's business (monitor.judge.conditions
registers one predicate builder per kind, and refuses to start with one missing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from difflib import get_close_matches
from functools import lru_cache
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    TypeAlias,
    Union,
)

import re2  # type: ignore[import-untyped]  # google-re2 ships no type information
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Device,
)
from monitor.program.fields import DomainOrBrand, EngineName, Slug, one_or_many


class ConditionNode(BaseModel):
    """A parsed condition: one mapping with one key (the kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    kind: ClassVar[str] = ""

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)




@dataclass(frozen=True, slots=True)
class ConditionKind:
    """One leaf kind of the grammar: its name, the params type pydantic validates, the
    one-line description `rules conditions` prints, and the YAML mapping's model."""

    name: str
    params: Any
    doc: str
    node: type[ConditionNode]


class ConditionGrammar:
    """Kind name -> ConditionKind. The YAML syntax, validation, `rules check` and the judge
    (which registers one predicate builder per kind, monitor.judge.conditions) all read it."""

    def __init__(self) -> None:
        self._kinds: dict[str, ConditionKind] = {}

    def declare(self, name: str, params: Any, doc: str) -> None:
        """`CONDITIONS.declare("engine", one_or_many(EngineName), "The ad was seen on …")`."""
        if name in self._kinds or name in COMBINATORS:
            raise ValueError(f"condition kind {name!r} is declared twice")
        fields: dict[str, Any] = {name: (params, ...)}  # the YAML mapping {name: params}
        node = create_model(
            f"{name.title().replace('_', '')}Condition", __base__=ConditionNode, **fields
        )
        node.kind = name
        self._kinds[name] = ConditionKind(name, params, doc, node)

    def get(self, name: str) -> ConditionKind | None:
        return self._kinds.get(name)

    def names(self) -> list[str]:
        return sorted(self._kinds)

    def describe(self) -> list[tuple[str, str]]:
        """(kind, one-line description) for every kind, combinators first (for `list`)."""
        leaves = [(k.name, k.doc.splitlines()[0]) for k in self._kinds.values()]
        return list(COMBINATORS.items()) + sorted(leaves)

    def hint(self, name: str) -> str:
        """"; did you mean 'engine'?" for a misspelt kind, else the list of kinds."""
        known = [*COMBINATORS, *self.names()]
        close = get_close_matches(name, known, n=1)
        if close:
            return f"; did you mean '{close[0]}'?"
        return "; known conditions: " + ", ".join(known)



COMBINATORS: dict[str, str] = {
    "all": "every condition in the list matches",
    "any": "at least one condition in the list matches",
    "not": "the condition does not match",
}
CONDITIONS = ConditionGrammar()


# ---------------------------------------------------------------------------------------------
# The params of the leaf kinds that are more than a list of values.


AdField = Literal["headline", "description", "display_url"]


class HourRange(BaseModel):
    """Local hours [from, to): `from: 22, to: 6` wraps midnight (22:00-05:59)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    start: int = Field(alias="from", ge=0, le=23)
    end: int = Field(alias="to", ge=0, le=24)

    @model_validator(mode="after")
    def _not_empty(self) -> HourRange:
        if self.start == self.end % 24:
            raise ValueError("from and to are the same hour; the range would be empty")
        return self


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


#: finds a pattern in a text: the matched text, or None
Finder = Callable[[str], str | None]

#: what RE2 refuses that Python's re takes, and why (the RE2 message names the construct)
_UNSUPPORTED = (
    (("operator: (?=", "operator: (?!", "operator: (?<"),
     "lookahead and lookbehind are not supported"),
    ((*(f"escape sequence: \\{n}" for n in range(1, 10)), "escape sequence: \\g"),
     "backreferences are not supported"),
    (("operator: (?>", "repetition operator: ++", "repetition operator: *+",
      "repetition operator: ?+"), "atomic groups and possessive repeats are not supported"),
)


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Finder:
    """A `matches` pattern compiled for RE2, case-insensitive: a policy's regex meets hostile
    ad text, and RE2 matches in time linear in the text whatever the pattern (Python's re
    took 0.9 s on a 24-character headline against `(a+)+$`, doubling with each character).
    Validation and the judge share the compiled pattern. Raises ValueError saying why a
    pattern is refused (RE2 has no backreferences or lookaround)."""
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # refusals are reported to the user, not to stderr by RE2
    try:
        regex = re2.compile(pattern, options)
    except re2.error as err:
        raw = err.args[0] if err.args else ""
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        why = next((reason for marks, reason in _UNSUPPORTED
                    if any(mark in detail for mark in marks)), None)
        if "(?P=" in pattern:  # RE2 says only "invalid perl operator: (?P" for (?P=name)
            why = "backreferences are not supported"
        message = f"regular expression does not compile: {detail}"
        if why:
            message += f" ({why}: patterns run under RE2, in time linear in the text)"
        raise ValueError(message) from None
    search = regex.search

    def find(text: str) -> str | None:
        # bytes in, bytes out: the str path of the wrapper maps every offset back to
        # characters, several times slower, and only the matched text is wanted here
        found = search(text.encode("utf-8", "surrogatepass"))
        return found.group(0).decode("utf-8", "replace") if found is not None else None

    return find


class TextPattern(BaseModel):
    """A regular expression searched (case-insensitively) in one field of the sighting.
    RE2 syntax: what Python's re takes, less backreferences and lookaround; `\\w`, `\\d`
    and `\\b` are ASCII (for other scripts: `\\pL` letters, `\\pN` digits)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: Literal["query", "headline", "description", "display_url", "landing_url"]
    pattern: str = Field(min_length=1)

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_pattern(value)  # a ValueError says why; pydantic reports it at the field
        return value


class QueryTerms(BaseModel):
    """Search terms matched against the query the way ad platforms match keywords."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the query is exactly one of these (case, spacing and punctuation aside)
    exact: list[str] = []
    #: one of these appears in the query as a whole phrase, words in order
    phrase: list[str] = []
    #: every word of one of these appears in the query, in any order
    contains: list[str] = []

    @model_validator(mode="after")
    def _something(self) -> QueryTerms:
        if not (self.exact or self.phrase or self.contains):
            raise ValueError("give at least one of exact, phrase, contains")
        return self


# ---------------------------------------------------------------------------------------------
# The leaf kinds. Each one's predicate is built by monitor.judge.conditions.

CONDITIONS.declare(
    "term_group", one_or_many(Annotated[str, StringConstraints(min_length=1)]),
    "The task's term group is one of these (`brand-any`: any brand-related group).",
)
CONDITIONS.declare(
    "query_contains_brand", bool,
    "The query names the brand (also misspelt by one edit); `false` inverts it.",
)
CONDITIONS.declare(
    "engine", one_or_many(EngineName),
    "The ad was seen on one of these engines.",
)
CONDITIONS.declare(
    "market", one_or_many(Slug),
    "The ad was seen in one of these markets (market ids).",
)
CONDITIONS.declare(
    "device", one_or_many(Device),
    "The ad was seen on one of these devices (desktop, mobile).",
)
CONDITIONS.declare(
    "position", one_or_many(AdPosition),
    "The ad was in one of these positions (top, bottom, right, middle: between organic "
    "results, inline: DuckDuckGo's).",
)
CONDITIONS.declare(
    "ad_kind", one_or_many(AdKind),
    "The ad is of one of these kinds (text, shopping: a product listing, local, other).",
)
CONDITIONS.declare(
    "advertiser_class", one_or_many(AdvertiserClass),
    "Whoever placed the ad is one of these (brand, partner, competitor, unknown).",
)
CONDITIONS.declare(
    "landing_domain", one_or_many(DomainOrBrand),
    "The chain lands on one of these domains (or a subdomain); `brand`: the brand's own.",
)
CONDITIONS.declare(
    "display_domain", one_or_many(DomainOrBrand),
    "The ad's display URL is on one of these domains; `brand`: the brand's own.",
)
CONDITIONS.declare(
    "network", one_or_many(Slug),
    "The chain went through one of these affiliate networks; `any`: through any network.",
)
CONDITIONS.declare(
    "partner", one_or_many(Slug),
    "The ad was attributed to one of these partners (partner ids).",
)
CONDITIONS.declare(
    "brand_in", one_or_many(AdField),
    "A brand term or misspelling appears in one of these ad fields.",
)
CONDITIONS.declare(
    "local_hour", HourRange,
    "The ad was seen between these hours in the market's time zone; may wrap midnight.",
)
CONDITIONS.declare(
    "weekday", one_or_many(Weekday),
    "The ad was seen on one of these days (mon..sun) in the market's time zone.",
)
CONDITIONS.declare(
    "matches", TextPattern,
    "A regular expression matches a field (query, headline, description, display_url, …).",
)
CONDITIONS.declare(
    "query", QueryTerms,
    "The query matches these terms: exact, as a phrase, or containing every word.",
)


# ---------------------------------------------------------------------------------------------
# The tree: all/any/not plus the leaves, as one pydantic type.


class AllCondition(ConditionNode):
    kind: ClassVar[str] = "all"
    all: list[Condition] = Field(min_length=1)


class AnyCondition(ConditionNode):
    kind: ClassVar[str] = "any"
    any: list[Condition] = Field(min_length=1)


class NotCondition(ConditionNode):
    kind: ClassVar[str] = "not"
    not_: Condition = Field(alias="not")

    @property
    def params(self) -> Any:
        return self.not_


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, ConditionNode):
        return value.kind
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key if isinstance(key, str) else None
    return None


def _condition_shape(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse what is not a one-key mapping naming a known kind, with a helpful message."""
    if isinstance(value, ConditionNode):
        return value
    if not isinstance(value, dict) or not value:
        raise PydanticCustomError(
            "condition_type", "a condition is a mapping with one key, e.g. 'engine: [google]'"
        )
    if len(value) > 1:
        keys = ", ".join(map(str, value))
        raise PydanticCustomError(
            "condition_keys",
            "a condition has one key, found {count} ({keys}); combine them with 'all: [...]'",
            {"count": len(value), "keys": keys},
        )
    kind = str(next(iter(value)))
    if kind not in COMBINATORS and CONDITIONS.get(kind) is None:
        raise PydanticCustomError(
            "condition_kind", "unknown condition '{kind}'{hint}",
            {"kind": kind, "hint": CONDITIONS.hint(kind)},
        )
    return handler(value)


def _condition_type() -> Any:
    members = [Annotated[AllCondition, Tag("all")], Annotated[AnyCondition, Tag("any")],
               Annotated[NotCondition, Tag("not")]]
    for name in CONDITIONS.names():
        kind = CONDITIONS.get(name)
        assert kind is not None
        members.append(Annotated[kind.node, Tag(name)])
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union
        Discriminator(_condition_tag),
        WrapValidator(_condition_shape),
    ]


#: the YAML condition tree; built from the registry once every leaf above is registered
if TYPE_CHECKING:  # a union built at run time; the checker sees the node base class
    Condition: TypeAlias = ConditionNode
else:
    Condition = _condition_type()
for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild(_types_namespace={"Condition": Condition})


def node_model(kind: str) -> type[ConditionNode] | None:
    """The pydantic model for one kind's mapping (for error hints in `rules check`)."""
    combinators: dict[str, type[ConditionNode]] = {
        "all": AllCondition, "any": AnyCondition, "not": NotCondition}
    if kind in combinators:
        return combinators[kind]
    leaf = CONDITIONS.get(kind)
    return leaf.node if leaf else None


def describe(node: ConditionNode) -> str:
    """A short text for a condition, used in the fact a `not` reports."""
    if isinstance(node, AllCondition | AnyCondition):
        return f"{node.kind}(" + ", ".join(describe(c) for c in node.params) + ")"
    if isinstance(node, NotCondition):
        return f"not {describe(node.not_)}"
    params = node.params
    if isinstance(params, list):
        params = ", ".join(str(p) for p in params)
    elif isinstance(params, BaseModel):
        params = ", ".join(f"{k}={v}" for k, v in params.model_dump().items())
    return f"{node.kind}: {params}"
