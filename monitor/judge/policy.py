"""The rule engine: policies and agreements compiled once, then judged against many sightings.

A policy's `when:` is a tree of conditions written in YAML. `all`, `any` and `not` combine;
every other key is a leaf kind from the registry in monitor.judge.conditions. This module holds the
tree as one pydantic type, compiles it into a matcher, reads the agreements, and judges.

`compile_policies(program)` returns a `Judge`; `Judge.judge(sighting)` returns the findings,
sorted by policy id. Judging is pure: no I/O, no clock, no randomness. An index over the
plain fields each policy needs (advertiser class, engine, market, term group…) picks the
policies a sighting can match; the index never changes a verdict, it only skips work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union, cast

from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    Tag,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

# re-exported: monitor.program.models, the CLI and the tests import these from here
from monitor.judge.conditions import (
    BRAND_ANY,
    COMBINATORS,
    CONDITIONS,
    ENGINE_NAMES,
    TASK_FIELDS,
    WEEKDAYS,
    BrandTerms,
    CompileContext,
    ConditionKind,
    ConditionNode,
    ConditionRegistry,
    Domain,
    DomainOrBrand,
    EngineName,
    Loc,
    Matcher,
    Predicate,
    SightingView,
    Slug,
    TermGroups,
    domain_in,
    fact,
    is_brand_group,
    is_lazy,
    lookup_of,
    one_or_many,
    within_one_edit,
    zone,
)
from monitor.models import AdvertiserClass, Fact, Finding, Severity, Sighting

if TYPE_CHECKING:
    from monitor.program.models import Permission, Policy, Program

__all__ = [
    "BRAND_ANY", "COMBINATORS", "CONDITIONS", "ENGINE_NAMES", "WEEKDAYS", "AgreementBook",
    "AllCondition", "AnyCondition", "BrandTerms", "CompileContext", "CompiledPolicy",
    "Condition", "ConditionKind", "ConditionNode", "ConditionRegistry", "Domain",
    "DomainOrBrand", "EngineName", "Judge", "Loc", "Matcher", "NotCondition", "PolicyIndex",
    "Predicate", "Requirement", "SightingView", "Slug", "TermGroups", "compile_condition",
    "compile_policies", "compile_policy", "condition_problems", "describe", "domain_in",
    "is_brand_group", "node_model", "one_or_many", "requirement", "within_one_edit", "zone",
]

# ---------------------------------------------------------------------------------------------
# The condition tree: all/any/not plus the leaves, as one pydantic type.


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
Condition = _condition_type()
for _model in (AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild(_types_namespace={"Condition": Condition})


def node_model(kind: str) -> type[ConditionNode] | None:
    """The pydantic model for one kind's mapping (for error hints in `rules check`)."""
    combinators = {"all": AllCondition, "any": AnyCondition, "not": NotCondition}
    if kind in combinators:
        return combinators[kind]
    leaf = CONDITIONS.get(kind)
    return leaf.node if leaf else None


def condition_problems(node: ConditionNode, program: Program) -> Iterator[tuple[Loc, str]]:
    """Cross-references a condition tree makes (market and partner ids…) that do not exist."""
    if isinstance(node, AllCondition | AnyCondition):
        for index, child in enumerate(node.params):
            for loc, message in condition_problems(child, program):
                yield (node.kind, index, *loc), message
        return
    if isinstance(node, NotCondition):
        for loc, message in condition_problems(node.not_, program):
            yield ("not", *loc), message
        return
    leaf = CONDITIONS.get(node.kind)
    if leaf is not None and leaf.check is not None:
        for loc, message in leaf.check(node.params, program):
            yield (node.kind, *loc), message


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


# ---------------------------------------------------------------------------------------------
# Compiling a tree into a Matcher.


def compile_condition(node: ConditionNode, ctx: CompileContext) -> Matcher:
    """The tree as one function returning the facts that made it match, or None."""
    if isinstance(node, AllCondition):
        return _compile_all(node.all, ctx)
    if isinstance(node, AnyCondition):
        return _compile_any(node.any, ctx)
    if isinstance(node, NotCondition):
        return _compile_not(node.not_, ctx)
    return _as_matcher(_leaf_predicate(node, ctx))


def _leaf_predicate(node: ConditionNode, ctx: CompileContext) -> Predicate:
    leaf = CONDITIONS.get(node.kind)
    if leaf is None:  # validation refuses unknown kinds, so this is a programming error
        raise KeyError(f"unknown condition kind {node.kind!r}")
    return leaf.build(node.params, ctx)


def _as_matcher(predicate: Predicate) -> Matcher:
    def match(view: SightingView) -> tuple[Fact, ...] | None:
        fact = predicate(view)
        return None if fact is None else (fact,)

    return match


def _compile_all(children: list[ConditionNode], ctx: CompileContext) -> Matcher:
    children = _flattened(children)
    # leaves are called directly (no wrapper) and before subtrees: they are the cheap tests
    leaves = tuple(_leaf_predicate(c, ctx) for c in children if c.kind not in COMBINATORS)
    subtrees = tuple(compile_condition(c, ctx) for c in children if c.kind in COMBINATORS)
    if len(leaves) == 2 and not subtrees:
        return _pair(*leaves)
    if len(leaves) == 3 and not subtrees:
        return _triple(*leaves)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        facts: list[Fact] = []
        for predicate in leaves:
            found = predicate(view)
            if found is None:
                return None
            facts.append(found)
        for subtree in subtrees:
            more = subtree(view)
            if more is None:
                return None
            facts.extend(more)
        return tuple(facts)

    return match


def _flattened(children: list[ConditionNode]) -> list[ConditionNode]:
    """`all: [a, all: [b, c]]` as `all: [a, b, c]`, when every subtree is an `all` of leaves:
    the facts (leaves first, then each subtree's) and their order stay the same."""
    subtrees = [c for c in children if c.kind in COMBINATORS]
    if not subtrees or not all(
        isinstance(t, AllCondition) and all(c.kind not in COMBINATORS for c in t.all)
        for t in subtrees
    ):
        return children
    leaves = [c for c in children if c.kind not in COMBINATORS]
    return leaves + [c for t in subtrees for c in cast(AllCondition, t).all]


def _pair(first: Predicate, second: Predicate) -> Matcher:
    """`all` of two leaves, the commonest shape, without the general loop."""
    looked_up = lookup_of(first)
    if looked_up is not None:  # a scope (engine, market…): its fact is one dict lookup
        read, facts = looked_up

        def scoped(view: SightingView) -> tuple[Fact, ...] | None:
            one = facts.get(read(view))
            if one is None:
                return None
            two = second(view)
            return None if two is None else (one, two)

        return scoped

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        one = first(view)
        if one is None:
            return None
        two = second(view)
        return None if two is None else (one, two)

    return match


def _triple(first: Predicate, second: Predicate, third: Predicate) -> Matcher:
    """`all` of three leaves (a scope and a pair, flattened) without the general loop."""

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        one = first(view)
        if one is None:
            return None
        two = second(view)
        if two is None:
            return None
        three = third(view)
        return None if three is None else (one, two, three)

    return match


def _compile_any(children: list[ConditionNode], ctx: CompileContext) -> Matcher:
    options = tuple(compile_condition(c, ctx) for c in children)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        for option in options:
            found = option(view)
            if found is not None:
                return found
        return None

    return match


def _compile_not(child: ConditionNode, ctx: CompileContext) -> Matcher:
    inner = compile_condition(child, ctx)
    reported = (fact("not", describe(child)),)

    def match(view: SightingView) -> tuple[Fact, ...] | None:
        return reported if inner(view) is None else None

    return match


# ---------------------------------------------------------------------------------------------
# What a tree needs of the plain fields: the index's input.

#: a test of one value of one plain field (engine, market…): can the tree match with it?
Admits = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class Requirement:
    """Tests a sighting's plain fields must pass for a tree to match (necessary, never too
    strict). `exact`: passing them is also enough, so the tree matches exactly then."""

    needs: Mapping[str, Admits]
    exact: bool


_NOTHING = Requirement({}, exact=False)


def requirement(node: ConditionNode, ctx: CompileContext) -> Requirement:
    """What `node` needs of the plain fields, derived from the leaves' own predicates."""
    if isinstance(node, AllCondition):
        return _both([requirement(c, ctx) for c in node.all])
    if isinstance(node, AnyCondition):
        return _either([requirement(c, ctx) for c in node.any])
    if isinstance(node, NotCondition):
        return _negated(requirement(node.not_, ctx))
    leaf = CONDITIONS.get(node.kind)
    if leaf is None or leaf.reads is None:
        return _NOTHING
    return Requirement({leaf.reads: _admits(leaf.reads, leaf.build(node.params, ctx))}, True)


class _Probe:
    """A stand-in view holding one field; any other field (read only to word a fact) is ""."""

    def __init__(self, field: str, value: Any) -> None:
        setattr(self, field, value)

    def __getattr__(self, name: str) -> str:
        return ""


def _admits(field: str, predicate: Predicate) -> Admits:
    # the predicate itself decides, asked about a view holding only that field: no second
    # copy of its logic to drift
    def admits(value: Any) -> bool:
        return predicate(cast(SightingView, _Probe(field, value))) is not None

    return admits


def _both(parts: Sequence[Requirement]) -> Requirement:
    tests: dict[str, list[Admits]] = {}
    for part in parts:
        for field, test in part.needs.items():
            tests.setdefault(field, []).append(test)
    needs = {f: t[0] if len(t) == 1 else _all_of(tuple(t)) for f, t in tests.items()}
    return Requirement(needs, all(p.exact for p in parts))


def _either(parts: Sequence[Requirement]) -> Requirement:
    shared = set.intersection(*(set(p.needs) for p in parts))
    needs = {f: _any_of(tuple(p.needs[f] for p in parts)) for f in sorted(shared)}
    # exact only when every option is one exact test of the same field
    exact = all(p.exact and set(p.needs) == shared for p in parts) and len(shared) == 1
    return Requirement(needs, exact)


def _negated(inner: Requirement) -> Requirement:
    if not inner.exact or len(inner.needs) != 1:
        return _NOTHING  # "not (a and b)" constrains no single field
    ((field, test),) = inner.needs.items()
    return Requirement({field: lambda value: not test(value)}, True)


def _all_of(tests: tuple[Admits, ...]) -> Admits:
    return lambda value: all(t(value) for t in tests)


def _any_of(tests: tuple[Admits, ...]) -> Admits:
    return lambda value: any(t(value) for t in tests)


#: entries a per-field cache keeps before it starts again (term groups, partners… are open)
_CACHE_LIMIT = 50_000


def _mask(numbers: Iterable[int]) -> int:
    bits = 0
    for number in numbers:
        bits |= 1 << number
    return bits


def _reader(fields: tuple[str, ...]) -> Callable[[SightingView], tuple[Any, ...]]:
    """attrgetter(*fields), but always giving a tuple (attrgetter gives one field bare)."""
    if len(fields) > 1:
        return attrgetter(*fields)
    return lambda view: tuple(getattr(view, f) for f in fields)


class PolicyIndex:
    """Policies by the plain fields they need: a sighting meets only those it can match.

    Per field, a cache maps each value seen to a bit mask of the policies that admit it;
    a sighting's candidates are the AND of its fields' masks, in policy-id order. The task's
    fields are looked up together, and a field no remaining policy tests is never read (so a
    lazy one, like local time, is not computed)."""

    def __init__(self, policies: Sequence[CompiledPolicy], needs: Sequence[Requirement]) -> None:
        self._policies = tuple(policies)
        self._needs = tuple(needs)
        self._every = (1 << len(self._policies)) - 1
        fields = {f for r in needs for f in r.needs}
        # the task's fields are few in combination (a crawl's engines x markets x devices x
        # term groups): one lookup by the tuple of their values gives their joint mask
        self._task_fields = tuple(f for f in TASK_FIELDS if f in fields)
        self._read_task = _reader(self._task_fields)
        self._task_masks: dict[tuple[Any, ...], int] = {}
        # then the other fields, one by one: those read when the view is made first, the
        # lazily computed ones (local time, brand in the query) last
        others = sorted(fields - set(TASK_FIELDS), key=lambda f: (is_lazy(f), f))
        self._masks = {f: dict[Any, int]() for f in fields}
        #: per other field: its value -> mask cache, and the mask of the policies testing it
        self._others: tuple[tuple[str, dict[Any, int], int], ...] = tuple(
            (f, self._masks[f], _mask(n for n, need in enumerate(needs) if f in need.needs))
            for f in others
        )
        self._chosen: dict[int, tuple[CompiledPolicy, ...]] = {}

    @property
    def fields(self) -> tuple[str, ...]:
        return self._task_fields + tuple(f for f, _, _ in self._others)

    def candidates(self, view: SightingView) -> tuple[CompiledPolicy, ...]:
        """The policies, in id order, whose plain-field needs the view meets."""
        task = self._read_task(view)
        mask = self._task_masks.get(task)
        if mask is None:
            mask = self._learn_task(task)
        for field, masks, tested in self._others:
            if not mask:
                return ()
            if not mask & tested:  # no policy left has a test on it: the value cannot matter
                continue
            value = getattr(view, field)
            bits = masks.get(value)
            if bits is None:
                bits = self._learn(field, value, masks)
            mask &= bits
        if not mask:
            return ()
        chosen = self._chosen.get(mask)
        if chosen is None:
            chosen = self._choose(mask)
        return chosen

    def _learn_task(self, task: tuple[Any, ...]) -> int:
        bits = self._every
        for field, value in zip(self._task_fields, task, strict=True):
            masks = self._masks[field]
            known = masks.get(value)
            bits &= self._learn(field, value, masks) if known is None else known
        if len(self._task_masks) >= _CACHE_LIMIT:
            self._task_masks.clear()
        self._task_masks[task] = bits
        return bits

    def _learn(self, field: str, value: Any, masks: dict[Any, int]) -> int:
        bits = 0
        for number, need in enumerate(self._needs):
            test = need.needs.get(field)
            if test is None or test(value):
                bits |= 1 << number
        if len(masks) >= _CACHE_LIMIT:
            masks.clear()
        masks[value] = bits
        return bits

    def _choose(self, mask: int) -> tuple[CompiledPolicy, ...]:
        chosen = tuple(p for n, p in enumerate(self._policies) if mask >> n & 1)
        if len(self._chosen) >= _CACHE_LIMIT:
            self._chosen.clear()
        self._chosen[mask] = chosen
        return chosen


# ---------------------------------------------------------------------------------------------
# Agreements: which permissions are in force for a partner on a date.


@dataclass(frozen=True, slots=True)
class Grant:
    """One compiled Permission: None means any engine/market/term group/device."""

    engines: frozenset[str] | None
    markets: frozenset[str] | None
    devices: frozenset[str] | None
    term_groups: TermGroups | None

    @classmethod
    def of(cls, permission: Permission) -> Grant:
        return cls(
            _frozen(permission.engines),
            _frozen(permission.markets),
            _frozen(permission.devices),
            TermGroups.of(permission.term_groups) if permission.term_groups is not None else None,
        )

    def allows(self, view: SightingView) -> bool:
        return (
            (self.engines is None or view.engine in self.engines)
            and (self.markets is None or view.market in self.markets)
            and (self.devices is None or view.device in self.devices)
            and (self.term_groups is None or self.term_groups.match(view.term_group))
        )


def _frozen(values: Iterable[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(str(v) for v in values)


@dataclass(frozen=True, slots=True)
class VersionInForce:
    """One agreement version: its dates and its grants by policy id."""

    version: str
    starts: date
    ends: date | None
    grants: dict[str, tuple[Grant, ...]]

    def covers(self, day: date) -> bool:
        return self.starts <= day and (self.ends is None or day <= self.ends)


_NONE: frozenset[str] = frozenset()


class AgreementBook:
    """Every partner's agreement versions, to answer "is this permitted on that day?"."""

    def __init__(self, program: Program) -> None:
        self._versions: dict[str, tuple[VersionInForce, ...]] = {}
        for agreement in program.agreements:
            versions = sorted(agreement.versions, key=lambda v: v.effective_from)
            self._versions[agreement.partner] = tuple(
                VersionInForce(v.version, v.effective_from, v.effective_to, _grants(v.permissions))
                for v in versions
            )
        #: per partner, the policies some version grants something for
        self._granted = {
            partner: frozenset(policy for version in versions for policy in version.grants)
            for partner, versions in self._versions.items()
        }

    def in_force(self, partner: str, day: date) -> VersionInForce | None:
        """The version in force on `day`; the latest-starting one should versions overlap."""
        for version in reversed(self._versions.get(partner, ())):
            if version.covers(day):
                return version
        return None

    def granted(self, partner: str | None) -> frozenset[str]:
        """The policies some version of the partner's agreement has a permission for."""
        return self._granted.get(partner, _NONE) if partner is not None else _NONE

    def permits(self, policy: str, view: SightingView) -> bool:
        """True when the partner's agreement in force on the sighting's local date has a
        permission for `policy` that covers the ad's engine, market, term group and device."""
        if policy not in self.granted(view.partner):  # the common case: nothing to look up
            return False
        version = self.in_force(view.partner, view.local_date)
        if version is None:
            return False
        return any(grant.allows(view) for grant in version.grants.get(policy, ()))


def _grants(permissions: Iterable[Permission]) -> dict[str, tuple[Grant, ...]]:
    by_policy: dict[str, list[Grant]] = {}
    for permission in permissions:
        by_policy.setdefault(permission.policy, []).append(Grant.of(permission))
    return {policy: tuple(grants) for policy, grants in by_policy.items()}


# ---------------------------------------------------------------------------------------------
# The judge.


#: tuple.__new__ builds the Finding named tuple from all its fields in C, skipping the
#: generated Python __new__ (Finding._make without its length check; the tuple is literal)
_new_tuple = tuple.__new__


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    id: str
    title: str
    severity: Severity
    clause: str | None
    notice: str | None
    match: Matcher

    def finding(
        self, offender: str, partner: str | None, term_group: str, facts: tuple[Fact, ...]
    ) -> Finding:
        return _new_tuple(Finding, (self.id, self.severity, offender, partner, term_group,
                                    self.title, self.clause, self.notice, facts))


def compile_policy(policy: Policy, ctx: CompileContext) -> CompiledPolicy:
    return CompiledPolicy(
        policy.id, policy.title, policy.severity, policy.clause, policy.notice,
        compile_condition(policy.when, ctx),
    )


class Judge:
    """The compiled program. `judge` is pure; its caches only remember answers, so it is
    safe to call from many threads."""

    def __init__(self, program: Program) -> None:
        self._ctx = CompileContext(program)
        self._ignore = frozenset(program.ignore)
        self._allow = frozenset(program.allowlist)
        self._exempt_domains: dict[str, bool] = {}
        self._book = AgreementBook(program)
        ordered = sorted(program.policies, key=lambda p: p.id)
        self.policies = tuple(compile_policy(p, self._ctx) for p in ordered)
        self.index = PolicyIndex(self.policies, [_policy_needs(p, self._ctx) for p in ordered])

    def judge(self, sighting: Sighting) -> list[Finding]:
        """Every policy the sighting breaches and no agreement permits, sorted by policy id."""
        attribution = sighting.attribution
        if attribution.advertiser_class is AdvertiserClass.brand:
            return []
        if self._exempt(attribution.display_domain) or self._exempt(attribution.landing_domain):
            return []
        view = SightingView(sighting, self._ctx.brand_terms(sighting.task.brand))
        candidates = self.index.candidates(view)
        if not candidates:
            return []
        offender, partner, group = sighting.offender, view.partner, view.term_group
        # only a policy the partner has some permission for needs the agreement looked up
        granted, permits, findings = self._book.granted(partner), self._book.permits, []
        for policy in candidates:
            facts = policy.match(view)
            if facts is None or (policy.id in granted and permits(policy.id, view)):
                continue
            findings.append(policy.finding(offender, partner, group, facts))
        return findings

    def _exempt(self, domain: str | None) -> bool:
        """On the ignore list or the allowlist: never judged. Remembered per domain."""
        if not domain:
            return False
        known = self._exempt_domains.get(domain)
        if known is None:
            folded = domain.casefold()
            known = bool(domain_in(folded, self._ignore) or domain_in(folded, self._allow))
            if len(self._exempt_domains) >= _CACHE_LIMIT:
                self._exempt_domains.clear()
            self._exempt_domains[domain] = known
        return known


def _policy_needs(policy: Policy, ctx: CompileContext) -> Requirement:
    """The tree's needs plus `applies_to`: a policy is never judged for other classes."""
    classes = frozenset(str(c) for c in policy.applies_to)
    applies = Requirement({"advertiser_class": lambda value: value in classes}, exact=True)
    return _both([applies, requirement(policy.when, ctx)])


def compile_policies(program: Program) -> Judge:
    """Compile every policy and agreement of a (validated) program once."""
    return Judge(program)
