"""Generated query variants: per language and family, capped, deduplicated, in order, and in
the term groups policies and permissions name."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from monitor.plan import brand_queries, plan_tasks
from monitor.program import load_program
from monitor.program.models import Brand
from monitor.program.terms import BRAND_GROUP, MISSPELLING_GROUP, TermGroups
from monitor.program.variants import (
    KEYBOARD_NEIGHBOURS,
    LISTED,
    brand_variants,
    diacritics_of,
    fold,
    misspellings_of,
    modifier_words,
    spacing_of,
    term_groups,
)
from tests.conftest import RULES, example_with_variants

ALL_ON = {"modifiers": True, "misspellings": True, "spacing": True, "diacritics": True}


def brand(variants: dict[str, Any] | None = None, **fields: Any) -> Brand:
    data = {"id": "lumora", "name": "Lumora", "terms": ["Lumora", "Lumora Sleep"],
            "domains": ["lumora.com"], **fields}
    if variants is not None:
        data["variants"] = variants
    return Brand.model_validate(data)


def generated(b: Brand, language: str, family: str) -> list[tuple[str, str]]:
    return [(v.query, v.term_group) for v in brand_variants(b, language) if v.family == family]


def one_edit(a: str, b: str) -> bool:
    """True when b is a dropped, doubled, swapped or replaced letter away from a."""
    if len(b) == len(a) - 1:
        return any(a[:i] + a[i + 1:] == b for i in range(len(a)))
    if len(b) == len(a) + 1:
        return any(b[:i] + b[i + 1:] == a for i in range(len(b)))
    diffs = [i for i in range(len(a)) if a[i] != b[i]]
    swapped = len(diffs) == 2 and diffs[1] == diffs[0] + 1 and (
        a[diffs[0]], a[diffs[1]]) == (b[diffs[1]], b[diffs[0]])
    return len(diffs) == 1 or swapped


# -- modifiers, per language ------------------------------------------------------------------


@pytest.mark.parametrize(("language", "query"), [
    ("en", "Lumora coupon"), ("id", "Lumora kupon"), ("ar", "Lumora كوبون"),
    ("es", "Lumora cupón"), ("de", "Lumora gutschein"),
])
def test_a_coupon_is_searched_in_the_market_language_and_grouped_as_brand_coupon(
    language: str, query: str
) -> None:
    found = generated(brand({"modifiers": {"max": 50}}), language, "modifiers")
    assert (query, "brand+coupon") in found
    assert (query.replace("Lumora", "Lumora Sleep"), "brand+coupon") in found


def test_indonesian_and_arabic_have_their_own_words_for_every_concept() -> None:
    for language in ("id", "ar"):
        words = dict(modifier_words(language))
        assert set(words) >= {"coupon", "promo code", "discount", "login", "reviews", "vs"}
        english = dict(modifier_words("en"))
        assert words["discount"] != english["discount"]
    assert dict(modifier_words("id"))["promo code"] == "kode promo"
    assert dict(modifier_words("ar"))["promo code"] == "كود خصم"


def test_a_language_without_its_own_words_gets_the_english_ones() -> None:
    assert modifier_words("sw") == modifier_words("en")


def test_modifiers_come_most_searched_first_and_stop_at_max() -> None:
    found = generated(brand({"modifiers": {"max": 4}}), "id", "modifiers")
    assert found == [("Lumora kupon", "brand+coupon"), ("Lumora Sleep kupon", "brand+coupon"),
                     ("Lumora kode promo", "brand+promo code"),
                     ("Lumora Sleep kode promo", "brand+promo code")]


def test_listed_modifiers_are_kept_and_not_generated_again() -> None:
    b = brand({"modifiers": {"max": 50}}, modifiers=["coupon", "kupon"])
    queries = brand_variants(b, "en")
    listed = [(v.query, v.term_group) for v in queries if v.family == LISTED]
    assert ("Lumora coupon", "brand+coupon") in listed and ("Lumora kupon", "brand+kupon") in listed
    assert "Lumora coupon" not in [q for q, _ in generated(b, "en", "modifiers")]
    assert "Lumora kupon" not in [q for q, _ in generated(b, "id", "modifiers")]
    assert len({fold(v.query) for v in queries}) == len(queries)


# -- misspellings -----------------------------------------------------------------------------


def test_every_kind_of_misspelling_is_made_and_each_is_one_edit_away() -> None:
    found = misspellings_of("Lumora")
    assert {"Lmora", "Lumra", "Lummora", "Lumroa", "Lunora", "Lymora"} <= set(found)
    assert all(one_edit("Lumora", m) for m in found)
    assert "Lumora" not in found and len(found) == len(set(found))


def test_keyboard_neighbours_are_the_touching_qwerty_keys() -> None:
    assert set(KEYBOARD_NEIGHBOURS["m"]) == {"n", "j", "k"}
    assert set(KEYBOARD_NEIGHBOURS["a"]) == {"s", "q", "w", "z"}
    assert set(KEYBOARD_NEIGHBOURS["g"]) == {"f", "h", "t", "y", "v", "b"}


def test_the_most_likely_misspellings_come_first_and_the_first_letter_last() -> None:
    found = misspellings_of("Lumora")
    # the kinds in turn: dropped, swapped, doubled, neighbour; from the second letter on
    assert found[:4] == ["Lmora", "Lmuora", "Luumora", "Lymora"]
    first_letter = [m for m in found if m[0] != "L" or m.startswith("LL")]
    assert first_letter and found.index(first_letter[0]) > len(found) // 2


def test_short_words_and_words_that_are_terms_of_their_own_are_not_misspelt() -> None:
    assert misspellings_of("Go") == []
    assert all(m.startswith("Lumora ") for m in misspellings_of("Lumora Sleep", ["Lumora"]))


def test_misspellings_are_capped_per_brand_one_word_terms_first() -> None:
    found = generated(brand({"misspellings": {"max": 5}}, misspellings=["Lumra"]), "en",
                      "misspellings")
    assert len(found) == 5 and all(g == MISSPELLING_GROUP for _, g in found)
    assert "Lumra" not in [q for q, _ in found]  # listed already
    assert all(" " not in q for q, _ in found)


# -- spacing and diacritics -------------------------------------------------------------------


def test_spacing_joins_and_hyphenates_and_splits_camel_case() -> None:
    assert spacing_of("Lumora Sleep") == ["LumoraSleep", "Lumora-Sleep"]
    assert spacing_of("Lumora-Sleep") == ["LumoraSleep", "Lumora Sleep"]
    assert spacing_of("LumoraSleep") == ["Lumora-Sleep", "Lumora Sleep"]
    assert spacing_of("Lumora") == []


def test_diacritics_are_dropped_and_umlauts_written_out() -> None:
    assert diacritics_of("Nestlé") == ["Nestle"]
    assert diacritics_of("Müller") == ["Muller", "Mueller"]
    assert diacritics_of("Søvn Ærø") == ["Sovn AEro"]
    assert diacritics_of("Lumora") == []
    assert diacritics_of("أمازون") == ["امازون"]  # hamza on alef: the plain alef people type


def test_spacing_and_diacritic_forms_are_the_brand_group() -> None:
    b = brand({"spacing": True, "diacritics": True}, terms=["Crème Sommeil"])
    found = [(v.query, v.term_group, v.family) for v in brand_variants(b, "fr")]
    assert ("CrèmeSommeil", BRAND_GROUP, "spacing") in found
    assert ("Creme Sommeil", BRAND_GROUP, "diacritics") in found


# -- switches, order, duplicates --------------------------------------------------------------


def test_without_a_variants_block_the_queries_are_the_listed_ones() -> None:
    b = brand(modifiers=["coupon"], misspellings=["Lumra"])
    assert [v.family for v in brand_variants(b, "ar")] == [LISTED] * 5
    assert brand_variants(b, "ar") == brand_variants(b, "en")


def test_a_family_switched_off_adds_nothing() -> None:
    b = brand({**ALL_ON, "misspellings": {"enabled": False, "max": 30}})
    assert generated(b, "en", "misspellings") == []
    assert generated(b, "en", "spacing")


def test_generation_is_deterministic_and_free_of_duplicates() -> None:
    b = brand(ALL_ON, modifiers=["coupon"], misspellings=["Lmora"], terms=["Lumora", "Lumora Sleep",
                                                                          "LumoraSleep"])
    first, again = brand_variants(b, "id"), brand_variants(b, "id")
    assert first == again
    assert len({fold(v.query) for v in first}) == len(first)
    assert [v.query for v in first].count("Lmora") == 1  # the listed one
    assert ("LumoraSleep", LISTED) in [(v.query, v.family) for v in first]
    families = [v.family for v in first]
    assert families == sorted(families, key=["listed", "spacing", "diacritics", "modifiers",
                                             "misspellings"].index)


# -- the plan and the policies ----------------------------------------------------------------


@pytest.fixture
def switched_on(tmp_path: Path) -> Path:
    rules = example_with_variants(tmp_path)
    return rules


def test_the_example_program_plans_as_before_with_variants_left_off() -> None:
    program = load_program(RULES)
    assert len(plan_tasks(program)) == 208
    assert [q.family for q in brand_queries(program.brands[0], "ar")] == [LISTED] * 13


def test_switched_on_a_market_is_asked_its_own_words_in_the_groups_permissions_name(
    switched_on: Path,
) -> None:
    program = load_program(switched_on)
    tasks = plan_tasks(program, engines=["bing"], devices=["desktop"])
    by_market: dict[str, dict[str, str]] = {}
    for task in tasks:
        by_market.setdefault(task.market.id, {})[task.query] = task.term_group
    assert by_market["id-id"]["Lumora kupon"] == "brand+coupon"
    assert by_market["ae-ar"]["Lumora كوبون"] == "brand+coupon"
    assert "Lumora kupon" not in by_market["us-en"]
    assert by_market["us-en"]["Lumora reviews"] == "brand+reviews"
    assert by_market["us-en"]["Lmora"] == MISSPELLING_GROUP
    assert by_market["gb-en"]["LumoraSleep"] == BRAND_GROUP
    # the Arab Coupons permission (brand+coupon, Bing, ae-ar) covers the Arabic coupon query
    [agreement] = [a for a in program.agreements if a.partner == "arabiccoupons"]
    [permission, *_] = agreement.versions[0].permissions
    assert TermGroups.of(permission.term_groups or []).match(by_market["ae-ar"]["Lumora كوبون"])
    # every generated group is brand-related, so brand-any policies judge them all
    assert all(TermGroups.of(["brand-any"]).match(g) for m in by_market.values()
               for g in m.values())
    assert {g for m in by_market.values() for g in m.values()} <= term_groups(program.brands)
    # and the sweep stays small: 27 queries a market instead of 13
    assert {len(m) for m in by_market.values()} == {27}


def test_the_keywords_page_lists_every_modifier_word() -> None:
    from monitor.program.variants import MODIFIER_WORDS

    page = (RULES.parent / "docs" / "keywords.md").read_text(encoding="utf-8")
    missing = [(language, word) for language, words in MODIFIER_WORDS.items()
               for group in words.values() for word in group if word not in page]
    assert missing == []


def test_a_sweep_filter_may_name_a_generated_group_once_its_family_is_on(
        tmp_path: Path) -> None:
    from monitor.program import check_program

    def reviews_swept(rules: Path) -> Path:
        program = rules / "program.yaml"
        program.write_text(program.read_text().replace(
            "term_groups: [brand+coupon, brand+promo code, brand+discount]",
            "term_groups: [brand+coupon, brand+reviews]", 1))
        return rules

    plain = tmp_path / "off" / "rules"
    shutil.copytree(RULES, plain)
    _, issues = check_program(reviews_swept(plain))
    assert any("brand+reviews" in str(i) for i in issues)  # no brand generates it yet
    on = tmp_path / "on"
    on.mkdir()
    program_now, issues = check_program(reviews_swept(example_with_variants(on, "modifiers")))
    assert program_now is not None, [str(i) for i in issues]
