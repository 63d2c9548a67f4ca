"""Network recognisers: one table of realistic click and landing URLs (synthetic ids)."""

from __future__ import annotations

import pytest

from monitor.networks import NETWORK_NAMES, canonical_network, recognise, recognise_chain

B = "https%3A%2F%2Fwww.lumora.com%2Fsale"
LANDING = "https://www.lumora.com/sale"

# (url, network, expected fields); fields not named must be None.
CASES: list[tuple[str, str, dict[str, object]]] = [
    (f"https://prf.hn/click/camref:1100l5xYz/pubref:kw1/destination:{B}", "partnerize",
     {"publisher_id": "1100l5xYz", "sub_id": "kw1", "landing_url": LANDING}),
    (f"https://lumora.prf.hn/click/camref:1101lAbC/creativeref:1011l77/destination:{B}",
     "partnerize", {"publisher_id": "1101lAbC", "creative_id": "1011l77", "landing_url": LANDING}),
    ("https://prf.hn/click/camref:1100l5xYz", "partnerize", {"publisher_id": "1100l5xYz"}),
    (f"https://www.tkqlhce.com/click-7012345-10987654?sid=k1&url={B}", "cj",
     {"publisher_id": "7012345", "creative_id": "10987654", "sub_id": "k1",
      "landing_url": LANDING}),
    ("https://www.anrdoezrs.net/click-7012345-13456789", "cj",
     {"publisher_id": "7012345", "creative_id": "13456789"}),
    ("https://www.jdoqocy.com/click-1234567-11111111?url=https%3A%2F%2Fbrand.com", "cj",
     {"publisher_id": "1234567", "creative_id": "11111111", "landing_url": "https://brand.com"}),
    ("https://www.dpbolvw.net/click-7654321-22222222?sid=x", "cj",
     {"publisher_id": "7654321", "creative_id": "22222222", "sub_id": "x"}),
    ("https://www.kqzyfj.com/links/7012345/type/dlg/sid/kw9/https://www.lumora.com/sale", "cj",
     {"publisher_id": "7012345", "sub_id": "kw9", "landing_url": LANDING}),
    (f"https://www.lumora.com/sale?cjevent={'a' * 32}", "cj", {"click_id": "a" * 32}),
    (f"https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&clickref=g1&ued={B}",
     "awin", {"publisher_id": "412345", "advertiser_id": "1001", "sub_id": "g1",
              "landing_url": LANDING}),
    ("https://www.awin1.com/awclick.php?mid=1001&id=412345", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001"}),
    ("https://www.awin1.com/cread.php?s=2222&v=1001&q=3333&r=412345", "awin",
     {"publisher_id": "412345", "advertiser_id": "1001", "creative_id": "2222"}),
    ("https://www.lumora.com/?awc=1001_1403695822_a430bc", "awin",
     {"advertiser_id": "1001", "click_id": "1001_1403695822_a430bc"}),
    ("https://shareasale.com/r.cfm?b=617326&u=123456&m=47&urllink=www.lumora.com%2Fsale"
     "&afftrack=kw", "shareasale",
     {"publisher_id": "123456", "advertiser_id": "47", "creative_id": "617326", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?sscid=41k7_n2lff", "shareasale", {"click_id": "41k7_n2lff"}),
    (f"https://lumora.sjv.io/c/2210987/654321/4321?subId1=kw&u={B}", "impact",
     {"publisher_id": "2210987", "creative_id": "654321", "advertiser_id": "4321",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://goto.lumora.com/c/3345678/111111/4321", "impact",
     {"publisher_id": "3345678", "creative_id": "111111", "advertiser_id": "4321"}),
    ("https://lumora.pxf.io/c/3345678/222222/4321?sharedid=x", "impact",
     {"publisher_id": "3345678", "creative_id": "222222", "advertiser_id": "4321"}),
    ("https://www.lumora.com/?irclickid=Wx3abc%3A1&irgwc=1", "impact", {"click_id": "Wx3abc:1"}),
    (f"https://click.linksynergy.com/deeplink?id=AbCdEfGh1Jk&mid=2417&murl={B}&u1=kw",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417", "sub_id": "kw",
                 "landing_url": LANDING}),
    ("https://click.linksynergy.com/fs-bin/click?id=AbCdEfGh1Jk&offerid=2417.100&type=3",
     "rakuten", {"publisher_id": "AbCdEfGh1Jk", "advertiser_id": "2417", "creative_id": "100"}),
    ("https://www.lumora.com/?ranMID=2417&ranEAID=AbC*dEfGhIj&ranSiteID=AbC.dEfGhIj-xYz12",
     "rakuten", {"publisher_id": "AbC*dEfGhIj", "advertiser_id": "2417",
                 "click_id": "AbC.dEfGhIj-xYz12"}),
    (f"https://clk.tradedoubler.com/click?p=123&a=654321&g=999&epi=kw&url={B}", "tradedoubler",
     {"publisher_id": "654321", "advertiser_id": "123", "creative_id": "999", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?tduid=0c1d2e3f4a5b", "tradedoubler", {"click_id": "0c1d2e3f4a5b"}),
    (f"https://ad.admitad.com/g/9a03752bb275478cca00463f97455a/?subid=kw&ulp={B}", "admitad",
     {"publisher_id": "9a03752bb275478cca00463f97455a", "sub_id": "kw", "landing_url": LANDING}),
    ("https://ad.admitad.com/goto/9a03752bb275478cca00463f97455a/", "admitad",
     {"publisher_id": "9a03752bb275478cca00463f97455a"}),
    ("https://www.lumora.co.id/?admitad_uid=abc123", "admitad", {"click_id": "abc123"}),
    (f"https://go.skimresources.com/?id=123456X1234567&xs=1&url={B}&xcust=kw", "skimlinks",
     {"publisher_id": "123456", "creative_id": "1234567", "sub_id": "kw",
      "landing_url": LANDING}),
    (f"https://go.redirectingat.com/?id=98765X111&url={B}", "skimlinks",
     {"publisher_id": "98765", "creative_id": "111", "landing_url": LANDING}),
    (f"https://redirect.viglink.com/?key=0123abcd&u={B}&cuid=kw", "sovrn",
     {"publisher_id": "0123abcd", "sub_id": "kw", "landing_url": LANDING}),
    (f"https://www.pntra.com/t/8-12345-678901-234567?sid=kw&url={B}", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567",
      "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.gopjn.com/t/MBFGHIJBKLMNEFBGHIJKL", "pepperjam",
     {"advertiser_id": "12345", "publisher_id": "678901", "creative_id": "234567"}),
    ("https://www.lumora.com/?clickId=3999999999&source=pepperjam", "pepperjam",
     {"click_id": "3999999999"}),
    (f"https://track.webgains.com/click.html?wgcampaignid=1234567&wgprogramid=271234"
     f"&clickref=kw&wgtarget={B}", "webgains",
     {"publisher_id": "1234567", "advertiser_id": "271234", "sub_id": "kw",
      "landing_url": LANDING}),
    (f"https://track.flexlinkspro.com/a.ashx?foid=1188831.1707657&foc=1&fot=9999&fos=1"
     f"&fobs=kw&url={B}", "flexoffers",
     {"publisher_id": "1188831", "advertiser_id": "1707657", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.amazon.com/dp/B0ABCDEF12?tag=sleepdeals-20&ascsubtag=kw", "amazon",
     {"publisher_id": "sleepdeals-20", "sub_id": "kw"}),
    ("https://www.amazon.co.uk/dp/B0ABCDEF12?tag=sleepuk-21", "amazon",
     {"publisher_id": "sleepuk-21"}),
    ("https://www.ebay.com.au/itm/123?mkevt=1&mkcid=1&mkrid=705-53470-19255-0"
     "&campid=5338000000&toolid=10001&customid=kw", "ebay",
     {"publisher_id": "5338000000", "advertiser_id": "705-53470-19255-0", "sub_id": "kw"}),
    (f"https://rover.ebay.com/rover/1/711-53200-19255-0/1?campid=5338111111&mpre={B}", "ebay",
     {"publisher_id": "5338111111", "advertiser_id": "711-53200-19255-0",
      "landing_url": LANDING}),
    ("https://trk.example-net.com/28KL6/2CTPL/?sub1=kw", "everflow",
     {"publisher_id": "28KL6", "advertiser_id": "2CTPL", "sub_id": "kw"}),
    ("https://www.lumora.com/?_ef_transaction_id=abc123&oid=1&affid=7", "everflow",
     {"click_id": "abc123", "advertiser_id": "1", "publisher_id": "7"}),
    ("https://lumora.go2cloud.org/aff_c?offer_id=45&aff_id=1075&aff_sub=kw", "tune",
     {"publisher_id": "1075", "advertiser_id": "45", "sub_id": "kw"}),
    ("https://www.lumora.com/?transaction_id=102abc&aff_id=1075", "tune",
     {"click_id": "102abc", "publisher_id": "1075"}),
    ("https://www.lumora.com/?rfsn=1234567.a1b2c3", "refersion",
     {"publisher_id": "1234567", "click_id": "a1b2c3"}),
    ("https://lumora.grsm.io/partnerabc?sid=kw", "partnerstack",
     {"publisher_id": "partnerabc", "sub_id": "kw"}),
    ("https://www.lumora.com/?gspk=cGFydG5lcmFiYw&gsxid=Xyz123", "partnerstack",
     {"publisher_id": "partnerabc", "click_id": "Xyz123"}),
    (f"https://www.avantlink.com/click.php?tt=cl&mi=11707&pw=9649&ctc=kw&url={B}", "avantlink",
     {"publisher_id": "9649", "advertiser_id": "11707", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://www.lumora.com/?avad=192617_f24ceb9c5", "avantlink",
     {"click_id": "192617_f24ceb9c5"}),
    ("https://t.cfjump.com/12345/t/67890?Url=https%3a%2f%2fwww.lumora.com%2fsale&UniqueId=kw",
     "commissionfactory",
     {"publisher_id": "12345", "advertiser_id": "67890", "sub_id": "kw",
      "landing_url": LANDING}),
    ("https://t.cfjump.com/12345/b/555", "commissionfactory",
     {"publisher_id": "12345", "creative_id": "555"}),
    ("https://www.lumora.com/?tap_a=1234-abc123&tap_s=567890-def456", "tapfiliate",
     {"publisher_id": "1234-abc123", "sub_id": "567890-def456"}),
    ("https://aff.lumora.com/scripts/click.php?a_aid=refid&a_bid=73d672s1&data1=kw",
     "postaffiliatepro", {"publisher_id": "refid", "creative_id": "73d672s1", "sub_id": "kw"}),
    ("https://www.lumora.com/?a_aid=refid", "postaffiliatepro", {"publisher_id": "refid"}),
    (f"https://r.bttn.io?btn_ref=org-0000000000000000&btn_url={B}&btn_pub_ref=kw", "button",
     {"publisher_id": "org-0000000000000000", "sub_id": "kw", "landing_url": LANDING}),
    ("https://www.lumora.com/?btn_ref=srctok-abc123", "button", {"click_id": "srctok-abc123"}),
    ("https://www.lumora.com/?clickref=1100lqwerty", "partnerize", {"click_id": "1100lqwerty"}),
]

ID_FIELDS = ("publisher_id", "advertiser_id", "creative_id", "sub_id", "click_id", "landing_url")


@pytest.mark.parametrize(("url", "network", "expected"), CASES, ids=[c[0][8:60] for c in CASES])
def test_recognises(url: str, network: str, expected: dict[str, object]) -> None:
    ids = recognise(url)
    assert ids is not None, url
    assert ids.network == network
    assert ids.matched_url == url
    for name in ID_FIELDS:
        assert getattr(ids, name) == expected.get(name), name


def test_table_covers_many_networks() -> None:
    assert len({network for _, network, _ in CASES}) >= 20
    assert len(CASES) >= 40
    assert set(NETWORK_NAMES) >= {network for _, network, _ in CASES}


@pytest.mark.parametrize(
    "url",
    [
        "https://www.lumora.com/mattress?utm_source=google&gclid=abc",
        "https://www.amazon.com/dp/B0ABCDEF12",  # no tag: not an affiliate link
        "https://www.ebay.com/itm/123",
        "https://prf.hn/about",
        "https://www.tkqlhce.com/",
        "https://www.lumora.com/c/abc/def/ghi",
        "not a url",
        "",
    ],
)
def test_ignores_plain_urls(url: str) -> None:
    assert recognise(url) is None


def test_aggregators_are_marked() -> None:
    skim = recognise("https://go.skimresources.com/?id=1X2&url=https%3A%2F%2Fa.com")
    assert skim is not None and skim.aggregator
    cj = recognise("https://www.tkqlhce.com/click-1-2")
    assert cj is not None and not cj.aggregator


def test_chain_merges_landing_ids_of_the_same_network() -> None:
    chain = [
        "https://www.dealspotter.com/go/lumora",
        "https://www.awin1.com/cread.php?awinmid=1001&awinaffid=412345&ued=https%3A%2F%2Fa.com",
        "https://www.lumora.com/?awc=1001_1403695822_a430&sscid=zz",
    ]
    ids = recognise_chain(chain)
    assert ids is not None
    assert (ids.network, ids.publisher_id, ids.advertiser_id) == ("awin", "412345", "1001")
    assert ids.click_id == "1001_1403695822_a430"
    assert ids.matched_url == chain[1]


def test_chain_keeps_first_click_and_ignores_other_networks_landing() -> None:
    chain = [
        "https://go.skimresources.com/?id=123X9&url=https%3A%2F%2Fwww.lumora.com",
        "https://www.tkqlhce.com/click-7012345-1",
        f"https://www.lumora.com/?cjevent={'b' * 32}",
    ]
    ids = recognise_chain(chain)
    assert ids is not None
    assert (ids.network, ids.publisher_id, ids.click_id) == ("skimlinks", "123", None)


def test_chain_without_click_uses_landing_marker() -> None:
    ids = recognise_chain(["https://www.lumora.com/", "https://www.lumora.com/?irclickid=Q1"])
    assert ids is not None and (ids.network, ids.click_id) == ("impact", "Q1")
    assert recognise_chain(["https://www.lumora.com/"]) is None
    assert recognise_chain([]) is None


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("CJ", "cj"), ("Commission Junction", "cj"), ("LinkShare", "rakuten"),
     ("Impact Radius", "impact"), ("awin", "awin"), ("Ascend", "pepperjam")],
)
def test_canonical_network_names(written: str, canonical: str) -> None:
    assert canonical_network(written) == canonical
