"""What `bidwatch users` does: add, list and disable console users, and give them API
tokens. Passwords arrive in the clear only here and leave as argon2 hashes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from monitor.console.auth import check_user_name, hash_password, new_token, secret_hash
from monitor.services.wiring import opened_store
from monitor.settings import Settings
from monitor.store import ConsoleUser


def add_user(settings: Settings, name: str, role: str, password: str) -> ConsoleUser:
    password_hash = hash_password(password)
    with opened_store(settings) as store:
        return store.add_console_user(check_user_name(name), role, password_hash,
                                      datetime.now(UTC))


def list_users(settings: Settings) -> list[ConsoleUser]:
    with opened_store(settings) as store:
        return store.console_users()


def disable_user(settings: Settings, name: str) -> ConsoleUser:
    with opened_store(settings) as store:
        return store.disable_console_user(name, datetime.now(UTC))


def add_token(settings: Settings, name: str) -> str:
    """A new API token for the user; the secret is returned once and never stored."""
    token = new_token()
    with opened_store(settings) as store:
        store.add_console_token(name, secret_hash(token), datetime.now(UTC))
    return token


def user_document(user: ConsoleUser) -> dict[str, Any]:
    """A user as `users list --json` prints it (schema console-user/1)."""
    return {"name": user.name, "role": user.role, "created_at": user.created_at.isoformat(),
            "disabled": user.disabled}

