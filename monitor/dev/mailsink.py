"""A local SMTP server that keeps every message it receives as an .eml file.

The demo delivers partner notices to it instead of the internet, and the tests read what it
kept; the sending side is the production path (monitor/notify/smtp.py). Each file holds the
DATA exactly as the client sent it (aiosmtpd's original_content), no header added.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    path: Path

    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.path.read_bytes(), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _KeepHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        # continue numbering after the files of an earlier run: never overwrite evidence
        self.offset = len(list(directory.glob("*.eml")))
        self.received: list[ReceivedMail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self._lock:
            number = self.offset + len(self.received) + 1
            path = self.directory / f"{number:04d}.eml"
            data = envelope.original_content or b""
            path.write_bytes(data if isinstance(data, bytes) else data.encode())
            self.received.append(ReceivedMail(envelope.mail_from or "",
                                              tuple(envelope.rcpt_tos), path))
        return "250 Message accepted"


class MailSink:
    """`with MailSink(dir) as sink:` … `sink.port`, `sink.received`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.handler = _KeepHandler(directory)
        self.controller = Controller(self.handler, hostname=host, port=port or _free_port(host))

    @property
    def port(self) -> int:
        return int(self.controller.port)

    @property
    def host(self) -> str:
        return str(self.controller.hostname)

    @property
    def received(self) -> list[ReceivedMail]:
        return list(self.handler.received)

    def smtp_url(self) -> str:
        """A notice URL that delivers to this sink: plain SMTP, no login."""
        return f"smtp://{self.host}:{self.port}?starttls=never"

    def apprise_url(self) -> str:
        """The same in apprise's mailto:// form (notice URLs still accept it; alert URLs
        need it)."""
        return f"mailto://{self.host}:{self.port}?smtp={self.host}&mode=insecure"

    def __enter__(self) -> MailSink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
