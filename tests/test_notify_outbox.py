"""The outbox over real SMTP (aiosmtpd): per-partner batches, approval, dead items and retry,
policy reminders, and the `bidwatch outbox` / `bidwatch notices` commands."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.dev.mailsink import MailSink
from monitor.notify.outbox import deliver_outbox
from monitor.notify.reminders import period_start, queue_policy_reminders
from monitor.notify.render import TemplateSet
from monitor.store import Store
from tests.notify_support import RULES as RULES_DIR
from tests.notify_support import (
    TEMPLATES,
    Breach,
    notify_settings,
    program,
    record_breach,
    rules_with,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEMPLATE_SET = TemplateSet(TEMPLATES)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(f"sqlite:///{tmp_path / 'home' / 'bidwatch.db'}")
    yield opened  # type: ignore[misc]
    opened.close()


def _three_sleepsaver_and_one_kuponhemat(store: Store, home: Path) -> None:
    """Three SleepSaver cases (three ads: each to another destination or through another
    network) and one KuponHemat case."""
    for engine, policy, landing, network in (
            ("google", "no-brand-bidding", "lumora.com", "impact"),
            ("bing", "no-brand-bidding", "lumora.co.uk", "impact"),
            ("google", "no-direct-linking", "lumora.com", "cj")):
        record_breach(store, home, Breach("sleepsaver", policy=policy, engine=engine,
                                          landing_domain=landing, network=network), T0)
    record_breach(store, home, Breach("kuponhemat", language="id"), T0)


def test_a_partner_gets_one_message_for_every_incident_due(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    _three_sleepsaver_and_one_kuponhemat(store, home)
    settings = notify_settings(home, notice_url=mail_sink.apprise_url())

    heard: list[tuple[int, int, int]] = []
    report = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0,
                            progress=lambda r, done, due: heard.append((r.sent, done, due)))

    assert (report.sent, report.messages) == (4, 2)
    # told before the first message and after each: the batch of three, then the one
    assert heard[0] == (0, 0, 4) and heard[-1] == (4, 4, 4)
    assert [done for _sent, done, _due in heard] == sorted(done for _s, done, _d in heard)
    by_recipient = {m.recipients[0]: m.message() for m in mail_sink.received}
    english = by_recipient["affiliates@sleepsaver.net"]
    html = english.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "This notice covers 3 ads" in html and "Ad 3 of 3" in html
    assert "(+2 more)" in str(english["Subject"])
    rows = store.outbox_items(kinds=["notice"], partner="sleepsaver")
    assert {r.status for r in rows} == {"sent"} and len({r.batch_key for r in rows}) == 1
    # no full-page screenshots attached: each case's thumbnail inline, by Content-ID
    assert list(english.iter_attachments()) == []
    inline = [p for p in english.walk() if p.get_content_maintype() == "image"]
    assert all(p["Content-ID"] and p.get_content_type() == "image/jpeg" for p in inline)
    indonesian = by_recipient["budi@kuponhemat.co.id"]
    assert "Iklan 1 dari" not in indonesian.get_body(("html",)).get_content()  # type: ignore[union-attr]
    # delivered once: a second run finds nothing due
    again = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(hours=1))
    assert (again.sent, len(mail_sink.received)) == (0, 2)


def test_batching_off_sends_one_message_per_incident(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    _three_sleepsaver_and_one_kuponhemat(store, home)
    rules = rules_with(tmp_path, {"batch_per_partner": False})
    settings = notify_settings(home, rules=rules, notice_url=mail_sink.apprise_url())
    report = deliver_outbox(store, program(rules), settings, TEMPLATE_SET, now=T0)
    assert (report.sent, report.messages, len(mail_sink.received)) == (4, 4, 4)


def test_notices_wait_for_approval_and_rejected_ones_never_go(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    _three_sleepsaver_and_one_kuponhemat(store, home)
    rules = rules_with(tmp_path, {"require_approval": True})
    settings = notify_settings(home, rules=rules, notice_url=mail_sink.apprise_url())

    first = deliver_outbox(store, program(rules), settings, TEMPLATE_SET, now=T0)
    assert (first.held, first.sent, len(mail_sink.received)) == (4, 0, 0)

    held = store.outbox_items(statuses=["held"])
    kupon = [r.id or 0 for r in held if r.partner == "kuponhemat"]
    others = [r.id or 0 for r in held if r.partner == "sleepsaver"]
    assert (len(kupon), len(others)) == (1, 3)
    approved = store.decide_held(kupon, approve=True, by="dana", note="checked", now=T0)
    rejected = store.decide_held(others, approve=False, by="dana", note="false positive", now=T0)
    assert {r.status for r in approved} == {"pending"} and {r.decided_by for r in approved} == {
        "dana"}
    with pytest.raises(ValueError, match="only held notices"):
        store.decide_held(kupon, approve=True, by="dana", note="", now=T0)

    second = deliver_outbox(store, program(rules), settings, TEMPLATE_SET, now=T0)
    assert second.sent == len(kupon) and len(mail_sink.received) == 1
    assert {r.status for r in store.outbox_items(statuses=["rejected"])} == {"rejected"}
    assert all(r.decision_note == "false positive" for r in rejected)


def test_failing_channel_makes_items_dead_then_retry_requeues(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("sleepsaver"), T0)
    closed = "mailto://127.0.0.1:9?smtp=127.0.0.1&mode=insecure&pass=hunter2secret"
    settings = notify_settings(home, notice_url=closed, outbox_max_attempts=2)
    for minute in (0, 1):
        deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(minutes=minute))
    [row] = store.outbox_items()
    assert (row.status, row.attempts) == ("dead", 2) and row.last_error
    assert "hunter2secret" not in row.last_error

    assert "127.0.0.1:9: connection refused" in row.last_error
    stored = row.message
    assert stored is not None  # built once, before the first attempt

    store.requeue_dead([], every=True, now=T0)
    working = notify_settings(home, notice_url=mail_sink.apprise_url())
    report = deliver_outbox(store, program(), working, TEMPLATE_SET, now=T0 + timedelta(hours=1))
    assert report.sent == 1 and len(mail_sink.received) == 1
    # the retry sent the bytes stored at the first attempt: same Message-ID, same Date
    [mail] = mail_sink.received
    assert mail.path.read_bytes() == stored
    [row] = store.outbox_items()
    assert row.message == stored and row.status == "sent"


def test_the_message_received_is_the_one_stored_and_kept(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    _three_sleepsaver_and_one_kuponhemat(store, home)
    settings = notify_settings(home, notice_url=mail_sink.smtp_url())

    report = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)

    assert report.messages == 2
    # the sink keeps the DATA exactly as the client sent it (aiosmtpd's original_content)
    received = {m.recipients[0]: m.path.read_bytes() for m in mail_sink.received}
    for partner, address in (("sleepsaver", "affiliates@sleepsaver.net"),
                             ("kuponhemat", "budi@kuponhemat.co.id")):
        rows = store.outbox_items(kinds=["notice"], partner=partner)
        [stored] = {r.message for r in rows}  # one message for the whole batch
        [eml] = {r.eml_path for r in rows}
        assert stored is not None and eml is not None
        assert received[address] == stored == Path(eml).read_bytes()
        parsed = email.message_from_bytes(stored, policy=email.policy.default)
        assert parsed["Message-ID"].endswith("@lumora.com>")


def test_a_notice_waiting_on_a_dry_run_is_later_sent_as_kept(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("kuponhemat", language="id"), T0)
    dry = notify_settings(home, notice_url=mail_sink.smtp_url(), dry_run=True)
    [eml] = deliver_outbox(store, program(), dry, TEMPLATE_SET, now=T0).eml_paths
    kept = eml.read_bytes()

    live = notify_settings(home, notice_url=mail_sink.smtp_url())
    report = deliver_outbox(store, program(), live, TEMPLATE_SET, now=T0 + timedelta(hours=1))

    assert report.sent == 1
    [mail] = mail_sink.received
    received = mail.path.read_bytes()
    # what was sent is what is kept; it is the dry run's message, dated when it first went
    # out (a filter counts an old Date against it), nothing else changed
    assert received == eml.read_bytes() == store.outbox_items()[0].message
    date_line = re.compile(rb"^Date: [^\r\n]*", re.MULTILINE)
    assert date_line.sub(b"", received) == date_line.sub(b"", kept)
    assert b"Date: Fri, 20 Nov 2026 10:00:00 +0000" in received


def test_dry_run_renders_and_keeps_eml_but_sends_nothing(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("arabiccoupons", language="ar"), T0)
    settings = notify_settings(home, notice_url=mail_sink.apprise_url(), dry_run=True)
    report = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
    assert report.waiting == 1 and not mail_sink.received
    [eml] = report.eml_paths
    kept = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert 'dir="rtl"' in kept.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert store.outbox_items()[0].status == "pending"  # still owed: nothing was sent


# -- policy reminders ---------------------------------------------------------------------------


def test_reminders_once_per_partner_and_period_in_their_language(
    store: Store, tmp_path: Path, mail_sink: MailSink
) -> None:
    rules = rules_with(tmp_path, {"reminder_every_days": 30})
    prog = program(rules)
    settings = notify_settings(tmp_path / "home", rules=rules, notice_url=mail_sink.apprise_url())

    keys = queue_policy_reminders(store, prog, T0)
    assert len(keys) == len(prog.partners) == 4
    assert queue_policy_reminders(store, prog, T0 + timedelta(days=1)) == []
    report = deliver_outbox(store, prog, settings, TEMPLATE_SET, now=T0)
    assert report.sent == 4
    by_recipient = {m.recipients[0]: m.message() for m in mail_sink.received}
    arabic = by_recipient["omar@coupons-arab.ae"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert 'lang="ar" dir="rtl"' in arabic and "هذه القناة خاضعة للمراقبة" in arabic
    indonesian = by_recipient["budi@kuponhemat.co.id"].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Saluran ini dipantau" in indonesian

    next_period = datetime.combine(period_start(T0.date(), 30) + timedelta(days=30),
                                   datetime.min.time(), UTC)
    assert len(queue_policy_reminders(store, prog, next_period)) == 4


# -- the commands -------------------------------------------------------------------------------


def _env(home: Path, rules: Path, **extra: str) -> dict[str, str]:
    return {"BIDWATCH_HOME": str(home), "BIDWATCH_RULES": str(rules), **extra}


def test_outbox_and_notices_commands(tmp_path: Path, mail_sink: MailSink) -> None:
    home = tmp_path / "home"
    rules = rules_with(tmp_path, {"require_approval": True})
    store = Store(f"sqlite:///{(home / 'bidwatch.db').resolve()}")
    record_breach(store, home, Breach("sleepsaver"), T0)
    store.close()
    runner = CliRunner()
    env = _env(home, rules, BIDWATCH_NOTICE_URL=mail_sink.apprise_url(),
               USER=os.environ.get("USER", "tester"))

    result = runner.invoke(app, ["outbox", "deliver"], env=env)
    assert result.exit_code == 0 and "held 1" in result.output
    listed = runner.invoke(app, ["outbox", "--status", "held", "--json"], env=env)
    [item] = [json.loads(line) for line in listed.output.splitlines()]
    assert item["kind"] == "notice" and item["status"] == "held"

    bad = runner.invoke(app, ["notices", "reject", str(item["id"]), "--note", " "], env=env)
    assert bad.exit_code == 2 and "--note is required" in bad.output
    ok = runner.invoke(app, ["notices", "approve", str(item["id"]), "--by", "dana"], env=env)
    assert ok.exit_code == 0, ok.output
    sent = runner.invoke(app, ["outbox", "deliver"], env=env)
    assert "sent 1 in 1 messages" in sent.output and len(mail_sink.received) == 1
    shown = runner.invoke(app, ["outbox", "--json"], env=env)
    [final] = [json.loads(line) for line in shown.output.splitlines()]
    assert (final["status"], final["decided_by"]) == ("sent", "dana")
    missing = runner.invoke(app, ["outbox", "retry", "999"], env=env)
    assert missing.exit_code == 2 and "999" in missing.output


def test_weekly_digest_command(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = Store(f"sqlite:///{(home / 'bidwatch.db').resolve()}")
    record_breach(store, home, Breach("sleepsaver"), T0)
    store.close()
    target = tmp_path / "week.html"
    result = CliRunner().invoke(app, ["digest", "--period", "week", "--date", "2026-11-21",
                                      "--out", str(target)], env=_env(home, RULES_DIR))
    assert result.exit_code == 0, result.output
    html = target.read_text(encoding="utf-8")
    assert "Weekly digest, 2026-11-15 – 2026-11-21" in html and "New cases per week" in html
    assert "INC-00001" in html and target.with_suffix(".txt").is_file()
