"""The console's app factory: one FastAPI app over one store, its pages, API and evidence
behind the guard (monitor.console.guard)."""

from __future__ import annotations

import logging
from datetime import timedelta
from importlib.metadata import version
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse, Response

from monitor.console import api, evidence, overview, pages
from monitor.console.auth import CookieSigner
from monitor.console.context import Console
from monitor.console.guard import Guard, SecurityHeaders, csrf_checked, wants_page
from monitor.console.proxy import TrustedProxies, trusted_proxies
from monitor.console.secret import console_secret
from monitor.errors import BidwatchError
from monitor.models import Device
from monitor.resources import templates_dir
from monitor.settings import Settings
from monitor.store import Store

log = logging.getLogger(__name__)


def create_app(settings: Settings, store: Store, *, secret: str | None = None) -> FastAPI:
    """The console over `store`. `secret` signs its cookies (default: console_secret)."""
    console = build_console(settings, store, secret or console_secret(settings).value)
    app = FastAPI(title="bidwatch console", version=version("bidwatch"), docs_url=None,
                  redoc_url=None, dependencies=[Depends(csrf_checked)])
    app.state.console = console
    app.include_router(pages.router)
    app.include_router(overview.router)
    app.include_router(evidence.router)
    app.include_router(api.router)
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_middleware(Guard, console=console)
    # outside the guard: it sees the forwarded client, and whether a trusted proxy sent it
    app.add_middleware(TrustedProxies,
                       proxies=trusted_proxies(settings.console_trusted_proxies))
    app.add_middleware(SecurityHeaders)  # added last: outermost, so refusals carry them too
    return app


def build_console(settings: Settings, store: Store, secret: str) -> Console:
    lifetime = timedelta(hours=settings.console_session_hours)
    zones, choices = _program_facts(settings)
    return Console(
        settings=settings, store=store, templates=templates(),
        sessions=CookieSigner(secret, "bidwatch-session", lifetime),
        logins=CookieSigner(secret, "bidwatch-login", timedelta(hours=1)),
        session_lifetime=lifetime, idle=timedelta(minutes=settings.console_idle_minutes),
        secure_cookies=(settings.public_url or "").lower().startswith("https://"),
        zones=zones, choices=choices)


def templates() -> Environment:
    """templates/console, every value escaped (ad text and URLs are strangers' input)."""
    return Environment(loader=FileSystemLoader(templates_dir() / "console"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _program_facts(settings: Settings) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The markets' zones and the filters' choices from the program; none when it does not
    load (the console still shows what is stored)."""
    from monitor.program import load_program

    try:
        program = load_program(settings.rules)
    except (BidwatchError, OSError) as error:
        log.warning("the console runs without the program's markets and names: %s", error)
        return {}, {}
    return {m.id: m.timezone for m in program.markets}, {
        "partner": [p.id for p in program.partners],
        "policy": [p.id for p in program.policies],
        "engine": [str(e) for e in program.engines],
        "market": [m.id for m in program.markets],
        "device": [d.value for d in Device],
    }


async def _http_error(request: Request, error: HTTPException) -> Response:
    """A browser gets a page saying what went wrong (escaped); everything else JSON."""
    if not wants_page(request):
        return await http_exception_handler(request, error)
    console: Console = request.app.state.console
    detail: Any = error.detail
    body = console.render("error.html.j2", status=error.status_code, detail=str(detail),
                          principal=getattr(request.state, "principal", None))
    return HTMLResponse(body, status_code=error.status_code, headers=error.headers)


async def _invalid(request: Request, error: RequestValidationError) -> Response:
    """A filter or form value the console does not know: 422, as a page for a browser."""
    if not wants_page(request):
        return await request_validation_exception_handler(request, error)
    problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:]))}: {e.get('msg', '')}"
                         for e in error.errors())
    return await _http_error(request, HTTPException(422, problems[:2000]))
