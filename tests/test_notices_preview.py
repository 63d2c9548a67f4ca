"""`bidwatch notices preview`: the notice a partner would receive, from its open cases in a
real store or a sample built from the program, in English, Indonesian and Arabic; and the
digest likewise. Rendered by the real templates; nothing queued, sent or created."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.program import load_program
from monitor.services.preview import preview_digest, preview_notice
from monitor.services.wiring import open_store
from monitor.settings import Settings
from tests.notify_support import HOSTILE_HEADLINE, Breach, notify_settings, record_breach
from tests.whatif_support import RULES, conforms

runner = CliRunner()
#: partner · its language · a word its notice says in that language
PARTNERS = [("sleepsaver", "en", "Dear SleepSaver"), ("kuponhemat", "id", "Kupon Hemat"),
            ("arabiccoupons", "ar", "كوبونات العرب")]


@pytest.fixture
def with_cases(tmp_path: Path) -> Settings:
    """A store with an open case for each partner, recorded as a sweep records them."""
    settings = notify_settings(tmp_path / "home")
    store = open_store(settings)
    now = datetime.now(UTC) - timedelta(hours=1)
    try:
        record_breach(store, settings.home, Breach("sleepsaver", headline=HOSTILE_HEADLINE), now)
        record_breach(store, settings.home, Breach("kuponhemat", language="id",
                                                   query="lumora kupon"), now)
        record_breach(store, settings.home, Breach("arabiccoupons", language="ar",
                                                   query="lumora coupon"), now)
    finally:
        store.close()
    return settings


def outbox_rows(settings: Settings) -> list[tuple[str, str]]:
    with sqlite3.connect(settings.home / "bidwatch.db") as connection:
        return connection.execute("SELECT key, status FROM outbox ORDER BY key").fetchall()


@pytest.mark.parametrize(("partner", "language", "greeting"), PARTNERS)
def test_a_partner_with_open_cases_sees_them_in_its_language(
        with_cases: Settings, partner: str, language: str, greeting: str) -> None:
    before = outbox_rows(with_cases)
    preview = preview_notice(with_cases, partner)
    assert (preview.kind, preview.source, preview.partner) == ("notice", "store", partner)
    assert preview.message.language == language
    assert preview.cases and all(c.startswith("INC-") for c in preview.cases)
    assert greeting in preview.message.text
    html = preview.message.html
    assert f'lang="{language}"' in html
    assert ('dir="rtl"' in html) == (language == "ar")
    assert outbox_rows(with_cases) == before  # nothing queued, nothing marked sent


def test_the_hostile_ad_is_escaped_in_the_preview(with_cases: Settings) -> None:
    html = preview_notice(with_cases, "sleepsaver").message.html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


@pytest.mark.parametrize(("partner", "language", "greeting"), PARTNERS)
def test_a_sample_case_is_built_from_the_program(tmp_path: Path, partner: str, language: str,
                                                 greeting: str) -> None:
    settings = notify_settings(tmp_path / "home")
    preview = preview_notice(settings, partner, level=2)
    program = load_program(RULES)
    assert (preview.source, preview.level, preview.message.language) == ("sample", 2, language)
    text, html = preview.message.text, preview.message.html
    assert greeting in text and program.brands[0].name in text
    # the program's own policy, titled in the partner's language
    bidding = program.policy("no-brand-bidding")
    assert bidding is not None
    assert bidding.titles.get(language, bidding.title) in text
    assert ('dir="rtl"' in html) == (language == "ar")
    assert not (settings.home / "bidwatch.db").exists()  # a preview never creates a store


def test_another_language_and_the_sample_on_request(with_cases: Settings) -> None:
    indonesian = preview_notice(with_cases, "sleepsaver", language="id")
    assert indonesian.message.language == "id" and indonesian.source == "store"
    arabic = preview_notice(with_cases, "sleepsaver", language="ar", sample=True)
    assert arabic.source == "sample" and 'dir="rtl"' in arabic.message.html
    assert "SleepSaver" in arabic.message.text


def test_the_digest_from_the_store_and_as_a_sample(with_cases: Settings, tmp_path: Path) -> None:
    stored = preview_digest(with_cases)
    assert (stored.kind, stored.source) == ("digest", "store")
    assert "SleepSaver" in stored.message.text
    sample = preview_digest(notify_settings(tmp_path / "empty"))
    assert sample.source == "sample"
    assert load_program(RULES).name in sample.message.text


def test_cli_text_to_stdout_html_and_text_with_out_and_json(with_cases: Settings,
                                                            tmp_path: Path) -> None:
    env = {"BIDWATCH_HOME": str(with_cases.home), "BIDWATCH_RULES": str(RULES)}
    shown = runner.invoke(app, ["notices", "preview", "--partner", "kuponhemat"], env=env)
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("Subject: ") and "Kupon Hemat" in shown.output

    target = tmp_path / "out" / "arab.html"
    written = runner.invoke(app, ["notices", "preview", "--partner", "arabiccoupons",
                                  "--out", str(target)], env=env)
    assert written.exit_code == 0, written.output
    assert 'dir="rtl"' in target.read_text(encoding="utf-8")
    assert "كوبونات العرب" in target.with_suffix(".txt").read_text(encoding="utf-8")

    as_json = runner.invoke(app, ["notices", "preview", "--partner", "sleepsaver", "--level",
                                  "3", "--sample", "--json"], env=env)
    document = json.loads(as_json.output)
    assert document["schema"] == "notice-preview/1"
    conforms(document)
    assert (document["kind"], document["source"], document["level"]) == ("notice", "sample", 3)
    assert document["html"].startswith("<!DOCTYPE html>") and document["files"] == []

    digest = tmp_path / "digest.html"
    result = runner.invoke(app, ["notices", "preview", "--digest", "--out", str(digest)],
                           env=env)
    assert result.exit_code == 0, result.output
    assert digest.is_file() and digest.with_suffix(".txt").is_file()


@pytest.mark.parametrize(("args", "said"), [
    (["--partner", "nobody"], "unknown partner 'nobody'"),
    ([], "--partner"),
    (["--partner", "sleepsaver", "--level", "4"], "--level"),
])
def test_cli_refuses_what_it_cannot_render(tmp_path: Path, args: list[str], said: str) -> None:
    result = runner.invoke(app, ["notices", "preview", *args],
                           env={"BIDWATCH_HOME": str(tmp_path), "BIDWATCH_RULES": str(RULES)})
    assert result.exit_code == 2
    assert said in result.output
