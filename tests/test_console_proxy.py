"""The console behind a reverse proxy and an SSO proxy, in process over the real app and a real
SQLite store: X-Forwarded-For believed from a trusted proxy only (so throttling per address
counts the client), and the SSO header's user signed in with a session of their own, CSRF
and roles as for anyone, the header ignored from anyone but the trusted proxy."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from monitor.console.app import create_app
from monitor.console.users import add_user, disable_user
from monitor.services.wiring import opened_store
from monitor.settings import Settings
from monitor.store import Store
from tests.conftest import RULES

PASSWORD = "correct horse battery staple"
PROXY, OUTSIDER, CLIENT = "10.0.0.5", "10.9.9.9", "203.0.113.9"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # failed logins counted since


def settings_of(home: Path, **values: str) -> Settings:
    return Settings(home=home, rules=RULES, database_url=None, **values)  # type: ignore[arg-type]


def client_for(settings: Settings, store: Store, peer: str) -> TestClient:
    return TestClient(create_app(settings, store, secret="s" * 48), base_url="http://console",
                      client=(peer, 41000))


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def failed_login(client: TestClient, forwarded_for: str) -> None:
    form = client.get("/login")
    answer = client.post("/login", data={"name": "ada", "password": "wrong password!",
                                         "csrf": csrf_of(form.text)},
                         headers={"X-Forwarded-For": forwarded_for}, follow_redirects=False)
    assert answer.status_code == 401


def test_a_trusted_proxy_names_the_client_and_nobody_else_can(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, console_trusted_proxies=f"127.0.0.1, {PROXY}/32")
    add_user(settings, "ada", "admin", PASSWORD)
    with opened_store(settings) as store:
        failed_login(client_for(settings, store, PROXY), CLIENT)
        failed_login(client_for(settings, store, OUTSIDER), "198.51.100.1")
        clients = store.failed_logins("ada", CLIENT, EPOCH)
        assert clients == (2, 1)  # both failures are ada's; one came from the client
        # the outsider's X-Forwarded-For was not believed: counted against its own address
        assert store.failed_logins("ada", OUTSIDER, EPOCH)[1] == 1
        assert store.failed_logins("ada", "198.51.100.1", EPOCH)[1] == 0


def test_without_trusted_proxies_no_forwarded_header_is_believed(tmp_path: Path) -> None:
    settings = settings_of(tmp_path)
    add_user(settings, "ada", "admin", PASSWORD)
    with opened_store(settings) as store:
        failed_login(client_for(settings, store, "127.0.0.1"), CLIENT)
        assert store.failed_logins("ada", "127.0.0.1", EPOCH)[1] == 1
        assert store.failed_logins("ada", CLIENT, EPOCH)[1] == 0


def test_the_sso_proxy_signs_a_console_user_in(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, console_trusted_proxies=PROXY,
                           console_sso_header="X-Forwarded-User")
    add_user(settings, "rex", "reviewer", PASSWORD)
    add_user(settings, "vera", "viewer", PASSWORD)
    with opened_store(settings) as store:
        client = client_for(settings, store, PROXY)
        page = client.get("/cases", headers={"X-Forwarded-User": "rex",
                                             "Accept": "text/html"})
        assert page.status_code == 200 and "rex · reviewer" in page.text
        assert "bidwatch_session" in page.headers["set-cookie"]
        assert "HttpOnly" in page.headers["set-cookie"]
        csrf = csrf_of(page.text)
        # the next request rides the session the first one opened: no second session
        again = client.get("/cases", headers={"X-Forwarded-User": "rex"})
        assert again.status_code == 200 and "set-cookie" not in again.headers
        assert csrf_of(again.text) == csrf
        # a form still needs its CSRF token, SSO or not
        refused = client.post("/logout", headers={"X-Forwarded-User": "rex"},
                              follow_redirects=False)
        assert refused.status_code == 403
        # another user named by the proxy gets their own session, with their own role
        viewer = client.get("/cases", headers={"X-Forwarded-User": "vera"})
        assert "vera · viewer" in viewer.text and "set-cookie" in viewer.headers
        logins = [e for e in store.audit_log() if e.action == "login"]
        assert [e.actor for e in logins] == ["vera", "rex"]


def test_the_sso_header_is_ignored_from_anyone_but_the_trusted_proxy(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, console_trusted_proxies=PROXY,
                           console_sso_header="X-Forwarded-User")
    add_user(settings, "ada", "admin", PASSWORD)
    with opened_store(settings) as store:
        outsider = client_for(settings, store, OUTSIDER)
        page = outsider.get("/cases", headers={"X-Forwarded-User": "ada",
                                               "Accept": "text/html"}, follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        api = outsider.get("/api/incidents", headers={"X-Forwarded-User": "ada"})
        assert api.status_code == 401


def test_an_sso_user_without_a_console_account_is_told_why(tmp_path: Path) -> None:
    settings = settings_of(tmp_path, console_trusted_proxies=PROXY,
                           console_sso_header="Remote-User")
    add_user(settings, "ada", "admin", PASSWORD)
    disable_user(settings, "ada")
    with opened_store(settings) as store:
        client = client_for(settings, store, PROXY)
        for name in ("nobody", "ada", "<script>x</script>"):
            answer = client.get("/cases", headers={"Remote-User": name})
            assert answer.status_code == 403, name
            assert "no bidwatch console account" in answer.text
            assert "<script>" not in answer.text


def test_an_sso_header_without_a_trusted_proxy_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="TRUSTED_PROXIES"):
        settings_of(tmp_path, console_sso_header="X-Forwarded-User")
    with pytest.raises(ValidationError):
        settings_of(tmp_path, console_trusted_proxies=PROXY, console_sso_header="X User\n")
