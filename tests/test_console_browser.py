"""The console in real Chromium against `bidwatch serve` on loopback, over a store filled by a
real sweep of the simulator (the demo): log in, filter, open a case, see its screenshot and
chain, mark it a false positive; the hostile ad's script and the saved page's never run."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from playwright.async_api import ConsoleMessage, Dialog, Page, async_playwright

from monitor.capture.browser import find_browser, launch
from monitor.resources import example_rules
from monitor.settings import Settings
from monitor.store import Store
from tests.conftest import ROOT

pytestmark = pytest.mark.browser
PASSWORD = "correct horse battery staple"
HOSTILE = "lumora-deals.shop"  # the demo scenario's advertiser with a <script> headline


@dataclass
class Served:
    url: str
    settings: Settings
    log: Path


@dataclass
class Watch:
    """What the page said on its console and every dialog it tried to open."""

    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    #: (status, content type) of every screenshot the page loaded
    images: list[tuple[int, str]] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        self.console.append(message.text)

    async def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bidwatch serve ended: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"bidwatch serve did not listen: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, demo_home: Path) -> Iterator[Served]:
    # a copy of the session's demo (a real sweep of the simulator): the test changes it
    home = tmp_path_factory.mktemp("console-browser") / "demo"
    shutil.copytree(demo_home, home)
    settings = Settings(home=home, rules=example_rules())
    env = {**{k: v for k, v in os.environ.items()
              if not k.startswith("BIDWATCH_") and k != "DATABASE_URL"},
           "BIDWATCH_HOME": str(home), "BIDWATCH_RULES": str(settings.rules),
           "BIDWATCH_CONSOLE_SECRET": "k" * 48}
    _hold_a_final_warning(settings)
    for name, role in (("rex", "reviewer"), ("vera", "viewer"), ("ada", "admin")):
        subprocess.run([sys.executable, "-m", "monitor.cli", "users", "add", name, "--role",
                        role], input=PASSWORD + "\n", text=True, env=env, cwd=ROOT,
                       check=True, capture_output=True, timeout=60)
    port, log = _free_port(), home / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--port",
                                    str(port)], env=env, cwd=ROOT, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        _wait_for(port, process, log)
        yield Served(f"http://127.0.0.1:{port}", settings, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


def _hold_a_final_warning(settings: Settings) -> None:
    """The next notice of a case the demo warned, held for approval as delivery holds it when
    the program's `notices.require_approval` is on."""
    store = Store(settings.database)
    try:
        sent = next(n for n in store.outbox(kind="notice", status="sent") if n.incident_id)
        store.queue_outbox(replace(sent, id=None, key=f"{sent.key}:final", level=sent.level + 1,
                                   status="pending", sent_at=None, eml_path=None, attempts=0,
                                   decided_by=None, decided_at=None))
        assert store.hold_unapproved_notices() == 1
    finally:
        store.close()


async def _log_in(page: Page, served: Served, name: str) -> None:
    await page.goto(f"{served.url}/cases")
    assert "/login" in page.url  # no page without a login
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('Log in')")
    await page.wait_for_url(f"{served.url}/cases")


async def _work_a_case(served: Served, shot: Path) -> tuple[Watch, dict[str, object]]:
    watch = Watch()
    seen: dict[str, object] = {}
    async with async_playwright() as playwright:
        browser = await launch(playwright, find_browser(None))
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.on("console", watch.on_console)
            page.on("dialog", watch.on_dialog)
            page.on("response", lambda r: watch.images.append((r.status, r.headers.get(
                "content-type", ""))) if "/evidence/screenshot/" in r.url else None)
            await _log_in(page, served, "rex")
            seen["counts"] = await page.inner_text("nav.counts")
            await page.screenshot(path=str(shot.with_name("cases.png")))

            await page.select_option("select[name=engine]", "google")
            await page.click("button:has-text('Filter')")
            await page.wait_for_url("**engine=google**")
            where = page.locator("table.cases tbody td:nth-child(8)")
            seen["where"] = await where.all_inner_texts()

            row = page.locator("table.cases tbody tr", has_text=HOSTILE).first
            await row.locator("a").first.click()
            await page.wait_for_url("**/cases/*")
            seen["headline"] = await page.inner_text(".ad-card .headline")
            seen["hops"] = await page.locator("ol.hops li").all_inner_texts()
            seen["outlined"] = await page.locator(".screenshot svg.shot rect.outline").count()
            seen["screenshot_width"] = await page.locator(
                ".screenshot img, .screenshot svg.shot").first.evaluate(
                "e => e.getBoundingClientRect().width")
            await page.click("details.saved-page summary")
            frame = page.frame_locator("details.saved-page iframe")
            seen["saved_page_text"] = await frame.locator("body").inner_text(timeout=10000)
            seen["title"] = await page.title()
            await page.screenshot(path=str(shot), full_page=False)

            await page.fill("section.actions input[name=note]", "the brand's own reseller")
            await page.click("section.actions button[value=false_positive]")
            await page.wait_for_load_state()
            seen["status"] = await page.inner_text("h1 .status")
            seen["history"] = await page.inner_text("section.history")
            await asyncio.sleep(0.5)  # any script that got through would have had its turn
        finally:
            await browser.close()
    return watch, seen


def test_log_in_filter_open_a_case_and_mark_it_a_false_positive(served: Served,
                                                                 tmp_path: Path) -> None:
    # CONSOLE_SCREENSHOTS=DIR keeps the pages' screenshots there (for docs/console.md)
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    watch, seen = asyncio.run(_work_a_case(served, shots / "case.png"))

    assert "new" in str(seen["counts"])
    assert seen["where"] and all("google" in w for w in seen["where"])  # type: ignore[attr-defined]
    # the hostile headline is shown as the text it is
    assert str(seen["headline"]).startswith("<script>alert('ad')</script>Lumora")
    assert seen["hops"] and float(seen["screenshot_width"]) > 100  # type: ignore[arg-type]
    assert (200, "image/png") in watch.images  # the screenshot, served by its content id
    assert seen["outlined"] == 1  # the ad outlined where the capture recorded its links
    assert seen["saved_page_text"]  # the saved page is there, in its sandbox
    assert "false positive" in str(seen["status"])
    assert "the brand's own reseller (rex)" in str(seen["history"])
    # nothing the ad or the saved page carried ran: no dialog, no title change
    assert watch.dialogs == []
    assert "pwned" not in str(seen["title"]) and (shots / "case.png").stat().st_size > 10000
    assert not [m for m in watch.console if "alert" in m and "Blocked" not in m
                and "Refused" not in m]

    store = Store(served.settings.database)
    try:
        cases = [c for c in store.incidents() if c.offender == HOSTILE]
        assert cases and cases[0].status == "false_positive"
        assert store.audit_log(incident_id=cases[0].id)[0].actor == "rex"
    finally:
        store.close()


def test_a_viewer_sees_no_actions_and_the_server_refuses_them(served: Served) -> None:
    async def viewer() -> tuple[bool, int]:
        async with async_playwright() as playwright:
            browser = await launch(playwright, find_browser(None))
            try:
                page = await browser.new_page()
                await _log_in(page, served, "vera")
                await page.locator("table.cases tbody tr a").first.click()
                await page.wait_for_url("**/cases/*")
                has_actions = await page.locator("section.actions").count() > 0
                case_path = page.url.removeprefix(served.url)
                # post the form anyway, with the session's own CSRF token
                csrf = await page.input_value("header form input[name=csrf]")
                answer = await page.request.post(f"{served.url}{case_path}/status", form={
                    "action": "resolve", "csrf": csrf})
                return has_actions, answer.status
            finally:
                await browser.close()

    has_actions, status = asyncio.run(viewer())
    assert not has_actions and status == 403


def test_an_admin_approves_a_held_notice_and_downloads_the_evidence_pack(
    served: Served, tmp_path: Path,
) -> None:
    store = Store(served.settings.database)
    try:
        (held,) = store.outbox(kind="notice", status="held")
    finally:
        store.close()

    async def approve_and_download() -> tuple[str, str, Path]:
        async with async_playwright() as playwright:
            browser = await launch(playwright, find_browser(None))
            try:
                context = await browser.new_context(accept_downloads=True)
                page = await context.new_page()
                await _log_in(page, served, "ada")
                await page.goto(f"{served.url}/cases/{held.incident_id}")
                row = page.locator("section.notices tr", has_text="held")
                await row.locator("input[name=note]").fill("checked the screenshot")
                await row.locator("button:has-text('Approve')").click()
                await page.wait_for_load_state()
                notices = await page.inner_text("section.notices")
                async with page.expect_download() as waiting:
                    await page.click("p.pack a")
                download = await waiting.value
                saved = tmp_path / download.suggested_filename
                await download.save_as(saved)
                return notices, download.suggested_filename, saved
            finally:
                await browser.close()

    notices, name, saved = asyncio.run(approve_and_download())
    assert "checked the screenshot" in notices and "ada" in notices
    store = Store(served.settings.database)
    try:
        (approved,) = store.outbox_items_by_id([held.id or 0])
        assert (approved.status, approved.decided_by) == ("pending", "ada")
        audit = [e.action for e in store.audit_log(incident_id=held.incident_id)]
        assert audit[:2] == ["evidence pack exported", "notice-approve"]
    finally:
        store.close()

    # the pack as downloaded: every file listed in its manifest, with the sha256 it states
    assert name.endswith(".zip")
    with zipfile.ZipFile(saved) as pack:
        manifest = json.loads(pack.read("manifest.json"))
        listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
        assert any(path.endswith(".png") for path in listed)
        assert any(path.endswith(".html") for path in listed)
        for path, digest in listed.items():
            assert hashlib.sha256(pack.read(path)).hexdigest() == digest, path
        assert set(listed) | {"manifest.json", "SHA256SUMS"} == set(pack.namelist())


def test_the_console_fits_a_phone(served: Served, tmp_path: Path) -> None:
    """At 390 px the pages scroll down, not sideways: wide tables scroll inside their own
    box, the page itself never does."""
    shots = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)

    async def widths() -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        async with async_playwright() as playwright:
            browser = await launch(playwright, find_browser(None))
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844},
                                              device_scale_factor=2, is_mobile=True)
                await _log_in(page, served, "vera")
                paths = {"cases": "/cases"}
                first = await page.locator("table.cases tbody tr a").first.get_attribute("href")
                paths["case"] = str(first)
                for name, path in paths.items():
                    await page.goto(f"{served.url}{path}")
                    found[name] = await page.evaluate(
                        "[document.documentElement.scrollWidth, window.innerWidth]")
                    await page.screenshot(path=str(shots / f"{name}-phone.png"))
            finally:
                await browser.close()
        return found

    for name, (content, viewport) in asyncio.run(widths()).items():
        assert content <= viewport, f"{name}: {content} px wide in a {viewport} px screen"
