"""Email: .eml building, and real delivery through apprise to a local aiosmtpd server."""

from __future__ import annotations

import email
import socket
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from monitor.notify.context import sample_notice_context
from monitor.notify.email import (
    KEY_HEADER,
    build_email,
    mask_url,
    notice_key_hash,
    scrub,
    send_email,
)
from monitor.notify.render import RenderedMessage, TemplateSet

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SENDER = "compliance@lumora.com"
PARTNER = "partner@sleepsaver.net"
# The smallest valid PNG: 1x1, transparent.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f0e0000000049454e44ae426082"
)


class Collector:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.envelopes.append(
            (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)  # type: ignore[attr-defined]
        )
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=policy.default) for _, _, raw in self.envelopes
        ]  # type: ignore[misc]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    collector, port = Collector(), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield collector, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def arabic_notice() -> RenderedMessage:
    return TemplateSet(TEMPLATES).render_notice(sample_notice_context("ar", 2), "en")


@pytest.fixture
def screenshot(tmp_path: Path) -> Path:
    path = tmp_path / "google-ae-ar-desktop.png"
    path.write_bytes(PNG)
    return path


def smtp_url(port: int) -> str:
    # No login and no TLS: apprise logs in only when both user and password are given, and
    # mode=insecure keeps it from trying STARTTLS.
    return f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure"


# -------------------------------------------------------------------------- send_email


def test_notice_arrives_with_structure_headers_and_attachment(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage, screenshot: Path
) -> None:
    collector, port = smtp
    result = send_email(
        smtp_url(port),
        arabic_notice,
        to=[PARTNER],
        cc=["legal@lumora.com"],
        reply_to="partners@lumora.com",
        attachments=[screenshot],
        sender=SENDER,
        sender_name="Lumora Partner Compliance",
        message_id_key="incident-42:2",
    )

    assert result.ok and result.error is None
    [(mail_from, rcpt_tos, _)] = collector.envelopes
    assert mail_from == SENDER and sorted(rcpt_tos) == ["legal@lumora.com", PARTNER]
    [message] = collector.messages()
    assert message["Subject"] == arabic_notice.subject
    assert message["From"] == f"Lumora Partner Compliance <{SENDER}>"
    assert message["To"] == PARTNER and message["Cc"] == "legal@lumora.com"
    assert message["Reply-To"] == "partners@lumora.com"
    assert message[KEY_HEADER] == notice_key_hash("incident-42:2")
    assert message["Content-Language"] == "ar"
    assert _structure(message) == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
    ]
    html = message.get_body(preferencelist=("html",))
    assert html.get_content_charset() == "utf-8"
    assert '<html lang="ar" dir="rtl">' in html.get_content()
    assert "إنذارًا نهائيًا" in message.get_body(preferencelist=("plain",)).get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == screenshot.name
    assert attachment.get_content() == PNG


def _structure(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def test_each_recipient_gets_one_copy_and_cc_only_one(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp
    result = send_email(
        smtp_url(port),
        arabic_notice,
        to=[PARTNER, "ops@sleepsaver.net"],
        cc=["legal@lumora.com"],
        sender=SENDER,
    )

    assert result.ok
    recipients = [r for _, rcpt_tos, _ in collector.envelopes for r in rcpt_tos]
    assert sorted(recipients) == ["legal@lumora.com", "ops@sleepsaver.net", PARTNER]


def test_dead_server_is_a_failed_result_not_an_exception(arabic_notice: RenderedMessage) -> None:
    url = f"mailto://bidwatch:s3cret-pass@127.0.0.1:{free_port()}?smtp=127.0.0.1&mode=insecure"
    result = send_email(url, arabic_notice, to=[PARTNER], sender=SENDER)

    assert not result.ok and result.error
    assert "s3cret-pass" not in result.error


def test_injected_recipient_is_refused_before_sending(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp
    result = send_email(
        smtp_url(port),
        arabic_notice,
        to=["a@example.com\r\nBcc: victim@example.com"],
        sender=SENDER,
    )

    assert not result.ok and "not a plain email address" in (result.error or "")
    assert collector.envelopes == []


def test_missing_attachment_and_wrong_scheme_are_failed_results(
    arabic_notice: RenderedMessage, tmp_path: Path
) -> None:
    missing = send_email(
        smtp_url(free_port()),
        arabic_notice,
        to=[PARTNER],
        attachments=[tmp_path / "gone.png"],
        sender=SENDER,
    )
    wrong = send_email("slack://token:pw@x/#c", arabic_notice, to=[PARTNER], sender=SENDER)

    assert not missing.ok and "gone.png" in (missing.error or "")
    assert not wrong.ok and "pw" not in (wrong.error or "")


def test_secrets_are_masked() -> None:
    url = "mailtos://bidwatch:p%40ss-word@smtp.example.com:587?from=a@example.com&pass=other-secret"

    assert mask_url(url) == "mailtos://smtp.example.com:587"
    text = scrub(f"failed for {url} with p@ss-word and other-secret", url)
    assert "p@ss-word" not in text and "other-secret" not in text and "p%40ss" not in text


# ------------------------------------------------------------------------- build_email


def _eml(message: RenderedMessage, key: str, attachments: list[Path]) -> EmailMessage:
    return build_email(
        message,
        sender=SENDER,
        sender_name="Lumora Partner Compliance",
        to=[PARTNER],
        cc=["legal@lumora.com"],
        reply_to="partners@lumora.com",
        attachments=attachments,
        message_id_key=key,
    )


def test_eml_carries_our_text_and_html_and_attachment(
    arabic_notice: RenderedMessage, screenshot: Path
) -> None:
    raw = _eml(arabic_notice, "incident-42:2", [screenshot]).as_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)

    assert _structure(message) == [  # type: ignore[arg-type]
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/html",
        "image/png",
    ]
    assert message.get_body(("plain",)).get_content() == arabic_notice.text  # type: ignore[union-attr]
    assert message.get_body(("html",)).get_content() == arabic_notice.html  # type: ignore[union-attr]
    assert message["Subject"] == arabic_notice.subject and message["Content-Language"] == "ar"
    assert message["Reply-To"] == "partners@lumora.com" and message["Cc"] == "legal@lumora.com"


def test_message_id_is_deterministic(arabic_notice: RenderedMessage) -> None:
    first = _eml(arabic_notice, "incident-42:2", [])["Message-ID"]

    assert first == _eml(arabic_notice, "incident-42:2", [])["Message-ID"]
    assert first != _eml(arabic_notice, "incident-42:3", [])["Message-ID"]
    assert first.endswith("@lumora.com>")


def test_eml_refuses_header_injection_in_addresses(arabic_notice: RenderedMessage) -> None:
    with pytest.raises(ValueError, match="not a plain email address"):
        build_email(
            arabic_notice,
            sender=SENDER,
            sender_name="x",
            to=["a@x.com\nBcc: v@x.com"],
            cc=[],
            reply_to=None,
            attachments=[],
            message_id_key="k",
        )
