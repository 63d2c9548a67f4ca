"""The networks of our first users' markets, two rows per form: the form recognised with its ids,
and a look-alike that must not be. Then every recognised URL of the table, respelt as a browser
reads the same address (host case, trailing dot, :443, scheme-relative), reads the same ids.
Synthetic ids in each network's documented shape."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit, urlunsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.networks.table import HOSTS, NETWORK_NAMES, recognise, recognise_layers
from tests.test_networks import CASES, ID_FIELDS

ID = "https%3A%2F%2Fwww.lumora.co.id%2Fsale"
JP = "https%3A%2F%2Fwww.lumora.jp%2Fsale"
NL = "https%3A%2F%2Fwww.lumora.nl%2Fsale"
SE = "https%3A%2F%2Fwww.lumora.se%2Fsale"
IMPACT_REF = "VR4UEcxOMxyZW1iwCnQUZz87Uku1QdzxZTtOR00"

# (network, url, expected ids, a look-alike of the same form that no network may claim)
FORMS: list[tuple[str, str, dict[str, object], str]] = [
    # Involve Asia: deeplink generator links and invol.co short links.
    ("involveasia",
     f"https://invol.co/aff_m?offer_id=101166&aff_id=189674&source=deeplink_generator_v2&url={ID}",
     {"publisher_id": "189674", "advertiser_id": "101166",
      "landing_url": "https://www.lumora.co.id/sale"},
     "https://invol.co.evil.example/aff_m?offer_id=101166&aff_id=189674"),
    ("involveasia", "https://invol.co/cl7q2xk", {}, "https://invol.co/about"),
    # AccessTrade: SEA deep links (url and base64 url_enc), shorten.asia, Japan's rk links,
    # the SEA landing session.
    ("accesstrade",
     "https://go.isclix.com/deep_link/v6/6041223145843920598/4751584435713464237?sub4=web"
     "&utm_source=Google&url_enc=aHR0cHM6Ly93d3cubHVtb3JhLmNvLmlkL3NhbGU%3D",
     {"publisher_id": "6041223145843920598", "advertiser_id": "4751584435713464237",
      "landing_url": "https://www.lumora.co.id/sale"},
     "https://go.isclix.com.evil.example/deep_link/v6/6041223145843920598/4751584435713464237"),
    ("accesstrade", f"https://go.isclix.com/deep_link/5637987508533784952?url={ID}&sub1=kw",
     {"publisher_id": "5637987508533784952", "sub_id": "kw",
      "landing_url": "https://www.lumora.co.id/sale"},
     "https://go.isclix.com/share/5637987508533784952"),
    ("accesstrade", "https://shorten.asia/Xy7Kp2Qa", {},
     "https://shorten.asia.evil.example/Xy7Kp2Qa"),
    ("accesstrade", "https://h.accesstrade.net/sp/cc?rk=0100pv9j00oqbc",
     {"publisher_id": "0100pv9j00oqbc"},
     "https://h.accesstrade.net/sp/other?rk=0100pv9j00oqbc"),
    ("accesstrade", "https://www.lumora.co.id/?utm_source=accesstrade&aff_sid=Qm9vbGVhbjEyMw",
     {"click_id": "Qm9vbGVhbjEyMw"},
     "https://www.lumora.co.id/?utm_source=newsletter&aff_sid=Qm9vbGVhbjEyMw"),
    # Optimise Media.
    ("optimise", f"https://clk.omgt1.com/?AID=1234567&PID=56751&WID=98765&UID=kw&r={ID}",
     {"publisher_id": "1234567", "advertiser_id": "56751", "creative_id": "98765",
      "sub_id": "kw", "landing_url": "https://www.lumora.co.id/sale"},
     "https://clk.omgt1.com.evil.example/?AID=1234567&PID=56751"),
    ("optimise", "http://track.omguk.com/?AID=1234567&MID=1111&PID=22222&WID=98765",
     {"publisher_id": "1234567", "advertiser_id": "22222", "creative_id": "98765"},
     "https://track.omguk.com/?utm_source=optimise"),
    # A8.net: a8mat links (its + kept), deep links, the landing a8 token.
    ("a8net", "https://px.a8.net/svt/ejp?a8mat=3HOOWF+C7ZI8A+CO4+5ZU2B",
     {"publisher_id": "3HOOWF+C7ZI8A+CO4+5ZU2B"},
     "https://px.a8.net.evil.example/svt/ejp?a8mat=3HOOWF+C7ZI8A+CO4+5ZU2B"),
    ("a8net", f"https://px.a8.net/svt/ejp?a8mat=45IED7+DQR8HE+4J34+BW0YB&a8ejpredirect={JP}",
     {"publisher_id": "45IED7+DQR8HE+4J34+BW0YB", "landing_url": "https://www.lumora.jp/sale"},
     "https://px.a8.net/svt/other?a8mat=45IED7+DQR8HE+4J34+BW0YB"),
    ("a8net", "https://www.lumora.jp/?a8=Gp4kJ0Yx8mNq1Vt5Rz2.Ws7Lc3Hb9Fd6s00000012345001",
     {"click_id": "Gp4kJ0Yx8mNq1Vt5Rz2.Ws7Lc3Hb9Fd6s00000012345001"},
     "https://www.lumora.jp/?a8=on"),
    # ValueCommerce.
    ("valuecommerce",
     f"https://ck.jp.ap.valuecommerce.com/servlet/referral?sid=3512345&pid=887654321&vc_url={JP}",
     {"publisher_id": "3512345", "creative_id": "887654321",
      "landing_url": "https://www.lumora.jp/sale"},
     "https://ck.jp.ap.valuecommerce.com/servlet/gifbanner?sid=3512345&pid=887654321"),
    ("valuecommerce", "http://ad.jp.ap.valuecommerce.com/servlet/referral?pid=887654321&sid=3512345",
     {"publisher_id": "3512345", "creative_id": "887654321"},
     "https://ad.jp.ap.valuecommerce.com.evil.example/servlet/referral?sid=3512345&pid=1"),
    # Moshimo: its own codes are scheme-relative.
    ("moshimo",
     f"https://af.moshimo.com/af/c/click?a_id=5207863&p_id=6140&pc_id=17239&pl_id=78717&url={JP}",
     {"publisher_id": "5207863", "advertiser_id": "6140", "creative_id": "78717",
      "landing_url": "https://www.lumora.jp/sale"},
     "https://af.moshimo.com.evil.example/af/c/click?a_id=5207863&p_id=6140"),
    ("moshimo", "//c.af.moshimo.com/af/c/click?a_id=5207863&p_id=6140&pc_id=17239&pl_id=78717",
     {"publisher_id": "5207863", "advertiser_id": "6140", "creative_id": "78717"},
     "//i.moshimo.com/af/i/impression?a_id=5207863&p_id=6140&pc_id=17239&pl_id=78717"),
    # Rakuten Affiliate Japan.
    ("rakutenjapan",
     "https://hb.afl.rakuten.co.jp/hgc/1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c/"
     "?pc=https%3A%2F%2Fitem.rakuten.co.jp%2Flumora%2Fp1%2F&m=http%3A%2F%2Fm.rakuten.co.jp%2F",
     {"publisher_id": "1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c",
      "landing_url": "https://item.rakuten.co.jp/lumora/p1/"},
     "https://hb.afl.rakuten.co.jp.evil.example/hgc/1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c/"),
    ("rakutenjapan", "https://hb.afl.rakuten.co.jp/ichiba/1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c/",
     {"publisher_id": "1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c"},
     "https://www.rakuten.co.jp/ichiba/1a2b3c4d.5e6f7a8b.1a2b3c4e.9f0e1d2c/"),
    # TradeTracker: click links and direct-linked landings (tt).
    ("tradetracker", f"https://tc.tradetracker.net/?c=15640&m=12&a=448474&r=brandkw&u={NL}",
     {"publisher_id": "448474", "advertiser_id": "15640", "creative_id": "12",
      "sub_id": "brandkw", "landing_url": "https://www.lumora.nl/sale"},
     "https://tc.tradetracker.net.evil.example/?c=15640&m=12&a=448474"),
    ("tradetracker", "https://www.lumora.nl/?tt=16956_12_417111_kw&r=%2Fsale",
     {"publisher_id": "417111", "advertiser_id": "16956", "creative_id": "12", "sub_id": "kw",
      "click_id": "16956_12_417111_kw"},
     "https://www.lumora.nl/?tt=summer_sale"),
    # Daisycon: the /c/?si=&li=&wi= shape on its many tracking domains.
    ("daisycon", "https://ds1.nl/c/?si=7805&li=1362777&wi=385520&ws=kw&dl=portugal%2Flissabon",
     {"publisher_id": "385520", "advertiser_id": "7805", "creative_id": "1362777",
      "sub_id": "kw"},
     "https://www.lumora.nl/c/?si=summer&wi=blue"),
    ("daisycon", "https://rkn3.net/c/?si=14965&li=1650750&wi=387380&ws=superdry",
     {"publisher_id": "387380", "advertiser_id": "14965", "creative_id": "1650750",
      "sub_id": "superdry"},
     "https://rkn3.net/c/?li=1650750"),
    # Adtraction: its own domains, a brand's tracking domain, the landing at_gd.
    ("adtraction",
     f"https://track.adtraction.com/t/t?a=1315701143&as=1165593249&t=2&tk=1&epi=kw&url={SE}",
     {"publisher_id": "1165593249", "advertiser_id": "1315701143", "sub_id": "kw",
      "landing_url": "https://www.lumora.se/sale"},
     "https://track.adtraction.com.evil.example/t/t?a=1315701143&as=1165593249"),
    ("adtraction", "https://pin.lumora.se/t/t?a=1960530789&as=2056181186&t=2&tk=1",
     {"publisher_id": "2056181186", "advertiser_id": "1960530789"},
     "https://pin.lumora.se/t/t?a=promo&as=spring"),
    ("adtraction", "https://www.lumora.se/?at_gd=F79ED0B476387593B26D73C81EDCFE735A2AB5B9",
     {"click_id": "F79ED0B476387593B26D73C81EDCFE735A2AB5B9"},
     "https://www.lumora.se/?at_gd=1"),
    # Tradedoubler's older forms: TrackerServlet, parentheses in any order.
    ("tradedoubler",
     f"https://clk.tradedoubler.com/pan/TrackerServlet?p=264355&a=2989234&g=22741424&url={SE}",
     {"publisher_id": "2989234", "advertiser_id": "264355", "creative_id": "22741424",
      "landing_url": "https://www.lumora.se/sale"},
     "https://clk.tradedoubler.com.evil.example/pan/TrackerServlet?p=264355&a=2989234"),
    ("tradedoubler",
     "http://clkde.tradedoubler.com/click?a(2989234)p(264355)g(22741424)url(https://www.lumora.de/)",
     {"publisher_id": "2989234", "advertiser_id": "264355", "creative_id": "22741424",
      "landing_url": "https://www.lumora.de/"},
     "http://clkde.tradedoubler.com/click?view(2989234)"),
    # Everflow: direct links, encoded links with only sub5.
    ("everflow", "https://www.lumora.com/?oid=12&affid=345&sub1=kw",
     {"publisher_id": "345", "advertiser_id": "12", "sub_id": "kw"},
     "https://www.lumora.com/?oid=spring&affid=345"),
    ("everflow", "https://www.trk-lumora.com/4FZK2L/2CTPLQ/?sub5=kw",
     {"publisher_id": "4FZK2L", "advertiser_id": "2CTPLQ"},
     "https://www.trk-lumora.com/4FZK2L/2CTPLQ/?utm_source=kw"),
    # PartnerStack: partnerlinks.io, and landings with pscd (its custom link domain).
    ("partnerstack", "https://lumora.partnerlinks.io/jane-doe-123",
     {"publisher_id": "jane-doe-123"},
     "https://lumora.partnerlinks.io.evil.example/jane-doe-123"),
    ("partnerstack", "https://www.lumora.com/?pscd=try.lumora.com&ps_partner_key=amFuZS1kb2UtMTIz",
     {"publisher_id": "jane-doe-123"},
     "https://www.lumora.com/?ps_partner_key=amFuZS1kb2UtMTIz"),
    # Impact's im_ref landings.
    ("impact", f"https://www.lumora.com/?afsrc=1&im_ref={IMPACT_REF}&irgwc=1&irpid=7765200",
     {"click_id": IMPACT_REF, "publisher_id": "7765200"},
     "https://www.lumora.com/?afsrc=1&im_ref=&irgwc=2"),
    ("impact", "https://LUMORA.SJV.IO./c/2210987/654321/4321",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321"},
     "https://lumora.sjv.io.evil.example/c/2210987/654321/4321"),
    # The Gulf: ArabClicks and DCMnetwork on their own HasOffers domains.
    ("arabclicks", "https://go.arabclicks.com/aff_c?offer_id=41&aff_id=2140&aff_sub=kw",
     {"publisher_id": "2140", "advertiser_id": "41", "sub_id": "kw"},
     "https://go.arabclicks.com.evil.example/aff_c?offer_id=41&aff_id=2140"),
    ("dcmnetwork", "https://go.urtrackinglink.com/aff_c?offer_id=1569&aff_id=150702&aff_sub=kw",
     {"publisher_id": "150702", "advertiser_id": "1569", "sub_id": "kw"},
     "https://go.urtrackinglink.com.evil.example/aff_c?offer_id=1569&aff_id=150702"),
    ("dcmnetwork", "https://go.urtrackinglink.com/SH9H2", {},
     "https://go.urtrackinglink.com.evil.example/SH9H2"),
]

MARKET_NETWORKS = {
    "involveasia", "accesstrade", "optimise", "a8net", "valuecommerce", "moshimo",
    "rakutenjapan", "tradetracker", "daisycon", "adtraction", "arabclicks", "dcmnetwork",
}


@pytest.mark.parametrize(("network", "url", "expected", "lookalike"), FORMS,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FORMS)])
def test_each_form_is_recognised_with_its_ids(
    network: str, url: str, expected: dict[str, object], lookalike: str
) -> None:
    ids = recognise(url)
    assert ids is not None, url
    assert ids.network == network
    assert {name: getattr(ids, name) for name in ID_FIELDS} == {
        name: expected.get(name) for name in ID_FIELDS
    }


@pytest.mark.parametrize(("network", "url", "expected", "lookalike"), FORMS,
                         ids=[f"{f[0]}-{i}" for i, f in enumerate(FORMS)])
def test_each_forms_lookalike_is_not(
    network: str, url: str, expected: dict[str, object], lookalike: str
) -> None:
    assert recognise(lookalike) is None, lookalike


def test_every_market_network_is_in_the_table_with_its_forms() -> None:
    forms = {network for network, *_ in FORMS}
    assert set(NETWORK_NAMES) >= MARKET_NETWORKS
    assert MARKET_NETWORKS - forms == set()


# ---- host spelling: the same address as a browser reads it -----------------------------------

RECOGNISED = [(url, ids) for url, _, _ in CASES if (ids := recognise(url)) is not None]
RECOGNISED += [(url, ids) for _, url, _, _ in FORMS if (ids := recognise(url)) is not None]


def _respelt(url: str, how: str) -> str:
    parts = urlsplit(url if "://" in url else "https:" + url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    spelt = {"upper": (host.upper(), port), "dot": (host + ".", port), "port": (host, ":443"),
             "scheme-relative": (host, port)}[how]
    respelt = urlunsplit((parts.scheme, "".join(spelt), parts.path, parts.query, parts.fragment))
    return respelt.removeprefix(parts.scheme + ":") if how == "scheme-relative" else respelt


@pytest.mark.parametrize("how", ["upper", "dot", "port", "scheme-relative"])
@pytest.mark.parametrize(("url", "ids"), RECOGNISED, ids=[u[8:50] for u, _ in RECOGNISED])
def test_each_host_spelling_reads_the_same(url: str, ids: object, how: str) -> None:
    respelt = _respelt(url, how)
    found = recognise(respelt)
    assert found is not None, respelt
    assert replace(found, matched_url=url) == ids


@given(
    case=st.sampled_from(RECOGNISED),
    flips=st.lists(st.booleans(), min_size=1, max_size=64),
    dot=st.booleans(),
    port=st.booleans(),
)
def test_property_a_respelt_host_is_recognised_the_same(
    case: tuple[str, object], flips: list[bool], dot: bool, port: bool
) -> None:
    url, ids = case
    parts = urlsplit(url if "://" in url else "https:" + url)
    host = "".join(c.upper() if flips[i % len(flips)] else c.lower()
                   for i, c in enumerate(parts.hostname or ""))
    netloc = host + ("." if dot else "") + (":443" if port else "")
    respelt = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    found = recognise(respelt)
    assert found is not None and replace(found, matched_url=url) == ids


# ---- registered domains, never substrings ----------------------------------------------------


LISTED = [
    (url, host) for url, _ in RECOGNISED
    if (host := urlsplit(url if "://" in url else "https:" + url).hostname or "")
    and any(host == d or host.endswith("." + d) for d in HOSTS.network_domains)
]


@pytest.mark.parametrize("spelt", ["{host}.evil.example", "x.{host}.evil.com"])
@pytest.mark.parametrize(("url", "host"), LISTED, ids=[u[8:50] for u, _ in LISTED])
def test_a_network_host_inside_another_domain_is_no_network(
    url: str, host: str, spelt: str
) -> None:
    parts = urlsplit(url if "://" in url else "https:" + url)
    lookalike = urlunsplit(("https", spelt.format(host=host), parts.path, parts.query, ""))
    assert recognise(lookalike) is None, lookalike


# ---- nested links: the outermost network, and the ones inside it ------------------------------


def test_an_aggregator_around_a_network_reports_both_outermost_first() -> None:
    awin = ("https://www.awin1.com/cread.php?awinmid=1001&awinaffid=99999"
            "&ued=https%3A%2F%2Fwww.lumora.com%2F")
    chain = [
        "https://go.skimresources.com/?id=123456X987&url=https%3A%2F%2Fwww.awin1.com%2F",
        awin,
        "https://www.lumora.com/?awc=1001_1716200000_3f2a9c",
    ]
    layers = recognise_layers(chain)
    assert [(ids.network, ids.publisher_id) for ids in layers] == [
        ("skimlinks", "123456"), ("awin", "99999")]
    assert layers[1].click_id == "1001_1716200000_3f2a9c"  # the landing completes its own network
    assert layers[0].click_id is None


def test_one_networks_vanity_link_then_its_click_url_is_one_layer() -> None:
    layers = recognise_layers([
        "https://lumora.sjv.io/aB3dE5",
        "https://lumora.sjv.io/c/2210987/654321/4321",
        f"https://www.lumora.com/?im_ref={IMPACT_REF}&irgwc=1",
    ])
    assert len(layers) == 1
    assert (layers[0].publisher_id, layers[0].click_id) == ("2210987", IMPACT_REF)
    assert layers[0].matched_url == "https://lumora.sjv.io/aB3dE5"
