"""The console's part of the store: migration 0009, users, tokens, sessions, throttling counts,
the audit log, and the cases page's filters, counts and keyset pages, over a real SQLite
store filled by the recording code."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from monitor.judge.incidents import IncidentStatus
from monitor.models import Severity
from monitor.store import BadCursor, CaseQuery, ConsoleStoreError, Store
from monitor.store.db import alembic_config, migration_connection
from tests.notify_support import Breach, record_breach

T0 = datetime(2026, 11, 3, 14, 0, tzinfo=UTC)
CONSOLE_TABLES = {"console_users", "console_tokens", "console_sessions",
                  "console_login_attempts", "console_audit"}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'console.db'}")


@pytest.fixture
def cases(store: Store, tmp_path: Path) -> Store:
    """Twelve cases: partners p0..p11 on google (even) or bing (odd), en or id, an hour
    apart; the first three are medium, the rest high; the last two break no-direct-linking,
    the others no-brand-bidding."""
    for n in range(12):
        breach = Breach(partner=f"p{n}", engine="google" if n % 2 == 0 else "bing",
                        language="en" if n < 6 else "id",
                        severity=Severity.medium if n < 3 else Severity.high,
                        policy="no-brand-bidding" if n < 10 else "no-direct-linking")
        record_breach(store, tmp_path, breach, T0 + timedelta(hours=n))
    return store


def test_the_migration_makes_the_tables_the_models_describe(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       SQLModel.metadata)
    ours = [d for d in differences if any(t in repr(d) for t in CONSOLE_TABLES)]
    assert ours == []
    assert set(sa.inspect(store.engine).get_table_names()) >= CONSOLE_TABLES
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("incidents")}
    assert {"ix_incidents_last_seen_id", "ix_incidents_severity_id"} <= indexes


def test_the_migration_goes_down_and_up_again(store: Store) -> None:
    store.add_console_user("ana", "admin", "hash", T0)
    store.close()
    for target in ("0008", "head"):
        with migration_connection(store.engine) as connection:
            config = alembic_config(store.engine)
            config.attributes["connection"] = connection
            (command.downgrade if target == "0008" else command.upgrade)(config, target)
        tables = set(sa.inspect(store.engine).get_table_names())
        assert (tables >= CONSOLE_TABLES) == (target == "head")
    assert Store(store.url).console_users() == []


def test_users_tokens_and_their_refusals(store: Store) -> None:
    ana = store.add_console_user("ana", "reviewer", "argon-hash", T0)
    with pytest.raises(ConsoleStoreError, match="already"):
        store.add_console_user("ana", "admin", "x", T0)
    with pytest.raises(ConsoleStoreError, match="unknown role"):
        store.add_console_user("bo", "root", "x", T0)
    assert store.console_password_hash("ana") == (ana, "argon-hash")
    store.add_console_token("ana", "a" * 64, T0)
    assert store.user_of_token("a" * 64, T0) == ana
    assert store.user_of_token("b" * 64, T0) is None
    store.disable_console_user("ana", T0)
    assert store.user_of_token("a" * 64, T0) is None
    assert store.console_password_hash("ana") is None
    actions = [e.action for e in store.audit_log()]
    assert actions == ["user-disable", "token-add", "user-add"]


def test_sessions_end_at_their_time_when_idle_and_on_logout(store: Store) -> None:
    ana = store.add_console_user("ana", "viewer", "h", T0)
    idle = timedelta(minutes=30)
    store.open_console_session(ana.id, "s1", "csrf1", T0, timedelta(hours=8))
    live = store.console_session("s1", T0 + timedelta(minutes=20), idle)
    assert live is not None and live.csrf_token == "csrf1" and live.user == ana
    assert store.console_session("s1", T0 + timedelta(minutes=49), idle) is not None
    assert store.console_session("s1", T0 + timedelta(minutes=90), idle) is None  # idle
    assert store.console_session("s1", T0 + timedelta(minutes=91), idle) is None  # deleted
    store.open_console_session(ana.id, "s2", "csrf2", T0, timedelta(hours=1))
    assert store.console_session("s2", T0 + timedelta(hours=1), timedelta(days=1)) is None
    store.open_console_session(ana.id, "s3", "csrf3", T0, timedelta(hours=1))
    store.close_console_session("s3", T0)
    assert store.console_session("s3", T0, idle) is None


def test_failed_logins_are_counted_by_name_and_by_client(store: Store) -> None:
    for n in range(3):
        store.record_login_attempt("ana", f"10.0.0.{n}", False, T0 + timedelta(minutes=n))
    store.record_login_attempt("bo", "10.0.0.1", False, T0)
    store.record_login_attempt("ana", "10.0.0.1", True, T0)
    assert store.failed_logins("ana", "10.0.0.1", T0) == (3, 2)
    assert store.failed_logins("ana", "10.0.0.1", T0 + timedelta(minutes=2)) == (1, 0)


def test_the_cases_page_filters_counts_and_pages_by_keyset(cases: Store) -> None:
    everything = cases.case_page(CaseQuery(limit=100))
    assert len(everything.cases) == 12 and everything.next_cursor is None
    assert [c.offender for c in everything.cases][:2] == ["p11", "p10"]  # newest first
    assert everything.counts == {"new": 12}

    google = cases.case_page(CaseQuery(engines=("google",), limit=100))
    assert {c.offender for c in google.cases} == {f"p{n}" for n in range(0, 12, 2)}
    medium_en = cases.case_page(CaseQuery(severities=("medium",), markets=("us-en",)))
    assert {c.offender for c in medium_en.cases} == {"p0", "p1", "p2"}
    assert cases.case_page(CaseQuery(partners=("p3",))).cases[0].offender == "p3"
    assert len(cases.case_page(CaseQuery(policies=("no-brand-bidding",))).cases) == 10
    assert len(cases.case_page(CaseQuery(offender_classes=("partner",))).cases) == 12
    assert cases.case_page(CaseQuery(offender_classes=("competitor",))).cases == []
    window = CaseQuery(seen_from=T0 + timedelta(hours=4), seen_to=T0 + timedelta(hours=6))
    assert {c.offender for c in cases.case_page(window).cases} == {"p4", "p5", "p6"}

    # pages of five: every case once, in order, whatever the sort
    for sort in ("last_seen", "first_seen", "severity", "sighting_count", "id"):
        for descending in (True, False):
            query = CaseQuery(sort=sort, descending=descending)
            paged = [c.id for c in cases.every_case(query, batch=5)]
            assert paged == [c.id for c in cases.case_page(replace(query, limit=100)).cases]
            assert sorted(paged) == sorted(c.id for c in everything.cases)
    by_severity = [c.severity for c in cases.every_case(CaseQuery(sort="severity"), batch=5)]
    assert by_severity == ["high"] * 9 + ["medium"] * 3


def test_counts_stay_under_the_other_filters_and_statuses_change_in_the_audit_log(
    cases: Store,
) -> None:
    first = cases.case_page(CaseQuery(limit=3)).cases
    cases.set_statuses_by([c.id for c in first], IncidentStatus.acknowledged, "seen it",
                          "ana", T0 + timedelta(days=1))
    page = cases.case_page(CaseQuery(statuses=("acknowledged",)))
    assert len(page.cases) == 3 and page.counts == {"new": 9, "acknowledged": 3}
    detail = cases.incident(first[0].id)
    assert detail is not None and detail.events[-1].note == "seen it (ana)"
    entries = cases.audit_log(incident_id=first[0].id)
    assert [(e.actor, e.before, e.after, e.note) for e in entries] == [
        ("ana", "new", "acknowledged", "seen it")]
    with pytest.raises(ConsoleStoreError, match="no incident 999"):
        cases.set_statuses_by([first[0].id, 999], IncidentStatus.resolved, "", "ana", T0)
    assert cases.case_page(CaseQuery(statuses=("resolved",))).cases == []  # all or none


def test_a_cursor_not_made_by_the_store_is_refused(cases: Store) -> None:
    page = cases.case_page(CaseQuery(limit=2))
    assert page.next_cursor
    for bad in ("%%%", "e30", page.next_cursor[:-3], "WyJpZCIsIDEsICJ4Il0"):
        with pytest.raises(BadCursor):
            cases.case_page(CaseQuery(after=bad))
    with pytest.raises(BadCursor, match="another sort"):
        cases.case_page(replace(CaseQuery(after=page.next_cursor), sort="id"))


def test_evidence_is_found_only_by_a_content_hash_the_store_holds(cases: Store) -> None:
    assert cases.evidence_file("../../etc/passwd", "screenshot") is None
    assert cases.evidence_file("0" * 64, "screenshot") is None
    assert cases.evidence_file("A" * 64, "html") is None


def test_the_cases_page_asks_the_same_few_queries_however_many_cases(cases: Store) -> None:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    sa.event.listen(cases.engine, "before_cursor_execute", count)
    try:
        for limit in (1, 5, 12):
            statements.clear()
            page = cases.case_page(CaseQuery(engines=("google", "bing"),
                                             policies=("no-brand-bidding",), limit=limit))
            assert len(page.cases) == min(limit, 10)
            # the page, the counts per status, the page's clauses: no query per case
            assert len(statements) <= 3, statements
    finally:
        sa.event.remove(cases.engine, "before_cursor_execute", count)
