"""Turn a rendered notice into an email: a .eml file (build_email) or a delivery (send_email).

send_email goes through apprise's mailto:// / mailtos:// plugin. What apprise 2.x does with
it (checked against an aiosmtpd server, see tests/test_email.py):
- body_format=HTML gives multipart/alternative (text/plain made by apprise from the HTML,
  then our text/html), both UTF-8; with attachments it is wrapped in multipart/mixed.
  Our own plain-text rendering is therefore NOT what the recipient sees as text: the
  .eml written by build_email carries it; apprise's email plugin has no way to take it.
- The HTML part is passed through untouched (dir="rtl", lang, <span dir="ltr"> survive).
- Message-ID and Date are made by apprise (random Message-ID); we add
  X-Bidwatch-Notice-Key so a resend is still recognisable.
- One SMTP message per To address, each carrying every Cc: with several To addresses the
  Cc would get one copy each, so send_email puts the Cc on the first recipient's only.
- Inline images (an IllustratedMessage, the digest's thumbnails) go through apprise's
  inline=yes: an attachment whose file name the HTML names as cid:<name> is sent with
  Content-ID <name> inside multipart/related. inline=yes is set only for such a message,
  since it would also show every other image attachment inline.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy as email_policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import apprise
from apprise.attachment.memory import AttachMemory

from monitor.addresses import AddressError, checked_address
from monitor.notify.context import inert_text
from monitor.notify.render import SUBJECT_LIMIT, RenderedMessage

KEY_HEADER = "X-Bidwatch-Notice-Key"
EMAIL_SCHEMES = ("mailto", "mailtos")
# Query arguments send_email sets itself; the configured URL may not override them.
_OWN_ARGUMENTS = frozenset({"to", "cc", "reply", "from", "name", "format"})
# A bare address: no display name, no whitespace, no list or header punctuation.
@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class InlineImage:
    """An image the HTML part shows in place as <img src="cid:NAME">."""

    name: str  # a plain file name; apprise uses it as the Content-ID too
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


#: no folding below RFC 5322's hard limit: a subject folded right after "Subject:" shows a
#: leading space in some clients
EML_POLICY = email_policy.default.clone(max_line_length=998)


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
    """A complete MIME message: mixed(alternative(text, html), attachments…), UTF-8."""
    if not to:
        raise AddressError("a notice needs at least one recipient")
    message = EmailMessage(policy=EML_POLICY)
    message["Subject"] = inert_text(msg.subject, SUBJECT_LIMIT)
    message["From"] = Address(
        display_name=inert_text(sender_name, 120), addr_spec=checked_address(sender)
    )
    message["To"] = tuple(Address(addr_spec=checked_address(a)) for a in to)
    if cc:
        message["Cc"] = tuple(Address(addr_spec=checked_address(a)) for a in cc)
    if reply_to:
        message["Reply-To"] = Address(addr_spec=checked_address(reply_to))
    message["Message-ID"] = message_id_for(message_id_key, sender)
    message["Date"] = format_datetime(datetime.now(UTC))
    message[KEY_HEADER] = notice_key_hash(message_id_key)
    message.set_content(msg.text, charset="utf-8")
    message.add_alternative(msg.html, subtype="html", charset="utf-8")
    _add_inline_images(message, inline_images_of(msg))
    for path in attachments:
        _attach_file(message, path)
    # After the body: set_content() drops Content-* headers, and make_mixed() moves them.
    message["Content-Language"] = inert_text(msg.language, 35)
    return message


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
    mime_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    maintype, subtype = mime_type.split("/", 1)
    message.add_attachment(
        path.read_bytes(), maintype=maintype, subtype=subtype, filename=inert_text(path.name, 120)
    )


# ----------------------------------------------------------------------------- send_email


def send_email(
    apprise_url: str,
    msg: RenderedMessage,
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    attachments: Sequence[Path] = (),
    sender: str | None = None,
    sender_name: str | None = None,
    message_id_key: str | None = None,
) -> DeliveryResult:
    """Deliver one notice through apprise. Never raises; errors never carry the URL's secrets.

    apprise_url is a mailto:// or mailtos:// URL naming the SMTP server and login; to, cc,
    reply-to and the sender are set here through its query arguments. sender defaults to
    the URL's own from= (or user@host, apprise's rule).
    """
    images = inline_images_of(msg)
    try:
        urls = email_urls(
            apprise_url,
            to=to,
            cc=cc,
            reply_to=reply_to,
            sender=sender,
            sender_name=sender_name,
            message_id_key=message_id_key,
            language=msg.language,
            inline=bool(images),
        )
        attach = _apprise_attachments(attachments, images)
    except (AddressError, ValueError, OSError) as exc:
        return DeliveryResult(ok=False, error=scrub(str(exc), apprise_url))
    notifier = apprise.Apprise()
    for url in urls:
        if not notifier.add(url):
            return DeliveryResult(ok=False, error=f"apprise cannot use {mask_url(apprise_url)}")
    return _notify(notifier, msg, attach, apprise_url)


def _notify(
    notifier: apprise.Apprise,
    msg: RenderedMessage,
    attach: apprise.AppriseAttachment | None,
    apprise_url: str,
) -> DeliveryResult:
    try:
        result = notifier.notify(
            body=msg.html,
            title=inert_text(msg.subject, SUBJECT_LIMIT),
            body_format=apprise.NotifyFormat.HTML,
            attach=attach,
        )
    except Exception as exc:  # a plugin bug must not take the outbox worker down
        return DeliveryResult(ok=False, error=scrub(f"apprise failed: {exc}", apprise_url))
    if result:
        return DeliveryResult(ok=True)
    return DeliveryResult(ok=False, error=scrub(_failure_text(result), apprise_url))


def _failure_text(result: object) -> str:
    """apprise's own warnings for this call (2.x results carry them), else a plain reason."""
    logs = getattr(result, "logs", None)
    lines = [entry.message for entry in logs()] if callable(logs) else []
    messages = [line for line in lines if line]
    return "; ".join(dict.fromkeys(messages)) or "apprise reported the delivery failed"


def _apprise_attachments(
    paths: Sequence[Path], images: Sequence[InlineImage] = ()
) -> apprise.AppriseAttachment | None:
    if not paths and not images:
        return None
    attach = apprise.AppriseAttachment()
    for path in paths:
        if not path.is_file():
            raise OSError(f"attachment not found: {path.name}")
        attach.add(str(path.resolve()))
    for image in images:
        attach.add(AttachMemory(content=image.data, name=image.name, mimetype=image.mime_type))
    return attach


# ------------------------------------------------------------------------ URLs and secrets


def email_urls(
    apprise_url: str,
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    reply_to: str | None = None,
    sender: str | None = None,
    sender_name: str | None = None,
    message_id_key: str | None = None,
    language: str | None = None,
    inline: bool = False,
) -> list[str]:
    """One apprise URL per To address (Cc on the first only), built on the configured URL.
    inline=True: images the HTML names by cid: are embedded (apprise's inline=yes)."""
    parts = urlsplit(apprise_url)
    if parts.scheme not in EMAIL_SCHEMES:
        raise ValueError(f"not an email URL ({'/'.join(EMAIL_SCHEMES)}): {mask_url(apprise_url)}")
    if not to:
        raise AddressError("a notice needs at least one recipient")
    kept = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _OWN_ARGUMENTS and not (inline and k.lower() == "inline")
    ]
    common = kept + _sender_arguments(sender, sender_name, reply_to, message_id_key)
    if inline:
        common.append(("inline", "yes"))
    if language:  # "+Name=value" adds a header
        common.append(("+Content-Language", inert_text(language, 35)))
    urls = []
    for index, recipient in enumerate(to):
        own = [("to", checked_address(recipient))]
        if index == 0 and cc:
            own.append(("cc", ",".join(checked_address(a) for a in cc)))
        query = urlencode(common + own, quote_via=quote, safe="@+")
        urls.append(urlunsplit((parts.scheme, parts.netloc, parts.path, query, "")))
    return urls


def _sender_arguments(
    sender: str | None, sender_name: str | None, reply_to: str | None, key: str | None
) -> list[tuple[str, str]]:
    arguments = [("format", "html")]
    if sender:
        arguments.append(("from", checked_address(sender)))
    if sender_name:
        arguments.append(("name", inert_text(sender_name, 120)))
    if reply_to:
        arguments.append(("reply", checked_address(reply_to)))
    if key:
        arguments.append((f"+{KEY_HEADER}", notice_key_hash(key)))
    return arguments


def mask_url(apprise_url: str) -> str:
    """scheme://host:port only: no user, password or query (which may hold pass=)."""
    parts = urlsplit(apprise_url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port is not worth failing over
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def scrub(text: str, apprise_url: str) -> str:
    """Remove anything secret from the configured URL out of a message."""
    for secret in sorted(_secrets(apprise_url), key=len, reverse=True):
        text = text.replace(secret, "****")
    return inert_text(text, 500)


def _secrets(apprise_url: str) -> set[str]:
    parts = urlsplit(apprise_url)
    values = {apprise_url, parts.password or "", parts.username or ""}
    values |= {v for k, v in parse_qsl(parts.query) if k.lower() in ("pass", "password", "user")}
    values |= {unquote(v) for v in values}
    return {v for v in values if len(v) >= 3}
