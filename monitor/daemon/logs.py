"""The daemon's logs: plain lines or one JSON object per line, never a secret.

Every line passes through `redact`: the settings' secret values (notice and alert URLs, the
database URL, proxies) are replaced wherever they appear, the password of any URL is masked,
and apprise URLs, whose tokens are secrets anywhere in the URL, keep only their scheme.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

from monitor.settings import Settings

MASK = "***"
#: apprise schemes whose URLs carry tokens or passwords in any part
APPRISE_SCHEMES = (
    "mailto", "mailtos", "slack", "discord", "tgram", "json", "jsons", "xml", "xmls", "form",
    "forms", "workflows", "msteams", "pover", "pushover", "gotify", "gotifys", "ntfy", "ntfys",
    "matrix", "matrixs", "mmost", "mmosts", "rocket", "rockets", "signal", "signals", "sns",
    "ses", "twilio", "zulip", "apprise", "apprises", "ifttt", "join", "opsgenie", "pagerduty",
)
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@]*):[^\s/@]*@")
_APPRISE = re.compile(r"\b(" + "|".join(APPRISE_SCHEMES) + r")://[^\s\"'<>]+", re.IGNORECASE)


def secrets_of(settings: Settings) -> list[str]:
    """Strings that must never reach a log: whole secret URLs and their passwords."""
    values = [settings.notice_url or "", settings.database_url or "",
              *settings.alert_urls.split(), *settings.proxies.values()]
    passwords = [urlsplit(v).password or "" for v in values if "://" in v]
    if settings.smtp_password is not None:
        passwords.append(settings.smtp_password.get_secret_value())
    return sorted({v for v in values + passwords if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    text = _APPRISE.sub(lambda m: f"{m.group(1)}://{MASK}", text)
    return _USERINFO.sub(lambda m: f"{m.group(1)}:{MASK}@", text)


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self.secrets)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the exception if any."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = tuple(secrets)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage(), self.secrets),
        }
        for key in ("job", "sweep_id", "event"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info), self.secrets)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(settings: Settings, *, as_json: bool, level: int = logging.INFO) -> None:
    """Log to stderr (journald and container runtimes collect it), through the redactor."""
    handler = logging.StreamHandler(sys.stderr)
    secrets = secrets_of(settings)
    handler.setFormatter(JsonFormatter(secrets) if as_json else RedactingFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job start at INFO; its warnings and errors are what matter
    logging.getLogger("apscheduler.executors").setLevel(logging.WARNING)
