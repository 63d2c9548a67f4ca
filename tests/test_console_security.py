"""The console's security matrix, in process (Starlette's TestClient over the real app, a real
SQLite store filled by the recording code, real evidence files): every route refused without
a login, CSRF on every form, roles on the server, evidence by content id only, the headers on
every response, and a hostile ad shown as inert text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.testclient import TestClient

from monitor.capture.evidence import EvidenceStore
from monitor.console.app import create_app
from monitor.console.guard import HEADERS, PUBLIC
from monitor.console.users import add_token, add_user
from monitor.judge.incidents import Escalation, IncidentStatus
from monitor.models import Capture, CaptureStatus, Device, SearchTask
from monitor.settings import Settings
from monitor.store import Store
from tests.conftest import RULES
from tests.notify_support import MARKETS, PNG, Breach, _judged

NOW = datetime.now(UTC).replace(microsecond=0)
PASSWORD = "correct horse battery staple"
HOSTILE_HEADLINE = "<script>alert(1)</script>Lumora \u202eSALE\u202c 90% OFF"
HOSTILE_LINK = "javascript:alert(document.cookie)"
HOSTILE_PAGE = ("<html><body><script>parent.document.title='pwned'</script>"
                "<img src=x onerror=alert(3)><p>saved result page</p></body></html>")
MEGABYTE = "<b>" + "x" * (1024 * 1024) + "</b>"


def record_with_evidence(store: Store, home: Path, breach: Breach, at: datetime, *,
                         hostile: bool = False) -> int:
    """One sighting recorded as a sweep records it, its page and screenshot saved as the
    capture saves them (by content hash); returns the case's id."""
    task = SearchTask(brand="lumora", engine=breach.engine, query=breach.query,
                      term_group="brand", market=MARKETS[breach.language], device=Device.desktop)
    sweep_id, ids = store.begin_sweep("p", [task], dry_run=False, now=at)
    evidence = EvidenceStore(home)
    html = evidence.save_html(HOSTILE_PAGE if hostile else f"<p>{breach.partner}</p>")
    shot = evidence.save_screenshot(PNG + breach.partner.encode())
    capture = Capture(task=task, status=CaptureStatus.ok, url="https://www.google.com/search",
                      final_url="https://www.google.com/search", http_status=200,
                      captured_at=at, html_path=html, screenshot_path=shot)
    judged = _judged(task, breach, at)
    if hostile:
        ad = replace(judged.ad, headline=HOSTILE_HEADLINE, link=HOSTILE_LINK,
                     description=MEGABYTE)
        judged = replace(judged, ad=ad, sighting=replace(judged.sighting, ad=ad))
    outcome = store.record_task(ids[task.key], capture, [judged], queue_notices=True,
                                escalation=Escalation())
    store.finish_sweep(sweep_id, "done", at, tasks_total=1, captured=1)
    return (outcome.new_incidents or outcome.seen_again)[0]


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Store, dict[str, int]]:
    home = tmp_path_factory.mktemp("console")
    settings = Settings(home=home, rules=RULES, database_url=None)
    for name, role in (("vera", "viewer"), ("rex", "reviewer"), ("ada", "admin")):
        add_user(settings, name, role, PASSWORD)
    store = Store(settings.database)
    cases = {"plain": record_with_evidence(store, home, Breach(partner="sleepsaver"),
                                           NOW - timedelta(hours=2)),
             "hostile": record_with_evidence(store, home, Breach(partner="kuponhemat",
                                                                 engine="bing"),
                                             NOW - timedelta(hours=1), hostile=True)}
    return settings, store, cases


@pytest.fixture
def client(console: tuple[Settings, Store, dict[str, int]]) -> TestClient:
    settings, store, _ = console
    return TestClient(create_app(settings, store, secret="s" * 48), base_url="http://console")


def log_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (read from a page)."""
    form = client.get("/login")
    response = client.post("/login", data={"name": name, "password": password,
                                           "csrf": csrf_of(form.text), "next": "/cases"},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/cases").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def concrete(path: str, cases: dict[str, int], digest: str) -> str:
    return (path.replace("{case_id}", str(cases["plain"])).replace("{outbox_id}", "1")
            .replace("{decision}", "approve").replace("{digest}", digest))


def every_route(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route the app has, enumerated (included routers too): a new
    route cannot escape, and a kind of route this does not know (a Mount) fails."""
    routes = []
    for prefix, route in _flat(client.app.routes):  # type: ignore[attr-defined]
        assert isinstance(route, APIRoute | Route), f"unexpected route kind {route!r}"
        routes += [(m, prefix + route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
    return routes


def _flat(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        if hasattr(route, "original_router"):  # FastAPI's record of include_router
            yield from _flat(route.original_router.routes,
                             prefix + route.include_context.prefix)
        else:
            yield prefix, route


def test_every_route_is_refused_without_a_login(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    digest = "0" * 64
    routes = every_route(client)
    assert len(routes) >= 15 and ("GET", "/openapi.json") in routes
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        url = concrete(path, cases, digest)
        for headers in ({}, {"accept": "text/html"}, {"authorization": "Bearer bw_forged"},
                        {"cookie": "bidwatch_session=forged.signature"}):
            response = client.request(method, url, headers=headers, follow_redirects=False)
            refused = response.status_code == 401 or (
                response.status_code == 303
                and response.headers["location"].startswith("/login?next="))
            assert refused, (method, path, headers, response.status_code)
            assert "sleepsaver" not in response.text
    assert {p for _, p in PUBLIC} == {"/login", "/static/console.css"}


def test_a_token_or_a_session_gets_in_and_logout_ends_the_session(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    settings, _, cases = console
    token = add_token(settings, "vera")
    answer = client.get("/api/incidents", headers={"authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and {c["id"] for c in answer.json()["cases"]} >= set(
        cases.values())
    csrf = log_in(client, "vera")
    cookie = client.cookies.get("bidwatch_session")
    assert cookie and client.get("/cases").status_code == 200
    assert client.post("/logout", data={"csrf": csrf}, follow_redirects=False).status_code == 303
    # the old cookie, replayed, is dead on the server
    client.cookies.set("bidwatch_session", cookie)
    replayed = client.get("/api/incidents")
    assert replayed.status_code == 401


def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(
    console: tuple[Settings, Store, dict[str, int]],
) -> None:
    settings, store, _ = console
    for public_url, secure in ((None, False), ("https://bidwatch.example.com", True)):
        app = create_app(settings.model_copy(update={"public_url": public_url}), store,
                         secret="s" * 48)
        client = TestClient(app, base_url="https://console")
        form = client.get("/login")
        response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                               "csrf": csrf_of(form.text)},
                               follow_redirects=False)
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert ("secure" in cookie.split(";")[-1] or "; secure" in cookie) == secure


def test_a_form_without_its_csrf_token_is_refused(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, store, cases = console
    csrf = log_in(client, "rex")
    case = cases["plain"]
    for data in ({}, {"csrf": "wrong"}, {"csrf": ""}):
        response = client.post(f"/cases/{case}/status",
                               data={"action": "acknowledge", **data}, follow_redirects=False)
        assert response.status_code == 403
    assert store.incident(case).incident.status == "new"  # type: ignore[union-attr]
    # every POST route of the app, without the token
    for method, path in every_route(client):
        if method == "POST":
            response = client.post(concrete(path, cases, "0" * 64), data={"note": "x"},
                                   follow_redirects=False)
            assert response.status_code == 403, path
    # the login form too: its token is bound to its pre-login cookie
    client.cookies.clear()
    assert client.post("/login", data={"name": "rex", "password": PASSWORD,
                                       "csrf": "made-up"}).status_code == 403
    # with its token, the change goes through and is kept with who made it
    log_in(client, "rex")
    csrf = csrf_of(client.get(f"/cases/{case}").text)
    response = client.post(f"/cases/{case}/status", data={
        "action": "acknowledge", "note": "looking", "csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert store.incident(case).incident.status == "acknowledged"  # type: ignore[union-attr]
    assert store.audit_log(incident_id=case)[0].actor == "rex"
    store.set_statuses_by([case], IncidentStatus.new, "reset", "test", NOW)


def test_roles_are_enforced_on_the_server(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    settings, store, cases = console
    case = cases["plain"]
    csrf = log_in(client, "vera")
    assert "Act on this case" not in client.get(f"/cases/{case}").text
    for response in (
        client.post(f"/cases/{case}/status", data={"action": "resolve", "csrf": csrf}),
        client.post("/cases/status", data={"ids": str(case), "action": "resolve",
                                           "csrf": csrf}),
        client.post(f"/api/incidents/{case}/status", json={"action": "resolve"},
                    headers={"x-csrf-token": csrf}),
    ):
        assert response.status_code == 403
    viewer_token = add_token(settings, "vera")
    as_token = client.post(f"/api/incidents/{case}/status", json={"action": "resolve"},
                           headers={"authorization": f"Bearer {viewer_token}"})
    assert as_token.status_code == 403
    assert store.incident(case).incident.status == "new"  # type: ignore[union-attr]
    # a reviewer may change a status but not decide on a notice
    reviewer = add_token(settings, "rex")
    (notice,) = store.notices_of(case)
    assert client.post(f"/notices/{notice.id}/hold", data={"csrf": log_in(client, "rex")},
                       follow_redirects=False).status_code == 403
    changed = client.post(f"/api/incidents/{case}/status",
                          json={"action": "resolve", "note": "gone"},
                          headers={"authorization": f"Bearer {reviewer}"})
    assert changed.status_code == 200 and changed.json()["status"] == "resolved"
    reopened = client.post(f"/api/incidents/{case}/status", json={"action": "reopen"},
                           headers={"authorization": f"Bearer {reviewer}"})
    assert reopened.json()["status"] == "new"


def test_an_admin_holds_and_approves_a_notice(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, store, cases = console
    (notice,) = store.notices_of(cases["hostile"])
    csrf = log_in(client, "ada")
    assert client.post(f"/notices/{notice.id}/hold", data={"csrf": csrf, "note": "check"},
                       follow_redirects=False).status_code == 303
    assert store.notices_of(cases["hostile"])[0].status == "held"
    page = client.get(f"/cases/{cases['hostile']}").text
    assert "Approve" in page
    assert client.post(f"/notices/{notice.id}/approve", data={"csrf": csrf, "note": "ok"},
                       follow_redirects=False).status_code == 303
    approved = store.notices_of(cases["hostile"])[0]
    assert (approved.status, approved.decided_by) == ("pending", "ada")
    actions = [e.action for e in store.audit_log(incident_id=cases["hostile"])]
    assert actions[:2] == ["notice-approve", "notice-hold"]


def test_login_is_throttled_per_user(client: TestClient,
                                     console: tuple[Settings, Store, dict[str, int]]) -> None:
    settings, _, _ = console
    add_user(settings, "tess", "viewer", PASSWORD)
    for _ in range(5):
        form = client.get("/login")
        wrong = client.post("/login", data={"name": "tess", "password": "not it at all",
                                            "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    form = client.get("/login")
    right = client.post("/login", data={"name": "tess", "password": PASSWORD,
                                        "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert right.status_code == 429 and "bidwatch_session" not in right.headers.get(
        "set-cookie", "")


def test_login_never_sends_anyone_to_another_site(client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "/cases"):
        form = client.get("/login")
        response = client.post("/login", data={"name": "vera", "password": PASSWORD,
                                               "csrf": csrf_of(form.text), "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/cases"
        client.cookies.clear()


def test_evidence_only_by_a_content_id_the_store_holds(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    log_in(client, "vera")
    detail = client.get(f"/api/incidents/{cases['hostile']}").json()
    digest, page = detail["latest"]["screenshot"], detail["latest"]["page"]
    shot = client.get(f"/evidence/screenshot/{digest}")
    assert shot.status_code == 200 and shot.headers["content-type"] == "image/png"
    assert shot.content.startswith(PNG)
    for attempt in ("../../bidwatch.db", "..%2F..%2Fbidwatch.db", "%2e%2e/%2e%2e/etc/passwd",
                    "....//....//etc/passwd", digest.upper(), digest + ".png", "0" * 64,
                    digest[:63], "/etc/passwd", f"{digest}%2F..%2F{digest}", "%00" + digest):
        for kind in ("screenshot", "page"):
            response = client.get(f"/evidence/{kind}/{attempt}")
            assert response.status_code in (404, 422), (kind, attempt, response.status_code)
            assert b"SQLite" not in response.content and b"root:" not in response.content
    # the screenshot's id names no page, and the page's no screenshot
    assert client.get(f"/evidence/page/{digest}").status_code == 404
    assert client.get(f"/evidence/screenshot/{page}").status_code == 404


def test_a_saved_page_is_served_only_as_a_sandbox(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    log_in(client, "vera")
    page = client.get(f"/api/incidents/{cases['hostile']}").json()["latest"]["page"]
    saved = client.get(f"/evidence/page/{page}")
    policy = saved.headers["content-security-policy"]
    assert policy.startswith("sandbox;") and "default-src 'none'" in policy
    assert "script-src" not in policy and "frame-ancestors 'self'" in policy
    assert saved.headers["x-frame-options"] == "SAMEORIGIN"
    case_page = client.get(f"/cases/{cases['hostile']}").text
    assert f'<iframe sandbox src="/evidence/page/{page}"' in case_page


def test_every_response_carries_the_headers(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    responses = [client.get("/login"), client.get("/static/console.css"),
                 client.get("/cases", follow_redirects=False), client.get("/nowhere")]
    log_in(client, "vera")
    responses += [client.get(concrete(path, cases, "0" * 64))
                  for method, path in every_route(client) if method == "GET"]
    responses += [client.get("/cases?sort=nonsense"), client.get("/cases?after=garbage"),
                  client.get("/api/incidents?status=bogus")]
    for response in responses:
        sandboxed = response.url.path.startswith("/evidence/page/") and response.is_success
        for name, value in HEADERS.items():
            if name == "Cache-Control" or (sandboxed and name in (
                    "Content-Security-Policy", "X-Frame-Options")):
                continue  # the style sheet may be cached; the saved page has its own policy
            assert response.headers.get(name) == value, (response.url, name)
    policy = HEADERS["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_a_hostile_ad_is_shown_as_inert_text(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    log_in(client, "vera")
    case_page = client.get(f"/cases/{cases['hostile']}").text
    listing = client.get("/cases").text
    for html in (case_page, listing):
        assert "<script" not in html.lower() and "<img src=x" not in html
        assert 'href="javascript:' not in html.lower() and "onerror=" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in case_page
    assert "<bdi>&lt;script&gt;alert(1)&lt;/script&gt;Lumora" in case_page  # isolated
    assert HOSTILE_LINK in case_page  # as text, never a link
    assert "&lt;b&gt;" + "x" * 1000 in case_page and "<b>xxxx" not in case_page
    # in the CSV no cell starts a formula, and JSON keeps the text as it is
    data = client.get("/api/incidents", params={"format": "csv"}).text
    assert data.splitlines()[0].startswith("id,reference,status")
    detail = client.get(f"/api/incidents/{cases['hostile']}").json()
    assert detail["latest"]["ad"]["headline"].startswith("<script>alert(1)</script>")


def test_the_cases_page_filters_pages_and_exports(
    client: TestClient, console: tuple[Settings, Store, dict[str, int]],
) -> None:
    _, _, cases = console
    log_in(client, "vera")
    bing = client.get("/cases", params={"engine": "bing"}).text
    assert f'href="/cases/{cases["hostile"]}"' in bing
    assert f'href="/cases/{cases["plain"]}"' not in bing
    first = client.get("/api/incidents", params={"limit": 1}).json()
    assert len(first["cases"]) == 1 and first["next"]
    second = client.get("/api/incidents", params={"limit": 1, "after": first["next"]}).json()
    assert second["cases"][0]["id"] != first["cases"][0]["id"]
    assert client.get("/api/incidents", params={"after": "garbage"}).status_code == 400
    assert client.get("/api/incidents", params={"seen_from": "yesterday"}).status_code == 422
    assert client.get("/api/incidents", params={"status": "bogus"}).status_code == 422
    # a form's empty choices mean "any"
    assert client.get("/cases", params={"severity": "", "seen_from": ""}).status_code == 200
    refused = client.get("/cases", params={"sort": "nonsense"}, headers={"accept": "text/html"})
    assert refused.status_code == 422 and "<h1>422</h1>" in refused.text
    rows = client.get("/cases.csv", params={"engine": "google"}).text.splitlines()
    assert len(rows) == 2 and rows[1].split(",")[0] == str(cases["plain"])
    coverage = client.get("/api/coverage").json()
    assert coverage["sweeps"] and "by_engine_market" in coverage


def test_login_is_throttled_per_client_address(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, rules=RULES, database_url=None)
    add_user(settings, "ana", "viewer", PASSWORD)
    store = Store(settings.database)
    try:
        client = TestClient(create_app(settings, store, secret="s" * 48))
        for n in range(20):  # twenty names tried from one address, none five times
            form = client.get("/login")
            client.post("/login", data={"name": f"guess{n}", "password": "wrong password",
                                        "csrf": csrf_of(form.text)})
        form = client.get("/login")
        right = client.post("/login", data={"name": "ana", "password": PASSWORD,
                                            "csrf": csrf_of(form.text)}, follow_redirects=False)
        assert right.status_code == 429 and "Too many failed logins" in right.text
    finally:
        store.close()


def test_a_viewer_downloads_a_cases_evidence_pack_and_it_is_audited(
        client: TestClient, console: tuple[Settings, Store, dict[str, int]]) -> None:
    import io
    import zipfile

    _settings, store, cases = console
    log_in(client, "vera")
    response = client.get(f"/cases/{cases['hostile']}/evidence.zip")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="INC-' in response.headers["content-disposition"]
    assert response.headers["x-content-type-options"] == "nosniff"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert "SHA256SUMS" in archive.namelist() and "summary.html" in archive.namelist()
        summary = archive.read("summary.html").decode()
    assert "<script>alert(1)" not in summary and "&lt;script&gt;alert(1)" in summary
    entries = store.audit_log(incident_id=cases["hostile"])
    assert entries[0].action == "evidence pack exported" and entries[0].actor == "vera"
    assert client.get("/cases/999999/evidence.zip").status_code == 404
