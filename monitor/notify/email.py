"""A rendered message as one RFC 5322 message (build_email), and its delivery (send_email).

build_email makes the bytes that are kept and sent: the outbox stores them on the row,
writes them as the .eml and hands them to the SMTP server unchanged (monitor/notify/smtp.py),
so the copy kept is the message the partner received. What they hold, checked by
tests/test_email.py and scored by SpamAssassin in tests/test_notice_mail.py:
- multipart/alternative: our own text/plain rendering, then the text/html one; with inline
  images the HTML part is multipart/related (each image named by its Content-ID, which the
  HTML shows as cid:NAME); with attachments the whole is wrapped in multipart/mixed.
- Text parts are UTF-8, quoted-printable, lines of at most 76 characters; images and
  attachments are base64 in lines of 76. The bytes are 7-bit and end lines with CRLF, so no
  server has to convert them (8BITMIME or not).
- From, To, Cc and Reply-To are plain addresses in angle brackets (From with the display
  name), Date is the build time, Message-ID is stable per key on the sender's domain
  (`<notice.<sha256(key)>@domain>`), plus MIME-Version, Content-Language and
  X-Bidwatch-Notice-Key. The Subject is RFC 2047-encoded where it needs to be and folded
  so that it starts on its own line (never right after "Subject:").
- Addresses must be plain `user@domain` (monitor.addresses): nothing can smuggle a header.

send_email builds such a message and sends it through the SMTP URL (the digest and
`bidwatch digest --send` use it; the outbox sends the stored bytes itself). Apprise is
used only for alerts (monitor/notify/alerts.py).
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from monitor.addresses import AddressError, checked_address
from monitor.notify.context import inert_text
from monitor.notify.render import SUBJECT_LIMIT, RenderedMessage
from monitor.notify.smtp import (
    DeliveryResult,
    SmtpOptions,
    mask_url,
    scrub,
    send_message,
    smtp_target,
)
from monitor.settings import Settings

__all__ = ["KEY_HEADER", "DeliveryResult", "IllustratedMessage", "InlineImage", "SmtpOptions",
           "build_email", "folded_subject", "inline_images_of", "mask_url", "message_id_for",
           "notice_key_hash", "scrub", "send_email"]

KEY_HEADER = "X-Bidwatch-Notice-Key"


@dataclass(frozen=True, slots=True)
class InlineImage:
    """An image the HTML part shows in place as <img src="cid:NAME">."""

    name: str  # a plain file name, also its Content-ID
    data: bytes
    mime_type: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class IllustratedMessage(RenderedMessage):
    """A rendered message whose HTML shows `inline_images` by cid: (the digest's)."""

    inline_images: tuple[InlineImage, ...] = ()


def inline_images_of(msg: RenderedMessage) -> tuple[InlineImage, ...]:
    return msg.inline_images if isinstance(msg, IllustratedMessage) else ()


def notice_key_hash(message_id_key: str) -> str:
    return hashlib.sha256(message_id_key.encode("utf-8")).hexdigest()[:40]


def message_id_for(message_id_key: str, sender: str) -> str:
    """The same key always gives the same Message-ID, so a resend is recognisable."""
    domain = checked_address(sender).rsplit("@", 1)[1]
    return f"<notice.{notice_key_hash(message_id_key)}@{domain}>"


# ---------------------------------------------------------------------------- build_email


#: CRLF line ends, and bodies in lines of 76 (RFC 2045's limit for quoted-printable and
#: base64); the Subject, folded by folded_subject, is written as folded there
MAIL_POLICY = email_policy.SMTP.clone(max_line_length=76, refold_source="none")


def build_email(
    msg: RenderedMessage,
    *,
    sender: str,
    sender_name: str,
    to: Sequence[str],
    cc: Sequence[str],
    reply_to: str | None,
    attachments: Sequence[Path],
    message_id_key: str,
) -> EmailMessage:
    """The complete message: [mixed(] alternative(text, html [+ related images]) [, files…)],
    the images an IllustratedMessage's. AddressError for an address that is not plain;
    OSError for an attachment not found."""
    if not to:
        raise AddressError("a notice needs at least one recipient")
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = Address(
        display_name=inert_text(sender_name, 120), addr_spec=checked_address(sender)
    ) if sender_name.strip() else _bracketed([sender])
    message["To"] = _bracketed(to)
    if cc:
        message["Cc"] = _bracketed(cc)
    if reply_to:
        message["Reply-To"] = _bracketed([reply_to])
    message.set_raw("Subject", folded_subject(inert_text(msg.subject, SUBJECT_LIMIT)))
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = message_id_for(message_id_key, sender)
    message[KEY_HEADER] = notice_key_hash(message_id_key)
    message.set_content(msg.text, charset="utf-8", cte="quoted-printable")
    message.add_alternative(msg.html, subtype="html", charset="utf-8", cte="quoted-printable")
    _add_inline_images(message, inline_images_of(msg))
    for path in attachments:
        _attach_file(message, path)
    # After the body: set_content() drops Content-* headers, and make_mixed() moves them.
    message["Content-Language"] = inert_text(msg.language, 35)
    return message


def _bracketed(addresses: Sequence[str]) -> str:
    """`<a@x.com>, <b@y.com>`: an address list as mail clients write it (SpamAssassin counts
    a bare To against a message)."""
    return ", ".join(f"<{checked_address(a)}>" for a in addresses)


def folded_subject(subject: str) -> str:
    """The Subject's value folded into lines of at most 76 characters, the first on the
    Subject line itself (the email package would fold a long subject right after
    "Subject:", which some clients show as a leading space). ASCII is folded at spaces (a
    longer word keeps a line of its own); anything else is RFC 2047 UTF-8 encoded words."""
    if not subject.isascii():
        return Header(subject, "utf-8", header_name="Subject", maxlinelen=76).encode(
            linesep="\n")
    lines = [""]
    room = 76 - len("Subject: ")
    for word in subject.split(" "):
        if lines[-1] and len(lines[-1]) + 1 + len(word) > room:
            lines.append(word)
            room = 76 - 1  # a continuation line starts with the folding space
        else:
            lines[-1] = f"{lines[-1]} {word}" if lines[-1] else word
    return "\n ".join(lines)


def _add_inline_images(message: EmailMessage, images: Sequence[InlineImage]) -> None:
    """The HTML part becomes related(html, images…), each image named by its Content-ID."""
    html_part = message.get_body(preferencelist=("html",))
    if not isinstance(html_part, EmailMessage):
        return
    for image in images:
        maintype, subtype = image.mime_type.split("/", 1)
        html_part.add_related(image.data, maintype=maintype, subtype=subtype,
                              cid=f"<{image.name}>", disposition="inline",
                              filename=inert_text(image.name, 120))


def _attach_file(message: EmailMessage, path: Path) -> None:
    if not path.is_file():
        raise OSError(f"attachment not found: {path.name}")
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, subtype = mime_type.split("/", 1)
    message.add_attachment(
        path.read_bytes(), maintype=maintype, subtype=subtype, filename=inert_text(path.name, 120)
    )


# ----------------------------------------------------------------------------- send_email


def send_email(
    url: str,
    msg: RenderedMessage,
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    attachments: Sequence[Path] = (),
    sender: str | None = None,
    sender_name: str | None = None,
    message_id_key: str | None = None,
    smtp: SmtpOptions | None = None,
) -> DeliveryResult:
    """Build one message (build_email) and send it over SMTP to To and Cc in one transaction.
    Never raises; errors never carry the URL's secrets or the password.

    url is an smtp://, smtps://, mailto:// or mailtos:// URL (monitor/notify/smtp.py).
    sender defaults to the URL's from= (or user@host, apprise's rule), sender_name to its
    name=. Without message_id_key the Message-ID is a random one. smtp: the password, timeout
    and CA file; without it they are read from the environment (BIDWATCH_SMTP_*)."""
    try:
        options = smtp or SmtpOptions.from_settings(Settings())
        target = smtp_target(url, options)
        from_address = sender or target.sender
        if not from_address:
            raise ValueError("no sender: the URL has no from= (nor a user to make one of)")
        built = build_email(
            msg, sender=from_address, sender_name=sender_name or target.sender_name, to=to,
            cc=cc, reply_to=reply_to, attachments=attachments,
            message_id_key=message_id_key or f"once:{uuid.uuid4()}",
        ).as_bytes()
    except (ValueError, OSError) as exc:  # pydantic's ValidationError is a ValueError
        return DeliveryResult(ok=False, error=scrub(str(exc), url))
    return send_message(url, built, sender=from_address, recipients=[*to, *cc], options=options)


_DATE_LINE = re.compile(rb"^Date:[^\r\n]*\r?\n", re.IGNORECASE | re.MULTILINE)


def with_date(message: bytes, at: datetime) -> bytes:
    """The same message with its Date header set to `at`; nothing else changes (the body,
    the Message-ID and every other header stay byte for byte)."""
    head, separator, body = message.partition(b"\r\n\r\n")
    if not separator:
        head, separator, body = message.partition(b"\n\n")
    newline = b"\r\n" if b"\r\n" in head else b"\n"
    line = b"Date: " + format_datetime(at.astimezone(UTC)).encode("ascii") + newline
    dated, count = _DATE_LINE.subn(line, head + newline, count=1)
    if count == 0:
        return message
    return dated[: -len(newline)] + separator + body
