"""A brand's terms and misspellings, lower-cased once, with the matching conditions need."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


def within_one_edit(a: str, b: str) -> bool:
    """True when a and b differ by at most one insertion, deletion, substitution or swap."""
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    if a[i + 1 :] == b[i + 1 :]:
        return True
    # an adjacent transposition ("lumroa") is the commonest typo; count it as one edit
    return a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1]


_WORD = re.compile(r"\w+")
_QUERY_CACHE_LIMIT = 20_000
#: edit-distance matching only for terms this long; shorter ones give too many false hits
FUZZY_MIN_LENGTH = 5


class BrandTerms:
    """A brand's terms and misspellings, lower-cased once, with the matching the rules need."""

    def __init__(self, terms: Iterable[str], misspellings: Iterable[str]) -> None:
        self.terms = tuple(sorted({t.casefold() for t in terms if t.strip()}))
        self.misspellings = tuple(sorted({m.casefold() for m in misspellings if m.strip()}))
        self._exact = self.terms + self.misspellings
        self._compact = tuple(sorted({_compact(t) for t in self._exact}))
        self._fuzzy = tuple(t for t in self.terms if len(t) >= FUZZY_MIN_LENGTH)
        self._queries: dict[str, str | None] = {}

    def in_text(self, text: str) -> str | None:
        """The first term or misspelling that occurs in an already lower-cased text."""
        for term in self._exact:
            if term in text:
                return term
        return None

    def in_url(self, url: str) -> str | None:
        """Like in_text, also finding "Lumora Sleep" written as lumorasleep or lumora-sleep."""
        return self.in_text(url) or _first_in(self._compact, _compact(url))

    def in_query(self, query: str) -> str | None:
        """A description of how the (lower-cased) query names the brand, or None. Cached."""
        if query in self._queries:
            return self._queries[query]
        if len(self._queries) >= _QUERY_CACHE_LIMIT:
            self._queries.clear()
        found = self._search_query(query)
        self._queries[query] = found
        return found

    def _search_query(self, query: str) -> str | None:
        exact = self.in_text(query)
        if exact is not None:
            return f"'{exact}'"
        words = _WORD.findall(query)
        for term in self._fuzzy:
            width = term.count(" ") + 1
            for start in range(len(words) - width + 1):
                window = " ".join(words[start : start + width])
                if within_one_edit(window, term):
                    return f"'{window}' (close to '{term}')"
        return None


def _compact(text: str) -> str:
    return text.replace(" ", "").replace("-", "")


def _first_in(needles: Sequence[str], haystack: str) -> str | None:
    return next((n for n in needles if n in haystack), None)
