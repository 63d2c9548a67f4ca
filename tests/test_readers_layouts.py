"""Layouts users meet that the shared corpus lacks, as synthetic pages written from the
engines' documented structure (research/serp-ad-markup.md), not copied from any page:
Yahoo's 2021-22 ad lists, a 2022 Bing page titled "… - Search", and ad blocks between the
organic results (Google's inside #rso, Bing's b_adMiddle)."""

from __future__ import annotations

import pytest

from monitor.engines import detect_engine, get_engine
from monitor.models import AdKind, AdPosition, ObservedAd


def _text_ads(engine: str, html: str) -> list[ObservedAd]:
    reading = get_engine(engine).read_page(html)
    assert reading.stray_click_urls == []
    return [a for a in reading.ads if a.kind is AdKind.text]


# ---- Yahoo 2021-22 ------------------------------------------------------------------------


def _yahoo_click(host: str, n: int) -> str:
    return (
        f"https://{host}/cbclk2/dWU9QUJDJnV0PTE2NDA{n}/RV=2/RE=1640995200/RO=10/"
        f"RU=https%3a%2f%2fwww.bing.com%2faclick%3fld%3de8{n}%26u%3dshop{n}/RK=0/RS=q{n}-"
    )


def _yahoo_ad(host: str, n: int, headline: str, domain: str) -> str:
    """One ad of the 2021-22 layout: li > div.dd.ads, the title link wrapping the display
    URL line and the h3, the copy in compText, sitelinks in a compList."""
    click = _yahoo_click(host, n)
    first = "first" if n == 1 else ""
    return f"""<li class="{first}"><div class="dd ads AdTop fst" data-7e3="x{n}">
<div class="compTitle"><a class="d-ib td-hu" href="{click}" data-matarget="ad"
 referrerpolicy="origin" target="_blank"><span class="fz-ms wr-bw">{domain}</span>
<h3 class="title"><span>{headline}</span></h3></a></div>
<div class="compText"><p class="lh-18">Order today and get free delivery on every model in
stock, with thirty-day returns.</p></div>
<div class="compList"><ul><li><a href="{click}&amp;sl=1" data-matarget="ad-ql">Deals</a></li>
<li><a href="{click}&amp;sl=2" data-matarget="ad-ql">Support</a></li></ul></div>
</div></li>"""


def yahoo_2022_page(host: str = "search.yahoo.com", lang: str = "en") -> str:
    organic = "".join(
        f'<li><div class="dd algo algo-sr"><div class="compTitle"><h3 class="title">'
        f'<a href="https://r.search.yahoo.com/_ylt=A0g{n}/RU=https%3a%2f%2fnews{n}.example%2f/'
        f'RK=2/RS=o{n}-">Result {n}</a></h3></div><div class="compText"><p>Text of the'
        f" organic result number {n}.</p></div></div></li>"
        for n in range(1, 4)
    )
    return f"""<!DOCTYPE html><html lang="{lang}"><head><title>laptops - Yahoo</title>
<link rel="stylesheet" href="https://s.yimg.com/pv/static/sprite.css"></head><body>
<div id="ys"><form id="sf" action="https://{host}/search"><input name="p" value="laptops">
</form></div>
<div id="results"><div id="cols"><div id="left"><div id="main"><div>
<ol class=" reg searchCenterTopAds">
<li><div class="compTitle AdHdr"><span>—</span></div></li>
{_yahoo_ad(host, 1, "Acme Laptops - Official Store", "www.acme.example")}
{_yahoo_ad(host, 2, "Zeta Notebooks On Sale", "zeta.example/notebooks")}
</ol>
<div id="web"><ol class="reg searchCenterMiddle">{organic}</ol></div>
<ol class=" reg searchCenterBottomAds">
{_yahoo_ad(host, 3, "Acme Laptops - Official Store", "www.acme.example")}
</ol></div></div></div>
<div id="right"><ol class="searchRightBottomAds">
{_yahoo_ad(host, 4, "Omega Computers Outlet", "omega.example")}
</ol></div></div></div></body></html>"""


@pytest.mark.parametrize(
    ("host", "lang"),
    [("search.yahoo.com", "en"), ("it.search.yahoo.com", "it"), ("au.search.yahoo.com", "en")],
)
def test_yahoo_2022_ads_are_read_in_every_list(host: str, lang: str) -> None:
    html = yahoo_2022_page(host, lang)

    ads = _text_ads("yahoo", html)

    assert detect_engine(html) == "yahoo"
    assert [(a.position, a.rank, a.headline, a.display_url) for a in ads] == [
        (AdPosition.top, 1, "Acme Laptops - Official Store", "www.acme.example"),
        (AdPosition.top, 2, "Zeta Notebooks On Sale", "zeta.example/notebooks"),
        (AdPosition.bottom, 1, "Acme Laptops - Official Store", "www.acme.example"),
        (AdPosition.right, 1, "Omega Computers Outlet", "omega.example"),
    ]
    first = ads[0]
    assert first.link == first.click_url == _yahoo_click(host, 1)
    assert first.description.startswith("Order today and get free delivery")
    assert [s.text for s in first.sitelinks] == ["Deals", "Support"]


def test_yahoo_regional_click_host_is_a_paid_click() -> None:
    yahoo = get_engine("yahoo")
    url = _yahoo_click("it.search.yahoo.com", 1)

    assert yahoo.is_click_url(url)
    assert yahoo.click_destination(url) == "https://www.bing.com/aclick?ld=e81&u=shop1"
    assert not yahoo.is_click_url("https://it.search.yahoo.com/search?p=cbclk")


def _unwrapped(item: str) -> str:
    """An ad's div.dd without the list item around it."""
    return item[item.index(">") + 1 : -len("</li>")]


def test_yahoo_list_item_holding_two_ads_gives_two_ads() -> None:
    first = _unwrapped(_yahoo_ad("search.yahoo.com", 1, "First Ad Title", "one.example"))
    second = _unwrapped(_yahoo_ad("search.yahoo.com", 2, "Second Ad Title", "two.example"))
    html = (
        '<html><body><div id="main"><ol class="searchCenterTopAds">'
        f"<li>{first}{second}</li></ol></div></body></html>"
    )

    ads = _text_ads("yahoo", html)

    assert [(a.headline, a.display_url) for a in ads] == [
        ("First Ad Title", "one.example"),
        ("Second Ad Title", "two.example"),
    ]


# ---- Bing 2022: "- Search" title, b_adMiddle, b_adBottom ------------------------------------


def _bing_click(n: int) -> str:
    return f"https://www.bing.com/aclk?ld=e8{n}Qm&u=aHR0cHM6Ly9zaG9wLmV4YW1wbGUv{n}"


def _bing_ad_block(position_class: str, n: int, headline: str) -> str:
    click = _bing_click(n).replace("&", "&amp;")
    return f"""<li class="b_ad {position_class}"><ul><li class="b_adLastChild">
<div class="sb_add sb_adTA">
<h2><a href="{click}" h="ID=SERP,5{n}">{headline}</a></h2>
<div class="b_caption"><div class="b_attribution"><cite>shop{n}.example/laptops</cite></div>
<p><span class="b_adSlug">Ad</span>Genuine parts, fast shipping and a two-year warranty.</p>
</div></div></li></ul></li>"""


def bing_2022_page() -> str:
    organic = [
        f'<li class="b_algo"><h2><a href="https://news{n}.example/">Result {n}</a></h2>'
        f'<div class="b_caption"><p>Text of result {n}.</p></div></li>'
        for n in range(1, 5)
    ]
    results = "".join(
        [
            _bing_ad_block("b_adTop", 1, "Acme Laptops Official"),
            *organic[:2],
            _bing_ad_block("b_adMiddle", 2, "Zeta Laptop Deals"),
            *organic[2:],
            _bing_ad_block("b_adBottom", 3, "Omega Laptop Outlet"),
        ]
    )
    return f"""<!DOCTYPE html><html lang="en"><head><title>laptops - Search</title>
<script src="https://r.bing.com/rp/abc.js"></script></head><body>
<form action="/search" id="sb_form"><input name="q" id="sb_form_q" value="laptops"></form>
<div id="b_content"><main><ol id="b_results">{results}</ol></main></div></body></html>"""


def test_bing_page_titled_search_is_bing_and_keeps_its_bottom_and_middle_ads() -> None:
    html = bing_2022_page()

    ads = _text_ads("bing", html)

    assert detect_engine(html) == "bing"
    assert [(a.position, a.rank, a.headline, a.display_url) for a in ads] == [
        (AdPosition.top, 1, "Acme Laptops Official", "shop1.example/laptops"),
        (AdPosition.middle, 1, "Zeta Laptop Deals", "shop2.example/laptops"),
        (AdPosition.bottom, 1, "Omega Laptop Outlet", "shop3.example/laptops"),
    ]
    assert ads[1].click_url == _bing_click(2)


def test_bing_unmarked_ad_block_between_results_is_middle() -> None:
    html = bing_2022_page().replace("b_adMiddle", "b_x9")

    ads = _text_ads("bing", html)

    assert [(a.position, a.headline) for a in ads][1] == (AdPosition.middle, "Zeta Laptop Deals")


# ---- Google 2026: an ad block inside #rso between results -----------------------------------

_GOOGLE_CLICK = "https://www.google.com/aclk?sa=L&ai=DChsSEwi{n}&adurl=&ved=2ahUKE{n}"


def _google_ad(n: int, headline: str, domain: str) -> str:
    click = _GOOGLE_CLICK.format(n=n).replace("&", "&amp;")
    return f"""<div class="uEierd"><div data-text-ad="1" data-ta-slot="{n}" data-hveid="CE{n}">
<a class="sVXRqc" href="https://www.{domain}/" data-rw="{click}" data-pcu="https://www.{domain}/">
<div role="heading" aria-level="3"><span>{headline}</span></div>
<div><span>{domain.title()}</span><div><span role="text">www.{domain}</span></div></div></a>
<div>Free delivery on every order, and returns within thirty days of purchase.</div></div></div>"""


def _organic(n: int) -> str:
    return (
        f'<div class="MjjYud"><div class="g" data-hveid="CA{n}"><a href="https://news{n}.example/"'
        f' data-ved="2ahUKEo{n}"><h3>Result {n}</h3></a><div>Text of result {n}.</div></div></div>'
    )


def google_2026_page() -> str:
    middle = (
        '<div class="MjjYud"><div><div id="Xq7Lm"><h1>Ads</h1><div data-hb="b">'
        f'{_google_ad(2, "Zeta Running Shoes - Sale", "zeta.example")}</div></div></div></div>'
    )
    bottom = (
        '<div class="MjjYud"><div id="bottomads"><div id="tadsb" role="region">'
        f'{_google_ad(3, "Omega Trail Shoes", "omega.example")}</div></div></div>'
    )
    return f"""<!DOCTYPE html><html><head><title>shoes - Google Search</title></head><body>
<div id="main"><div id="rcnt"><div id="center_col"><div id="taw"><div id="tvcap">
<div id="tads" role="region">{_google_ad(1, "Acme Shoes Official", "acme.example")}</div>
</div></div><div id="search"><div id="rso">{_organic(1)}{_organic(2)}{middle}{_organic(3)}
{_organic(4)}{bottom}</div></div></div></div></div></body></html>"""


def test_google_ad_block_inside_rso_between_results_is_middle() -> None:
    html = google_2026_page()

    ads = _text_ads("google", html)

    assert detect_engine(html) == "google"
    assert [(a.position, a.rank, a.headline, a.display_url) for a in ads] == [
        (AdPosition.top, 1, "Acme Shoes Official", "www.acme.example"),
        (AdPosition.middle, 1, "Zeta Running Shoes - Sale", "www.zeta.example"),
        (AdPosition.bottom, 1, "Omega Trail Shoes", "www.omega.example"),
    ]
    assert ads[1].click_url == _GOOGLE_CLICK.format(n=2)
