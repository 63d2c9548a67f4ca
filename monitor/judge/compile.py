"""Compiling a condition tree into one matcher: leaves first, lookups inlined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import (
    cast,
)

from monitor.judge.conditions import PREDICATES, CompileContext, Matcher, Predicate, lookup_of
from monitor.judge.view import SightingView, fact
from monitor.models import Fact, Finding, Severity
from monitor.program.conditions import (
    COMBINATORS,
    AllCondition,
    AnyCondition,
    ConditionNode,
    NotCondition,
    describe,
)
from monitor.program.models import Policy


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
    return PREDICATES.build(node.kind, node.params, ctx)


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
# A policy: its tree compiled, with what a finding of it says.


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
        # the agreement version (last field) is set by the judge, for a partner only
        return _new_tuple(Finding, (self.id, self.severity, offender, partner, term_group,
                                    self.title, self.clause, self.notice, facts, None))


def compile_policy(policy: Policy, ctx: CompileContext) -> CompiledPolicy:
    return CompiledPolicy(
        policy.id, policy.title, policy.severity, policy.clause, policy.notice,
        compile_condition(policy.when, ctx),
    )
