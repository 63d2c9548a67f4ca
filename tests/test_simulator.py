"""The simulator, driven the way production drives it: a real Chromium resolving every host to
the simulator's loopback port, plus raw HTTP(S) clients for what a browser hides."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from monitor.capture.browser import LAUNCH_ARGS
from monitor.dev.simulator import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    Simulator,
    load_scenario,
)

MOBILE_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
needs_chromium = pytest.mark.browser


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator(DEFAULT_SCENARIO) as running:
        yield running


@pytest.fixture(scope="module")
def browser(simulator: Simulator, browser_path: Path) -> Iterator[Browser]:
    args = [*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"]
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(browser_path), args=args)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(ignore_https_errors=True)
    opened.set_default_timeout(10_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def fetch(
    simulator: Simulator,
    host: str,
    path: str,
    tls: bool = True,
    timeout: float = 5.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    """One raw request to the simulator's port, sent as if to `host`."""
    if tls:
        insecure = ssl._create_unverified_context()
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", simulator.port, context=insecure, timeout=timeout
        )
    else:
        connection = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host, **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def scenario_variant(**changes: object) -> Scenario:
    data = load_scenario(DEFAULT_SCENARIO).model_dump()
    data.update(changes)
    return Scenario.model_validate(data)


# --- the scenario file ------------------------------------------------------------------------


def test_default_scenario_loads_with_the_demo_cast() -> None:
    scenario = load_scenario(DEFAULT_SCENARIO)
    advertisers = {ad.advertiser for ad in scenario.ads}
    assert {"Lumora", "SleepSaver", "KuponHemat", "DreamNest", "كوبونات العرب"} <= advertisers
    hostile = next(ad for ad in scenario.ads if ad.id == "hostile-unknown")
    assert len(hostile.description) == 3000
    assert "\u202e" in hostile.headline and "\r\n" in hostile.headline


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("markets: []\n", "markets"),
        ("markets: [{id: x, country: US, language: en, timezone: Mars/Base}]\n", "time zone"),
        (
            "markets: [{id: x, country: US, language: en, timezone: UTC}]\n"
            "ads: [{id: a, queries: ['(unclosed'], advertiser: A, headline: H, "
            "display_url: d, link: 'https://a.example/'}]\n",
            "ads.0.queries",
        ),
        (
            "markets: [{id: x, country: US, language: en, timezone: UTC}]\n"
            "ads: [{id: a, queries: [a], advertiser: A, headline: H, display_url: d, "
            "link: 'https://a.example/', colour: red}]\n",
            "colour",
        ),
        (
            "markets: [{id: x, country: US, language: en, timezone: UTC}]\n"
            "ads: [{id: a, markets: [nowhere], queries: [a], advertiser: A, headline: H, "
            "display_url: d, link: 'https://a.example/'}]\n",
            "unknown market(s) nowhere",
        ),
    ],
)
def test_bad_scenarios_are_refused_naming_the_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert str(path) in str(raised.value) and expected in str(raised.value)


# --- the port: HTTP and HTTPS, hosts, 404 ------------------------------------------------------


def test_plain_http_and_https_share_one_port(simulator: Simulator) -> None:
    for tls in (True, False):
        status, _, body = fetch(simulator, "www.lumora.com", "/sale?clickref=abc", tls=tls)
        assert status == 200
        assert "Lumora - Mattresses" in body
        scheme = "https" if tls else "http"
        assert f"{scheme}://www.lumora.com/sale?clickref=abc" in body


def test_unknown_hosts_answer_a_neutral_404(simulator: Simulator) -> None:
    status, _, body = fetch(simulator, "unknown.example", "/<x>", timeout=3)
    assert status == 404
    assert "Not Found" in body and "<x>" not in body


def test_requests_are_recorded(simulator: Simulator) -> None:
    fetch(simulator, "www.dreamnest.com", "/recorded?x=1")
    recorded = [r for r in simulator.requests if r.path == "/recorded"]
    assert recorded and recorded[-1].host == "www.dreamnest.com"
    assert recorded[-1].query == "x=1" and recorded[-1].method == "GET"


# --- result pages in a real browser -----------------------------------------------------------


@needs_chromium
def test_google_desktop_page_carries_the_ads(page: Page) -> None:
    page.goto("https://www.google.com/search?q=Lumora&gl=us&hl=en")
    top = page.locator("#tvcap #tads div.uEierd")
    headlines = top.locator("div[role=heading]").all_inner_texts()
    assert headlines[0].startswith("Lumora® Official Site")
    assert any("Lumora Coupon" in h for h in headlines)
    assert page.locator("#tads").get_attribute("aria-label") == "Ads"
    link = top.nth(1).locator("a.sVXRqc")
    assert link.get_attribute("href") == "https://go.sleepsaver.net/r/lumora"
    click_url = link.get_attribute("data-rw") or ""
    assert click_url.startswith("https://www.google.com/aclk?sa=l&ai=")
    assert parse_qs(urlsplit(click_url).query)["adurl"] == ["https://go.sleepsaver.net/r/lumora"]
    assert link.get_attribute("data-pcu") == "https://go.sleepsaver.net/"
    assert top.nth(1).locator("span[role=text]").first.inner_text() == "www.sleepsaver.net"
    assert top.nth(1).locator("a[style*='display:none']").get_attribute("href") == click_url
    bottom = page.locator("#bottomads #tadsb div.uEierd div[role=heading]").all_inner_texts()
    assert bottom == ["Better than Lumora? Try DreamNest"]
    assert page.locator("#rso .MjjYud h3").count() >= 1


@needs_chromium
def test_google_mobile_page_and_localised_label(browser: Browser) -> None:
    context = browser.new_context(ignore_https_errors=True, user_agent=MOBILE_AGENT)
    try:
        page = context.new_page()
        page.goto("https://www.google.co.id/search?q=lumora&gl=id&hl=id")
        anchors = page.locator("#tads div.uEierd a.cz3goc.v5yQqb.BmP5tf")
        assert anchors.count() == 2
        assert anchors.nth(1).get_attribute("href", timeout=2000) == (
            "https://lumora.sjv.io/c/2345678/1234567/15890?u=https%3A%2F%2Fwww.lumora.co.id%2Fpromo"
        )
        assert "Bersponsor" in page.locator("#tads .U3A9Ac").first.inner_text()
    finally:
        context.close()


@needs_chromium
def test_bing_page_in_arabic_carries_the_permitted_ad(page: Page) -> None:
    page.goto("https://www.bing.com/search?q=Lumora+coupon&mkt=ar-AE&setlang=ar")
    assert page.locator("html").get_attribute("dir") == "rtl"
    items = page.locator("#b_results > li.b_ad > ul > li div.sb_add")
    texts = items.locator("h2 > a").all_inner_texts()
    assert "كوبون Lumora - خصم حتى 30% على المراتب" in texts
    href = items.nth(texts.index("كوبون Lumora - خصم حتى 30% على المراتب")).locator("h2 > a")
    click_url = href.get_attribute("href") or ""
    assert click_url.startswith("https://www.bing.com/aclick?ld=")
    encoded = parse_qs(urlsplit(click_url).query)["u"][0]
    assert encoded.startswith("a1")
    payload = encoded[2:] + "=" * (-len(encoded[2:]) % 4)
    assert base64.urlsafe_b64decode(payload).decode() == "https://coupons-arab.ae/lumora"
    assert items.locator(".b_adurl cite").all_inner_texts()[1] == "coupons-arab.ae/lumora"


@needs_chromium
def test_hostile_ad_reaches_the_page_as_text_only(page: Page) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto("https://www.google.com/search?q=Lumora+discount&gl=us&hl=en")
    headlines = page.locator("#tads div[role=heading]").all_text_contents()
    hostile = next(h for h in headlines if "90% OFF" in h)
    assert "<script>alert('ad')</script>" in hostile and "<img src=x" in hostile
    assert page.locator("#tads img[onerror], #tads iframe").count() == 0
    assert dialogs == []


# --- chains -----------------------------------------------------------------------------------


@needs_chromium
def test_meta_then_http_chain_lands_with_a_click_ref(simulator: Simulator, page: Page) -> None:
    simulator.requests.clear()
    page.goto("https://go.sleepsaver.net/r/lumora")
    page.wait_for_url("https://www.lumora.com/sale?clickref=*")
    assert page.title() == "Lumora - Mattresses & Sleep Products"
    hosts = [r.host for r in simulator.requests if r.path != "/favicon.ico"]
    assert hosts[:3] == ["go.sleepsaver.net", "prf.hn", "www.lumora.com"]


@needs_chromium
def test_js_then_http_chain_lands_with_a_cj_event(simulator: Simulator, page: Page) -> None:
    simulator.requests.clear()
    page.goto("https://www.sleepsaver.net/out/lumora-cj")
    page.wait_for_url("https://www.lumora.com/?cjevent=*")
    hosts = simulator.requests.hosts()
    assert hosts.index("www.sleepsaver.net") < hosts.index("www.anrdoezrs.net")
    assert hosts.index("www.anrdoezrs.net") < hosts.index("www.lumora.com")


def test_http_hops_answer_with_their_status(simulator: Simulator) -> None:
    status, headers, _ = fetch(simulator, "www.dreamnest.com", "/compare/lumora")
    assert status == 301
    assert headers["Location"] == "https://www.dreamnest.com/compare/lumora-vs-dreamnest"
    ulp = quote("https://www.lumora.co.id/", safe="")
    status, headers, _ = fetch(simulator, "ad.admitad.com", f"/g/1e8d1144945c3b7a6f/?ulp={ulp}")
    assert status == 302
    assert headers["Location"].startswith("https://www.lumora.co.id/?admitad_uid=")


def test_engine_click_redirectors_lead_to_the_ad_link(simulator: Simulator) -> None:
    status, _, body = fetch(simulator, "duckduckgo.com", "/html/?q=lumora&kl=us-en")
    assert status == 200 and 'class="result results_links results_links_deep result--ad"' in body
    url = body.split('class="result__a" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    hosts = []
    for _ in range(2):  # y.js, then Bing's aclick
        parts = urlsplit(url)
        status, headers, _ = fetch(simulator, parts.hostname or "", f"{parts.path}?{parts.query}")
        assert status == 302
        hosts.append(parts.hostname)
        url = headers["Location"]
    assert hosts == ["duckduckgo.com", "www.bing.com"]
    assert url == "https://www.lumora.com/?utm_source=search&utm_medium=cpc&utm_campaign=brand"


def test_yahoo_regional_host_and_its_redirector(simulator: Simulator) -> None:
    status, _, body = fetch(simulator, "id.search.yahoo.com", "/search?p=lumora")
    assert status == 200 and 'ol class=" reg searchCenterTopAds"' in body
    assert "Lumora® Situs Resmi" in body
    click = body.split('data-matarget="ad" href="', 1)[1].split('"', 1)[0]
    parts = urlsplit(click.replace("&amp;", "&"))
    status, headers, _ = fetch(simulator, parts.hostname or "", parts.path)
    assert status == 302 and headers["Location"].startswith("https://www.bing.com/aclick?ld=")


# --- time-dependent ads ------------------------------------------------------------------------


def test_night_only_ad_follows_the_market_clock() -> None:
    path = "/search?q=Lumora+promo+code&gl=id&hl=id"
    with Simulator(DEFAULT_SCENARIO) as sim:
        sim.clock = lambda: datetime(2025, 3, 1, 16, 30, tzinfo=UTC)  # 23:30 in Jakarta
        assert "Promo Tengah Malam" in fetch(sim, "www.google.com", path)[2]
        sim.clock = lambda: datetime(2025, 3, 1, 5, 0, tzinfo=UTC)  # 12:00 in Jakarta
        assert "Promo Tengah Malam" not in fetch(sim, "www.google.com", path)[2]


# --- misbehaviour -----------------------------------------------------------------------------


@needs_chromium
def test_google_consent_wall_then_results_after_rejecting(page: Page) -> None:
    page.goto("https://www.google.de/search?q=Lumora&hl=de")
    assert page.url.startswith("https://consent.google.com/ml?continue=")
    assert "Before you continue to Google" in page.content()
    page.get_by_role("button", name="Reject all").click()
    page.wait_for_url("https://www.google.de/search?*")
    assert page.locator("#tads").get_attribute("aria-label") == "Anzeigen"
    assert page.locator("#tads .U3A9Ac").first.inner_text() == "Anzeige"


@needs_chromium
def test_google_sorry_page_answers_429(page: Page) -> None:
    response = page.goto("https://www.google.com/search?q=bidwatch+test+captcha&gl=us&hl=en")
    assert response is not None and response.status == 429
    assert page.url.startswith("https://www.google.com/sorry/index?continue=")
    assert "unusual traffic" in page.content()
    assert page.locator("div#recaptcha.g-recaptcha").count() == 1


def test_bing_captcha_rate_limit_and_broken_markup(simulator: Simulator) -> None:
    status, headers, _ = fetch(simulator, "www.bing.com", "/search?q=bidwatch+test+captcha")
    assert status == 302
    location = urlsplit(headers["Location"])
    assert (location.hostname, location.path) == ("www.bing.com", "/turing/captcha/challenge")
    assert fetch(simulator, "www.bing.com", f"{location.path}?{location.query}")[0] == 200
    status, headers, _ = fetch(simulator, "www.bing.com", "/search?q=bidwatch+test+rate+limit")
    assert status == 429 and headers["Retry-After"] == "120"
    status, _, body = fetch(simulator, "www.google.com", "/search?q=bidwatch+test+broken&gl=us")
    assert status == 200 and "</html>" not in body and body.endswith('<a href="')


def test_yahoo_consent_redirects_to_its_consent_host(simulator: Simulator) -> None:
    status, headers, _ = fetch(simulator, "search.yahoo.com", "/search?p=bidwatch+test+consent")
    location = urlsplit(headers["Location"])
    assert status == 302 and location.hostname == "consent.yahoo.com"
    status, _, body = fetch(simulator, "consent.yahoo.com", f"{location.path}?{location.query}")
    assert status == 200 and 'form class="consent-form"' in body


def test_hanging_page_does_not_finish_and_stop_releases_it(simulator: Simulator) -> None:
    with pytest.raises((TimeoutError, socket.timeout)):
        fetch(simulator, "www.google.com", "/search?q=bidwatch+test+hang&gl=us", timeout=1.0)


def test_slow_page_and_misbehave_switch() -> None:
    rules = [{"kind": "slow", "queries": ["lumora"], "seconds": 0.6}]
    switched_off = scenario_variant(misbehave={"enabled": False, "rules": rules})
    with Simulator(switched_off) as sim:
        assert fetch(sim, "www.google.com", "/search?q=lumora&gl=us", timeout=0.5)[0] == 200
    switched_on = scenario_variant(misbehave={"enabled": True, "rules": rules})
    with Simulator(switched_on) as sim, pytest.raises((TimeoutError, socket.timeout)):
        fetch(sim, "www.google.com", "/search?q=lumora&gl=us", timeout=0.3)


# --- the command line -------------------------------------------------------------------------


def test_module_prints_its_address_and_stops_on_sigterm() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.dev.simulator", "--scenario", str(DEFAULT_SCENARIO)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.startswith("simulator listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/", headers={"Host": "www.lumora.com"})
        assert connection.getresponse().status == 200
        connection.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
