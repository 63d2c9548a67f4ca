"""The console's gate, in front of every route: who is asking (a session cookie or an API
token), refusing everyone else; the CSRF check of every POST; and the headers every response
carries. It wraps the whole app, so a route added later is guarded without opting in."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.console.auth import same, secret_hash
from monitor.console.context import LOGIN_COOKIE, SESSION_COOKIE, Console, Principal

log = logging.getLogger(__name__)
#: the only routes open without a login: the login form, its post, and the style sheet
PUBLIC = frozenset({("GET", "/login"), ("POST", "/login"), ("GET", "/static/console.css")})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: every response's headers (a route may set its own, as the saved page's sandbox does)
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; frame-src 'self'; object-src 'none'; "
                               "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


def is_public(method: str, path: str) -> bool:
    return ((("GET" if method == "HEAD" else method), path) in PUBLIC)


class SecurityHeaders:
    """Adds HEADERS to every response, errors and refusals included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            if started:
                raise
            # a bug: answer 500 here, inside, so even this response carries the headers
            log.exception("the console failed on %s %s", scope.get("method"), scope.get("path"))
            await PlainTextResponse("the console failed; see its log", status_code=500)(
                scope, receive, sending)


class Guard:
    """Lets a request through only with a live session or token (or to a PUBLIC route),
    with its Principal in request.state.principal."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the console has none: refuse before accepting
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        principal, bad_token = await run_in_threadpool(authenticate, self.console, request)
        if bad_token or (principal is None and not is_public(request.method, request.url.path)):
            await refusal(request)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def authenticate(console: Console, request: Request) -> tuple[Principal | None, bool]:
    """(the principal, whether a token was given and refused)."""
    now = datetime.now(UTC)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 256:
            return None, True
        user = console.store.user_of_token(secret_hash(token), now)
        return (Principal(user, "token"), False) if user else (None, True)
    session_id = console.sessions.unsign(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None, False
    hashed = secret_hash(session_id)
    login = console.store.console_session(hashed, now, console.idle)
    if login is None:
        return None, False
    return Principal(login.user, "session", login.csrf_token, hashed), False


def wants_page(request: Request) -> bool:
    path = request.url.path
    return (request.method in SAFE_METHODS and not path.startswith("/api/")
            and path != "/openapi.json" and "text/html" in request.headers.get("accept", ""))


def refusal(request: Request) -> Response:
    """A browser asking for a page goes to the login form; anything else gets 401."""
    if wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return JSONResponse({"detail": "log in first (a session, or Authorization: Bearer TOKEN)"},
                        status_code=401, headers={"WWW-Authenticate": "Bearer"})


async def csrf_checked(request: Request) -> None:
    """Every POST from a session carries its CSRF token (form field `csrf` or header
    X-CSRF-Token); the login form carries the one its pre-login cookie holds. Requests with
    an API token are exempt: no browser sends that header on its own."""
    if request.method in SAFE_METHODS:
        return
    principal = getattr(request.state, "principal", None)
    if isinstance(principal, Principal) and principal.via == "token":
        return
    supplied = request.headers.get("x-csrf-token")
    if supplied is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("csrf")
        supplied = value if isinstance(value, str) else None
    if isinstance(principal, Principal):
        expected = principal.csrf_token
    else:
        console: Console = request.app.state.console
        expected = console.logins.unsign(request.cookies.get(LOGIN_COOKIE))
    if not supplied or not expected or not same(supplied, expected):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page")
