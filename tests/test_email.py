"""Email: the message build_email makes (MIME shape, encodings, headers), and its delivery
over SMTP to real aiosmtpd servers on loopback: plain, STARTTLS and implicit TLS with a
login, a certificate the test makes, dead and stalled servers."""

from __future__ import annotations

import email
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from monitor.notify.context import sample_notice_context
from monitor.notify.email import (
    KEY_HEADER,
    build_email,
    folded_subject,
    mask_url,
    message_id_for,
    notice_key_hash,
    scrub,
    send_email,
)
from monitor.notify.render import RenderedMessage, TemplateSet
from monitor.notify.smtp import Security, SmtpOptions, send_message, smtp_target
from monitor.settings import Settings

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SENDER = "compliance@lumora.com"
PARTNER = "partner@sleepsaver.net"
PASSWORD = "s3cret-Pa55word"
# The smallest valid PNG: 1x1, transparent.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f0e0000000049454e44ae426082"
)
QUICK = SmtpOptions(timeout_s=5)


class Collector:
    """An aiosmtpd handler that keeps every transaction: sender, recipients, DATA as sent."""

    def __init__(self, refuse: str | None = None) -> None:
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse  # a recipient this server refuses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address == self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                               envelope.original_content))
        return "250 OK"

    def messages(self) -> list[EmailMessage]:
        parsed = [email.message_from_bytes(raw, policy=policy.default)
                  for _, _, raw in self.envelopes]
        return [m for m in parsed if isinstance(m, EmailMessage)]


class Logins:
    """An aiosmtpd authenticator: one user, one password; remembers the mechanisms used."""

    def __init__(self, offered: str = "PLAIN") -> None:
        self.offered = offered  # the one mechanism the server offers
        self.mechanisms: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str,
                 auth_data: Any) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"bidwatch"
              and auth_data.password == PASSWORD.encode())
        return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def plain_url(port: int) -> str:
    return f"smtp://127.0.0.1:{port}"


def _structure(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.walk()]


def _text_of(message: EmailMessage, subtype: str) -> str:
    """A text part's content; its lines end CRLF on the wire (MIME's canonical form)."""
    part = message.get_body((subtype,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


# ------------------------------------------------------------------------- a certificate


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert.pem, key.pem)."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bidwatch test SMTP")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


@pytest.fixture
def tls_smtp(certificate: tuple[Path, Path], request: pytest.FixtureRequest
             ) -> Iterator[tuple[Collector, Logins, int]]:
    """STARTTLS required, then a login required (AUTH only over TLS); request.param names
    the one mechanism offered (LOGIN or PLAIN)."""
    mechanism = getattr(request, "param", "PLAIN")
    collector, logins, port = Collector(), Logins(mechanism), free_port()
    controller = Controller(
        collector, hostname="127.0.0.1", port=port, tls_context=_server_context(certificate),
        require_starttls=True, authenticator=logins, auth_required=True,
        auth_require_tls=True, auth_exclude_mechanism=[{"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[
            mechanism]],
    )
    controller.start()
    try:
        yield collector, logins, port
    finally:
        controller.stop()


# ---------------------------------------------------------------------- send_email, plain


def test_notice_arrives_as_built_with_structure_headers_and_attachment(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage, screenshot: Path
) -> None:
    collector, port = smtp
    result = send_email(
        plain_url(port), arabic_notice, to=[PARTNER], cc=["legal@lumora.com"],
        reply_to="partners@lumora.com", attachments=[screenshot], sender=SENDER,
        sender_name="Lumora Partner Compliance", message_id_key="incident-42:2", smtp=QUICK,
    )

    assert result.ok and result.error is None
    [(mail_from, rcpt_tos, raw)] = collector.envelopes  # one transaction for To and Cc
    assert mail_from == SENDER and rcpt_tos == [PARTNER, "legal@lumora.com"]
    [message] = collector.messages()
    assert message["Subject"] == arabic_notice.subject
    assert message["From"] == f"Lumora Partner Compliance <{SENDER}>"
    assert b"\r\nTo: <partner@sleepsaver.net>\r\n" in raw
    assert b"\r\nCc: <legal@lumora.com>\r\n" in raw
    assert b"\r\nReply-To: <partners@lumora.com>\r\n" in raw
    assert message["Message-ID"] == message_id_for("incident-42:2", SENDER)
    assert message[KEY_HEADER] == notice_key_hash("incident-42:2")
    assert message["Content-Language"] == "ar" and message["MIME-Version"] == "1.0"
    sent_at = message["Date"].datetime
    assert abs(datetime.now(UTC) - sent_at) < timedelta(minutes=1)
    assert _structure(message) == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "image/png"]
    # our own renderings, both of them: no text part made up from the HTML
    assert _text_of(message, "plain") == arabic_notice.text
    html = message.get_body(("html",))
    assert html is not None and html.get_content_charset() == "utf-8"
    assert _text_of(message, "html") == arabic_notice.html
    assert '<html lang="ar" dir="rtl">' in html.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == screenshot.name
    assert attachment.get_content() == PNG


def test_every_recipient_gets_the_one_message_in_one_transaction(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp
    result = send_email(plain_url(port), arabic_notice, to=[PARTNER, "ops@sleepsaver.net"],
                        cc=["legal@lumora.com"], sender=SENDER, smtp=QUICK)

    assert result.ok
    [(_, rcpt_tos, raw)] = collector.envelopes
    assert rcpt_tos == [PARTNER, "ops@sleepsaver.net", "legal@lumora.com"]
    assert b"\r\nTo: <partner@sleepsaver.net>, <ops@sleepsaver.net>\r\n" in raw


def test_apprise_style_mailto_url_still_delivers(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp
    url = f"mailto://127.0.0.1:{port}?smtp=127.0.0.1&mode=insecure&from={SENDER}&name=Lumora"

    result = send_email(url, arabic_notice, to=[PARTNER], smtp=QUICK)  # sender from the URL

    assert result.ok, result.error
    [message] = collector.messages()
    assert collector.envelopes[0][0] == SENDER and message["From"] == f"Lumora <{SENDER}>"


def test_a_refused_recipient_is_reported_on_a_delivered_message(
    arabic_notice: RenderedMessage
) -> None:
    collector, port = Collector(refuse="gone@sleepsaver.net"), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        result = send_email(plain_url(port), arabic_notice, to=[PARTNER],
                            cc=["gone@sleepsaver.net"], sender=SENDER, smtp=QUICK)
    finally:
        controller.stop()

    assert result.ok  # the partner has it: sending again would duplicate it
    assert "gone@sleepsaver.net (550 5.1.1 no such mailbox)" in (result.error or "")
    assert collector.envelopes[0][1] == [PARTNER]


def test_injected_recipient_is_refused_before_sending(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp
    result = send_email(plain_url(port), arabic_notice,
                        to=["a@example.com\r\nBcc: victim@example.com"], sender=SENDER,
                        smtp=QUICK)
    raw = send_message(plain_url(port), b"Subject: x\r\n\r\nx\r\n", sender=SENDER,
                       recipients=["a@example.com>\r\nRCPT TO:<victim@example.com"],
                       options=QUICK)

    assert not result.ok and "not a plain email address" in (result.error or "")
    assert not raw.ok and "not a plain email address" in (raw.error or "")
    assert collector.envelopes == []


def test_missing_attachment_and_wrong_scheme_are_failed_results(
    arabic_notice: RenderedMessage, tmp_path: Path
) -> None:
    missing = send_email(plain_url(free_port()), arabic_notice, to=[PARTNER],
                         attachments=[tmp_path / "gone.png"], sender=SENDER, smtp=QUICK)
    wrong = send_email("slack://token:pw-secret@x/#c", arabic_notice, to=[PARTNER],
                       sender=SENDER, smtp=QUICK)
    no_sender = send_email(plain_url(free_port()), arabic_notice, to=[PARTNER], smtp=QUICK)

    assert not missing.ok and missing.error == "attachment not found: gone.png"
    assert not wrong.ok and "not an SMTP URL" in (wrong.error or "")
    assert "pw-secret" not in (wrong.error or "")
    assert not no_sender.ok and "no sender" in (no_sender.error or "")


# ------------------------------------------------------------- TLS and logins (a real CA)


@pytest.mark.parametrize("tls_smtp", ["LOGIN", "PLAIN"], indirect=True)
def test_starttls_and_login_with_the_password_from_the_environment(
    tls_smtp: tuple[Collector, Logins, int], certificate: tuple[Path, Path],
    arabic_notice: RenderedMessage, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector, logins, port = tls_smtp
    monkeypatch.setenv("BIDWATCH_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("BIDWATCH_SMTP_CA_FILE", str(certificate[0]))
    monkeypatch.setenv("BIDWATCH_SMTP_TIMEOUT_S", "5")
    url = f"smtp://bidwatch@127.0.0.1:{port}?starttls=require"

    # the outbox's way (options from its Settings), and send_email's own reading of them
    via_settings = send_email(url, arabic_notice, to=[PARTNER], sender=SENDER,
                              smtp=SmtpOptions.from_settings(Settings()))
    via_environment = send_email(url, arabic_notice, to=[PARTNER], sender=SENDER)

    assert via_settings.ok, via_settings.error
    assert via_environment.ok, via_environment.error
    assert len(collector.envelopes) == 2
    assert logins.mechanisms == [logins.offered, logins.offered]


def test_a_wrong_password_is_a_clean_failure_without_the_password(
    tls_smtp: tuple[Collector, Logins, int], certificate: tuple[Path, Path],
    arabic_notice: RenderedMessage, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector, _logins, port = tls_smtp
    monkeypatch.setenv("BIDWATCH_SMTP_PASSWORD", "wrong-" + PASSWORD)
    options = SmtpOptions.from_settings(Settings(smtp_ca_file=certificate[0], smtp_timeout_s=5))
    in_url = f"mailto://bidwatch:also-wrong-{PASSWORD}@127.0.0.1:{port}?mode=starttls"

    from_environment = send_email(f"smtp://bidwatch@127.0.0.1:{port}", arabic_notice,
                                  to=[PARTNER], sender=SENDER, smtp=options)
    from_url = send_email(in_url, arabic_notice, to=[PARTNER], sender=SENDER, smtp=options)

    for result in (from_environment, from_url):
        assert not result.ok and result.error
        assert f"127.0.0.1:{port}: login refused (535" in result.error
        assert PASSWORD not in result.error and "Pa55" not in result.error
    assert collector.envelopes == []


def test_an_untrusted_certificate_is_refused_before_the_password_goes(
    tls_smtp: tuple[Collector, Logins, int], arabic_notice: RenderedMessage
) -> None:
    collector, logins, port = tls_smtp
    options = SmtpOptions(password=PASSWORD, timeout_s=5)  # system trust: no test CA in it

    result = send_email(f"smtp://bidwatch@127.0.0.1:{port}", arabic_notice, to=[PARTNER],
                        sender=SENDER, smtp=options)

    assert not result.ok and "TLS certificate is not trusted" in (result.error or "")
    assert "BIDWATCH_SMTP_CA_FILE" in (result.error or "")
    assert logins.mechanisms == [] and collector.envelopes == []


def test_starttls_required_but_not_offered_sends_nothing(
    smtp: tuple[Collector, int], arabic_notice: RenderedMessage
) -> None:
    collector, port = smtp

    result = send_email(f"mailtos://127.0.0.1:{port}?from={SENDER}", arabic_notice,
                        to=[PARTNER], smtp=QUICK)

    assert not result.ok and "offers no STARTTLS" in (result.error or "")
    assert collector.envelopes == []


# aiosmtpd warns about AUTH without STARTTLS; the session is TLS from its first byte
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_implicit_tls_with_a_login(
    certificate: tuple[Path, Path], arabic_notice: RenderedMessage
) -> None:
    collector, logins, port = Collector(), Logins(), free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port,
                            ssl_context=_server_context(certificate), authenticator=logins,
                            auth_required=True, auth_require_tls=False)  # TLS from the start
    controller.start()
    try:
        result = send_email(f"smtps://bidwatch:{PASSWORD}@127.0.0.1:{port}", arabic_notice,
                            to=[PARTNER], sender=SENDER,
                            smtp=SmtpOptions(ca_file=certificate[0], timeout_s=5))
    finally:
        controller.stop()

    assert result.ok, result.error
    assert len(collector.envelopes) == 1 and len(logins.mechanisms) == 1


# --------------------------------------------------------------- dead and stalled servers


def test_dead_server_is_a_failed_result_not_an_exception(arabic_notice: RenderedMessage) -> None:
    url = f"smtp://bidwatch:{PASSWORD}@127.0.0.1:{free_port()}"

    started = time.monotonic()
    result = send_email(url, arabic_notice, to=[PARTNER], sender=SENDER,
                        smtp=SmtpOptions(timeout_s=2))

    assert time.monotonic() - started < 2
    assert not result.ok and "connection refused" in (result.error or "")
    assert PASSWORD not in (result.error or "")


@pytest.fixture
def stalled_port() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(2)
        for conn in accepted:
            conn.close()
        listener.close()


def test_stalled_server_fails_within_the_timeout(
    stalled_port: int, arabic_notice: RenderedMessage
) -> None:
    url = f"smtp://bidwatch:{PASSWORD}@127.0.0.1:{stalled_port}"

    started = time.monotonic()
    result = send_email(url, arabic_notice, to=[PARTNER], sender=SENDER,
                        smtp=SmtpOptions(timeout_s=1))
    raw = send_message(url, b"Subject: x\r\n\r\nx\r\n", sender=SENDER, recipients=[PARTNER],
                       options=SmtpOptions(timeout_s=1))

    assert time.monotonic() - started < 4  # two sends, one second each, and some slack
    for outcome in (result, raw):
        assert not outcome.ok
        assert outcome.error == f"127.0.0.1:{stalled_port}: no answer within 1 s"


# ------------------------------------------------------------------------- URLs, secrets


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.brand.com", ("mail.brand.com", 25, Security.OPPORTUNISTIC, None, None)),
    ("smtp://u%40brand.com:pw@mail.brand.com:587?starttls=require",
     ("mail.brand.com", 587, Security.STARTTLS, "u@brand.com", "u@brand.com")),
    ("smtp://mail.brand.com?starttls=never", ("mail.brand.com", 25, Security.PLAIN, None, None)),
    ("smtps://mail.brand.com", ("mail.brand.com", 465, Security.TLS, None, None)),
    ("mailtos://compliance:pw@smtp.example.com?from=c@brand.com",
     ("smtp.example.com", 587, Security.STARTTLS, "compliance", "c@brand.com")),
    ("mailtos://compliance:pw@smtp.example.com?mode=ssl",
     ("smtp.example.com", 465, Security.TLS, "compliance", "compliance@smtp.example.com")),
    ("mailto://c:pw@brand.com?smtp=mail.brand.com&port=2525",
     ("mail.brand.com", 2525, Security.OPPORTUNISTIC, "c", "c@brand.com")),
    ("mailto://127.0.0.1:2525?smtp=127.0.0.1&mode=insecure",
     ("127.0.0.1", 2525, Security.PLAIN, None, None)),
])
def test_notice_urls(url: str, expected: tuple[object, ...]) -> None:
    target = smtp_target(url, SmtpOptions())

    assert (target.host, target.port, target.security, target.user, target.sender) == expected


def test_the_password_comes_from_the_url_else_the_settings() -> None:
    options = SmtpOptions(password="from-env")

    assert smtp_target("smtp://u:from-url@h.example", options).password == "from-url"
    assert smtp_target("mailto://u@h.example?pass=from-query", options).password == "from-query"
    assert smtp_target("smtp://u@h.example", options).password == "from-env"
    with pytest.raises(ValueError, match="starttls=maybe"):
        smtp_target("smtp://h.example?starttls=maybe", options)


def test_the_settings_password_is_never_shown() -> None:
    settings = Settings(smtp_password=PASSWORD)  # type: ignore[arg-type]

    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings.model_dump())
    assert SmtpOptions.from_settings(settings).password == PASSWORD


def test_secrets_are_masked() -> None:
    url = "mailtos://bidwatch:p%40ss-word@smtp.example.com:587?from=a@example.com&pass=other-secret"

    assert mask_url(url) == "mailtos://smtp.example.com:587"
    text = scrub(f"failed for {url} with p@ss-word and other-secret and env-secret", url,
                 "env-secret")
    assert "p@ss-word" not in text and "other-secret" not in text and "p%40ss" not in text
    assert "env-secret" not in text


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
    assert isinstance(message, EmailMessage)
    assert _text_of(message, "plain") == arabic_notice.text
    assert _text_of(message, "html") == arabic_notice.html
    assert message["Subject"] == arabic_notice.subject and message["Content-Language"] == "ar"
    assert message["Reply-To"] == "partners@lumora.com" and message["Cc"] == "legal@lumora.com"


def test_eml_is_seven_bit_crlf_with_short_lines(
    arabic_notice: RenderedMessage, screenshot: Path
) -> None:
    big = screenshot.with_name("page.png")
    big.write_bytes(PNG * 2000)
    raw = _eml(arabic_notice, "incident-42:2", [big]).as_bytes()
    message = email.message_from_bytes(raw, policy=policy.default)

    assert raw.isascii() and raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends CRLF
    assert max(len(line) for line in raw.split(b"\r\n")) <= 76
    encodings = {p.get_content_type(): p["Content-Transfer-Encoding"] for p in message.walk()
                 if not p.is_multipart()}
    assert encodings == {"text/plain": "quoted-printable", "text/html": "quoted-printable",
                         "image/png": "base64"}


@pytest.mark.parametrize("subject", [
    "Notice of termination: Lumora affiliate programme (ref. INC-2026-0042)",
    "إشعار إنهاء المشاركة في برنامج شركاء Lumora (المرجع INC-2026-0042)",
    "Peringatan terakhir: " + " ".join(["sangat panjang"] * 12),
    "x" * 150,
    "é" * 150,
])
def test_subject_starts_on_the_subject_line_and_reads_back(
    arabic_notice: RenderedMessage, subject: str
) -> None:
    raw = _eml(replace(arabic_notice, subject=subject), "k", []).as_bytes()
    line = next(x for x in raw.split(b"\r\n") if x.startswith(b"Subject:"))
    message = email.message_from_bytes(raw, policy=policy.default)

    assert len(line) > len("Subject: ") and line[len("Subject: "):][:1] not in (b"", b" ")
    assert message["Subject"] == subject
    # lines of at most 76, unless one word is longer (folding cannot split it)
    lines = folded_subject(subject).split("\n")
    assert all(len(x) <= 76 or " " not in x.strip() for x in lines)
    assert len(lines[0]) <= 76 - len("Subject: ") or " " not in lines[0]


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
