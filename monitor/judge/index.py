"""Policies indexed by the plain fields they need, so a sighting meets only those it can match."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import (
    Any,
    cast,
)

from monitor.judge.compile import CompiledPolicy
from monitor.judge.conditions import PREDICATES, CompileContext, Predicate
from monitor.judge.view import TASK_FIELDS, SightingView, is_lazy
from monitor.program.conditions import AllCondition, AnyCondition, ConditionNode, NotCondition

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
    reads = PREDICATES.reads(node.kind)
    if reads is None:
        return _NOTHING
    return Requirement({reads: _admits(reads, PREDICATES.build(node.kind, node.params, ctx))}, True)


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
