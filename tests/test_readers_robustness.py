"""Readers survive what a crawl can bring back: huge, binary, empty, truncated and mangled
pages give ads or nothing, quickly, and never an exception."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.engines import ENGINES, get_engine
from monitor.engines.base import PageReading
from monitor.engines.dom import MAX_STRAYS
from monitor.engines.pagetext import (
    MAX_DEPTH,
    MAX_PAGE_BYTES,
    BoundedPage,
    bound_page,
    decode_page,
    page_encoding,
    too_deep_at,
)
from tests.corpus_support import CORPUS, corpus_html, needs_corpus

#: one corpus page per engine
SAMPLES = {
    "google": "google_zlurad_3.html",
    "bing": "bing_zlurad_1.html",
    "duckduckgo": "duckduckgo_sescraper_1.html",
    "yahoo": "yahoo_brave_1.html",
}

#: an organic result in each engine's markup ({i} numbers it)
ORGANIC = {
    "google": (
        '<div class="g"><div><a href="https://site{i}.example/page"><h3>Organic result {i}</h3>'
        "<cite>site{i}.example</cite></a></div><div>A snippet of text for result {i}, long"
        " enough to look like a real one.</div></div>"
    ),
    "bing": (
        '<li class="b_algo"><h2><a href="https://site{i}.example/">Organic result {i}</a></h2>'
        '<div class="b_caption"><cite>site{i}.example</cite><p>A snippet for result {i}.</p>'
        "</div></li>"
    ),
    "duckduckgo": (
        '<div class="result results_links"><h2 class="result__title"><a class="result__a"'
        ' href="https://site{i}.example/">Organic result {i}</a></h2><a class="result__snippet"'
        ' href="https://site{i}.example/">A snippet for result {i}.</a></div>'
    ),
    "yahoo": (
        '<li><div class="dd algo"><h3 class="title"><a href="https://site{i}.example/">Organic'
        " result {i}</a></h3><div>site{i}.example</div><p>A snippet for result {i}.</p></div></li>"
    ),
}
TWENTY_MB = 20 * 1024 * 1024


def _padded(html: str, organic: str, size: int) -> str:
    """The page with organic-looking results added before </body> until it is `size` long."""
    cut = html.rfind("</body>")
    cut = cut if cut >= 0 else len(html)
    block = "".join(organic.format(i=i) for i in range(200))
    copies = max(1, (size - len(html)) // len(block) + 1)
    return html[:cut] + block * copies + html[cut:]


@needs_corpus
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_20_mb_page_is_read_in_linear_time(name: str) -> None:
    html = corpus_html(SAMPLES[name])
    padded = _padded(html, ORGANIC[name], TWENTY_MB)
    two_mb = _padded(html, ORGANIC[name], TWENTY_MB // 10)
    engine = get_engine(name)
    assert len(padded) >= TWENTY_MB

    # CPU time, and one size against another: what a loaded or slow machine changes alike
    # (the readers' rate is `python -m tests.bench readers`; this is about its shape)
    started = time.process_time()
    engine.read_page(two_mb)
    small = time.process_time() - started
    started = time.process_time()
    reading = engine.read_page(padded)
    elapsed = time.process_time() - started

    # ten times the page, about ten times the time (the nesting scan and lexbor are linear;
    # before pages were bounded, deep or long pages were not)
    assert elapsed < 20 * max(small, 0.05), f"{name}: {elapsed:.2f} s for 20 MB, {small:.2f} for 2"
    assert [a.headline for a in reading.ads] == [a.headline for a in engine.read_ads(html)]
    assert reading.stray_click_urls == []


BINARY = bytes(range(256)) * 64


@pytest.mark.parametrize("name", sorted(ENGINES))
@pytest.mark.parametrize(
    "page",
    [
        "",
        "   \n\t",
        BINARY.decode("latin-1"),
        BINARY.decode("utf-8", errors="replace"),
        "\x00" * 1000,
        "\ud800\udfff<div id=tads>",
        "<" * 10_000,
        "<html><body>" + "<div>" * 20_000,
        "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    ],
    ids=["empty", "blank", "latin1", "utf8", "nul", "surrogates", "angles", "deep", "pdf"],
)
def test_binary_empty_and_junk_pages_read_as_nothing(name: str, page: str) -> None:
    assert ENGINES[name].read_page(page) == PageReading([], [])
    assert ENGINES[name].read_ads(page) == []


@needs_corpus
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_a_page_cut_before_its_first_ad_reads_as_nothing(name: str) -> None:
    html = corpus_html(SAMPLES[name])
    ads = get_engine(name).read_ads(html)
    assert ads, "the sample page has ads"
    first_ad = min(html.find(a.link.replace("&", "&amp;")) % len(html) for a in ads)
    cut = min(first_ad, html.find(ads[0].headline.split()[0]) % len(html))

    assert get_engine(name).read_page(html[: max(cut - 1, 0)]).ads == []


@needs_corpus
@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_truncated_pages_never_raise(name: str, fraction: float) -> None:
    html = corpus_html(SAMPLES[name])
    reading = get_engine(name).read_page(html[: int(len(html) * fraction)])

    assert all(ad.rank >= 1 for ad in reading.ads)
    assert len(reading.stray_click_urls) <= MAX_STRAYS


# ---- generated markup -----------------------------------------------------------------------

#: the tags, attributes and values the readers look at, so generated pages reach every layer
_TAGS = ["div", "li", "ol", "span", "a", "h2", "h3", "p", "cite", "g-bubble", "svg", "script"]
_ATTRS = st.sampled_from(
    [
        ("id", "tads"),
        ("id", "tadsb"),
        ("id", "bottomads"),
        ("id", "mbEnd"),
        ("id", "rso"),
        ("id", "b_results"),
        ("id", "b_context"),
        ("id", "ads"),
        ("id", "links"),
        ("id", "web"),
        ("id", "right"),
        ("class", "uEierd"),
        ("class", "ads-ad"),
        ("class", "pla-unit"),
        ("class", "b_ad b_adBottom"),
        ("class", "sb_add"),
        ("class", "pa_item"),
        ("class", "result result--ad"),
        ("class", "result"),
        ("class", "searchCenterTopAds"),
        ("class", "g"),
        ("role", "heading"),
        ("role", "text"),
        ("role", "listitem"),
        ("data-text-ad", "1"),
        ("style", "display:none"),
        ("hidden", ""),
        ("aria-hidden", "true"),
        ("href", "/aclk?sa=l&ai=x"),
        ("href", "https://www.googleadservices.com/pagead/aclk?sa=L"),
        ("data-rw", "https://www.google.com/aclk?sa=l"),
        ("href", "https://www.bing.com/aclick?ld=1&u=aHR0cHM6Ly94"),
        ("href", "https://duckduckgo.com/y.js?ad_provider=x"),
        ("href", "https://r.search.yahoo.com/cbclk2/x/RU=y"),
        ("href", "/url?q=https://x.example/"),
        ("href", "https://x.example/"),
        ("data-matarget", "ad"),
    ]
)
_TEXT = st.sampled_from(
    ["", "Acme shoes", "www.acme.example/shoes", "Free delivery on all orders today", "\u202e"]
)


def _element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    def render(tag: str, attrs: list[tuple[str, str]], text: str, inner: list[str]) -> str:
        rendered = "".join(f' {k}="{v.replace("&", "&amp;")}"' for k, v in attrs)
        return f"<{tag}{rendered}>{text}{''.join(inner)}</{tag}>"

    return st.builds(
        render,
        st.sampled_from(_TAGS),
        st.lists(_ATTRS, max_size=3),
        _TEXT,
        st.lists(children, max_size=4),
    )


_MARKUP = st.recursive(_TEXT, _element, max_leaves=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(_MARKUP, max_size=6))
def test_generated_ad_like_markup_never_raises_in_any_reader(body: list[str]) -> None:
    page = f"<html><body>{''.join(body)}</body></html>"
    for engine in ENGINES.values():
        reading = engine.read_page(page)
        assert reading.ads == engine.read_ads(page)
        assert len(reading.stray_click_urls) == len(set(reading.stray_click_urls))
        assert len(reading.stray_click_urls) <= MAX_STRAYS
        assert all(ad.rank >= 1 and ad.headline for ad in reading.ads)


# --- pages past the bounds: read up to them, in bounded time -------------------------------


def test_100k_nested_divs_are_read_up_to_the_depth_bound_at_once() -> None:
    # lexbor's tree building costs the square of the depth: this did not finish in 120 s
    page = "<html><body>" + "<div>" * 100_000 + "x" + "</div>" * 100_000 + "</body></html>"
    started = time.process_time()
    bounded = bound_page(page)
    readings = [engine.read_page(page) for engine in ENGINES.values()]
    elapsed = time.process_time() - started
    assert bounded.cut is not None and f"nested more than {MAX_DEPTH} deep" in bounded.cut
    assert bounded.html.count("<div>") == MAX_DEPTH - 2  # html and body, then divs to the bound
    assert all(r == PageReading([], []) for r in readings)
    assert elapsed < 5.0  # CPU seconds; quadratic, it is minutes


@needs_corpus
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_ads_before_a_too_deep_part_are_still_read(name: str) -> None:
    html = corpus_html(SAMPLES[name])
    engine = get_engine(name)
    cut = html.rfind("</body>")
    hostile = html[:cut] + "<div>" * 100_000 + html[cut:]
    assert bound_page(hostile).cut is not None
    assert engine.read_ads(hostile) == engine.read_ads(html)


@needs_corpus
def test_no_corpus_page_is_cut_and_its_nesting_is_read_as_lexbor_reads_it() -> None:
    for path in sorted((CORPUS / "pages").glob("*.html")):
        html = path.read_text(encoding="utf-8", errors="replace")
        assert bound_page(html) == BoundedPage(html), path.name


@pytest.mark.parametrize("pattern", [
    "<b><div></b>", "<span><div></span>", "<div><table></div>", "<i><b><u><div></i>x",
    "<table><td><div>", "<form><div></form>", "<svg><foreignObject><div>",
])
def test_misnested_markup_a_parser_keeps_open_counts_as_open(pattern: str) -> None:
    # each repeat leaves at least one element open in lexbor; the scan must not close it
    page = "<html><body>" + pattern * 2000
    assert too_deep_at(page) is not None


def test_formatting_a_parser_reopens_again_and_again_is_bounded() -> None:
    # 300 distinct <b>s closed by their <div>: lexbor reopens all of them inside every
    # later element (ten thousand of these took it 3 s and a million elements)
    page = "<html><body>" + "".join(f"<div><b id={k}></div>" for k in range(300))
    page += "<div>x</div>" * 100_000
    found = too_deep_at(page)
    assert found is not None and found[0] < len(page) // 10


@pytest.mark.parametrize("page", [
    "<" * 2_000_000, "x" * 5_000_000 + "<3", "</" * 1_000_000, "<!" * 1_000_000,
    "<a>" + " " * 5_000_000 + "<3" * 1000,
])
def test_text_without_tags_scans_in_linear_time(page: str) -> None:
    started = time.process_time()
    assert too_deep_at(page) is None
    assert time.process_time() - started < 5.0  # CPU seconds; quadratic, it is hours


def test_a_page_past_the_size_bound_is_read_up_to_it() -> None:
    page = "<html><body>" + "x" * (MAX_PAGE_BYTES + 10)
    bounded = bound_page(page)
    assert len(bounded.html) == MAX_PAGE_BYTES and bounded.cut and "24 MB" in bounded.cut


@pytest.mark.parametrize(("encoded", "codec"), [
    ("<html>é</html>".encode("utf-16"), "utf-16"),
    ("<html>é</html>".encode("utf-16-le"), "utf-16-le"),
    ("<html>é</html>".encode("utf-16-be"), "utf-16-be"),
    ("<html>é</html>".encode("utf-8-sig"), "utf-8-sig"),
    ('<meta charset="windows-1252"><p>é</p>'.encode("cp1252"), "cp1252"),
    ('<meta http-equiv=content-type content="text/html; charset=ISO-8859-1">é'.encode(
        "latin-1"), "cp1252"),
    ('<meta charset="windows-1252"><p>é</p>'.encode(), "utf-8"),  # as the store keeps pages
    (b"\x00\xff\xfe binary \x89PNG", "utf-8"),
])
def test_a_saved_page_is_decoded_by_what_it_says_it_is(encoded: bytes, codec: str) -> None:
    assert page_encoding(encoded) == codec
    assert "é" in decode_page(encoded) or (codec == "utf-8" and b"\xc3" not in encoded)
