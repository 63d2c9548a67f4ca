"""The term-group vocabulary: what plan names its searches, and how filters match the names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: the term groups `plan` makes from a brand: its terms, each term with each modifier, and
#: its misspellings; conditions, permissions and sweep filters name them
BRAND_GROUP = "brand"
MISSPELLING_GROUP = "misspelling"
MODIFIER_PREFIX = "brand+"
#: the term group that stands for every brand-related group
BRAND_ANY = "brand-any"
#: the wildcard for every brand+<modifier> group
ANY_MODIFIER = "brand+*"


def modifier_group(modifier: str) -> str:
    """The group of a brand term searched with a modifier: "brand+coupon"."""
    return MODIFIER_PREFIX + modifier


def term_groups_of(modifiers: Iterable[str]) -> set[str]:
    """Every term group a program with these modifiers can produce."""
    return {BRAND_GROUP, MISSPELLING_GROUP} | {modifier_group(m) for m in modifiers}


def is_brand_group(group: str) -> bool:
    """True for the groups plan makes from a brand: brand, brand+<modifier>, misspelling."""
    return group in (BRAND_GROUP, MISSPELLING_GROUP) or group.startswith(MODIFIER_PREFIX)


@dataclass(frozen=True, slots=True)
class TermGroups:
    """A set of term-group names; `brand-any` and `brand+*` are accepted as wildcards."""

    exact: frozenset[str]
    brand_any: bool
    any_modifier: bool

    @classmethod
    def of(cls, names: Iterable[str]) -> TermGroups:
        wanted = frozenset(names)
        return cls(wanted, BRAND_ANY in wanted, ANY_MODIFIER in wanted)

    def match(self, group: str) -> bool:
        if group in self.exact:
            return True
        if self.brand_any:
            return is_brand_group(group)
        return self.any_modifier and group.startswith(MODIFIER_PREFIX)
