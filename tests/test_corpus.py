"""Every real result page in the shared corpus is read exactly as its truth file says.

truth.json conventions: `href` is the headline link as in the markup (our `link`);
`click_url` is the engine's click URL only where it differs from href (we also report the
click URL when the link itself is one, so a missing truth value allows None or href);
headline and display URL are the element text, cleaned; ranks are per position.
"""

from __future__ import annotations

from typing import Any

import pytest

from monitor.engines import detect_engine, get_engine
from monitor.models import AdKind, CaptureStatus, ObservedAd
from tests.corpus_support import CORPUS, TRUTH, corpus_html

if not TRUTH:
    pytest.skip(f"shared SERP corpus not found at {CORPUS}", allow_module_level=True)

PAGES = TRUTH


def _html(page: dict[str, Any]) -> str:
    return corpus_html(page["file"])


def _expected(ad: dict[str, Any]) -> tuple[str, int, str, str, str]:
    return (ad["position"], ad["rank"], ad["headline"], ad["display_url"], ad["href"])


def _observed(ad: ObservedAd) -> tuple[str, int, str, str, str]:
    return (str(ad.position), ad.rank, ad.headline, ad.display_url, ad.link)


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_reads_every_text_ad_as_truth_says(page: dict[str, Any]) -> None:
    ads = [a for a in get_engine(page["engine"]).read_ads(_html(page)) if a.kind is AdKind.text]

    assert [_observed(a) for a in ads] == [_expected(t) for t in page["ads"]]
    for ad, truth in zip(ads, page["ads"], strict=True):
        if truth.get("click_url"):
            assert ad.click_url == truth["click_url"], truth["headline"]
        else:
            assert ad.click_url in (None, truth["href"]), truth["headline"]


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_detects_engine_and_classifies_page_ok(page: dict[str, Any]) -> None:
    html = _html(page)
    engine = get_engine(page["engine"])

    assert detect_engine(html) == page["engine"]
    assert engine.classify(f"https://{engine.hosts[0]}/search?q=x", 200, html) is CaptureStatus.ok


@pytest.mark.parametrize("page", PAGES, ids=[p["file"] for p in PAGES])
def test_advertiser_where_the_markup_names_one(page: dict[str, Any]) -> None:
    ads = [a for a in get_engine(page["engine"]).read_ads(_html(page)) if a.kind is AdKind.text]

    for ad, truth in zip(ads, page["ads"], strict=True):
        if truth.get("advertiser"):
            assert ad.advertiser == truth["advertiser"]
