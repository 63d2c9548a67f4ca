"""Capture in a real browser against a misbehaving simulator: every page class, and a sweep
whose coverage counts blocked pages as blocked, never as pages without ads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import async_playwright
from typer.testing import CliRunner

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
from monitor.models import CaptureStatus, Device, MarketRef, SearchTask
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
                        context, task, get_engine(engine), evidence, options)
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
