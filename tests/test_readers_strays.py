"""Ad clicks outside every ad a reader recognised are reported, so a markup change that hides
ads from the reader shows up as a warning instead of silence."""

from __future__ import annotations

import re
from typing import Any

import pytest

from monitor.engines import ENGINES, get_engine
from monitor.engines.dom import MAX_STRAYS
from monitor.models import AdKind
from tests.corpus_support import TRUTH, corpus_html, needs_corpus

#: one ad-click URL of each engine's shape
CLICKS = {
    "google": "https://www.google.com/aclk?sa=l&ai=DChcSEwi1&adurl=https://shop.example/",
    "bing": "https://www.bing.com/aclick?ld=e8abc&u=aHR0cHM6Ly9zaG9wLmV4YW1wbGUv",
    "duckduckgo": "https://duckduckgo.com/y.js?ad_domain=shop.example&ad_provider=bingv7aa&u3=x",
    "yahoo": "https://r.search.yahoo.com/cbclk2/dWU9QUJD/RV=2/RE=1/RO=10/RU=https%3a%2f%2fx/RK=0",
}

GOOGLE_AD = """<html><body><div id="search"><div id="{container}" role="region">
<div {marker} class="{item_class}"><a href="https://shop.example/deal" data-rw="{click}">
<div {heading}>Acme shoes, 50% off</div><span role="text">shop.example</span></a>
<div>Free delivery on every order, returns within thirty days.</div></div>
</div><div id="rso"><div class="g"><a href="/url?q=https://news.example/"><h3>News</h3></a>
</div></div></div></body></html>"""


def google_page(*, marked: bool) -> str:
    """One text ad; unmarked, it has no container id, item marker, class or heading role."""
    if marked:
        parts = {"container": "tads", "marker": 'data-text-ad="1"', "item_class": "uEierd"}
        parts["heading"] = 'role="heading"'
    else:
        parts = {"container": "x7Qz", "marker": "", "item_class": "q1w2", "heading": ""}
    return GOOGLE_AD.format(click=CLICKS["google"].replace("&", "&amp;"), **parts)


def test_google_ad_read_whole_leaves_no_stray() -> None:
    reading = get_engine("google").read_page(google_page(marked=True))

    assert [a.headline for a in reading.ads] == ["Acme shoes, 50% off"]
    assert reading.ads[0].click_url == CLICKS["google"]
    assert reading.stray_click_urls == []


def test_google_ad_stripped_of_every_marker_comes_back_as_a_stray() -> None:
    reading = get_engine("google").read_page(google_page(marked=False))

    assert reading.ads == []
    assert reading.stray_click_urls == [CLICKS["google"]]


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_a_click_link_outside_any_ad_is_a_stray_for_every_engine(name: str) -> None:
    url = CLICKS[name]
    page = (
        "<html><body><div><p>Prices from $9</p>"
        f'<div class="z9"><a href="{url.replace("&", "&amp;")}">Acme deals</a></div>'
        "</div></body></html>"
    )
    reading = ENGINES[name].read_page(page)

    assert reading.ads == []
    assert reading.stray_click_urls == [url]


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_strays_are_unique_in_document_order_and_capped(name: str) -> None:
    urls = [f"{CLICKS[name]}&n={i}" for i in range(MAX_STRAYS + 10)]
    links = "".join(f'<span><a href="{u.replace("&", "&amp;")}">x</a></span>' for u in urls)
    page = f"<html><body><div>{links}{links}</div></body></html>"

    strays = ENGINES[name].read_page(page).stray_click_urls

    assert strays == urls[:MAX_STRAYS]


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_every_engine_reads_a_page_in_one_call(name: str) -> None:
    engine, page = ENGINES[name], google_page(marked=True)

    assert engine.read_page is not None
    assert engine.read_ads(page) == engine.read_page(page).ads


# ---- the real pages -------------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("page", TRUTH, ids=[p["file"] for p in TRUTH])
def test_corpus_pages_have_no_strays(page: dict[str, Any]) -> None:
    engine = get_engine(page["engine"])
    html = corpus_html(page["file"])
    reading = engine.read_page(html)

    assert reading.stray_click_urls == []
    assert reading.ads == engine.read_ads(html)


def _strip_google_markers(html: str) -> str:
    """What a markup change could do: new container ids, no data-text-ad, classes or roles."""
    html = re.sub(r'\bid="(tads|tadsb|bottomads|tvcap)"', r'id="renamed-\1"', html)
    html = re.sub(r'\sdata-text-ad="?1?"?', " ", html)
    html = re.sub(r'\srole="heading"', " ", html)
    return re.sub(r'\sclass="[^"]*"', " ", html)


@needs_corpus
@pytest.mark.parametrize("name", ["google_zlurad_1.html", "google_zlurad_3.html"])
def test_corpus_google_page_without_its_markers_reports_the_missed_clicks(name: str) -> None:
    truth = next(p for p in TRUTH if p["file"] == name)
    missed = [ad.get("click_url") or ad["href"] for ad in truth["ads"]]

    reading = get_engine("google").read_page(_strip_google_markers(corpus_html(name)))

    assert [a for a in reading.ads if a.kind is AdKind.text] == []
    assert missed and all(url in reading.stray_click_urls for url in missed)
