"""The console's pages: login and logout, the cases list (filters, counts, keyset pages,
bulk status change, CSV) and a case with its evidence and actions. Rendered on the server;
they work with scripts off."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.background import BackgroundTask
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)

from monitor.console.actions import ACTIONS, change_status, decide_notice
from monitor.console.auth import new_secret, password_matches, secret_hash
from monitor.console.context import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Console,
    Principal,
    RowId,
    console_of,
    principal_of,
    requires,
)
from monitor.console.evidence import screenshot_size
from monitor.console.filters import case_filters, query_string
from monitor.console.views import case_summary, case_view
from monitor.judge.incidents import IncidentStatus
from monitor.models import Severity
from monitor.resources import templates_dir
from monitor.store import BadCursor, CaseQuery

router = APIRouter(include_in_schema=False)
ConsoleDep = Annotated[Console, Depends(console_of)]
PrincipalDep = Annotated[Principal, Depends(principal_of)]
CSV_COLUMNS = ("id", "reference", "status", "severity", "level", "offender", "partner",
               "destination", "network", "policies", "engines", "markets", "devices",
               "term_groups", "first_seen", "last_seen", "sighting_count")


def page(console: Console, name: str, principal: Principal | None, status: int = 200,
         **values: Any) -> HTMLResponse:
    return HTMLResponse(console.render(name, principal=principal, **values), status_code=status)


# -- login ---------------------------------------------------------------------------------


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (never //host or a scheme)."""
    if (not target or not target.startswith("/") or target.startswith(("//", "/\\"))
            or any(ord(c) < 32 for c in target) or len(target) > 2000):
        return "/cases"
    return target


@router.get("/login")
def login_form(request: Request, console: ConsoleDep, next: str | None = None) -> Response:
    if getattr(request.state, "principal", None) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(console, safe_next(next), None, 200)


def _login_page(console: Console, target: str, error: str | None, status: int) -> Response:
    token = new_secret()
    response = page(console, "login.html.j2", None, status, csrf=token, next=target,
                    error=error)
    response.set_cookie(LOGIN_COOKIE, console.logins.sign(token), max_age=3600,
                        httponly=True, samesite="strict", secure=console.secure_cookies)
    return response


@router.post("/login")
def login(
    request: Request, console: ConsoleDep, name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)], next: Annotated[str, Form()] = "/cases",
) -> Response:
    store, now = console.store, datetime.now(UTC)
    client = request.client.host if request.client else "unknown"
    by_name, by_client = store.failed_logins(name, client, console.throttle.since(now))
    if console.throttle.refuses(by_name, by_client):
        store.record_login_attempt(name, client, False, now)
        return _login_page(console, safe_next(next), "Too many failed logins: wait a quarter "
                           "of an hour and try again.", 429)
    found = store.console_password_hash(name)
    ok = password_matches(found[1] if found else None, password)
    store.record_login_attempt(name, client, ok and found is not None, now)
    if not ok or found is None:
        return _login_page(console, safe_next(next), "Wrong name or password.", 401)
    session_id = new_secret()
    store.open_console_session(found[0].id, secret_hash(session_id), new_secret(), now,
                               console.session_lifetime)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, console.sessions.sign(session_id),
                        max_age=int(console.session_lifetime.total_seconds()), httponly=True,
                        samesite="strict", secure=console.secure_cookies, path="/")
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout")
def logout(console: ConsoleDep, principal: PrincipalDep) -> Response:
    if principal.session_hash:
        console.store.close_console_session(principal.session_hash, datetime.now(UTC))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=console.secure_cookies)
    return response


@router.get("/static/console.css")
def style_sheet() -> Response:
    # one file by a fixed name: nothing from the request names a file
    css = (templates_dir() / "console" / "static" / "console.css").read_text()
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


# -- the cases list ------------------------------------------------------------------------


@router.get("/")
def home() -> Response:
    return RedirectResponse("/cases", status_code=303)


@router.get("/cases")
def cases_page(console: ConsoleDep, principal: PrincipalDep,
               query: Annotated[CaseQuery, Depends(case_filters)]) -> Response:
    try:
        found = console.store.case_page(query)
    except BadCursor as error:
        raise HTTPException(400, str(error)) from None
    return page(console, "cases.html.j2", principal, query=query, found=found,
                cases=[case_summary(c) for c in found.cases],
                statuses=[s.value for s in IncidentStatus],
                severities=[s.value for s in Severity], choices=console.choices,
                actions=list(ACTIONS), here=query_string(query),
                next_page=query_string(query, after=found.next_cursor)
                if found.next_cursor else None,
                status_link=lambda status: query_string(
                    _with_statuses(query, (status,) if status else ())),
                csv_link=query_string(query))


def _with_statuses(query: CaseQuery, statuses: tuple[str, ...]) -> CaseQuery:
    from dataclasses import replace

    return replace(query, statuses=statuses, after=None)


@router.get("/cases.csv")
def cases_csv(console: ConsoleDep, query: Annotated[CaseQuery, Depends(case_filters)]) -> Response:
    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for case in console.store.every_case(query):
            summary = case_summary(case)
            writer.writerow([csv_cell(summary[c]) for c in CSV_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    try:
        console.store.case_page(query)  # a bad cursor is refused before the download starts
    except BadCursor as error:
        raise HTTPException(400, str(error)) from None
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="bidwatch-cases.csv"'})


def csv_cell(value: Any) -> str:
    """A CSV cell no spreadsheet runs as a formula (ad text and partner names are
    strangers'): a leading = + - @ tab or CR is quoted with an apostrophe."""
    text = ";".join(map(str, value)) if isinstance(value, list) else (
        "" if value is None else str(value))
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@router.post("/cases/status")
async def cases_status(request: Request, console: ConsoleDep,
                       principal: Annotated[Principal, Depends(requires("reviewer"))]) -> Response:
    form = await request.form()
    ids = [int(v) for v in form.getlist("ids") if isinstance(v, str) and v.isdigit()
           and len(v) < 16]
    action, note = str(form.get("action", "")), str(form.get("note", ""))
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(change_status, console, principal, ids, action, note)
    back = urlencode(parse_qsl(str(form.get("back", ""))[:4000]))
    return RedirectResponse(f"/cases?{back}", status_code=303)


# -- a case --------------------------------------------------------------------------------


@router.get("/cases/{case_id}")
def case_page(case_id: RowId, console: ConsoleDep, principal: PrincipalDep) -> Response:
    store = console.store
    found = store.case_of(case_id)
    detail = store.incident(found) if found is not None else None
    if detail is None:
        raise HTTPException(404, f"no case {case_id}")
    view = case_view(detail, console.zones, store.notices_of(detail.incident.id),
                     store.audit_log(incident_id=detail.incident.id))
    latest = view["latest"]
    size = screenshot_size(console, latest["screenshot"]) if latest and latest[
        "screenshot"] else None
    return page(console, "case.html.j2", principal, view=view, actions=list(ACTIONS),
                exemptions=_exemptions(console, view), shot_size=size)


@router.get("/cases/{case_id}/evidence.zip")
def case_evidence_pack(case_id: RowId, console: ConsoleDep, principal: PrincipalDep) -> Response:
    """The case's evidence pack (docs/evidence.md), made for this request in a private
    folder that is removed once the file has been sent."""
    from monitor.errors import BidwatchError
    from monitor.services.evidence_pack import export_evidence_pack

    folder = Path(tempfile.mkdtemp(prefix="bidwatch-pack-"))
    try:
        pack = export_evidence_pack(console.settings, case_id, folder / "pack.zip")
    except BidwatchError as error:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(404, str(error)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    console.store.audit(principal.user.name, "evidence pack exported", datetime.now(UTC),
                        incident_id=pack.case_id,
                        note=f"{len(pack.files)} files, {len(pack.missing)} missing")
    return FileResponse(pack.out, media_type="application/zip",
                        filename=f"{pack.reference}.zip",
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


def _exemptions(console: Console, view: dict[str, Any]) -> list[dict[str, Any]]:
    """What the program in force exempts the latest sighting from (services.explain); none
    when the program does not load."""
    from monitor.errors import BidwatchError
    from monitor.services.explain import explain_sighting

    if not view["latest"]:
        return []
    try:
        exempted: list[dict[str, Any]] = explain_sighting(
            console.settings, view["latest"]["id"])["exempted"]
    except (BidwatchError, OSError):
        return []
    return exempted


@router.post("/cases/{case_id}/status")
def case_status(case_id: RowId, console: ConsoleDep,
                principal: Annotated[Principal, Depends(requires("reviewer"))],
                action: Annotated[str, Form(max_length=40)],
                note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    change_status(console, principal, [case_id], action, note)
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/notices/{outbox_id}/{decision}")
def notice_decision(outbox_id: RowId, decision: str, console: ConsoleDep,
                    principal: Annotated[Principal, Depends(requires("admin"))],
                    note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    item = decide_notice(console, principal, outbox_id, decision, note)
    target = f"/cases/{item.incident_id}" if item.incident_id else "/cases"
    return RedirectResponse(target, status_code=303)
