"""The key that signs the console's cookies: BIDWATCH_CONSOLE_SECRET, else one generated
once and kept in home/console.secret (0600), so sessions outlive a restart."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from monitor.settings import Settings

SECRET_FILE = "console.secret"


@dataclass(frozen=True)
class ConsoleSecret:
    value: str
    #: what to tell the operator: where it came from when it is not the environment's
    note: str | None = None


def console_secret(settings: Settings) -> ConsoleSecret:
    if settings.console_secret is not None and settings.console_secret.get_secret_value():
        return ConsoleSecret(settings.console_secret.get_secret_value())
    path = settings.home / SECRET_FILE
    if path.is_file():
        return ConsoleSecret(path.read_text().strip(), f"the console's key is {path} "
                             "(BIDWATCH_CONSOLE_SECRET is unset)")
    return ConsoleSecret(_create(path), f"BIDWATCH_CONSOLE_SECRET is unset: a new key was "
                         f"generated and kept in {path} (0600)")


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    value = secrets.token_urlsafe(48)
    with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
        return value
    return path.read_text().strip()
