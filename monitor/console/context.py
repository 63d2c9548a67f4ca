"""What every request of the console shares: the store, the settings, the cookie signer, the
templates, the markets' time zones; and who is asking (the principal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

from fastapi import HTTPException, Request
from fastapi import Path as PathParam
from jinja2 import Environment

from monitor.console.auth import CookieSigner, Throttle
from monitor.settings import Settings
from monitor.store import ConsoleUser, Store

SESSION_COOKIE = "bidwatch_session"
LOGIN_COOKIE = "bidwatch_login"
#: a row id: positive, and exact in JSON and in the database (up to 2**53)
RowId = Annotated[int, PathParam(ge=1, le=2**53)]
#: who may do what: a role may do all a lower one may
ROLE_RANK = {"viewer": 0, "reviewer": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    """Who a request is from, and how they proved it: a session (whose forms carry
    `csrf_token`) or an API token (a header no browser sends by itself: no CSRF check)."""

    user: ConsoleUser
    via: str  # session | token
    csrf_token: str | None = None
    session_hash: str | None = None

    def may(self, role: str) -> bool:
        return ROLE_RANK.get(self.user.role, -1) >= ROLE_RANK[role]


@dataclass(frozen=True)
class Console:
    settings: Settings
    store: Store
    templates: Environment
    sessions: CookieSigner
    logins: CookieSigner
    session_lifetime: timedelta
    idle: timedelta
    secure_cookies: bool
    throttle: Throttle = field(default_factory=Throttle)
    #: market id → IANA zone, from the program when it loads (UTC for the rest)
    zones: dict[str, str] = field(default_factory=dict)
    #: the program's partner, policy, engine, market, device and term group ids (filters)
    choices: dict[str, list[str]] = field(default_factory=dict)

    def render(self, name: str, **values: Any) -> str:
        return self.templates.get_template(name).render(**values)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def principal_of(request: Request) -> Principal:
    """The request's principal; the guard refused every request without one, so a route
    reached without one is a bug, refused all the same."""
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise HTTPException(401, "log in first")
    return principal


def requires(role: str) -> Any:
    """A dependency refusing (403) a principal below `role`."""

    def dependency(request: Request) -> Principal:
        principal = principal_of(request)
        if not principal.may(role):
            raise HTTPException(403, f"this needs the {role} role")
        return principal

    return dependency
