"""Google's 2026 markup: a sponsored listing in the local pack is a local ad (not a stray, not
a text ad), and an advertiser named by its bare domain is still read as the advertiser."""

from __future__ import annotations

from monitor.engines import get_engine
from monitor.engines.google import click_destination, is_click_url
from monitor.models import AdKind, AdPosition
from tests.corpus_support import TRUTH, corpus_html, needs_corpus

GOOGLE = get_engine("google")
CLICK = "/aclk?sa=L&amp;ai=DChsSEwiK&amp;ase=2&amp;adurl="

#: a local pack with one organic place and one sponsored place, labelled in German: the
#: sponsored one is marked by data-is-ad alone, its place name opens a panel (no href)
LOCAL_PACK = f"""<html><body><div id="rcnt"><div id="Odp5De">
<div><a data-cid="111" role="button"><div role="heading">Tierheim Nord</div></a>
<a href="https://tierheim-nord.example/">Webseite</a></div>
<div data-is-ad="1"><div class="q9"><a data-cid="222" role="button"><div>
<span>Gesponsert</span><div role="heading" aria-level="3"><span>Tierhilfe Süd</span>
<span><div role="button" aria-label="Warum diese Anzeige?"></div><g-dialog><div role="dialog">
<span role="heading">Mein Anzeigencenter</span></div></g-dialog></span></div>
<span role="text">(1.7K)</span></div></a>
<a href="{CLICK}https://tierhilfe.example/">Webseite</a>
<a href="{CLICK}https://maps.example/route">Route</a></div></div>
</div><div id="rso"><div class="g"><a href="/url?q=https://news.example/"><h3>News</h3></a>
</div></div></div></body></html>"""


def test_a_sponsored_local_listing_is_a_local_ad_with_its_click() -> None:
    reading = GOOGLE.read_page(LOCAL_PACK)

    [ad] = reading.ads
    assert (ad.kind, ad.position, ad.headline) == (AdKind.local, AdPosition.top, "Tierhilfe Süd")
    assert ad.link == ad.click_url == "/aclk?sa=L&ai=DChsSEwiK&ase=2&adurl=https://tierhilfe.example/"
    assert click_destination(ad.link) == "https://tierhilfe.example/"
    assert ad.display_url == ""  # a review count is no display URL
    assert ad.advertiser == "Tierhilfe Süd"
    assert reading.stray_click_urls == []


def test_data_is_ad_on_a_text_ad_leaves_it_a_text_ad() -> None:
    page = (
        '<html><body><div id="tads"><div data-is-ad="1"><div data-text-ad="1" class="uEierd">'
        '<a href="https://shop.example/" data-rw="https://www.google.com/aclk?sa=l&amp;adurl=x">'
        '<div role="heading">Acme shoes, 50% off</div><span role="text">shop.example</span>'
        "</a></div></div></div></body></html>"
    )

    [ad] = GOOGLE.read_page(page).ads

    assert (ad.kind, ad.headline) == (AdKind.text, "Acme shoes, 50% off")


def _text_ad(advertiser: str, display: str) -> str:
    return (
        '<html><body><div id="tads"><div class="uEierd"><div data-text-ad="1">'
        '<a href="https://www.shop.example/" data-rw="https://www.google.com/aclk?sa=l&amp;adurl=x">'
        '<div role="heading">Acme shoes, 50% off</div><span><span>'
        f'<span><div>{advertiser}</div></span><span><span role="text">{display}</span></span>'
        "</span></span></a></div></div></div></body></html>"
    )


def test_an_advertiser_named_by_its_domain_is_read() -> None:
    [ad] = GOOGLE.read_ads(_text_ad("shop.example", "https://www.shop.example › deals"))

    assert ad.advertiser == "shop.example"


def test_a_display_url_copy_is_no_advertiser() -> None:
    copy = "https://www.shop.example › deals"
    assert GOOGLE.read_ads(_text_ad(copy, copy))[0].advertiser is None
    assert GOOGLE.read_ads(_text_ad("https://www.shop.example", copy))[0].advertiser is None


@needs_corpus
def test_corpus_sponsored_local_listing_is_read_as_a_local_ad() -> None:
    name = "google_websearcher_5.html"
    truth = next(p for p in TRUTH if p["file"] == name)
    reading = GOOGLE.read_page(corpus_html(name))

    [local] = [a for a in reading.ads if a.kind is AdKind.local]
    assert local.headline == "Humane Society Silicon Valley"
    assert local.link.startswith("/aclk?") and is_click_url(local.link)
    assert local.click_url == local.link
    # the saved page's adurl is empty (Google fills it in at click time): no landing to read
    assert click_destination(local.link) in (None, "")
    assert len([a for a in reading.ads if a.kind is AdKind.text]) == len(truth["ads"])
    assert reading.stray_click_urls == []
