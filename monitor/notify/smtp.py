"""SMTP delivery of a message built elsewhere, byte for byte.

The caller hands over the RFC 5322 bytes it keeps (the outbox row, the .eml); they go to the
server exactly as they are: `smtplib.sendmail(sender, to + cc, bytes)`, one transaction for
every recipient. Nothing here builds, re-encodes or adds a header.

The server comes from one URL (BIDWATCH_NOTICE_URL):

    smtp://[user[:password]@]host[:port]    port 25; STARTTLS when the server offers it
        ?starttls=require                   refuse to go on without STARTTLS
        ?starttls=never                     plain SMTP, even when STARTTLS is offered
    smtps://[user[:password]@]host[:port]   implicit TLS (port 465)
    mailtos://…                             apprise's form: STARTTLS required, port 587;
                                            mode=ssl: implicit TLS, port 465
    mailto://…                              apprise's form: port 25, STARTTLS when offered;
                                            mode=insecure: plain; mode=starttls: required

Query arguments read in every form: `from=` and `name=` (the sender send_email uses when it
is given none), `user=`, `pass=`, `smtp=` (the server, when the URL's host is a mail domain:
apprise's `mailto://user:pass@brand.com?smtp=mail.brand.com`), `port=`, `mode=`, `ehlo=` (the
name we greet the server with; default the sender's domain). The password is the URL's, else
BIDWATCH_SMTP_PASSWORD. A login needs a user and a password, and happens only over TLS (or to
a loopback server). The server's certificate is checked against the system's trust store, or
BIDWATCH_SMTP_CA_FILE for a private CA. Every step (connect, greeting, TLS, login, each
command) waits at most BIDWATCH_SMTP_TIMEOUT_S.

`send_message` never raises; its errors never carry the URL's secrets or the password. Its
result names the recipients the server accepted and those it refused: the outbox remembers
the first and sends again only to the second. A `SmtpAbort` lets another thread cut a send
short (the daemon's stop, after its bounded wait); the result then says it was interrupted,
because whether the server took a message cut short after DATA cannot be known.
"""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from monitor.addresses import checked_address
from monitor.settings import Settings
from monitor.text import inert_text

SCHEMES = ("smtp", "smtps", "mailto", "mailtos")


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One send. `ok`: the channel took the message (over SMTP: for `accepted`; a server that
    accepts some recipients refuses the rest, and the message is still owed to `refused`)."""

    ok: bool
    error: str | None = None
    accepted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    #: cut short by SmtpAbort: whether the server took the message is unknown
    interrupted: bool = False


class SmtpAbort:
    """Lets another thread end a send at once: `abort()` shuts down the connection in use, so
    the blocking read or write returns, and no send starts afterwards.

    The connection is known once it has greeted us (smtplib connects in its constructor);
    until then only BIDWATCH_SMTP_TIMEOUT_S bounds the wait."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._smtp: smtplib.SMTP | None = None
        self.aborted = False

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            sock = self._smtp.sock if self._smtp is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to stop
                sock.shutdown(socket.SHUT_RDWR)

    def watch(self, smtp: smtplib.SMTP | None) -> None:
        """The connection a send now uses (None: it is done with it)."""
        with self._lock:
            self._smtp = smtp
            if smtp is not None and self.aborted:
                raise smtplib.SMTPServerDisconnected("aborted: the process is stopping")


class Security(Enum):
    TLS = "implicit TLS"  # TLS from the first byte (smtps, mode=ssl)
    STARTTLS = "STARTTLS required"
    OPPORTUNISTIC = "STARTTLS when offered"
    PLAIN = "no TLS"


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    """What the URL does not say: the password's other home, the timeout, the trust store."""

    password: str | None = None
    timeout_s: float = 30.0
    ca_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpOptions:
        secret = settings.smtp_password
        return cls(password=secret.get_secret_value() if secret else None,
                   timeout_s=settings.smtp_timeout_s, ca_file=settings.smtp_ca_file)


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """One parsed notice URL."""

    host: str
    port: int
    security: Security
    user: str | None
    password: str | None
    sender: str | None  # from=, else apprise's rule (user, or user@host)
    sender_name: str
    ehlo: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def smtp_target(url: str, options: SmtpOptions) -> SmtpTarget:
    """The server, security, login and default sender a notice URL names (ValueError if it
    names none)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES or not parts.hostname:
        raise ValueError(f"not an SMTP URL ({', '.join(SCHEMES)}): {mask_url(url)}")
    query = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    security = _security(scheme, query)
    host = query.get("smtp") or parts.hostname
    port_text = query.get("port") or (str(parts.port) if parts.port else "")
    if port_text and not port_text.isdigit():
        raise ValueError(f"not a port: {inert_text(port_text, 20)}")
    port = int(port_text) if port_text else _default_port(scheme, security)
    user = unquote(parts.username) if parts.username else query.get("user") or None
    password = (unquote(parts.password) if parts.password else query.get("pass")) or None
    sender = query.get("from") or _apprise_sender(user, parts.hostname)
    return SmtpTarget(host=host, port=port, security=security, user=user,
                      password=password or options.password, sender=sender,
                      sender_name=query.get("name", ""), ehlo=query.get("ehlo") or None)


def _security(scheme: str, query: dict[str, str]) -> Security:
    if scheme == "smtps":
        return Security.TLS
    if scheme == "smtp":
        wanted = query.get("starttls", "auto").lower()
        choices = {"auto": Security.OPPORTUNISTIC, "require": Security.STARTTLS,
                   "never": Security.PLAIN}
        if wanted not in choices:
            raise ValueError(f"starttls={inert_text(wanted, 20)}: use auto, require or never")
        return choices[wanted]
    mode = query.get("mode", "").lower()
    modes = {"ssl": Security.TLS, "starttls": Security.STARTTLS, "insecure": Security.PLAIN}
    if mode and mode not in modes:
        raise ValueError(f"mode={inert_text(mode, 20)}: use ssl, starttls or insecure")
    default = Security.STARTTLS if scheme == "mailtos" else Security.OPPORTUNISTIC
    return modes.get(mode, default)


def _default_port(scheme: str, security: Security) -> int:
    if security is Security.TLS:
        return 465
    return 587 if scheme == "mailtos" else 25


def _apprise_sender(user: str | None, host: str) -> str | None:
    if not user:
        return None
    return user if "@" in user else f"{user}@{host}"


# ---------------------------------------------------------------------------------- sending


def send_message(
    url: str,
    message: bytes,
    *,
    sender: str,
    recipients: Sequence[str],
    options: SmtpOptions,
    abort: SmtpAbort | None = None,
) -> DeliveryResult:
    """Hand `message` to the URL's server as it is, for every recipient in one transaction.
    Never raises; errors are one line without the URL's secrets or the password."""
    target: SmtpTarget | None = None
    envelope_to: list[str] = []
    try:
        target = smtp_target(url, options)
        envelope_to = list(dict.fromkeys(checked_address(r) for r in recipients))
        if not envelope_to:
            raise ValueError("no recipient")
        if abort is not None and abort.aborted:
            raise smtplib.SMTPServerDisconnected("aborted: the process is stopping")
        refused = _transact(target, options, checked_address(sender), envelope_to, message,
                            abort)
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        error = _clean(describe(exc, target, options), url, target, options)
        if abort is not None and abort.aborted:
            return DeliveryResult(ok=False, error=f"interrupted by the stop: {error}",
                                  interrupted=True)
        every = isinstance(exc, smtplib.SMTPRecipientsRefused)
        return DeliveryResult(ok=False, error=error, refused=tuple(envelope_to) if every else ())
    accepted = tuple(r for r in envelope_to if r not in refused)
    if refused:
        listed = ", ".join(f"{r} ({code} {_text(reply)})" for r, (code, reply) in refused.items())
        return DeliveryResult(ok=True, error=_clean(f"accepted, but the server refused: {listed}",
                                                    url, target, options),
                              accepted=accepted, refused=tuple(refused))
    return DeliveryResult(ok=True, accepted=accepted)


def _transact(
    target: SmtpTarget,
    options: SmtpOptions,
    sender: str,
    recipients: list[str],
    message: bytes,
    abort: SmtpAbort | None,
) -> dict[str, tuple[int, bytes]]:
    local_name = target.ehlo or sender.rsplit("@", 1)[1]
    context = ssl.create_default_context(cafile=str(options.ca_file) if options.ca_file else None)
    smtp: smtplib.SMTP
    if target.security is Security.TLS:
        smtp = smtplib.SMTP_SSL(target.host, target.port, local_hostname=local_name,
                                timeout=options.timeout_s, context=context)
    else:
        smtp = smtplib.SMTP(target.host, target.port, local_hostname=local_name,
                            timeout=options.timeout_s)
    with smtp:
        try:
            if abort is not None:
                abort.watch(smtp)
            encrypted = _secure(smtp, target, context)
            _login(smtp, target, encrypted)
            return smtp.sendmail(sender, recipients, message)
        finally:
            if abort is not None:
                abort.watch(None)


def _secure(smtp: smtplib.SMTP, target: SmtpTarget, context: ssl.SSLContext) -> bool:
    """STARTTLS as the URL asks; True when the session is encrypted."""
    if target.security is Security.TLS:
        return True
    if target.security is Security.PLAIN:
        return False
    smtp.ehlo()
    if smtp.has_extn("starttls"):
        smtp.starttls(context=context)
        smtp.ehlo()
        return True
    if target.security is Security.STARTTLS:
        raise smtplib.SMTPNotSupportedError("the server offers no STARTTLS, and the URL "
                                            "requires it")
    return False


def _login(smtp: smtplib.SMTP, target: SmtpTarget, encrypted: bool) -> None:
    if not (target.user and target.password):
        return  # apprise's rule: a login needs both
    if not encrypted and not _loopback(target.host):
        raise smtplib.SMTPNotSupportedError(
            "refusing to send the password without TLS (use smtps://, or a server that "
            "offers STARTTLS)")
    smtp.login(target.user, target.password)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ----------------------------------------------------------------------------------- errors


def describe(exc: BaseException, target: SmtpTarget | None, options: SmtpOptions) -> str:
    """One line saying what went wrong where (not yet scrubbed)."""
    where = target.where if target else "the SMTP server"
    waited = f"{where}: no answer within {options.timeout_s:g} s"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{where}: login refused ({exc.smtp_code} {_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        listed = ", ".join(f"{r} ({c} {_text(m)})" for r, (c, m) in exc.recipients.items())
        return f"{where}: every recipient refused: {listed}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"{where}: sender {exc.sender} refused ({exc.smtp_code} {_text(exc.smtp_error)})"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):
            return waited
        return f"{where}: the server closed the connection ({exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"{where}: its TLS certificate is not trusted ({exc.verify_message}); "
                "for a private CA set BIDWATCH_SMTP_CA_FILE")
    if isinstance(exc, TimeoutError):
        return waited
    if isinstance(exc, ssl.SSLError):
        return f"{where}: TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(exc, OSError):
        return f"{where}: {exc.strerror or exc}"
    if isinstance(exc, smtplib.SMTPException):
        return f"{where}: {exc}"
    return str(exc)  # the URL or an address: nothing was sent


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _clean(text: str, url: str, target: SmtpTarget | None, options: SmtpOptions) -> str:
    extra = [options.password or ""]
    if target:
        extra += [target.password or "", target.user or ""]
    return scrub(text, url, *extra)


def mask_url(url: str) -> str:
    """scheme://host:port only: no user, password or query (which may hold pass=)."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port is not worth failing over
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}"


def scrub(text: str, url: str, *secrets: str) -> str:
    """Remove anything secret from the configured URL (and any other secret given) out of a
    message."""
    values = _secrets(url) | {s for s in secrets if len(s) >= 3}
    for secret in sorted(values, key=len, reverse=True):
        text = text.replace(secret, "****")
    return inert_text(text, 500)


def _secrets(url: str) -> set[str]:
    parts = urlsplit(url)
    values = {url, parts.password or "", parts.username or ""}
    values |= {v for k, v in parse_qsl(parts.query) if k.lower() in ("pass", "password", "user")}
    values |= {unquote(v) for v in values}
    return {v for v in values if len(v) >= 3}
