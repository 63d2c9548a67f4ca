"""Query variants generated from a brand's terms: modifiers in the market's language, common
misspellings, spacing and diacritic forms (docs/keywords.md).

Pure and deterministic: a brand and a language in, the brand's queries out, the most likely
first in each family. What the program lists comes first and is never dropped; a generated
query that repeats a listed one, or one of an earlier family, is left out before the family's
`max` is counted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import zip_longest

from monitor.program.models import Brand, VariantFamily
from monitor.program.terms import BRAND_GROUP, MISSPELLING_GROUP, modifier_group

#: a query the program lists (a term, a term with a listed modifier, a listed misspelling)
LISTED = "listed"
#: the generated families, as the `variants:` block names them, in the order they are made
FAMILIES = ("spacing", "diacritics", "modifiers", "misspellings")

#: modifier concepts, the most searched first; a generated query's term group is
#: brand+<concept>, whatever the market's language, so a permission for brand+coupon also
#: covers "Lumora kupon" in Indonesia and "Lumora كوبون" in the Emirates
CONCEPTS = ("coupon", "promo code", "discount", "login", "reviews", "vs", "price", "sale",
            "official site")
#: language -> concept -> the words people search with, most common first
MODIFIER_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {"coupon": ("coupon",), "promo code": ("promo code",), "discount": ("discount",),
           "login": ("login",), "reviews": ("reviews",), "vs": ("vs",), "price": ("price",),
           "sale": ("sale",), "official site": ("official site",)},
    "ar": {"coupon": ("كوبون",), "promo code": ("كود خصم",), "discount": ("خصم",),
           "login": ("تسجيل الدخول",), "reviews": ("تقييمات",), "vs": ("مقابل",),
           "price": ("سعر",), "sale": ("تخفيضات",), "official site": ("الموقع الرسمي",)},
    "id": {"coupon": ("kupon", "voucher"), "promo code": ("kode promo",),
           "discount": ("diskon",), "login": ("masuk",), "reviews": ("ulasan",),
           "vs": ("vs",), "price": ("harga",), "sale": ("promo",),
           "official site": ("situs resmi",)},
    "ms": {"coupon": ("kupon", "baucar"), "promo code": ("kod promo",),
           "discount": ("diskaun",), "login": ("log masuk",), "reviews": ("ulasan",),
           "vs": ("vs",), "price": ("harga",), "sale": ("jualan murah",),
           "official site": ("laman rasmi",)},
    "es": {"coupon": ("cupón",), "promo code": ("código promocional",),
           "discount": ("descuento",), "login": ("iniciar sesión",), "reviews": ("opiniones",),
           "vs": ("vs",), "price": ("precio",), "sale": ("rebajas",),
           "official site": ("sitio oficial",)},
    "fr": {"coupon": ("coupon",), "promo code": ("code promo",), "discount": ("réduction",),
           "login": ("connexion",), "reviews": ("avis",), "vs": ("vs",), "price": ("prix",),
           "sale": ("soldes",), "official site": ("site officiel",)},
    "de": {"coupon": ("gutschein",), "promo code": ("gutscheincode",), "discount": ("rabatt",),
           "login": ("anmelden",), "reviews": ("erfahrungen",), "vs": ("vs",),
           "price": ("preis",), "sale": ("sale",), "official site": ("offizielle seite",)},
    "pt": {"coupon": ("cupom",), "promo code": ("código promocional",),
           "discount": ("desconto",), "login": ("entrar",), "reviews": ("avaliações",),
           "vs": ("vs",), "price": ("preço",), "sale": ("promoção",),
           "official site": ("site oficial",)},
    "it": {"coupon": ("coupon",), "promo code": ("codice promozionale",),
           "discount": ("sconto",), "login": ("accedi",), "reviews": ("recensioni",),
           "vs": ("vs",), "price": ("prezzo",), "sale": ("saldi",),
           "official site": ("sito ufficiale",)},
    "nl": {"coupon": ("kortingsbon",), "promo code": ("kortingscode",),
           "discount": ("korting",), "login": ("inloggen",), "reviews": ("ervaringen",),
           "vs": ("vs",), "price": ("prijs",), "sale": ("uitverkoop",),
           "official site": ("officiële site",)},
    "tr": {"coupon": ("kupon",), "promo code": ("promosyon kodu",), "discount": ("indirim",),
           "login": ("giriş",), "reviews": ("yorumlar",), "vs": ("vs",), "price": ("fiyat",),
           "sale": ("kampanya",), "official site": ("resmi site",)},
}
#: the words of a language without its own list
FALLBACK_LANGUAGE = "en"

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
#: letters that NFKD does not take apart, written the way people type them without
_PLAIN = {"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d", "ı": "i", "þ": "th",
          "Æ": "AE", "Œ": "OE", "Ø": "O", "Ł": "L", "Đ": "D"}
#: the German way of writing umlauts without them (Müller: Mueller)
_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"}
#: Arabic letters searched in one form for another: hamza-carrying alefs as bare alef,
#: taa marbuta as haa, alef maqsura as yaa
_ARABIC = {"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي"}
#: words shorter than this get no generated misspellings ("Go" has none worth searching)
MIN_MISSPELT_LETTERS = 4


@dataclass(frozen=True, slots=True)
class Variant:
    """One query of a brand: its text, its term group, and the family that made it."""

    query: str
    term_group: str
    family: str


def _keyboard() -> dict[str, str]:
    """Each letter's QWERTY neighbours: the same row, and the touching keys above and below."""
    near: dict[str, str] = {}
    for r, row in enumerate(_ROWS):
        for i, letter in enumerate(row):
            keys = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            if r > 0:
                keys += [_ROWS[r - 1][j] for j in (i, i + 1) if j < len(_ROWS[r - 1])]
            if r < len(_ROWS) - 1:
                keys += [_ROWS[r + 1][j] for j in (i - 1, i) if 0 <= j < len(_ROWS[r + 1])]
            near[letter] = "".join(keys)
    return near


KEYBOARD_NEIGHBOURS = _keyboard()


def fold(query: str) -> str:
    """The form two queries are the same in: case and spacing aside."""
    return " ".join(query.split()).casefold()


def modifier_words(language: str) -> list[tuple[str, str]]:
    """(concept, word) for a language, the most searched first; English for a language
    without its own list."""
    words = MODIFIER_WORDS.get(language, MODIFIER_WORDS[FALLBACK_LANGUAGE])
    ranked = [(c, w) for c in CONCEPTS for w in words.get(c, ())[:1]]
    ranked += [(c, w) for c in CONCEPTS for w in words.get(c, ())[1:]]  # second words last
    return ranked


def _editable(term: str, skip: frozenset[str]) -> tuple[list[int], list[int]]:
    """Positions of letters in words long enough to misspell (and not in `skip`): those
    after a word's first letter, and the first letters (errors there are the rarest)."""
    positions: list[int] = []
    start = 0
    for word in term.split(" "):
        if sum(ch.isalpha() for ch in word) >= MIN_MISSPELT_LETTERS and fold(word) not in skip:
            positions += [start + i for i, ch in enumerate(word) if ch.isalpha()]
        start += len(word) + 1
    firsts = {p for p in positions if p == 0 or term[p - 1] == " "}
    return [p for p in positions if p not in firsts], [p for p in positions if p in firsts]


def _dropped(term: str, positions: Sequence[int], editable: set[int]) -> Iterator[str]:
    for p in positions:
        yield term[:p] + term[p + 1:]


def _swapped(term: str, positions: Sequence[int], editable: set[int]) -> Iterator[str]:
    for p in positions:
        if p + 1 in editable and term[p].casefold() != term[p + 1].casefold():
            yield term[:p] + term[p + 1] + term[p] + term[p + 2:]


def _doubled(term: str, positions: Sequence[int], editable: set[int]) -> Iterator[str]:
    for p in positions:
        yield term[:p + 1] + term[p] + term[p + 1:]


def _neighbour(term: str, positions: Sequence[int], editable: set[int]) -> Iterator[str]:
    for p in positions:
        letter = term[p]
        for key in KEYBOARD_NEIGHBOURS.get(letter.lower(), ""):
            yield term[:p] + (key.upper() if letter.isupper() else key) + term[p + 1:]


def misspellings_of(term: str, skip: Iterable[str] = ()) -> list[str]:
    """A term's one-edit misspellings, the most likely first: the kinds of edit taken in
    turn (a letter dropped, two swapped, one doubled, one replaced by a keyboard
    neighbour), each from a word's second letter on and its first letter last. Words in
    `skip` are left as they are (in "Lumora Sleep", "Lumora" when it is a term of its own:
    its misspellings are already the term's)."""
    inner, firsts = _editable(term, frozenset(fold(s) for s in skip))
    editable = set(inner) | set(firsts)
    found: list[str] = []
    for positions in (inner, firsts):
        kinds = [edit(term, positions, editable)
                 for edit in (_dropped, _swapped, _doubled, _neighbour)]
        found += [m for group in zip_longest(*kinds) for m in group if m is not None]
    return _distinct(m for m in found if fold(m) != fold(term))


def _words(term: str) -> list[str]:
    """The words of a term split at spaces, hyphens and underscores, or at its capitals
    when it is one word written in CamelCase ("LumoraSleep")."""
    parts = term.replace("-", " ").replace("_", " ").split()
    if len(parts) > 1:
        return parts
    word, out = term, [""]
    for i, ch in enumerate(word):
        if i and ch.isupper() and word[i - 1].islower():
            out.append("")
        out[-1] += ch
    return out


def spacing_of(term: str) -> list[str]:
    """A multi-word term joined and hyphenated (and spaced when it was written joined)."""
    words = _words(term)
    if len(words) < 2:
        return []
    forms = ["".join(words), "-".join(words), " ".join(words)]
    return _distinct(f for f in forms if f != term)


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", "".join(_PLAIN.get(ch, ch) for ch in bare))


def diacritics_of(term: str) -> list[str]:
    """A term with accents written without them ("Nestlé": "Nestle"; "Müller": "Muller",
    "Mueller"); Arabic without its short vowels and with plain alef, haa and yaa."""
    forms = [_strip_marks(term), _strip_marks("".join(_UMLAUTS.get(ch, ch) for ch in term)),
             _strip_marks("".join(_ARABIC.get(ch, ch) for ch in term))]
    return _distinct(f for f in forms if f != term)


def _distinct(items: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        if fold(item) not in seen:
            seen.add(fold(item))
            out.append(item)
    return out


def _interleave(lists: Sequence[Sequence[str]]) -> list[str]:
    """Round robin over the terms' lists, so a cap keeps some of each term."""
    return [item for group in zip_longest(*lists) for item in group if item is not None]


def listed_queries(brand: Brand) -> list[Variant]:
    """What the program lists: each term, each term with each modifier, each misspelling."""
    out = [Variant(term, BRAND_GROUP, LISTED) for term in brand.terms]
    out += [Variant(f"{term} {modifier}", modifier_group(modifier), LISTED)
            for term in brand.terms for modifier in brand.modifiers]
    out += [Variant(m, MISSPELLING_GROUP, LISTED) for m in brand.misspellings]
    return out


def _generated(brand: Brand, family: str, language: str) -> list[Variant]:
    terms = brand.terms
    if family == "spacing":
        return [Variant(q, BRAND_GROUP, family)
                for q in _interleave([spacing_of(t) for t in terms])]
    if family == "diacritics":
        return [Variant(q, BRAND_GROUP, family)
                for q in _interleave([diacritics_of(t) for t in terms])]
    if family == "modifiers":
        return [Variant(f"{term} {word}", modifier_group(concept), family)
                for concept, word in modifier_words(language) for term in terms]
    # the one-word terms first: a typo in "Lumora" is likelier searched than one in "Sleep"
    single = [t for t in terms if len(t.split()) == 1]
    several = [t for t in terms if len(t.split()) > 1]
    misspelt = _interleave([misspellings_of(t) for t in single])
    misspelt += _interleave([misspellings_of(t, single) for t in several])
    return [Variant(q, MISSPELLING_GROUP, family) for q in misspelt]


def brand_variants(brand: Brand, language: str) -> list[Variant]:
    """Every query of `brand` in a market of `language`: the listed ones, then each family
    switched on in `brand.variants`, new queries only, at most its `max`."""
    queries = _unique_variants(listed_queries(brand))
    seen = {fold(v.query) for v in queries}
    for family in FAMILIES:
        settings: VariantFamily = getattr(brand.variants, family)
        if not settings.enabled:
            continue
        fresh = [v for v in _unique_variants(_generated(brand, family, language))
                 if fold(v.query) not in seen][:settings.max]
        seen |= {fold(v.query) for v in fresh}
        queries += fresh
    return queries


#: the families that respell the brand itself (modifiers add words to it)
SPELLING_FAMILIES = ("misspellings", "spacing", "diacritics")


def brand_spellings(brand: Brand) -> list[str]:
    """The other spellings of the brand the queries ask when its families are on (each
    misspelling, joined or hyphenated and unaccented form, capped as the queries are): the
    judge reads them as the brand in ad copy and URLs too, as it reads the listed ones."""
    return [v.query for v in brand_variants(brand, "en") if v.family in SPELLING_FAMILIES]


def _unique_variants(variants: Iterable[Variant]) -> list[Variant]:
    seen: dict[str, Variant] = {}
    for variant in variants:
        seen.setdefault(fold(variant.query), variant)
    return list(seen.values())


def term_groups(brands: Iterable[Brand]) -> set[str]:
    """Every term group the brands' queries can have, generated ones included (for checks
    that a sweep filter or a permission names a group that exists)."""
    groups = {BRAND_GROUP, MISSPELLING_GROUP}
    for brand in brands:
        groups |= {modifier_group(m) for m in brand.modifiers}
        if brand.variants.modifiers.enabled:
            groups |= {modifier_group(c) for c in CONCEPTS}
    return groups
