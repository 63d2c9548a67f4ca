"""The console's secrets: argon2 password hashes, API tokens and session ids (only their
sha256 is stored), signed session cookies, and the login throttle's rule."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from monitor.errors import BidwatchError

#: a user name: letters, digits and . _ @ - (it is shown in the audit log and on every page)
USER_NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
TOKEN_PREFIX = "bw_"
_HASHER = PasswordHasher()
#: verified when the user is unknown, so an unknown name takes as long as a wrong password
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class ConsoleAuthError(BidwatchError):
    """A user name or password the console refuses."""


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name):
        raise ConsoleAuthError(f"user name {name!r}: use 1-64 letters, digits, '.', '_', "
                               "'@' or '-'")
    return name


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConsoleAuthError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ConsoleAuthError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return _HASHER.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one hashed; with no hash (an unknown user) the work is done
    all the same and the answer is no."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def secret_hash(secret: str) -> str:
    """What the store keeps of a token or session id: its sha256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    """An API token's secret (shown once; the store keeps its hash)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class CookieSigner:
    """Signs a session id into the cookie and reads it back (None: forged, altered, old)."""

    def __init__(self, secret: str, salt: str, max_age: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=salt)
        self._max_age = int(max_age.total_seconds())

    def sign(self, value: str) -> str:
        return self._serializer.dumps(value)

    def unsign(self, cookie: str | None) -> str | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            value = self._serializer.loads(cookie, max_age=self._max_age)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Throttle:
    """Failed logins allowed per user name and per client address within `window`."""

    per_name: int = 5
    per_client: int = 20
    window: timedelta = timedelta(minutes=15)

    def since(self, now: datetime) -> datetime:
        return now - self.window

    def refuses(self, failed_by_name: int, failed_by_client: int) -> bool:
        return failed_by_name >= self.per_name or failed_by_client >= self.per_client
