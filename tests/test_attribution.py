"""Attribution: network ids, then domains, then advertiser names; brand, competitor, unknown."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from monitor.attribute.partners import attribute, chain_domains, registrable_domain
from monitor.models import AdKind, AdPosition, AdvertiserClass, Chain, Hop, HopHow, ObservedAd
from monitor.program import Program

PROGRAM = Program.model_validate(
    {
        "name": "Lumora",
        "engines": ["google", "bing"],
        "devices": ["desktop"],
        "markets": [{"id": "us-en", "country": "US", "language": "en",
                     "timezone": "America/New_York"}],
        "brands": [{"id": "lumora", "name": "Lumora", "terms": ["Lumora"],
                    "domains": ["lumora.com", "lumora.co.id"]}],
        "partners": [
            {"id": "dealspotter", "name": "DealSpotter", "language": "en",
             "network_ids": [{"network": "awin", "publisher_id": "412345"}],
             "domains": ["dealspotter.com"], "advertiser_names": ["DealSpotter"]},
            {"id": "sleepsaver", "name": "SleepSaver", "language": "en",
             "network_ids": [{"network": "cj", "publisher_id": "7012345"},
                             {"network": "partnerize", "publisher_id": "1100l5xYz"}],
             "domains": ["sleepsaver.net"], "advertiser_names": ["Sleep Saver Deals"]},
            {"id": "rakutenpub", "name": "Rakuten Pub", "language": "en",
             "network_ids": [{"network": "linkshare", "publisher_id": "AbC*dEfGhIj"}]},
        ],
        "competitors": [{"id": "dreamnest", "name": "DreamNest", "domains": ["dreamnest.com"]}],
        "notices": {"sender_email": "compliance@lumora.com", "sender_name": "Lumora",
                    "program_manager": "Ana"},
        "schedule": {"interval_minutes": 60},
    }
)  # fmt: skip


def ad(display: str, link: str, advertiser: str | None = None) -> ObservedAd:
    return ObservedAd(
        kind=AdKind.text, position=AdPosition.top, rank=1, headline="Lumora", description="",
        display_url=display, link=link, advertiser=advertiser,
    )  # fmt: skip


def chain(*urls: str, error: str | None = None) -> Chain:
    hops = tuple(Hop(u, HopHow.start if i == 0 else HopHow.http) for i, u in enumerate(urls))
    return Chain(start_url=urls[0], hops=hops, landing_url=urls[-1], error=error)


@pytest.mark.parametrize(
    ("value", "domain"),
    [
        ("https://www.lumora.com/sale", "lumora.com"),
        ("www.lumora.co.id/kasur", "lumora.co.id"),
        ("LUMORA.COM", "lumora.com"),
        ("shop.lumora.co.uk.", "lumora.co.uk"),
        ("https://brand.sjv.io/c/1/2/3", "sjv.io"),
        ("https://user.github.io/x", "user.github.io"),  # private suffixes count
        ("http://127.0.0.1:8080/", "127.0.0.1"),
        ("http://localhost/", None),
        ("", None),
        (None, None),
    ],
)
def test_registrable_domain(value: str | None, domain: str | None) -> None:
    assert registrable_domain(value) == domain


def test_partner_by_network_id_through_a_bridge() -> None:
    awin = "https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&ued=x"
    found = attribute(
        ad("www.lumora.com", "https://deals-bridge.net/go"),
        chain("https://deals-bridge.net/go", awin, "https://www.lumora.com/?awc=1001_1_a"),
        PROGRAM,
    )
    assert found.advertiser_class is AdvertiserClass.partner
    assert found.partner == "dealspotter"
    assert found.network is not None and found.network.click_id == "1001_1_a"
    assert "awin publisher 412345" in found.reason
    assert found.domains == ("deals-bridge.net", "awin1.com", "lumora.com")
    assert (found.display_domain, found.landing_domain) == ("lumora.com", "lumora.com")


def test_partner_by_second_network_on_the_chain() -> None:
    skim = "https://go.skimresources.com/?id=1X2&url=" + quote("https://www.tkqlhce.com/", safe="")
    cj = "https://www.tkqlhce.com/click-7012345-1"
    found = attribute(
        ad("www.lumora.com", skim), chain(skim, cj, "https://www.lumora.com/"), PROGRAM
    )
    assert found.partner == "sleepsaver"
    assert found.network is not None and found.network.network == "skimlinks"


def test_network_aliases_and_rakuten_spelling() -> None:
    landing = "https://www.lumora.com/?ranMID=2417&ranSiteID=AbC.dEfGhIj-xyz"
    found = attribute(ad("www.lumora.com", landing), chain(landing), PROGRAM)
    assert found.partner == "rakutenpub"


def test_partner_by_domain() -> None:
    found = attribute(
        ad("www.sleepsaver.net/lumora", "https://www.sleepsaver.net/lumora"),
        chain("https://www.sleepsaver.net/lumora"),
        PROGRAM,
    )
    assert found.partner == "sleepsaver"
    assert found.reason == "domain sleepsaver.net belongs to sleepsaver"


def test_partner_by_advertiser_name() -> None:
    found = attribute(
        ad("www.lumora.com", "https://www.lumora.com/", advertiser="  SLEEP SAVER DEALS "),
        chain("https://www.lumora.com/"),
        PROGRAM,
    )
    assert found.partner == "sleepsaver"
    assert "advertiser name" in found.reason


def test_brand_own_ad() -> None:
    found = attribute(
        ad("www.lumora.com", "https://www.lumora.com/"),
        chain("https://www.lumora.com/", "https://www.lumora.com/sale"),
        PROGRAM,
    )
    assert found.advertiser_class is AdvertiserClass.brand
    assert found.partner is None


def test_brand_display_with_unknown_network_is_not_the_brand() -> None:
    impact = "https://lumora.sjv.io/c/9999999/1/4321"
    found = attribute(
        ad("www.lumora.com", impact),
        chain(impact, "https://www.lumora.com/?irclickid=Q"),
        PROGRAM,
    )
    assert found.advertiser_class is AdvertiserClass.unknown
    assert "impact publisher 9999999 is not in the program" in found.reason


def test_competitor() -> None:
    found = attribute(
        ad("www.dreamnest.com", "https://www.dreamnest.com/"),
        chain("https://www.dreamnest.com/"),
        PROGRAM,
    )
    assert found.advertiser_class is AdvertiserClass.competitor
    assert "dreamnest" in found.reason


def test_unknown() -> None:
    found = attribute(
        ad("www.mattress-deals.shop", "https://www.mattress-deals.shop/"),
        chain("https://www.mattress-deals.shop/"),
        PROGRAM,
    )
    assert found.advertiser_class is AdvertiserClass.unknown
    assert found.partner is None and found.network is None
    assert found.reason


def test_chain_domains_in_order_without_repeats() -> None:
    c = chain("https://a.example.com/1", "https://b.example.org/", "https://x.a.example.com/2")
    assert chain_domains(c) == ("example.com", "example.org")


def test_an_aggregator_wrapping_a_network_names_both_and_the_partner_behind_it() -> None:
    awin = ("https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345"
            "&ued=https%3A%2F%2Fwww.lumora.com%2F")
    skim = "https://go.skimresources.com/?id=98765X111&url=" + quote(awin, safe="")
    found = attribute(
        ad("www.lumora.com", skim),
        chain(skim, awin, "https://www.lumora.com/?awc=1001_1716200000_3f2a9c"),
        PROGRAM,
    )
    assert found.partner == "dealspotter"  # the partner of record, by its awin id inside
    assert found.network is not None
    assert (found.network.network, found.network.publisher_id) == ("skimlinks", "98765")
    assert [(n.network, n.publisher_id, n.click_id) for n in found.inner_networks] == [
        ("awin", "412345", "1001_1716200000_3f2a9c")]


def test_unknown_nested_publishers_are_all_named() -> None:
    cj = "https://www.tkqlhce.com/click-9999999-1"
    sovrn = "https://redirect.viglink.com/?key=0123abcd&u=" + quote(cj, safe="")
    found = attribute(ad("www.lumora.com", sovrn), chain(sovrn, cj, "https://www.lumora.com/"),
                      PROGRAM)
    assert found.advertiser_class is AdvertiserClass.unknown
    assert found.reason == ("sovrn publisher 0123abcd via cj publisher 9999999 "
                            "is not in the program")


def test_a_lookalike_network_host_is_not_the_network() -> None:
    lookalike = "https://lumora.sjv.io.evil.example/c/2210987/654321/4321"
    found = attribute(ad("www.lumora.com", lookalike),
                      chain(lookalike, "https://www.lumora.com/"), PROGRAM)
    assert found.network is None and found.inner_networks == ()


def test_a_tracking_link_no_network_claims_is_counted_as_unrecognised() -> None:
    from monitor.attribute.partners import is_unrecognised_tracking
    from monitor.models import Chain, Hop, HopHow

    def chain(*urls: str) -> Chain:
        hops = tuple(Hop(u, HopHow.start if i == 0 else HopHow.http) for i, u in enumerate(urls))
        return Chain(start_url=urls[0], hops=hops, landing_url=urls[-1])

    unknown = "https://trk.newnetwork.example/click?aff_id=4411&offer_id=9&url=https%3A%2F%2Fwww.lumora.com%2F"
    assert is_unrecognised_tracking(chain(unknown, "https://www.lumora.com/"))
    # a known network's link is recognised, not counted
    assert not is_unrecognised_tracking(chain("https://prf.hn/click/camref:1100l5xYz",
                                              "https://www.lumora.com/"))
    # an engine's own click URL carries a redirect parameter by design
    assert not is_unrecognised_tracking(chain(
        "https://www.googleadservices.com/pagead/aclk?sa=L&adurl=https://www.lumora.com/",
        "https://www.lumora.com/"))
    # a plain landing page is no tracking link
    assert not is_unrecognised_tracking(chain("https://www.lumora.com/mattresses"))
