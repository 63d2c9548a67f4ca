"""Rendering notices and the digest: every language and level, fallbacks, hostile ads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from monitor.notify.context import (
    CaseView,
    ClauseView,
    HopView,
    IncidentRow,
    NoticeContext,
    inert_text,
    sample_ad,
    sample_digest_context,
    sample_notice_context,
)
from monitor.notify.email import build_email
from monitor.notify.render import RenderError, TemplateSet, check_templates

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
LANGUAGES = ("en", "ar", "id")
LEVELS = (1, 2, 3)
POLICIES = ("brand_bidding", "direct_linking", "brand_in_copy")

LONG = "x" * 10_000
HOSTILE_AD = {
    "headline": "<script>alert(1)</script> {{ 7*7 }}",
    "description": "<img src=x onerror=alert(1)> A\r\nBcc: victim@example.com " + LONG,
    "display_url": "www.lumora.com/\u202egpj.exe",
    "link": "javascript:alert(1)//<b>",
}


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet(TEMPLATES)


def hostile_notice(language: str, level: int) -> NoticeContext:
    """The sample notice with a stranger's text everywhere a case shows some."""
    ctx = sample_notice_context(language, level)
    first, *rest = ctx.cases
    clause = ClauseView.model_validate(
        first.clauses[0].model_dump()
        | {"policy_title": "No brand bidding\r\nBcc: victim@example.com"})
    hostile = CaseView.model_validate(
        first.model_dump()
        | {
            "clauses": (clause, *first.clauses[1:]),
            "ad": sample_ad(**HOSTILE_AD),
            "chain": (HopView(url="https://x.example/<svg onload=alert(1)>\u202e", how="http"),),
            "landing_url": "https://evil.example/?q=<script>x</script>",
            "publisher_id": "{{ 7*7 }}<i>",
        }
    )
    return NoticeContext.model_validate(ctx.model_dump() | {"cases": (hostile, *rest)})


# ----------------------------------------------------------------------- every language


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("level", LEVELS)
def test_each_level_and_language_renders(templates: TemplateSet, language: str, level: int) -> None:
    ctx = sample_notice_context(language, level)
    message = templates.render_notice(ctx, default_language="en")

    assert message.language == language
    assert message.subject and "\n" not in message.subject and len(message.subject) <= 200
    assert ctx.incident_id in message.subject
    for body in (message.text, message.html):
        for case in ctx.cases:  # every case, with its ad
            assert case.incident_id in body and case.ad.headline in body
        assert "Section 4.2 (Paid search)" in body  # the clause is cited
        assert "anrdoezrs.net/click-7012345" in body  # the redirect chain is shown
        assert "2026-10-31 14:05 UTC" in body and "2026-11-03 14:05 UTC" in body
        assert "lumora coupon" in body and "22:05 EST" in body  # where and when, local time
    assert 'src="cid:INC-00042.jpg"' in message.html  # the inline thumbnail
    assert f'lang="{language}"' in message.html


def test_arabic_is_right_to_left_with_latin_isolated(templates: TemplateSet) -> None:
    message = templates.render_notice(sample_notice_context("ar", 1), default_language="en")

    assert message.direction == "rtl"
    assert '<html lang="ar" dir="rtl">' in message.html
    assert "direction:rtl" in message.html and "text-align:right" in message.html
    assert '<span dir="ltr">www.lumora.com/sale</span>' in message.html
    assert "\u2066https://www.lumora.com/?utm_source=cj&cjevent=abc123\u2069" in message.text
    assert "تحذيرًا رسميًا أول" in message.html  # real Arabic wording, not a placeholder


def test_left_to_right_languages(templates: TemplateSet) -> None:
    for language in ("en", "id"):
        message = templates.render_notice(sample_notice_context(language), "en")
        assert message.direction == "ltr" and 'dir="ltr"' in message.html
        assert "\u2066" not in message.text  # isolates only where the text runs right to left


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("policy", POLICIES)
def test_policy_paragraph_is_the_policys_own(
    templates: TemplateSet, language: str, policy: str
) -> None:
    own = templates.render_notice(sample_notice_context(language, 1, policy), "en")
    generic = templates.render_notice(sample_notice_context(language, 1, None), "en")

    assert own.text != generic.text
    assert templates.render(f"notices/{language}/policies/{policy}.j2", _vars(language)).strip()


def _vars(language: str) -> dict[str, object]:
    return sample_notice_context(language).template_vars() | {"language": language}


def test_unknown_policy_notice_falls_back_to_generic(templates: TemplateSet) -> None:
    unknown = templates.render_notice(sample_notice_context("en", 1, "no_such_policy"), "en")
    generic = templates.render_notice(sample_notice_context("en", 1, None), "en")

    assert unknown.text == generic.text
    assert 'follow the policy "No bidding on Lumora trademark terms"' in unknown.text


# ------------------------------------------------------------------------------ fallback


def test_missing_language_falls_back_to_default(templates: TemplateSet) -> None:
    message = templates.render_notice(sample_notice_context("fr", 2), default_language="id")

    assert message.language == "id" and "PERINGATAN TERAKHIR" in message.subject


def test_regional_language_uses_its_primary_language(templates: TemplateSet) -> None:
    message = templates.render_notice(sample_notice_context("ar-AE", 1), default_language="en")

    assert message.language == "ar" and message.direction == "rtl"


def test_incomplete_language_is_not_used(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES, tmp_path / "t")
    (tmp_path / "t/notices/id/termination.html.j2").unlink()
    templates = TemplateSet(tmp_path / "t")

    assert templates.render_notice(sample_notice_context("id", 1), "en").language == "en"
    assert "termination.html.j2" in " ".join(check_templates(tmp_path / "t"))


def test_no_templates_for_language_nor_default_is_an_error(templates: TemplateSet) -> None:
    with pytest.raises(RenderError, match="no complete notice templates"):
        templates.render_notice(sample_notice_context("fr"), default_language="de")


# ------------------------------------------------------------------------- hostile input


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("level", LEVELS)
def test_hostile_ad_is_escaped_and_inert(templates: TemplateSet, language: str, level: int) -> None:
    message = templates.render_notice(hostile_notice(language, level), "en")

    assert (
        "<script>" not in message.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    )
    # our own <img> (the thumbnail, by cid:) is the only one
    assert [tag for tag in message.html.split("<img")[1:] if not tag.startswith(' src="cid:')] \
        == []
    assert "&lt;img src=x onerror=alert(1)&gt;" in message.html
    assert "<svg" not in message.html and "<i>" not in message.html
    assert "{{ 7*7 }}" in message.text and "{{ 7*7 }}" in message.html  # shown, never evaluated
    for part in (message.subject, message.text, message.html):
        assert "\u202e" not in part and "\r" not in part
        assert "\nBcc:" not in part
        assert LONG[:1000] not in part  # the 10,000-character description is cut short
    assert "…" in message.text
    assert "\n" not in message.subject


def test_hostile_subject_cannot_add_headers(templates: TemplateSet) -> None:
    message = templates.render_notice(hostile_notice("en", 1), "en")
    mail = build_email(
        message,
        sender="compliance@lumora.com",
        sender_name="Lumora\r\nBcc: x@example.com",
        to=["partner@sleepsaver.net"],
        cc=[],
        reply_to=None,
        attachments=[],
        message_id_key="incident-1:1",
    )
    raw = mail.as_bytes()

    assert b"\nBcc:" not in raw and "\u202e".encode() not in raw
    assert mail["Bcc"] is None and "Bcc: victim" in mail["Subject"]  # one line, harmless text


def test_hostile_digest_rows_are_escaped(templates: TemplateSet) -> None:
    row = IncidentRow.model_validate(
        sample_digest_context().new_incidents[0].model_dump()
        | {"headline": HOSTILE_AD["headline"], "display_url": HOSTILE_AD["description"]}
    )
    ctx = sample_digest_context().model_copy(update={"new_incidents": (row,)})
    message = templates.render_digest(ctx)

    assert "<script>" not in message.html and "<img" not in message.html
    assert "{{ 7*7 }}" in message.text
    assert LONG[:1000] not in message.html and "\nBcc:" not in message.text


def test_inert_text() -> None:
    # clean_text's rule: whitespace-like controls become a space; invisible characters (bidi
    # overrides and isolates, NUL) go without one, so "Lu\u200bmora" reads as what it shows
    assert inert_text("a\r\nb\tc\u202ed\u2066e\x00f\u2028g") == "a b cdef g"
    assert inert_text("Lu\u200bmora") == "Lumora"
    assert inert_text("y" * 50, limit=10) == "y" * 9 + "…"
    assert inert_text("  مرحبا   Lumora ") == "مرحبا Lumora"


# ----------------------------------------------------------------------- the digest


def test_digest_renders_all_sections(templates: TemplateSet) -> None:
    message = templates.render_digest(sample_digest_context())

    assert message.subject.startswith("Lumora compliance digest") and "\n" not in message.subject
    for section in (
        "New cases",
        "New clauses on open cases",
        "Seen again",
        "Repeat offenders",
        "Partners by cases",
        "Competitors on brand terms",
        "Coverage",
        "Evidence",
    ):
        assert section in message.html
    assert "INC-2026-0042" in message.text and "dreamnest.com" in message.text
    # one row per case, its clauses as chips, a clause new in the period marked
    assert "No brand in ad copy · <strong>new</strong>" in message.html
    assert "No brand in ad copy [new]" in message.text
    assert "asked 24, captured 22, blocked 2, failed 0 (92%)" in message.text


def test_digest_html_is_self_contained(templates: TemplateSet) -> None:
    html = templates.render_digest(sample_digest_context()).html

    assert "<style" not in html and "<script" not in html and "<link" not in html
    assert "<img" not in html and "<svg" not in html and "url(" not in html
    assert 'style="width:100%;"' in html  # the trend bar for the larger value spans the cell
    assert "(+8)" in html  # sightings 19 against 11


# --------------------------------------------------------------- the environment itself


def test_shipped_templates_have_no_problems() -> None:
    assert check_templates(TEMPLATES) == []


def test_check_templates_finds_broken_templates(tmp_path: Path) -> None:
    shutil.copytree(TEMPLATES, tmp_path / "t")
    (tmp_path / "t/notices/en/warning.txt.j2").write_text(
        '{% extends "notices/_layout.txt.j2" %}{% block intro %}{{ partner_nme }}{% endblock %}'
    )
    (tmp_path / "t/notices/id/warning.subject.j2").write_text("{{ brand_name ")

    problems = check_templates(tmp_path / "t")

    assert "notices/en/warning.txt.j2: unknown variable 'partner_nme'" in problems
    assert any(p.startswith("notices/id/warning.subject.j2:1:") for p in problems)


def test_sandbox_refuses_internals(tmp_path: Path) -> None:
    (tmp_path / "digest").mkdir()
    (tmp_path / "digest/digest.subject.j2").write_text("{{ totals.__class__.__mro__ }}")
    with pytest.raises(RenderError):
        TemplateSet(tmp_path).render_digest(sample_digest_context())


def test_output_is_capped() -> None:
    with pytest.raises(RenderError, match="limit"):
        TemplateSet(TEMPLATES, output_limit=2_000).render_digest(sample_digest_context())
