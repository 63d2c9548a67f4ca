"""The rule engine: each leaf condition, the combinators, agreements and the verdict order."""

from __future__ import annotations

import dataclasses
import random
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from monitor.judge import compile_policies, conditions
from monitor.judge.agreements import AgreementBook
from monitor.judge.brand_terms import BrandTerms, within_one_edit
from monitor.judge.compile import compile_condition
from monitor.judge.conditions import CompileContext
from monitor.judge.index import requirement
from monitor.judge.view import SightingView
from monitor.models import (
    AdKind,
    AdPosition,
    AdvertiserClass,
    Attribution,
    Chain,
    Device,
    Fact,
    Finding,
    Hop,
    HopHow,
    MarketRef,
    NetworkIds,
    ObservedAd,
    SearchTask,
    Severity,
    Sighting,
)
from monitor.program import Program, load_program
from monitor.program.conditions import CONDITIONS, Condition
from monitor.program.fields import domain_in
from tests.bench.bench_judge import sighting_stream, synthetic_program
from tests.conftest import example_with_variants

RULES = Path(__file__).resolve().parents[1] / "rules"
PROGRAM = load_program(RULES)
CONTEXT = CompileContext(PROGRAM)
CONDITION = TypeAdapter(Condition)
# 2025-03-04 15:00 UTC is Tuesday 10:00 in New York
NOON_ISH = datetime(2025, 3, 4, 15, 0, tzinfo=UTC)


def market_ref(market_id: str) -> MarketRef:
    market = PROGRAM.market(market_id)
    return market.ref() if market else MarketRef(market_id, "XX", "en", "UTC")


def make_sighting(
    *,
    engine: str = "google",
    query: str = "lumora coupon",
    term_group: str = "brand+coupon",
    market: str = "us-en",
    device: Device = Device.desktop,
    position: AdPosition = AdPosition.top,
    headline: str = "40% Off Mattresses Today",
    description: str = "Compare the best mattress deals.",
    display_url: str = "www.sleepsaver.net/mattresses",
    landing_url: str = "https://www.sleepsaver.net/mattresses",
    advertiser_class: AdvertiserClass = AdvertiserClass.partner,
    partner: str | None = "sleepsaver",
    network: str | None = "cj",
    landing_domain: str | None = "sleepsaver.net",
    display_domain: str | None = "sleepsaver.net",
    seen_at: datetime = NOON_ISH,
    brand: str = "lumora",
    kind: AdKind = AdKind.text,
) -> Sighting:
    task = SearchTask(brand, engine, query, term_group, market_ref(market), device)
    ad = ObservedAd(kind, position, 1, headline, description, display_url, landing_url)
    chain = Chain(landing_url, (Hop(landing_url, HopHow.start, 200),), landing_url)
    ids = NetworkIds(network, publisher_id="7012345") if network else None
    attribution = Attribution(
        advertiser_class, partner, ids, display_domain, landing_domain,
        tuple(d for d in (display_domain, landing_domain) if d), "test",
    )
    return Sighting(task, ad, chain, attribution, seen_at)


def evaluate(raw: object, sighting: Sighting) -> tuple[Fact, ...] | None:
    matcher = compile_condition(CONDITION.validate_python(raw), CONTEXT)
    return matcher(SightingView(sighting, CONTEXT.brand_terms(sighting.task.brand)))


def matches(raw: object, **fields: object) -> bool:
    return evaluate(raw, make_sighting(**fields)) is not None  # type: ignore[arg-type]


# --- leaf conditions -----------------------------------------------------------------------


def test_term_group() -> None:
    assert matches({"term_group": ["brand+coupon"]})
    assert matches({"term_group": "brand-any"}, term_group="misspelling")
    assert matches({"term_group": "brand-any"}, term_group="brand")
    assert matches({"term_group": ["brand+*"]}, term_group="brand+promo code")
    assert not matches({"term_group": ["brand+*"]}, term_group="brand")
    assert not matches({"term_group": "brand-any"}, term_group="generic")
    assert evaluate({"term_group": "brand-any"}, make_sighting()) == (
        Fact("term_group", "brand+coupon"),)


@pytest.mark.parametrize("query", [
    "Lumora coupon", "LUMORA SLEEP mattress", "lumra discount", "lumroa promo code",
    "lumoora", "lumor mattress", "best lumorra deals", "lumora-sleep",
])
def test_query_contains_brand(query: str) -> None:
    assert matches({"query_contains_brand": True}, query=query)
    assert not matches({"query_contains_brand": False}, query=query)


@pytest.mark.parametrize("query", ["mattress deals", "lumo", "luminara coupon", "aurora"])
def test_query_does_not_contain_brand(query: str) -> None:
    assert not matches({"query_contains_brand": True}, query=query)
    assert matches({"query_contains_brand": False}, query=query)


def test_fuzzy_matching_only_for_long_terms() -> None:
    short = BrandTerms(["Zed"], [])
    assert short.in_query("zed beds") == "'zed'"
    assert short.in_query("zad beds") is None
    two_words = BrandTerms(["Night Owl"], [])
    assert two_words.in_query("nite owl coupons") is None  # two edits
    assert two_words.in_query("nigt owl coupons") == "'nigt owl' (close to 'night owl')"


@pytest.mark.parametrize(("a", "b", "close"), [
    ("lumora", "lumora", True), ("lumora", "lumra", True), ("lumora", "lumoraa", True),
    ("lumora", "lumera", True), ("lumora", "lumroa", True), ("lumora", "ulmora", True),
    ("lumora", "lumer", False), ("lumora", "almora!", False), ("", "a", True), ("ab", "ba", True),
    ("abc", "cba", False),
])
def test_within_one_edit(a: str, b: str, close: bool) -> None:
    assert within_one_edit(a, b) is close
    assert within_one_edit(b, a) is close


def test_engine_market_device_position_class_partner() -> None:
    assert matches({"engine": "google"}) and not matches({"engine": ["bing"]})
    assert matches({"market": ["us-en", "gb-en"]}) and not matches({"market": "ae-ar"})
    assert matches({"device": "mobile"}, device=Device.mobile)
    assert not matches({"device": "mobile"})
    assert matches({"position": ["top"]}) and not matches({"position": ["bottom", "right"]})
    assert matches({"advertiser_class": ["partner", "unknown"]})
    assert not matches({"advertiser_class": ["competitor"]})
    assert matches({"partner": ["sleepsaver"]}) and not matches({"partner": ["dealspotter"]})
    assert not matches({"partner": ["sleepsaver"]}, partner=None)


def test_landing_and_display_domain() -> None:
    direct = {"landing_domain": "lumora.co.id", "display_domain": "kuponhemat.co.id"}
    assert matches({"landing_domain": "brand"}, **direct)
    assert matches({"landing_domain": ["brand"]}, landing_domain="shop.lumora.com")
    assert not matches({"landing_domain": "brand"})
    assert not matches({"landing_domain": "brand"}, landing_domain=None)
    assert matches({"display_domain": ["kuponhemat.co.id"]}, **direct)
    assert not matches({"display_domain": "brand"}, **direct)
    assert evaluate({"landing_domain": "brand"}, make_sighting(**direct)) == (
        Fact("landing_domain", "lumora.co.id"),)


def test_network() -> None:
    assert matches({"network": "any"})
    assert not matches({"network": "any"}, network=None)
    assert matches({"network": ["awin", "cj"]})
    assert not matches({"network": ["awin"]})


def test_brand_in() -> None:
    assert matches({"brand_in": ["headline"]}, headline="Lumora Coupons 50% Off")
    assert not matches({"brand_in": ["headline"]}, description="Lumora deals")
    assert matches({"brand_in": ["description"]}, description="Our Lumra deals")
    assert matches({"brand_in": ["display_url"]}, display_url="www.lumorasleep-deals.com")
    assert not matches({"brand_in": ["headline", "display_url"]})
    facts = evaluate({"brand_in": ["headline", "display_url"]},
                     make_sighting(display_url="sleepsaver.net/lumora"))
    assert facts == (Fact("brand_in", "'lumora' in display_url"),)


def test_local_hour_in_market_time_wrapping_midnight() -> None:
    night = {"local_hour": {"from": 22, "to": 6}}
    # 03:30 UTC is 22:30 the evening before in New York, 03:30 in London, 10:30 in Jakarta
    late = datetime(2025, 3, 4, 3, 30, tzinfo=UTC)
    assert matches(night, seen_at=late)
    assert matches(night, seen_at=late, market="gb-en")
    assert not matches(night, seen_at=late, market="id-id")
    assert not matches(night)  # 10:00 in New York
    assert matches({"local_hour": {"from": 9, "to": 11}})
    facts = evaluate(night, make_sighting(seen_at=late))
    assert facts == (Fact("local_hour", "22:30 EST"),)


def test_weekday_in_market_time() -> None:
    late = datetime(2025, 3, 4, 3, 30, tzinfo=UTC)  # Tuesday in UTC, Monday in New York
    assert matches({"weekday": ["mon"]}, seen_at=late)
    assert not matches({"weekday": ["tue"]}, seen_at=late)
    assert matches({"weekday": "tue"}, seen_at=late, market="id-id")


def test_naive_seen_at_is_taken_as_utc() -> None:
    assert matches({"weekday": ["mon"]}, seen_at=datetime(2025, 3, 4, 3, 30))


def test_matches_regex() -> None:
    rule = {"matches": {"field": "headline", "pattern": r"\d+% off"}}
    assert evaluate(rule, make_sighting()) == (Fact("matches", "headline '40% off'"),)
    assert not matches(rule, headline="Mattress deals")


def test_a_catastrophic_pattern_meets_a_hostile_headline_in_linear_time() -> None:
    # under Python's re, 24 characters took 0.9 s and each one more doubled it
    rule = {"matches": {"field": "headline", "pattern": "(a+)+$"}}
    hostile = "a" * 10_000 + "!"
    started = time.process_time()
    assert not matches(rule, headline=hostile)
    assert matches(rule, headline="a" * 10_000)
    assert time.process_time() - started < 1.0  # CPU seconds; backtracking, it is centuries


def test_a_pattern_matches_other_scripts_and_ignores_case() -> None:
    rule = {"matches": {"field": "headline", "pattern": r"كوبون \pN+|LUMORA"}}
    assert evaluate(rule, make_sighting(headline="خصم كوبون 40")) == (
        Fact("matches", "headline 'كوبون 40'"),)
    assert matches(rule, headline="lumora sale")
    assert not matches(rule, headline="كوبون")


def test_remembered_verdicts_stay_right_across_many_texts() -> None:
    matcher = compile_condition(
        CONDITION.validate_python({"matches": {"field": "headline", "pattern": r"\d+% off"}}),
        CONTEXT)
    # more distinct headlines than the predicate remembers, each asked twice
    for n in range(5000):
        for _ in range(2):
            offered = make_sighting(headline=f"{n}% off" if n % 2 else f"deal {n}")
            found = matcher(SightingView(offered, CONTEXT.brand_terms("lumora")))
            assert found == ((Fact("matches", f"headline '{n}% off'"),) if n % 2 else None)


@pytest.mark.parametrize("pattern", [r"(a)\1", r"a(?=b)", r"(?<!x)a", r"(?P<w>a)(?P=w)"])
def test_a_pattern_re2_cannot_run_is_refused(pattern: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CONDITION.validate_python({"matches": {"field": "headline", "pattern": pattern}})
    assert "not supported" in str(caught.value) and "RE2" in str(caught.value)


@pytest.mark.parametrize(("raw", "message"), [
    ({"enigne": "google"}, "did you mean 'engine'"),
    ({"engine": "google", "market": "us-en"}, "found 2"),
    ({"local_hour": {"from": 5, "to": 5}}, "same hour"),
    ({"local_hour": {"from": 25, "to": 5}}, "less than or equal to 23"),
    ({"weekday": ["monday"]}, "'mon'"),
    ({"all": []}, "at least 1 item"),
    (["engine"], "mapping with one key"),
])
def test_invalid_conditions(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        CONDITION.validate_python(raw)
    assert message in str(caught.value)


def test_registry_describes_every_kind() -> None:
    kinds = dict(CONDITIONS.describe())
    assert {"all", "any", "not", "term_group", "query_contains_brand", "engine", "market",
            "device", "position", "advertiser_class", "landing_domain", "display_domain",
            "network", "partner", "brand_in", "local_hour", "weekday"} <= set(kinds)
    assert all(kinds.values())


# --- combinators ---------------------------------------------------------------------------


def test_all_collects_every_fact() -> None:
    rule = {"all": [{"engine": "google"}, {"any": [{"market": "gb-en"}, {"partner": "sleepsaver"}]},
                    {"term_group": "brand-any"}]}
    assert evaluate(rule, make_sighting()) == (
        Fact("engine", "google"), Fact("term_group", "brand+coupon"),
        Fact("partner", "sleepsaver"))
    assert evaluate(rule, make_sighting(engine="bing")) is None


def test_any_takes_the_first_match() -> None:
    rule = {"any": [{"engine": "bing"}, {"market": "us-en"}, {"device": "desktop"}]}
    assert evaluate(rule, make_sighting()) == (Fact("market", "us-en"),)
    assert evaluate(rule, make_sighting(market="gb-en", device=Device.mobile)) is None


def test_not_inverts_and_says_what() -> None:
    rule = {"not": {"engine": ["bing", "yahoo"]}}
    assert evaluate(rule, make_sighting()) == (Fact("not", "engine: bing, yahoo"),)
    assert evaluate(rule, make_sighting(engine="bing")) is None
    assert matches({"not": {"not": {"engine": "google"}}})


# --- the judge on the example program ------------------------------------------------------

JUDGE = compile_policies(PROGRAM)


def policies_of(sighting: Sighting) -> list[str]:
    return [f.policy for f in JUDGE.judge(sighting)]


def test_brand_bidding_finding_carries_the_policy() -> None:
    (finding,) = JUDGE.judge(make_sighting())
    assert finding.policy == "no-brand-bidding"
    assert finding.severity is Severity.high
    assert (finding.offender, finding.partner, finding.term_group) == (
        "sleepsaver", "sleepsaver", "brand+coupon")
    assert (finding.clause, finding.notice_template) == ("4.1", "brand_bidding")
    assert finding.title == "Bidding on Lumora brand terms"
    assert finding.facts == (Fact("ad_kind", "text"), Fact("term_group", "brand+coupon"))


def test_a_shopping_ad_on_brand_terms_meets_the_shopping_policy_not_the_text_one() -> None:
    assert matches({"ad_kind": "shopping"}, kind=AdKind.shopping)
    assert not matches({"ad_kind": ["shopping", "local"]})
    assert matches({"position": "middle"}, position=AdPosition.middle)
    (finding,) = JUDGE.judge(make_sighting(kind=AdKind.shopping))
    assert (finding.policy, finding.clause, finding.severity) == (
        "no-brand-shopping", "4.1", Severity.high)
    # the 2022 agreement's permission (Bing, us-en, brand+coupon) is for text ads only
    permitted = dict(engine="bing", seen_at=datetime(2023, 6, 1, 15, 0, tzinfo=UTC))
    assert policies_of(make_sighting(**permitted)) == []  # type: ignore[arg-type]
    assert policies_of(make_sighting(kind=AdKind.shopping, **permitted)) == [  # type: ignore[arg-type]
        "no-brand-shopping"]


def test_generic_bidding_is_compliant() -> None:
    dealspotter = make_sighting(
        query="mattress deals", term_group="generic", partner="dealspotter", network="awin",
        display_url="www.dealspotter.com", landing_domain="dealspotter.com",
        display_domain="dealspotter.com")
    assert JUDGE.judge(dealspotter) == []


def test_generic_query_naming_the_brand_is_caught() -> None:
    assert policies_of(make_sighting(query="lumra mattress sale", term_group="generic")) == [
        "no-brand-bidding"]


def test_direct_linking_and_brand_in_copy() -> None:
    kuponhemat = make_sighting(
        market="id-id", query="lumora kupon", term_group="brand+kupon", partner="kuponhemat",
        network="admitad", headline="Diskon Lumora Hari Ini", display_url="lumora.co.id",
        landing_url="https://lumora.co.id/", landing_domain="lumora.co.id",
        display_domain="lumora.co.id")
    findings = JUDGE.judge(kuponhemat)
    assert [f.policy for f in findings] == [
        "no-brand-bidding", "no-brand-in-ad-copy", "no-direct-linking"]
    assert findings[2].notice_template == "direct_linking"
    assert findings[1].severity is Severity.medium


def test_unknown_advertiser_is_judged_with_its_domain_as_offender() -> None:
    unknown = make_sighting(advertiser_class=AdvertiserClass.unknown, partner=None, network=None,
                            landing_domain="cheap-beds.example", display_domain=None)
    (finding,) = JUDGE.judge(unknown)
    assert (finding.offender, finding.partner) == ("cheap-beds.example", None)


def test_competitor_only_meets_the_competitor_policy() -> None:
    rival = make_sighting(advertiser_class=AdvertiserClass.competitor, partner=None, network=None,
                          headline="Better than Lumora", landing_domain="dreamnest.com",
                          display_domain="dreamnest.com")
    (finding,) = JUDGE.judge(rival)
    assert (finding.policy, finding.severity, finding.notice_template) == (
        "competitor-on-brand", Severity.info, None)
    assert finding.offender == "dreamnest.com"


def test_brand_allowlist_and_ignore_are_never_judged() -> None:
    base = {"headline": "Lumora Official Site", "partner": None, "network": None}
    brand = make_sighting(advertiser_class=AdvertiserClass.brand, landing_domain="lumora.com",
                          **base)
    reseller = make_sighting(advertiser_class=AdvertiserClass.unknown,
                             display_domain="sleepcentral-outlet.com", **base)
    marketplace = make_sighting(advertiser_class=AdvertiserClass.unknown,
                                landing_domain="www.amazon.com", **base)
    assert JUDGE.judge(brand) == JUDGE.judge(reseller) == JUDGE.judge(marketplace) == []
    assert policies_of(make_sighting(advertiser_class=AdvertiserClass.unknown, **base))


# --- agreements ----------------------------------------------------------------------------


def arabic(**fields: object) -> Sighting:
    defaults: dict[str, object] = {
        "engine": "bing", "market": "ae-ar", "query": "lumora coupon",
        "term_group": "brand+coupon", "partner": "arabiccoupons", "network": "impact",
        "headline": "كوبون Lumora", "landing_domain": "coupons-arab.ae",
        "display_domain": "coupons-arab.ae", "display_url": "coupons-arab.ae/lumora"}
    defaults.update(fields)
    return make_sighting(**defaults)  # type: ignore[arg-type]


def test_permission_exempts_only_its_engine_market_and_term_group() -> None:
    assert JUDGE.judge(arabic()) == []
    both = ["no-brand-bidding", "no-brand-in-ad-copy"]
    assert policies_of(arabic(engine="google")) == both
    assert policies_of(arabic(market="gb-en")) == both
    assert policies_of(arabic(term_group="brand", query="lumora")) == both
    assert JUDGE.judge(arabic(device=Device.mobile)) == []  # devices: any


def test_permission_applies_only_from_the_version_start() -> None:
    before = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)
    assert policies_of(arabic(seen_at=before)) == ["no-brand-bidding", "no-brand-in-ad-copy"]
    assert JUDGE.judge(arabic(seen_at=datetime(2024, 3, 1, 12, 0, tzinfo=UTC))) == []


def test_permission_ends_with_its_version_in_market_time() -> None:
    trial = {"engine": "bing", "market": "us-en"}
    assert JUDGE.judge(make_sighting(seen_at=datetime(2024, 3, 1, tzinfo=UTC), **trial)) == []
    # 02:00 UTC on 1 July is still 30 June in New York: the 2022 version is in force
    last_evening = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
    assert JUDGE.judge(make_sighting(seen_at=last_evening, **trial)) == []
    next_morning = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)
    assert policies_of(make_sighting(seen_at=next_morning, **trial)) == ["no-brand-bidding"]
    assert policies_of(make_sighting(seen_at=last_evening, engine="bing", market="gb-en")) == [
        "no-brand-bidding"]


def test_permission_for_one_partner_does_not_cover_another() -> None:
    assert policies_of(arabic(partner="kuponhemat")) == ["no-brand-bidding", "no-brand-in-ad-copy"]
    assert policies_of(arabic(advertiser_class=AdvertiserClass.unknown, partner=None)) == [
        "no-brand-bidding", "no-brand-in-ad-copy"]


def test_device_and_wildcard_term_group_permissions() -> None:
    program = with_agreements(PROGRAM, [{
        "partner": "dealspotter",
        "versions": [{"version": "1", "effective_from": date(2020, 1, 1), "permissions": [
            {"policy": "no-brand-bidding", "devices": ["mobile"], "term_groups": ["brand+*"]}]}],
    }])
    judge = compile_policies(program)
    on_mobile = make_sighting(partner="dealspotter", device=Device.mobile)
    assert judge.judge(on_mobile) == []
    assert [f.policy for f in judge.judge(make_sighting(partner="dealspotter"))] == [
        "no-brand-bidding"]
    plain_brand = make_sighting(partner="dealspotter", device=Device.mobile, term_group="brand")
    assert [f.policy for f in judge.judge(plain_brand)] == ["no-brand-bidding"]


def with_agreements(program: Program, agreements: list[dict[str, object]]) -> Program:
    data = program.model_dump(by_alias=True, exclude={"agreements"})
    return Program.model_validate({**data, "agreements": agreements})


# --- determinism and policy-order independence ---------------------------------------------

sightings = st.builds(
    make_sighting,
    engine=st.sampled_from(["google", "bing"]),
    query=st.sampled_from(["lumora coupon", "lumra", "mattress deals", "lumora sleep login"]),
    term_group=st.sampled_from(["brand", "brand+coupon", "misspelling", "generic"]),
    market=st.sampled_from(["us-en", "gb-en", "ae-ar", "id-id"]),
    device=st.sampled_from(list(Device)),
    headline=st.sampled_from(["Lumora Sale", "Mattress deals", "كوبون"]),
    advertiser_class=st.sampled_from(list(AdvertiserClass)),
    partner=st.sampled_from([None, "sleepsaver", "arabiccoupons", "kuponhemat"]),
    network=st.sampled_from([None, "cj", "impact"]),
    landing_domain=st.sampled_from([None, "lumora.com", "sleepsaver.net", "amazon.com"]),
    seen_at=st.datetimes(min_value=datetime(2022, 1, 1), max_value=datetime(2026, 1, 1),
                         timezones=st.just(UTC)),
)


@settings(max_examples=200, deadline=None)
@given(sighting=sightings, order=st.permutations(PROGRAM.policies))
def test_verdict_is_deterministic_and_independent_of_policy_order(
    sighting: Sighting, order: list[object]
) -> None:
    shuffled = compile_policies(PROGRAM.model_copy(update={"policies": order}))
    expected = JUDGE.judge(sighting)
    assert shuffled.judge(sighting) == expected
    assert JUDGE.judge(sighting) == expected
    assert [f.policy for f in expected] == sorted(f.policy for f in expected)
    assert all(f.offender == sighting.offender for f in expected)


# --- the split, the lazy view and the index ------------------------------------------------


def test_every_kind_of_the_grammar_has_one_predicate_builder() -> None:
    # the grammar is the program's, the builders the judge's: they must name the same kinds
    assert conditions.PREDICATES.missing() == []
    with pytest.raises(ValueError, match="no condition kind 'no_such_kind'"):
        conditions.PREDICATES.builds("no_such_kind")(lambda params, ctx: lambda view: None)
    with pytest.raises(ValueError, match="two predicate builders"):
        conditions.PREDICATES.builds("engine")(lambda params, ctx: lambda view: None)


def test_view_computes_texts_and_local_time_only_when_read() -> None:
    view = SightingView(make_sighting(headline="LUMORA Sale"), CONTEXT.brand_terms("lumora"))
    assert "headline" not in vars(view) and "local" not in vars(view)
    assert view.headline == "lumora sale" and "headline" in vars(view)
    assert (view.local_hour, view.local_weekday, view.local_clock) == (10, 1, "10:00 EST")
    assert view.query_names_brand == "'lumora'"
    with pytest.raises(AttributeError):
        _ = view.no_such_field


def needs_of(raw: object) -> tuple[set[str], bool]:
    found = requirement(CONDITION.validate_python(raw), CONTEXT)
    return set(found.needs), found.exact


def test_requirement_of_trees() -> None:
    assert needs_of({"engine": "google"}) == ({"engine"}, True)
    assert needs_of({"brand_in": ["headline"]}) == (set(), False)
    assert needs_of({"all": [{"engine": "bing"}, {"brand_in": ["headline"]}]}) == (
        {"engine"}, False)
    # `any` constrains only the fields every option constrains
    assert needs_of({"any": [{"engine": "bing"}, {"market": "us-en"}]}) == (set(), False)
    assert needs_of({"any": [{"engine": "bing"}, {"engine": "yahoo"}]}) == ({"engine"}, True)
    assert needs_of({"not": {"market": "us-en"}}) == ({"market"}, True)
    # not of a partial test would be too strict: it constrains nothing
    assert needs_of({"not": {"all": [{"engine": "bing"}, {"brand_in": ["headline"]}]}}) == (
        set(), False)


def test_requirement_tests_agree_with_the_predicates() -> None:
    found = requirement(CONDITION.validate_python(
        {"all": [{"not": {"engine": ["bing"]}}, {"term_group": "brand-any"},
                 {"local_hour": {"from": 22, "to": 6}}, {"weekday": ["sat", "sun"]}]}), CONTEXT)
    assert [found.needs["engine"](e) for e in ("google", "bing")] == [True, False]
    assert [found.needs["term_group"](g) for g in ("misspelling", "generic")] == [True, False]
    assert [found.needs["local_hour"](h) for h in (23, 5, 6, 12)] == [True, True, False, False]
    assert [found.needs["local_weekday"](d) for d in (5, 6, 0)] == [True, True, False]


def test_index_skips_policies_that_cannot_match() -> None:
    # the example program: a competitor ad only ever meets the competitor policy
    rival = make_sighting(advertiser_class=AdvertiserClass.competitor, partner=None)
    view = SightingView(rival, CONTEXT.brand_terms("lumora"))
    assert [p.id for p in JUDGE.index.candidates(view)] == ["competitor-on-brand"]
    assert "advertiser_class" in JUDGE.index.fields


SYNTHETIC = synthetic_program(partners=60, policies=50, seed=3)
SYNTHETIC_JUDGE = compile_policies(SYNTHETIC)
SYNTHETIC_POOL = list(sighting_stream(SYNTHETIC, 3000, seed=5))


def naive_judge(program: Program, sighting: Sighting) -> list[Finding]:
    """The reference: every policy evaluated in full, no index, no shortcuts."""
    attribution, ctx = sighting.attribution, CompileContext(program)
    if attribution.advertiser_class is AdvertiserClass.brand:
        return []
    exempt = frozenset(program.ignore) | frozenset(program.allowlist)
    for domain in (attribution.display_domain, attribution.landing_domain):
        if domain and domain_in(domain.casefold(), exempt):
            return []
    view, book, out = SightingView(sighting, ctx.brand_terms(sighting.task.brand)), \
        AgreementBook(program), []
    for policy in sorted(program.policies, key=lambda p: p.id):
        facts = compile_condition(policy.when, ctx)(view)
        if (attribution.advertiser_class in policy.applies_to and facts is not None
                and not book.permits(policy.id, view)):
            version = book.in_force(view.partner, view.local_date) if view.partner else None
            out.append(Finding(policy.id, policy.severity, sighting.offender,
                               attribution.partner, sighting.task.term_group, policy.title,
                               policy.clause, policy.notice, facts,
                               version.version if version else None))
    return out


synthetic_sightings = st.builds(
    lambda base, seen_at, position: dataclasses.replace(
        base, seen_at=seen_at, ad=dataclasses.replace(base.ad, position=position)),
    st.sampled_from(SYNTHETIC_POOL),
    st.datetimes(min_value=datetime(2022, 6, 1), max_value=datetime(2026, 6, 1),
                 timezones=st.just(UTC)),
    st.sampled_from(list(AdPosition)),
)


@settings(max_examples=150, deadline=None)
@given(sighting=synthetic_sightings, seed=st.integers(0, 2**32))
def test_index_never_changes_a_verdict(sighting: Sighting, seed: int) -> None:
    order = list(SYNTHETIC.policies)
    random.Random(seed).shuffle(order)
    shuffled = compile_policies(SYNTHETIC.model_copy(update={"policies": order}))
    expected = naive_judge(SYNTHETIC, sighting)
    assert SYNTHETIC_JUDGE.judge(sighting) == expected
    assert shuffled.judge(sighting) == expected


def test_index_agrees_with_the_reference_on_a_stream() -> None:
    findings = 0
    for sighting in SYNTHETIC_POOL[:600]:
        expected = naive_judge(SYNTHETIC, sighting)
        assert SYNTHETIC_JUDGE.judge(sighting) == expected
        findings += len(expected)
    assert findings > 100  # the program really catches things: the comparison is not vacuous


def test_query_terms_exact_phrase_and_contains() -> None:
    assert matches({"query": {"exact": ["Lumora coupon"]}}, query="lumora  COUPON!")
    assert not matches({"query": {"exact": ["Lumora coupon"]}}, query="lumora coupon code")
    assert matches({"query": {"phrase": ["lumora coupon"]}}, query="best lumora coupon code")
    assert not matches({"query": {"phrase": ["lumora coupon"]}}, query="coupon for lumora")
    assert matches({"query": {"contains": ["lumora coupon"]}}, query="coupon for lumora")
    assert not matches({"query": {"contains": ["lumora coupon"]}}, query="lumora mattress")
    assert not matches({"query": {"phrase": ["lumora"]}}, query="lumoras")  # whole words


def test_query_terms_need_at_least_one_kind() -> None:
    with pytest.raises(ValidationError):
        evaluate({"query": {}}, make_sighting())


def test_query_terms_say_which_term_matched() -> None:
    sighting = make_sighting(query="lumora promo code")
    facts = evaluate({"query": {"phrase": ["promo code"]}}, sighting)
    assert facts is not None and facts[0].detail == "phrase 'promo code'"


# --- what the fast paths must keep ---------------------------------------------------------


def test_nested_all_keeps_leaves_first_then_each_subtree() -> None:
    scope = {"engine": "google"}
    pair = {"all": [{"market": "us-en"}, {"device": "desktop"}]}
    for tree in ({"all": [scope, pair]}, {"all": [pair, scope]}):
        facts = evaluate(tree, make_sighting())
        assert facts is not None
        assert [f.condition for f in facts] == ["engine", "market", "device"]
    assert evaluate({"all": [pair, scope]}, make_sighting(device=Device.mobile)) is None


def test_policies_sharing_a_brand_in_leaf_report_the_same_fact() -> None:
    view = SightingView(make_sighting(headline="Lumora Sale"), CONTEXT.brand_terms("lumora"))
    by_market = compile_condition(
        CONDITION.validate_python({"all": [{"market": "us-en"}, {"brand_in": ["headline"]}]}),
        CONTEXT)
    by_engine = compile_condition(CONDITION.validate_python(
        {"all": [{"engine": "google"}, {"brand_in": ["description", "headline"]}]}), CONTEXT)
    first, second = by_market(view), by_engine(view)
    assert first is not None and second is not None
    assert first[1] == second[1] == Fact("brand_in", "'lumora' in headline")


def test_index_never_computes_a_field_no_remaining_policy_tests() -> None:
    data = PROGRAM.model_dump(mode="json") | {"agreements": [], "policies": [
        {"id": "night", "title": "Night", "severity": "high", "applies_to": ["partner"],
         "when": {"all": [{"term_group": "brand-any"}, {"local_hour": {"from": 22, "to": 6}}]}},
        {"id": "rival", "title": "Rival", "severity": "low", "applies_to": ["competitor"],
         "when": {"query_contains_brand": True}},
    ]}
    judge = compile_policies(Program.model_validate(data))
    brand = CONTEXT.brand_terms("lumora")
    rival = SightingView(make_sighting(advertiser_class=AdvertiserClass.competitor,
                                       partner=None), brand)
    assert [p.id for p in judge.index.candidates(rival)] == ["rival"]
    assert "local" not in vars(rival)  # only the night policy tests the local hour
    late = make_sighting(seen_at=datetime(2025, 3, 5, 4, 30, tzinfo=UTC))  # 23:30 in New York
    partner = SightingView(late, brand)
    assert [p.id for p in judge.index.candidates(partner)] == ["night"]
    assert "query_names_brand" not in vars(partner)
    assert [f.policy for f in judge.judge(late)] == ["night"]
    assert judge.judge(late)[0].facts[1] == Fact("local_hour", "23:30 EST")


def test_a_generated_misspelling_is_the_brand_in_ad_copy_once_its_family_is_on(
        tmp_path: Path) -> None:
    from monitor.program.variants import brand_spellings

    program = load_program(example_with_variants(tmp_path, "misspellings"))
    generated = brand_spellings(program.brands[0])
    assert generated and not set(generated) & set(program.brands[0].misspellings)
    context = CompileContext(program)
    typo = generated[0]
    sighting = make_sighting(headline=f"{typo} Mattress Sale")
    matcher = compile_condition(CONDITION.validate_python({"brand_in": ["headline"]}), context)
    facts = matcher(SightingView(sighting, context.brand_terms("lumora")))
    assert facts == (Fact("brand_in", f"'{typo.casefold()}' in headline"),)
    # off (the example's default), the same typo is not the brand
    assert not matches({"brand_in": ["headline"]}, headline=f"{typo} Mattress Sale")
