"""The console's gate, in front of every route: who is asking (a session cookie or an API
token), refusing everyone else; the CSRF check of every POST; and the headers every response
carries. It wraps the whole app, so a route added later is guarded without opting in."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.console.auth import USER_NAME, new_secret, same, secret_hash
from monitor.console.context import LOGIN_COOKIE, SESSION_COOKIE, Console, Principal
from monitor.console.proxy import FROM_TRUSTED_PROXY

log = logging.getLogger(__name__)
#: the only routes open without a login: the login form, its post, and the style sheet
PUBLIC = frozenset({("GET", "/login"), ("POST", "/login"), ("GET", "/static/console.css")})
BAD_TOKEN, UNKNOWN_SSO_USER = "bad token", "unknown SSO user"
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
    with its Principal in request.state.principal. Behind an SSO proxy, the user it names
    gets a session of their own, opened here (its cookie set on the response), so their
    forms carry a CSRF token like everyone's."""

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
        found = await run_in_threadpool(authenticate, self.console, request)
        if found.refused or (found.principal is None
                             and not is_public(request.method, request.url.path)):
            await refusal(request, found.refused)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = found.principal
        if found.session_cookie is None:
            await self.app(scope, receive, send)
            return
        cookie = found.session_cookie

        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, with_cookie)


@dataclass(frozen=True)
class Authentication:
    principal: Principal | None = None
    #: why the request is refused whatever it asks for (a bad token, an unknown SSO user)
    refused: str | None = None
    #: a Set-Cookie value for a session opened for this request (an SSO user's)
    session_cookie: str | None = None


def authenticate(console: Console, request: Request) -> Authentication:
    now = datetime.now(UTC)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 256:
            return Authentication(refused=BAD_TOKEN)
        user = console.store.user_of_token(secret_hash(token), now)
        return Authentication(Principal(user, "token")) if user else Authentication(
            refused=BAD_TOKEN)
    principal = _session_principal(console, request, now)
    sso_name = sso_user(console, request)
    if sso_name is None or (principal is not None and principal.user.name == sso_name):
        return Authentication(principal)
    return _sso_session(console, sso_name, now)


def _session_principal(console: Console, request: Request, now: datetime) -> Principal | None:
    session_id = console.sessions.unsign(request.cookies.get(SESSION_COOKIE))
    if session_id is None:
        return None
    hashed = secret_hash(session_id)
    login = console.store.console_session(hashed, now, console.idle)
    if login is None:
        return None
    return Principal(login.user, "session", login.csrf_token, hashed)


def sso_user(console: Console, request: Request) -> str | None:
    """The user an SSO proxy vouches for: its header's value, when the setting names a
    header and the request came through a trusted proxy (anyone else's header is ignored)."""
    name = console.settings.console_sso_header
    if not name or not request.scope.get("state", {}).get(FROM_TRUSTED_PROXY):
        return None
    value = request.headers.get(name, "").strip()
    return value or None


def _sso_session(console: Console, name: str, now: datetime) -> Authentication:
    """A session for the user the SSO proxy named; they must be a console user (their role
    is bidwatch's to give), enabled."""
    found = console.store.console_password_hash(name) if USER_NAME.fullmatch(name) else None
    if found is None:
        log.warning("the SSO proxy signed in %r, who is no (enabled) console user", name[:64])
        return Authentication(refused=UNKNOWN_SSO_USER)
    session_id = new_secret()
    console.store.open_console_session(found[0].id, secret_hash(session_id), new_secret(), now,
                                       console.session_lifetime)
    login = console.store.console_session(secret_hash(session_id), now, console.idle)
    if login is None:  # disabled in between
        return Authentication(refused=UNKNOWN_SSO_USER)
    cookie = Response()
    cookie.set_cookie(SESSION_COOKIE, console.sessions.sign(session_id),
                      max_age=int(console.session_lifetime.total_seconds()), httponly=True,
                      samesite="strict", secure=console.secure_cookies, path="/")
    principal = Principal(login.user, "session", login.csrf_token, secret_hash(session_id))
    return Authentication(principal, session_cookie=cookie.headers["set-cookie"])


def wants_page(request: Request) -> bool:
    path = request.url.path
    return (request.method in SAFE_METHODS and not path.startswith("/api/")
            and path != "/openapi.json" and "text/html" in request.headers.get("accept", ""))


def refusal(request: Request, refused: str | None = None) -> Response:
    """A browser asking for a page goes to the login form (an unknown SSO user gets a page
    saying why instead: a login form would not help); anything else gets 401 or 403."""
    if refused == UNKNOWN_SSO_USER:
        return PlainTextResponse("Your single sign-on works, but you have no bidwatch console "
                                 "account: ask an admin to add one with `bidwatch users add "
                                 "NAME --role viewer --sso`.", status_code=403)
    if wants_page(request) and refused is None:
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
