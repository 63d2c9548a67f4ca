"""Every template with hostile ad text (markup, <script>, CRLF, U+202E, 100k characters):
notices (single and batched), reminders, alerts, the digest; and the digest in a real
headless Chromium, screenshotted and checked non-blank."""

from __future__ import annotations

import asyncio
import email
import email.policy
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from monitor.capture.browser import find_browser, launch
from monitor.notify.alerts import _alert_item
from monitor.notify.context import (
    AlertContext,
    AlertIncident,
    CaseView,
    IncidentRow,
    NoticeContext,
    ReminderContext,
    sample_ad,
    sample_digest_context,
    sample_notice_context,
    sample_reminder_context,
)
from monitor.notify.email import build_email
from monitor.notify.render import TemplateSet
from tests.notify_support import HOSTILE_HEADLINE, TEMPLATES

TEMPLATE_SET = TemplateSet(TEMPLATES)
LANGUAGES = ("en", "ar", "id")


def _assert_inert(text: str, *, html: bool) -> None:
    assert "\u202e" not in text and "\r\nBcc" not in text and "\nBcc:" not in text
    if html:
        assert "<script>" not in text and "<img src=x" not in text
    assert len(text) < 200_000  # 100k characters were capped


def _hostile_notice(language: str, level: int) -> NoticeContext:
    """Two cases in one notice, both with a stranger's ad."""
    ctx = sample_notice_context(language, level)
    hostile_ad = sample_ad(headline=HOSTILE_HEADLINE, description=HOSTILE_HEADLINE,
                           display_url=HOSTILE_HEADLINE)
    cases = tuple(CaseView.model_validate(c.model_dump() | {"ad": hostile_ad})
                  for c in ctx.cases)
    return NoticeContext.model_validate(ctx.model_dump() | {"cases": cases})


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("level", [1, 2, 3])
def test_batched_notice_with_hostile_ads_is_inert(language: str, level: int) -> None:
    message = TEMPLATE_SET.render_notice(_hostile_notice(language, level), "en")
    for part, html in ((message.html, True), (message.text, False), (message.subject, False)):
        _assert_inert(part, html=html)
    assert "&lt;script&gt;" in message.html
    assert "{{ 7*7 }}" in message.html  # shown as written, never evaluated
    assert message.html.count("padding:7px 10px;font-size:16px") == 2  # two cases, one message
    assert "\n" not in message.subject
    built = build_email(message, sender="c@lumora.com", sender_name=HOSTILE_HEADLINE[:300],
                        to=["p@partner.example"], cc=[], reply_to=None, attachments=[],
                        message_id_key="k")
    parsed = email.message_from_bytes(built.as_bytes(), policy=email.policy.default)
    assert parsed["Bcc"] is None and len(parsed.keys()) == len(built.keys())


@pytest.mark.parametrize("language", LANGUAGES)
def test_reminder_with_hostile_values_is_inert(language: str) -> None:
    ctx = sample_reminder_context(language)
    hostile = ReminderContext.model_validate(
        ctx.model_dump() | {"partner_name": HOSTILE_HEADLINE, "terms": (HOSTILE_HEADLINE,),
                            "agreement_document": HOSTILE_HEADLINE})
    message = TEMPLATE_SET.render_reminder(hostile, "en")
    _assert_inert(message.html, html=True)
    _assert_inert(message.text, html=False)
    assert f'dir="{"rtl" if language == "ar" else "ltr"}"' in message.html


@pytest.mark.parametrize("reason", ["new_incidents", "blocked_share", "engine_down"])
def test_alerts_with_hostile_values_are_inert(reason: str) -> None:
    from datetime import UTC, datetime

    incident = AlertIncident(incident_id="INC-1", severity="high", offender=HOSTILE_HEADLINE,
                             partner_name=HOSTILE_HEADLINE, policy_title=HOSTILE_HEADLINE,
                             engine="google", headline=HOSTILE_HEADLINE)
    ctx = AlertContext(program_name=HOSTILE_HEADLINE, brand_name=HOSTILE_HEADLINE,
                       reason=reason, severity="high", sweep_id=3,
                       sweep_started=datetime.now(UTC), incidents=(incident,))
    row = _alert_item(ctx, TEMPLATE_SET, datetime.now(UTC))
    _assert_inert(row.body_text, html=False)
    assert "\n" not in row.subject and len(row.subject) <= 200


def test_digest_with_hostile_rows_is_inert() -> None:
    ctx = sample_digest_context()
    # built the way the digest builds them: validated, so made inert on the way in
    rows = tuple(IncidentRow.model_validate(r.model_dump() | {
        "headline": HOSTILE_HEADLINE, "advertiser": "<script>x</script>"})
        for r in ctx.new_incidents)
    message = TEMPLATE_SET.render_digest(ctx.model_copy(update={"new_incidents": rows}))
    _assert_inert(message.html, html=True)
    assert "&lt;script&gt;x&lt;/script&gt;" in message.html


async def _screenshot(html_path: Path, png_path: Path, browser_path: Path) -> dict[str, int]:
    async with async_playwright() as playwright:
        browser = await launch(playwright, find_browser(browser_path))
        try:
            page = await browser.new_page(viewport={"width": 800, "height": 1000},
                                          java_script_enabled=False)
            await page.goto(html_path.as_uri())
            await page.screenshot(path=str(png_path), full_page=True)
            return {
                "height": await page.evaluate("document.documentElement.scrollHeight"),
                "width": await page.evaluate("document.documentElement.scrollWidth"),
            }
        finally:
            await browser.close()


def test_digest_renders_in_headless_chromium(tmp_path: Path, browser_path: Path) -> None:
    message = TEMPLATE_SET.render_digest(sample_digest_context())
    html_path = tmp_path / "digest.html"
    html_path.write_text(message.html, encoding="utf-8")
    png = tmp_path / "digest.png"
    size = asyncio.run(_screenshot(html_path, png, browser_path))
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and size["height"] > 800
    assert size["width"] <= 800  # no horizontal scrolling: the layout fits a mail pane
    # non-blank: a page of one colour compresses to almost nothing
    assert len(data) > 20_000
    assert len(set(data[1000:9000])) > 200


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_sub_publisher_is_named_beside_the_partner_of_record(language: str) -> None:
    # an aggregator's link re-wrapped into the merchant's network: the notice names both
    ctx = sample_notice_context(language)
    first = CaseView.model_validate(ctx.cases[0].model_dump()
                                    | {"via": ("skimlinks 12345X678",)})
    ctx = NoticeContext.model_validate(ctx.model_dump() | {"cases": (first, *ctx.cases[1:])})
    message = TEMPLATE_SET.render_notice(ctx, "en")
    label = {"en": "Also through", "id": "Juga melalui", "ar": "وأيضًا عبر"}[language]
    assert f"{label}: " in message.text and "skimlinks 12345X678" in message.text
    assert label in message.html and message.html.count("skimlinks 12345X678") == 1
