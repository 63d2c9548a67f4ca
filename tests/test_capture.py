"""Capture in a real browser against a misbehaving simulator: every page class, and a sweep
whose coverage counts blocked pages as blocked, never as pages without ads."""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from PIL import Image, ImageChops
from playwright.async_api import Route, async_playwright
from typer.testing import CliRunner

from monitor.capture.boxes import (
    LinkReader,
    PageLinks,
    boxes_on_screenshot,
    parse_reading,
    png_size,
)
from monitor.capture.browser import LAUNCH_ARGS
from monitor.capture.contexts import ContextPool
from monitor.capture.evidence import EvidenceStore
from monitor.capture.page import (
    LOST_RENDERER,
    CaptureOptions,
    PageResult,
    capture_page,
    close_context,
    new_task_context,
)
from monitor.cli import app
from monitor.dev.simulator import Simulator
from monitor.engines import get_engine
from monitor.models import CaptureStatus, Device, LinkBox, MarketRef, SearchTask
from monitor.services.commands import run_sweep_command
from monitor.services.wiring import opened_store
from monitor.settings import Settings

pytestmark = pytest.mark.browser
US = MarketRef(id="us-en", country="US", language="en", timezone="America/New_York")
UK = MarketRef(id="gb-en", country="GB", language="en", timezone="Europe/London")

ENGINES = ("google", "bing", "duckduckgo", "yahoo")
CASES = [
    ("google", "Lumora", CaptureStatus.ok),
    ("google", "qqqzzz nothing here", CaptureStatus.no_results),
    *((engine, "bidwatch test captcha", CaptureStatus.captcha) for engine in ENGINES),
    ("google", "bidwatch test rate limit", CaptureStatus.rate_limited),
    # a consent wall is passed (least consent), and the page it leads to is what counts
    *((engine, "bidwatch test consent", CaptureStatus.no_results) for engine in ENGINES),
    # a wall that comes back after consent is recorded as a wall, never as "no ads"
    *((engine, "bidwatch test consent wall", CaptureStatus.consent) for engine in ENGINES),
    ("google", "bidwatch test broken", CaptureStatus.error),
    ("google", "bidwatch test hang", CaptureStatus.error),
    ("google", "bidwatch test crash", CaptureStatus.error),
]


@pytest.fixture(scope="module")
def captures(
    simulator: Simulator, browser_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[tuple[str, str], PageResult]]:
    """Every case captured once, by the production capture code, in one browser."""
    evidence = EvidenceStore(tmp_path_factory.mktemp("evidence"))
    options = CaptureOptions(timeout_s=4, ignore_https_errors=True, settle_ms=50)
    # the crash page eats memory until the renderer dies (about a second with the heap bound
    # of LAUNCH_ARGS, several on a busy machine): a bound it can crash within (a crash after
    # the bound is a timeout, rightly)
    crash_options = replace(options, timeout_s=12)

    async def run() -> dict[tuple[str, str], PageResult]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(browser_path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
            results = {}
            for engine, query, _ in CASES:
                task = SearchTask("lumora", engine, query, "adhoc", US, Device.desktop)
                context = await new_task_context(browser, task, options)
                try:
                    results[engine, query] = await capture_page(
                        context, task, get_engine(engine), evidence,
                        crash_options if query == "bidwatch test crash" else options)
                finally:
                    await close_context(context)
            await browser.close()
            return results

    yield asyncio.run(run())


@pytest.mark.parametrize(("engine", "query", "expected"), CASES)
def test_each_page_class_is_recognised(
    captures: dict[tuple[str, str], PageResult], engine: str, query: str, expected: CaptureStatus
) -> None:
    capture = captures[engine, query].capture
    assert capture.status is expected, (capture.final_url, capture.http_status, capture.error)
    if expected is not CaptureStatus.error:
        # blocked pages keep their evidence too: the screenshot shows what the engine served
        assert capture.html_path and capture.screenshot_path
    if query == "bidwatch test consent":
        assert urlsplit(capture.final_url).path in ("/search", "/html/"), capture.final_url


def test_a_renderer_crash_is_an_error_that_says_so(
    captures: dict[tuple[str, str], PageResult],
) -> None:
    result = captures["google", "bidwatch test crash"]
    assert result.lost == LOST_RENDERER
    assert result.capture.error and result.capture.error.startswith(LOST_RENDERER)
    assert captures["google", "bidwatch test hang"].lost is None  # only the page was slow


def test_consent_is_given_once_per_profile_and_its_cookie_outlives_the_context(
    simulator: Simulator, browser_path: Path, tmp_path: Path
) -> None:
    """Three searches of one profile, each in a fresh context (reuse 1): only the first
    meets the wall; the cookie it earned goes to the next contexts. Another profile (mobile)
    earns its own."""
    evidence = EvidenceStore(tmp_path)
    options = CaptureOptions(timeout_s=5, ignore_https_errors=True, settle_ms=0)
    desktop = SearchTask("lumora", "bing", "bidwatch test consent", "adhoc", US, Device.desktop)
    mobile = SearchTask("lumora", "bing", "bidwatch test consent", "adhoc", US, Device.mobile)

    async def run() -> list[CaptureStatus]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(browser_path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
            pool = ContextPool(browser, options, reuse=1)
            statuses = []
            for task in (desktop, desktop, desktop, mobile):
                context = await pool.acquire(task)
                result = await capture_page(context, task, get_engine("bing"), evidence, options)
                await pool.release(context)
                statuses.append(result.capture.status)
            await pool.close()
            await browser.close()
            return statuses

    simulator.requests.clear()
    statuses = asyncio.run(run())
    assert statuses == [CaptureStatus.no_results] * 4
    consent_posts = [r for r in simulator.requests if r.method == "POST"]
    assert len(consent_posts) == 2  # the desktop profile once, the mobile profile once


def test_a_sweep_against_blocks_counts_them_as_blocked_not_as_no_ads(
    sim_settings: Settings,
) -> None:
    settings = sim_settings.model_copy(update={
        "page_timeout_s": 4.0, "cooldown_s": 0.2, "block_retry_wait_s": 5.0})
    summary = run_sweep_command(
        settings, engines=["google"], markets=["us-en"], devices=[Device.desktop],
        terms=["Lumora", "bidwatch test captcha", "bidwatch test rate limit",
               "bidwatch test consent", "bidwatch test consent wall", "bidwatch test hang"])
    report = summary.report
    assert (report.tasks, report.captured, report.failed) == (6, 2, 1)
    assert dict(report.blocked) == {"captcha": 1, "rate_limited": 1, "consent": 1}
    # the captcha and the 429 cooled the engine down and were asked again once after it;
    # the hung page was asked again once on a fresh context; a wall is not asked again
    assert report.cooldowns == 4 and report.retries == 3
    with opened_store(settings) as store:
        (coverage,) = store.coverage(*_today())  # each task once, by its last capture
        assert (coverage.asked, coverage.captured, coverage.blocked, coverage.failed) == (
            6, 2, 3, 1)
        by_sweep = store.sweep_coverage(report.sweep_id)
        assert (by_sweep.asked, by_sweep.captured, by_sweep.failed) == (6, 2, 1)
        assert by_sweep.blocked == {"captcha": 1, "rate_limited": 1, "consent": 1}
        blocked = [c for c in store.captures() if c.status not in ("ok", "no_results")]
        assert len(blocked) == 7  # every attempt's evidence is kept
        assert store.capture_ads(c.id for c in blocked) == []
        retry = [t for t in store.tasks() if t.status == "failed"]
        assert {t.query for t in retry} == {"bidwatch test captcha", "bidwatch test rate limit",
                                            "bidwatch test consent wall",
                                            "bidwatch test hang"}
    assert ("blocked", "captcha 1, consent 1, rate_limited 1") in summary.rows()
    # and shown afterwards, per sweep: `bidwatch sweeps --json`
    shown = CliRunner().invoke(app, ["sweeps", "--json"],
                               env={"BIDWATCH_HOME": str(settings.home)})
    assert shown.exit_code == 0, shown.output
    (row,) = [json.loads(line) for line in shown.output.splitlines()]
    assert (row["id"], row["asked"], row["captured"], row["failed"]) == (
        report.sweep_id, 6, 2, 1)
    assert row["blocked"] == {"captcha": 1, "consent": 1, "rate_limited": 1}


def _today() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(hours=1), now + timedelta(hours=1)


def test_contexts_are_reused_per_profile_up_to_the_bound_and_never_across_profiles(
    browser_path: Path,
) -> None:
    bing_task = SearchTask("lumora", "bing", "lumora", "brand", US, Device.desktop)
    google_task = SearchTask("lumora", "google", "lumora", "brand", US, Device.desktop)
    google_mobile = SearchTask("lumora", "google", "lumora", "brand", US, Device.mobile)
    google_uk = SearchTask("lumora", "google", "lumora", "brand", UK, Device.desktop)

    async def run() -> None:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(browser_path),
                                                       args=list(LAUNCH_ARGS))
            pool = ContextPool(browser, CaptureOptions(), reuse=2)
            first = await pool.acquire(google_task)
            await pool.release(first)
            second = await pool.acquire(google_task)
            await pool.release(second)
            assert second is first  # same profile, within the bound
            third = await pool.acquire(google_task)
            assert third is not first  # the bound reached: a fresh context
            # the engines of a market share its profile; another market or device does not
            assert await pool.acquire(bing_task) is third
            assert await pool.acquire(google_uk) is not third
            assert await pool.acquire(google_mobile) is not third
            await pool.release(third, broken=True)
            assert await pool.acquire(google_task) is not third  # a broken one is not reused
            await pool.close()
            assert browser.contexts == []
            await browser.close()

    asyncio.run(run())


def test_heavy_resources_are_blocked_in_the_browser_and_the_rest_goes_out(
    simulator: Simulator, browser_path: Path
) -> None:
    task = SearchTask("lumora", "google", "lumora", "brand", US, Device.desktop)
    probe = """async (urls) => Promise.all(urls.map(url => fetch(url).then(
                   () => "fetched", () => "blocked")))"""

    async def run() -> list[str]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(browser_path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
            context = await new_task_context(browser, task, CaptureOptions(
                ignore_https_errors=True))
            page = await context.new_page()
            await page.goto("https://www.google.com/search?q=lumora")
            outcome = await page.evaluate(probe, [
                "/f/brand.woff2", "/clip.mp4?autoplay=1", "/site.webmanifest",
                "/search?q=fonts.woff2+review", "/logo.png", "/search?q=x"])
            await browser.close()
            return list(outcome)

    assert asyncio.run(run()) == ["blocked", "blocked", "blocked", "fetched", "fetched",
                                  "fetched"]


def test_finished_searches_leave_a_bounded_number_of_pages_open_for_reuse(
    browser_path: Path,
) -> None:
    google_task = SearchTask("lumora", "google", "lumora", "brand", US, Device.desktop)
    uk_task = SearchTask("lumora", "google", "lumora", "brand", UK, Device.desktop)

    async def run() -> None:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(browser_path),
                                                       args=list(LAUNCH_ARGS))
            pool = ContextPool(browser, CaptureOptions(), reuse=10, idle_pages=1)
            google = await pool.acquire(google_task)
            google_page = await pool.page(google)
            await pool.release(google, page=google_page)
            again = await pool.acquire(google_task)
            assert await pool.page(again) is google_page  # the profile's next search reuses it
            await pool.release(again, page=google_page)
            uk = await pool.acquire(uk_task)
            uk_page = await pool.page(uk)
            await pool.release(uk, page=uk_page)
            # one page may stay open: the least recently used one was closed
            assert google_page.is_closed() and not uk_page.is_closed()
            failed = await pool.acquire(uk_task)
            page = await pool.page(failed)
            await pool.release(failed, page=page, broken=True)
            assert page.is_closed()  # a page a search failed in is never reused
            await pool.close()
            await browser.close()

    asyncio.run(run())


# ------------------------------------------------------------- where the links sit on the shot

GREEN = (0, 176, 0)
LINK_BLUE = (0, 0, 238)  # Chromium's unvisited link colour: the simulator keeps it
#: a page with one green block link at a known place below the fold, scrolled by its own
#: script before the capture: its box must be exactly there on the full-page screenshot
PLACED_LINK = """<!DOCTYPE html><html><head>{meta}<style>
body {{ margin: 0; background: #fff; }}
#ad {{ position: absolute; left: 100px; top: 1500px; width: 200px; height: 40px;
       display: block; background: rgb(0, 176, 0); }}
</style></head><body><div style="height: 4000px"></div>
<a id="ad" href="/landing?x=1#top"></a>{extra}
<script>window.scrollTo(0, 800);</script></body></html>"""
PHONE_VIEWPORT = '<meta name="viewport" content="width=device-width, initial-scale=1">'
#: the page's own JavaScript sabotages every native a measuring script could use; the boxes
#: are read in an isolated world, so none of it reaches them
HOSTILE_SCRIPT = """<script>
Element.prototype.getBoundingClientRect = function () {
  return {left: NaN, top: Infinity, width: -1, height: "tall", x: {}, y: []}; };
HTMLAnchorElement.prototype.checkVisibility = function () { throw new Error("no"); };
Array.prototype.push = function () { throw new Error("no push"); };
Array.prototype.map = Array.prototype.slice = Array.prototype.push;
Math.max = () => NaN; JSON.stringify = () => "{}";
Object.defineProperty(window, "scrollY", {get: () => 1e9});
Object.defineProperty(window, "devicePixelRatio", {get: () => -3});
</script>"""
HOSTILE_LINKS = (
    '<a href="/hidden" style="visibility:hidden;display:block;width:50px;height:50px">h</a>'
    '<a href="/clear" style="opacity:0;display:block;width:50px;height:50px">c</a>'
    # clipped, so the page stays a size a screenshot can be taken of; its box is not
    '<div style="position:absolute;top:10px;left:0;width:300px;height:20px;overflow:hidden">'
    '<a href="/huge" style="display:block;width:10000000px;height:20px">huge</a>'
    '<a href="/wide" style="display:block;width:3000px;height:20px">wide</a></div>'
    '<a href="/long?{long}" style="display:block">long</a>'
    '<svg width="40" height="40"><a href="/svg"><rect width="40" height="40"/></a></svg>'
)
#: a link that moves on every timer tick: wherever it is at the screenshot, no box says so
MOVING_LINK = """<a id="mover" href="/moving" style="position:absolute;left:0;top:200px;
display:block;width:80px;height:20px;background:#00f"></a><script>let step = 0;
setInterval(() => {{ step++; document.getElementById("mover").style.top = (200 + step % 500) +
"px"; }}, 1);</script>"""


def hostile_page() -> str:
    many = "".join(f'<a href="/many{i}" style="display:inline-block;width:4px;height:4px">'
                   "</a>" for i in range(3000))
    links = HOSTILE_LINKS.replace("{long}", "q" * 5000) + many
    return PLACED_LINK.format(meta=PHONE_VIEWPORT, extra=HOSTILE_SCRIPT + links)


#: name → (device, page served for every request; None: the simulator's own result page)
BOX_CASES: dict[str, tuple[Device, str | None]] = {
    "sim-desktop": (Device.desktop, None),
    "sim-mobile": (Device.mobile, None),
    "placed-desktop": (Device.desktop, PLACED_LINK.format(meta="", extra="")),
    "placed-mobile": (Device.mobile, PLACED_LINK.format(meta=PHONE_VIEWPORT, extra="")),
    # without a viewport tag a phone lays the page out 980 CSS pixels wide, zoomed out
    "placed-mobile-980": (Device.mobile, PLACED_LINK.format(meta="", extra="")),
    "hostile": (Device.mobile, hostile_page()),
    "moving": (Device.desktop, PLACED_LINK.format(meta="", extra=MOVING_LINK)),
}


@dataclass(frozen=True)
class Shot:
    result: PageResult
    image: Image.Image  # the screenshot as saved, RGB


@pytest.fixture(scope="module")
def box_captures(
    simulator: Simulator, browser_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Shot]:
    """Each case captured once by the production capture code; pages other than the
    simulator's are served by a route, so nothing leaves the browser."""
    home = tmp_path_factory.mktemp("boxes")
    evidence = EvidenceStore(home)
    options = CaptureOptions(timeout_s=10, ignore_https_errors=True, settle_ms=50)

    async def run() -> dict[str, PageResult]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(browser_path),
                args=[*LAUNCH_ARGS, f"--host-resolver-rules={simulator.host_resolver_rule}"])
            results = {}
            for name, (device, html) in BOX_CASES.items():
                task = SearchTask("lumora", "google", "Lumora", "brand", US, device)
                context = await new_task_context(browser, task, options)
                if html is not None:
                    await context.route("**/*", _serving(html))
                try:
                    results[name] = await capture_page(
                        context, task, get_engine("google"), evidence, options)
                finally:
                    await close_context(context)
            await browser.close()
            return results

    shots = {}
    for name, result in asyncio.run(run()).items():
        assert result.capture.screenshot_path, (name, result.capture.error)
        with Image.open(home / result.capture.screenshot_path) as image:
            shots[name] = Shot(result, image.convert("RGB"))
    return shots


def _serving(html: str) -> Callable[[Route], Awaitable[None]]:
    async def fulfil(route: Route) -> None:
        await route.fulfill(body=html, content_type="text/html")
    return fulfil


def _inside(box: LinkBox, image: Image.Image) -> bool:
    return (box.x >= 0 and box.y >= 0 and box.width > 0 and box.height > 0
            and box.x + box.width <= image.width and box.y + box.height <= image.height)


def _ink(image: Image.Image, box: LinkBox, colour: tuple[int, int, int], *,
         below: bool = False) -> float:
    """The share of the box's pixels that differ from `colour` (or, `below`, that are
    near it)."""
    region = image.crop((int(box.x), int(box.y), int(box.x + box.width),
                         int(box.y + box.height)))
    difference = ImageChops.difference(region, Image.new("RGB", region.size, colour))
    histogram = difference.convert("L").histogram()
    return sum(histogram[:20] if below else histogram[40:]) / (region.width * region.height)


@pytest.mark.parametrize("name", ["sim-desktop", "sim-mobile"])
def test_the_first_ads_link_box_lies_on_the_ad_in_the_saved_screenshot(
    box_captures: dict[str, Shot], name: str
) -> None:
    shot = box_captures[name]
    capture, image = shot.result.capture, shot.image
    assert capture.status is CaptureStatus.ok
    assert 0 < len(capture.link_boxes) <= 600
    assert all(_inside(box, image) for box in capture.link_boxes)
    first, second = get_engine("google").read_ads(shot.result.html)[:2]
    (box,) = [b for b in capture.link_boxes if b.href == urljoin(capture.final_url, first.link)]
    (below,) = [b for b in capture.link_boxes
                if b.href == urljoin(capture.final_url, second.link)]
    background = image.getpixel((image.width - 2, image.height - 2))
    assert background == (255, 255, 255)
    # the headline is drawn inside the box, in the link colour
    assert _ink(image, box, background) > 0.02
    assert _ink(image, box, LINK_BLUE, below=True) > 0.005
    assert box.y + box.height <= below.y  # the second ad sits below the first
    # the hidden aclk anchor beside the headline link has no size: it has no box
    assert all(b.href != first.click_url for b in capture.link_boxes)


@pytest.mark.parametrize("name", ["placed-desktop", "placed-mobile", "placed-mobile-980"])
def test_a_box_below_the_fold_of_a_scrolled_page_is_exactly_where_the_screenshot_shows_it(
    box_captures: dict[str, Shot], name: str
) -> None:
    shot = box_captures[name]
    capture, image = shot.result.capture, shot.image
    (box,) = [b for b in capture.link_boxes if b.href.endswith("/landing?x=1#top")]
    assert box == LinkBox(box.href, 100.0, 1500.0, 200.0, 40.0)
    assert image.height >= 4000 and image.width == {"placed-desktop": 1366,
                                                    "placed-mobile": 412}.get(name, 981)
    inset = [(102, 1502), (297, 1502), (102, 1537), (297, 1537), (200, 1520)]
    outside = [(97, 1520), (303, 1520), (200, 1497), (200, 1543)]
    assert all(_near(image.getpixel(p), GREEN) for p in inset)
    assert all(_near(image.getpixel(p), (255, 255, 255)) for p in outside)


def _near(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) < 12


def test_a_hostile_page_still_captures_with_sane_boxes(box_captures: dict[str, Shot]) -> None:
    shot = box_captures["hostile"]
    capture, image = shot.result.capture, shot.image
    # (not a Google page, so classified as an error page; but captured, with its evidence)
    assert capture.error is None and capture.screenshot_path
    boxes = capture.link_boxes
    assert 0 < len(boxes) <= 600 and all(_inside(box, image) for box in boxes)
    paths = {urlsplit(b.href).path for b in boxes}
    # the page's overrides reached nothing: the placed link is exactly where it is drawn
    (placed,) = [b for b in boxes if b.href.endswith("/landing?x=1#top")]
    assert (placed.x, placed.y, placed.width, placed.height) == (100.0, 1500.0, 200.0, 40.0)
    assert _near(image.getpixel((200, 1520)), GREEN)
    # invisible, SVG, absurdly big and over-long links have no box; a wide one is clipped
    assert not paths & {"/hidden", "/clear", "/svg", "/long", "/huge"}
    (wide,) = [b for b in boxes if b.href.endswith("/wide")]
    assert (wide.x, wide.y, wide.width, wide.height) == (0, 30, image.width, 20)
    assert len(boxes) == 600 and len(paths) == 600  # bounded: 3,000 more links were there


def test_a_link_that_moves_while_the_screenshot_is_taken_has_no_box(
    box_captures: dict[str, Shot],
) -> None:
    boxes = box_captures["moving"].result.capture.link_boxes
    assert [urlsplit(b.href).path for b in boxes] == ["/landing"]


def test_a_page_that_keeps_its_renderer_busy_gives_no_boxes_quickly(
    browser_path: Path,
) -> None:
    async def run() -> tuple[PageLinks | None, PageLinks | None, float]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(browser_path),
                                                       args=list(LAUNCH_ARGS))
            page = await browser.new_page()
            await page.route("**/*", _serving(PLACED_LINK.format(meta="", extra="")))
            await page.goto("https://www.google.com/search?q=busy")
            reader = LinkReader(page, timeout_s=0.3)
            await page.evaluate(
                "setTimeout(() => { const end = Date.now() + 2500; while (Date.now() < end); })")
            started = time.monotonic()
            busy = await reader.read()
            elapsed = time.monotonic() - started
            later = await reader.read()  # a reader that failed once stays failed
            await reader.close()
            await browser.close()
            return busy, later, elapsed

    busy, later, elapsed = asyncio.run(run())
    assert busy is None and later is None and elapsed < 1.5


def test_link_readings_are_validated_as_untrusted_input() -> None:
    good = ["https://a.test/x", 10, 20.5, 30, 40]
    assert parse_reading({"width": 800, "height": 3000, "dpr": 2, "links": [good]}) == PageLinks(
        800, 3000, 2, (LinkBox("https://a.test/x", 10, 20.5, 30, 40),))
    for garbage in (None, [], "x", {"width": 800}, {"width": "800", "height": 1, "dpr": 1,
                    "links": []}, {"width": math.nan, "height": 1, "dpr": 1, "links": []},
                    {"width": 1e12, "height": 1, "dpr": 1, "links": []},
                    {"width": 800, "height": 3000, "dpr": 1, "links": {"0": good}}):
        assert parse_reading(garbage) is None, garbage
    bad_entries: list[object] = [
        good[:4], [*good, 1], "https://a.test/x", [1, 2, 3, 4, 5], ["", 1, 2, 3, 4],
        ["h" * 2001, 1, 2, 3, 4], ["h", math.inf, 2, 3, 4], ["h", 1, math.nan, 3, 4],
        ["h", 1, 2, 0, 4], ["h", 1, 2, 3, -4], ["h", 1, 2, 3, 1e9], ["h", True, 2, 3, 4],
        ["h", "1", 2, 3, 4], ["h", None, 2, 3, 4], ["h", [1], 2, 3, 4]]
    reading = parse_reading({"width": 800, "height": 3000, "dpr": 1,
                             "links": [*bad_entries, good]})
    assert reading is not None and [b.href for b in reading.links] == ["https://a.test/x"]
    many = parse_reading({"width": 800, "height": 3000, "dpr": 1, "links": [good] * 10_000})
    assert many is not None and len(many.links) == 600


def test_boxes_fit_the_screenshot_or_are_dropped() -> None:
    link = LinkBox("https://a.test/", 10, 20, 30, 40)
    moved = LinkBox("https://a.test/m", 10, 100, 30, 40)
    edge = LinkBox("https://a.test/e", -50, 1990, 2000, 100)
    reading = PageLinks(800, 2000, 2.5, (link, link, moved, edge))
    after = replace(reading, links=(link, moved._replace(y=101), edge))
    # a CSS-pixel shot (Chromium may round a pixel up): boxes as read, clipped to the shot
    assert boxes_on_screenshot(reading, after, (801, 2000)) == (
        link, LinkBox("https://a.test/e", 0, 1990, 801, 10))
    # a device-pixel shot: scaled by the pixel ratio
    assert boxes_on_screenshot(reading, reading, (2000, 5000))[0] == LinkBox(
        "https://a.test/", 25, 50, 75, 100)
    # a shot of another width, or a reading missing, gives no boxes at all
    assert boxes_on_screenshot(reading, reading, (1000, 2000)) == ()
    assert boxes_on_screenshot(reading, replace(reading, width=900), (800, 2000)) == ()
    assert boxes_on_screenshot(reading, None, (800, 2000)) == ()
    assert boxes_on_screenshot(None, reading, (800, 2000)) == ()
    assert boxes_on_screenshot(reading, reading, None) == ()


def test_png_size_reads_the_header_only() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (37, 5000)).save(buffer, format="PNG")
    assert png_size(buffer.getvalue()) == (37, 5000)
    assert png_size(buffer.getvalue()[:20]) is None
    assert png_size(b"GIF89a" + b"\0" * 40) is None
