"""The engines: how they ask (URLs), how they read (hostile markup) and how they judge pages."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engines import ENGINES, accept_language, detect_engine, get_engine
from monitor.engines.duckduckgo import region
from monitor.engines.google import uule
from monitor.models import AdKind, AdPosition, CaptureStatus, Device, MarketRef, SearchTask
from monitor.text import clean_text


def shared_dir() -> Path:
    return Path(__file__).resolve().parents[2] / "shared"


MARKETS = {
    "us-en": MarketRef("us-en", "US", "en", "America/New_York", "New York,New York,United States"),
    "ae-ar": MarketRef("ae-ar", "AE", "ar", "Asia/Dubai", "Dubai,Dubai,United Arab Emirates"),
    "id-id": MarketRef("id-id", "ID", "id", "Asia/Jakarta", "Jakarta,Jakarta,Indonesia"),
    "de-de": MarketRef("de-de", "DE", "de", "Europe/Berlin"),
}


def task(engine: str, market: str, page: int = 1, query: str = "acme shoes & co") -> SearchTask:
    return SearchTask(
        brand="acme",
        engine=engine,
        query=query,
        term_group="brand",
        market=MARKETS[market],
        device=Device.desktop,
        page=page,
    )


def params(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


# ---- asking ---------------------------------------------------------------------------------


def test_uule_matches_the_published_chicago_value() -> None:
    name = "Chicago,Illinois,United States"
    expected = "w+CAIQICIe" + base64.b64encode(name.encode()).decode()

    assert uule(name) == expected
    assert uule(name).startswith("w+CAIQICIe")  # 30 bytes -> key character "e"


def test_uule_rejects_names_longer_than_63_bytes() -> None:
    assert uule("a" * 63).startswith("w+CAIQICI_")
    with pytest.raises(ValueError, match="at most 63"):
        uule("Ünïcödé Städt," * 5)


@pytest.mark.parametrize("market", list(MARKETS))
def test_google_url_carries_market_city_and_paging(market: str) -> None:
    url = get_engine("google").search_url(task("google", market, page=3))
    ref = MARKETS[market]
    query = params(url)

    assert url.startswith("https://www.google.com/search?")
    assert query["q"] == ["acme shoes & co"]
    assert query["gl"] == [ref.country.lower()] and query["hl"] == [ref.language]
    assert query["pws"] == ["0"] and query["start"] == ["20"]
    if ref.city:
        assert f"uule={uule(ref.city)}" in url
    else:
        assert "uule" not in query


def test_google_first_page_has_no_start() -> None:
    assert "start" not in params(get_engine("google").search_url(task("google", "us-en")))


@pytest.mark.parametrize(
    ("market", "mkt"),
    [("us-en", "en-US"), ("ae-ar", "ar-AE"), ("id-id", "id-ID"), ("de-de", "de-DE")],
)
def test_bing_url_sets_market_and_paging(market: str, mkt: str) -> None:
    query = params(get_engine("bing").search_url(task("bing", market, page=2)))

    assert query["mkt"] == [mkt] and query["setlang"] == [mkt.split("-")[0]]
    assert query["first"] == ["11"] and query["q"] == ["acme shoes & co"]


@pytest.mark.parametrize(
    ("market", "kl"),
    [("us-en", "us-en"), ("ae-ar", "xa-ar"), ("id-id", "id-en"), ("de-de", "de-de")],
)
def test_duckduckgo_url_uses_region_codes(market: str, kl: str) -> None:
    url = get_engine("duckduckgo").search_url(task("duckduckgo", market))

    assert url.startswith("https://duckduckgo.com/html/?")
    assert params(url)["kl"] == [kl]


def test_duckduckgo_unknown_market_falls_back_to_no_region() -> None:
    assert region("ZZ", "xx") == "wt-wt"


@pytest.mark.parametrize(
    ("market", "host"),
    [
        ("us-en", "search.yahoo.com"),
        ("ae-ar", "search.yahoo.com"),
        ("id-id", "id.search.yahoo.com"),
        ("de-de", "de.search.yahoo.com"),
    ],
)
def test_yahoo_url_uses_regional_host_and_offset(market: str, host: str) -> None:
    url = get_engine("yahoo").search_url(task("yahoo", market, page=2))

    assert urlsplit(url).hostname == host
    assert params(url)["p"] == ["acme shoes & co"] and params(url)["b"] == ["11"]


def test_accept_language_prefers_the_market_language() -> None:
    assert accept_language(task("google", "ae-ar")) == "ar-AE,ar;q=0.9,en;q=0.5"
    assert accept_language(task("google", "us-en")) == "en-US,en;q=0.9"


def test_registry_knows_four_engines_and_names_them_when_asked_wrong() -> None:
    assert set(ENGINES) == {"google", "bing", "duckduckgo", "yahoo"}
    assert get_engine("Google") is ENGINES["google"]
    with pytest.raises(KeyError, match="bing, duckduckgo, google, yahoo"):
        get_engine("altavista")


# ---- reading hostile markup -----------------------------------------------------------------

HOSTILE_GOOGLE = """<html><body><div id="search"><div id="tads">
<div data-text-ad="1"><a href="https://evil.example/&quot;x" data-rw="https://www.google.com/aclk?sa=l&amp;ai=1">
<div role="heading">Buy\u00a0now<script>alert(1)</script> \u202eevil\u202c
<b>&lt;img src=x onerror=alert(1)&gt;</b>\u200e</div>
<span role="text">evil\u2066.example\u2069</span></a>
<div>Fast\u00a0shipping  and\tfree\u200f returns <style>p{}</style>on everything</div></div>
</div></div></body></html>"""


def test_hostile_headline_is_read_as_inert_clean_text() -> None:
    ads = get_engine("google").read_ads(HOSTILE_GOOGLE)

    assert len(ads) == 1
    ad = ads[0]
    assert ad.headline == "Buy now evil <img src=x onerror=alert(1)>"
    assert ad.display_url == "evil.example"
    assert ad.description == "Fast shipping and free returns on everything"
    assert ad.link == 'https://evil.example/"x'
    assert ad.click_url == "https://www.google.com/aclk?sa=l&ai=1"
    assert (ad.kind, ad.position, ad.rank) == (AdKind.text, AdPosition.top, 1)


def test_clean_text_drops_controls_and_bidi_and_collapses_space() -> None:
    raw = "\u202bA\u200e\u00a0\u00a0b\u061c\u2067c\u2069\x00\x07\n d\ufeff"
    assert clean_text(raw) == "A bc d"


@pytest.mark.parametrize("name", sorted(ENGINES))
@pytest.mark.parametrize(
    "junk",
    ["", " ", "\x00\xff\xfe", "<html", "<div id=tads><div data-text-ad>", "<<<>>>&&&;", "\ud800"],
)
def test_readers_never_raise_on_junk(name: str, junk: str) -> None:
    assert ENGINES[name].read_ads(junk) == []


# ---- page status ----------------------------------------------------------------------------

RESULTS = {
    "google": (
        '<div id="search"><div id="rso">'
        '<div class="g"><a href="/url?q=x"><h3>x</h3></a></div></div></div>'
    ),
    "bing": '<ol id="b_results"><li class="b_algo"><h2><a href="https://x.example/">x</a></h2></li></ol>',
    "duckduckgo": '<div id="links" class="results"><div class="result"><h2><a class="result__a" href="https://x.example/">x</a></h2></div></div>',
    "yahoo": '<div id="web"><ol class="searchCenterMiddle"><li><div class="algo"><h3><a href="https://x.example/">x</a></h3></div></li></ol></div>',
}
EMPTY_RESULTS = {
    "google": '<div id="search"><div id="rso"></div></div>',
    "bing": '<ol id="b_results"><li class="b_no"><h1>nothing</h1></li></ol>',
    "duckduckgo": '<div id="links" class="results"><div class="no-results">nothing</div></div>',
    "yahoo": '<div id="web"><ol class="searchCenterMiddle"></ol></div>',
}
CAPTCHAS = {
    "google": (
        "https://www.google.com/sorry/index?continue=x",
        429,
        "<form id=captcha-form></form>",
    ),
    "bing": ("https://www.bing.com/turing/captcha/challenge?q=x", 200, "<div>check</div>"),
    "duckduckgo": ("https://duckduckgo.com/html/?q=x", 200, '<form id="challenge-form"></form>'),
    "yahoo": ("https://search.yahoo.com/search?p=x", 200, '<div class="g-recaptcha"></div>'),
}


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_classify_each_page_class(name: str) -> None:
    classify = ENGINES[name].classify
    url = f"https://{ENGINES[name].hosts[0]}/search?q=x"
    page = f"<html><body>{RESULTS[name]}</body></html>"

    assert classify(url, 200, page) is CaptureStatus.ok
    assert classify(url, 200, f"<html><body>{EMPTY_RESULTS[name]}</body></html>") is (
        CaptureStatus.no_results
    )
    assert classify(*CAPTCHAS[name]) is CaptureStatus.captcha
    assert classify(url, 429, "<html><body>slow down</body></html>") is CaptureStatus.rate_limited
    assert classify(url, 403, "") is CaptureStatus.rate_limited
    assert classify(url, 502, page) is CaptureStatus.error
    assert classify(url, 200, "") is CaptureStatus.error
    assert classify(url, 200, "<html><body><p>maintenance</p></body></html>") is CaptureStatus.error


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("google", "https://consent.google.com/ml?continue=https://www.google.com/search"),
        ("google", "https://consent.google.de/ml?continue=x"),
        ("yahoo", "https://consent.yahoo.com/v2/collectConsent?sessionId=x"),
        ("yahoo", "https://guce.yahoo.com/consent?x=1"),
    ],
)
def test_classify_consent_walls(name: str, url: str) -> None:
    assert ENGINES[name].classify(url, 200, "<html><form></form></html>") is CaptureStatus.consent


def test_google_recaptcha_503_is_a_captcha_not_an_error() -> None:
    body = (
        '<html><script src="https://www.google.com/recaptcha/api.js"></script>'
        '<div id="recaptcha"></div></html>'
    )
    assert get_engine("google").classify("https://www.google.com/search?q=x", 503, body) is (
        CaptureStatus.captcha
    )


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_detect_engine_from_a_result_page(name: str) -> None:
    markers = {
        "google": '<form action="/search"><input name="q"></form><div id="rso" data-ved="x"></div>',
        "bing": '<form id="sb_form"></form><ol id="b_results"></ol>',
        "duckduckgo": '<form id="search_form" action="https://duckduckgo.com/"></form>',
        "yahoo": '<form action="https://search.yahoo.com/search"></form>',
    }
    assert detect_engine(f"<html><body>{markers[name]}</body></html>") == name


def test_detect_engine_gives_none_for_unknown_pages() -> None:
    assert detect_engine("<html><body><p>google is a word</p></body></html>") is None


# ---- fuzzing on real pages ------------------------------------------------------------------

CORPUS_PAGES = sorted((shared_dir() / "serp-corpus" / "pages").glob("*.html"))


@pytest.mark.skipif(not CORPUS_PAGES, reason="shared SERP corpus not found")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(min_value=0, max_value=1000),
    cut=st.floats(min_value=0.0, max_value=1.0),
    splice=st.binary(max_size=64),
    at=st.floats(min_value=0.0, max_value=1.0),
)
def test_truncated_and_mutated_pages_never_raise(
    index: int, cut: float, splice: bytes, at: float
) -> None:
    raw = CORPUS_PAGES[index % len(CORPUS_PAGES)].read_bytes()
    page = raw[: int(len(raw) * cut)]
    where = int(len(page) * at)
    page = page[:where] + splice + page[where:]
    html = page.decode("utf-8", errors="replace")
    for engine in ENGINES.values():
        reading = engine.read_page(html)
        assert reading.ads == engine.read_ads(html)
        assert all(ad.rank >= 1 for ad in reading.ads)
        assert len(reading.stray_click_urls) == len(set(reading.stray_click_urls)) <= 50
        assert isinstance(engine.classify("https://x.example/", 200, html), CaptureStatus)
    detect_engine(html)


# ---- click URLs -----------------------------------------------------------------------------

#: each engine's paid click-URL shapes, every era the corpus pages (and research) show
CLICK_SHAPES: dict[str, list[str]] = {
    "google": [
        "http://www.google.com/aclk?sa=l&ai=COX_h8XGbUu&adurl=http://www.airasia.com/",  # 2013
        "/aclk?sa=l&ai=DChcSEwiLvNzg&sig=AOD64_0i&adurl=",  # 2016 (a relative href)
        "https://www.googleadservices.com/pagead/aclk?sa=L&ai=DChcSEwjV&adurl=",  # 2021
        "https://www.google.com/aclk?sa=L&pf=1&ai=DChsSEwiW&sig=AOD64_2",  # 2023-2026
        "https://www.google.co.uk/aclk?sa=l&ai=x",
        # search-partner clicks: charge the advertiser too, so never followed by default
        "https://googleads.g.doubleclick.net/aclk?sa=l&ai=CxYz&adurl=https://www.lumora.com/",
    ],
    "bing": [
        # 2015, as Yahoo's RU= still carried it in 2016 (yahoo_brave_1)
        "http://51000061.r.msn.com/?ld=d3hMT_vk&u=http%3a%2f%2findex.about.com%2fslp%3fq%3dnand",
        "https://www.bing.com/aclick?ld=e8_Ych11&u=a1aHR0cHM6Ly9zaG9wLmV4YW1wbGUv",  # 2019, 2021
        "https://www.bing.com/aclk?ld=e8abc&u=https%3A%2F%2Fshop.example%2F",  # 2020
        "https://cn.bing.com/aclick?ld=e8abc&u=a1aHR0cHM6Ly9zaG9wLmV4YW1wbGUv",
    ],
    "yahoo": [
        "http://r.search.yahoo.com/cbclk2/dWU9OTRF/RV=2/RE=1455464359/RO=10/RU=http%3a%2f%2f"
        "51000061.r.msn.com%2f%3fld%3dd3hM/RK=0/RS=Z1v-;_ylc=cnQDMQ--?p=NAND",  # 2016
        "https://r.search.yahoo.com/cbclk/dWU9MzYw/RV=2/RE=1568411854/RO=10/RU=https%3a%2f%2f"
        "www.bing.com%2faclick%3fld%3de3vw/RK=2/RS=UGlQ-",  # 2019, inside DuckDuckGo's u3
        "https://r.search.yahoo.co.jp/cbclk/dWU9/RV=2/RO=10/RU=https%3a%2f%2fshop.example%2f/RK=2",
    ],
    "duckduckgo": [
        "https://duckduckgo.com/y.js?u3=https%3A%2F%2Fr.search.yahoo.com%2Fcbclk%2FdWU9&vqd=3-2",
        "https://html.duckduckgo.com/y.js?ad_domain=shop.example&ad_provider=bingv7aa&u3=x",
        "//duckduckgo.com/y.js?ad_domain=shop.example&u3=x",
        "/y.js?ad_domain=shop.example&u3=x",
    ],
}

#: organic results go through the same redirectors, but a click on one charges no one
YAHOO_ORGANIC = "https://r.search.yahoo.com/_ylt=AwrE;_ylu=Y29s/RV=2/RO=10/RU=https%3a%2f%2fx.example%2f/RK=2"
DDG_ORGANIC = "https://duckduckgo.com/l/?uddg=https%3A%2F%2Fnews.example%2F"

#: engine URLs that are no paid click (organic redirects, searches) and look-alikes elsewhere
NOT_CLICKS = [
    "https://www.google.com/url?q=https://news.example/&sa=U",
    "https://www.google.com/search?q=aclk",
    "https://shop.example/aclk?adurl=https://x.example/",
    "https://www.bing.com/search?q=aclick",
    YAHOO_ORGANIC,
    DDG_ORGANIC,
    "https://shop.example/y.js?u3=x",
    "http://[::1/aclk?x",  # unparseable: never a click, never a crash
]


@pytest.mark.parametrize(("name", "url"), [(n, u) for n, us in CLICK_SHAPES.items() for u in us])
def test_each_click_shape_belongs_to_its_engine_alone(name: str, url: str) -> None:
    owners = [engine.name for engine in ENGINES.values() if engine.is_click_url(url)]
    assert owners == [name]


@pytest.mark.parametrize("url", NOT_CLICKS)
def test_organic_redirects_and_look_alikes_are_no_engine_click(url: str) -> None:
    assert not any(engine.is_click_url(url) for engine in ENGINES.values())


SHOP = "https://shop.example/"


@pytest.mark.parametrize(
    ("name", "url", "destination"),
    [
        ("google", "https://www.google.co.uk/aclk?sa=l&adurl=https://shop.example/", SHOP),
        ("google", "/url?q=https://news.example/&sa=U", "https://news.example/"),
        ("bing", CLICK_SHAPES["bing"][0], "http://index.about.com/slp?q=nand"),
        ("bing", CLICK_SHAPES["bing"][1], SHOP),
        ("bing", CLICK_SHAPES["bing"][2], SHOP),
        ("yahoo", CLICK_SHAPES["yahoo"][2], SHOP),
        ("yahoo", YAHOO_ORGANIC, "https://x.example/"),
        ("duckduckgo", "https://duckduckgo.com/y.js?u3=https%3A%2F%2Fshop.example%2F", SHOP),
        ("duckduckgo", DDG_ORGANIC, "https://news.example/"),
    ],
)
def test_click_destination_is_what_the_engines_wrapper_carries(
    name: str, url: str, destination: str
) -> None:
    assert get_engine(name).click_destination(url) == destination


def test_bing_2015_r_msn_com_ad_is_read_with_its_click_url() -> None:
    """The reader and the chain code share one shape: an r.msn.com headline makes an ad."""
    click = CLICK_SHAPES["bing"][0]
    html = (
        '<html><body><ol id="b_results"><li class="b_ad"><ul><li><div class="sb_add">'
        f'<h2><a href="{click.replace("&", "&amp;")}">Acme NAND flash storage</a></h2>'
        "<cite>www.acme.example</cite><p>Fast storage for every budget, shipped worldwide.</p>"
        '</div></li></ul></li><li class="b_algo"><h2><a href="https://news.example/">News</a>'
        "</h2></li></ol></body></html>"
    )
    reading = get_engine("bing").read_page(html)
    assert [(ad.headline, ad.click_url) for ad in reading.ads] == [
        ("Acme NAND flash storage", click)
    ]
    assert reading.stray_click_urls == []
