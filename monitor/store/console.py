"""The console's part of the store: its users, API tokens, sessions, login attempts and audit
log, the cases page's query (filters, sort, keyset pages, counts per status), status changes
kept in the audit log, notices held, and evidence looked up by its content id.

Secrets never reach this module in the clear: it keeps the argon2 hash of a password and the
sha256 of a token or session id, which the console (monitor.console.auth) computes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_
from sqlmodel import Session, col, select

from monitor.errors import BidwatchError
from monitor.judge.incidents import IncidentStatus
from monitor.models import Severity
from monitor.store.base import StoreBase
from monitor.store.incidents import add_event, incident_records
from monitor.store.mapping import outbox_item
from monitor.store.records import IncidentRecord, OutboxItem
from monitor.store.tables import (
    AuditRow,
    CaptureRow,
    ClauseRow,
    ConsoleSessionRow,
    ConsoleTokenRow,
    ConsoleUserRow,
    FindingRow,
    IncidentRow,
    LoginAttemptRow,
    OutboxRow,
    SightingRow,
)

ROLES = ("viewer", "reviewer", "admin")
#: what the cases page may sort by
CASE_SORTS = ("last_seen", "first_seen", "severity", "sighting_count", "id")


class ConsoleStoreError(BidwatchError, ValueError):
    """A console change that cannot apply (an unknown user, a name taken, a wrong status)."""


class BadCursor(ValueError):
    """A page cursor that this store did not hand out (or for another sort)."""


# -- records -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConsoleUser:
    id: int
    name: str
    role: str  # viewer | reviewer | admin
    created_at: datetime
    disabled: bool


@dataclass(frozen=True)
class ConsoleLogin:
    """A live session: whose it is, the CSRF token its forms carry, when it ends."""

    user: ConsoleUser
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    actor: str
    action: str
    incident_id: int | None
    before: str | None
    after: str | None
    note: str


@dataclass(frozen=True)
class CaseQuery:
    """The cases page's filters (each a set of values, any of which matches; empty: all),
    its sort and its page (a cursor from the previous page)."""

    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()
    #: a policy id or an agreement clause reference ("4.2")
    policies: tuple[str, ...] = ()
    #: the advertiser class of any of its sightings: partner | competitor | unknown | brand
    offender_classes: tuple[str, ...] = ()
    engines: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    term_groups: tuple[str, ...] = ()
    #: cases seen within [seen_from, seen_to]: last seen at or after, first seen at or before
    seen_from: datetime | None = None
    seen_to: datetime | None = None
    sort: str = "last_seen"
    descending: bool = True
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class CasePage:
    cases: list[IncidentRecord]
    #: cases per status under every filter but the status one
    counts: dict[str, int] = field(default_factory=dict)
    #: the cursor of the next page (None: this is the last)
    next_cursor: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# -- the store ---------------------------------------------------------------------------------


class ConsoleStore(StoreBase):
    # -- users and tokens --------------------------------------------------------------------

    def add_console_user(self, name: str, role: str, password_hash: str,
                         now: datetime) -> ConsoleUser:
        if role not in ROLES:
            raise ConsoleStoreError(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
        with self.session() as s:
            if _user_row(s, name) is not None:
                raise ConsoleStoreError(f"there is a user {name!r} already")
            row = ConsoleUserRow(name=name, role=role, password_hash=password_hash,
                                 created_at=now)
            s.add(row)
            _audit(s, "cli", "user-add", None, None, f"{name} ({role})", "", now)
            s.commit()
            return _user(row)

    def console_users(self) -> list[ConsoleUser]:
        with self.session() as s:
            rows = s.exec(select(ConsoleUserRow).order_by(col(ConsoleUserRow.name))).all()
            return [_user(r) for r in rows]

    def disable_console_user(self, name: str, now: datetime) -> ConsoleUser:
        """Disable a user: their sessions end and their tokens stop working at once."""
        with self.session() as s:
            row = _user_row(s, name)
            if row is None:
                raise ConsoleStoreError(f"no user {name!r}")
            row.disabled = True
            s.add(row)
            s.exec(delete(ConsoleSessionRow).where(col(ConsoleSessionRow.user_id) == row.id))
            _audit(s, "cli", "user-disable", None, None, name, "", now)
            s.commit()
            return _user(row)

    def console_password_hash(self, name: str) -> tuple[ConsoleUser, str] | None:
        """A user able to log in, with their password hash (None: unknown or disabled)."""
        with self.session() as s:
            row = _user_row(s, name)
            if row is None or row.disabled:
                return None
            return _user(row), row.password_hash

    def add_console_token(self, name: str, token_hash: str, now: datetime) -> ConsoleUser:
        with self.session() as s:
            row = _user_row(s, name)
            if row is None or row.disabled:
                raise ConsoleStoreError(f"no user {name!r} (or disabled)")
            s.add(ConsoleTokenRow(user_id=row.id or 0, token_hash=token_hash, created_at=now))
            _audit(s, "cli", "token-add", None, None, name, "", now)
            s.commit()
            return _user(row)

    def user_of_token(self, token_hash: str, now: datetime) -> ConsoleUser | None:
        """The user whose live token this is (None: unknown, revoked, or user disabled)."""
        with self.session() as s:
            found = s.exec(select(ConsoleTokenRow, ConsoleUserRow)
                           .join(ConsoleUserRow,
                                 col(ConsoleUserRow.id) == col(ConsoleTokenRow.user_id))
                           .where(ConsoleTokenRow.token_hash == token_hash)).first()
            if found is None or found[0].revoked or found[1].disabled:
                return None
            token, user = found
            token.last_used_at = now
            s.add(token)
            s.commit()
            return _user(user)

    # -- sessions and throttling -------------------------------------------------------------

    def open_console_session(self, user_id: int, session_hash: str, csrf_token: str,
                             now: datetime, lifetime: timedelta) -> ConsoleLogin:
        with self.session() as s:
            s.add(ConsoleSessionRow(session_hash=session_hash, user_id=user_id,
                                    csrf_token=csrf_token, created_at=now, last_seen_at=now,
                                    expires_at=now + lifetime))
            user = s.get_one(ConsoleUserRow, user_id)
            _audit(s, user.name, "login", None, None, None, "", now)
            s.commit()
            return ConsoleLogin(_user(user), csrf_token, now + lifetime)

    def console_session(self, session_hash: str, now: datetime,
                        idle: timedelta) -> ConsoleLogin | None:
        """The session, if it is still live (not past its end, not idle longer than `idle`,
        its user not disabled); a dead one is deleted. A live one is marked seen now."""
        with self.session() as s:
            found = s.exec(select(ConsoleSessionRow, ConsoleUserRow)
                           .join(ConsoleUserRow,
                                 col(ConsoleUserRow.id) == col(ConsoleSessionRow.user_id))
                           .where(ConsoleSessionRow.session_hash == session_hash)).first()
            if found is None:
                return None
            session, user = found
            if user.disabled or session.expires_at <= now or session.last_seen_at + idle <= now:
                s.delete(session)
                s.commit()
                return None
            if now - session.last_seen_at > timedelta(seconds=30):  # not a write per request
                session.last_seen_at = now
                s.add(session)
                s.commit()
            return ConsoleLogin(_user(user), session.csrf_token, session.expires_at)

    def close_console_session(self, session_hash: str, now: datetime) -> None:
        with self.session() as s:
            session = s.exec(select(ConsoleSessionRow)
                             .where(ConsoleSessionRow.session_hash == session_hash)).first()
            if session is not None:
                user = s.get_one(ConsoleUserRow, session.user_id)
                s.delete(session)
                _audit(s, user.name, "logout", None, None, None, "", now)
                s.commit()

    def record_login_attempt(self, name: str, client: str, succeeded: bool,
                             now: datetime) -> None:
        with self.session() as s:
            s.add(LoginAttemptRow(at=now, name=name[:200], client=client[:200],
                                  succeeded=succeeded))
            s.commit()

    def failed_logins(self, name: str, client: str, since: datetime) -> tuple[int, int]:
        """Failed logins since `since`: (for this user name, from this client address)."""
        failed = and_(col(LoginAttemptRow.at) >= since, col(LoginAttemptRow.succeeded).is_(False))
        count = func.count(col(LoginAttemptRow.id))
        with self.session() as s:
            by_name = s.exec(select(count).where(failed, LoginAttemptRow.name == name[:200])).one()
            by_client = s.exec(select(count).where(failed,
                                                   LoginAttemptRow.client == client[:200])).one()
            return int(by_name), int(by_client)

    # -- the audit log -----------------------------------------------------------------------

    def audit(self, actor: str, action: str, now: datetime, *, incident_id: int | None = None,
              before: str | None = None, after: str | None = None, note: str = "") -> None:
        with self.session() as s:
            _audit(s, actor, action, incident_id, before, after, note, now)
            s.commit()

    def audit_log(self, *, incident_id: int | None = None, limit: int = 200) -> list[AuditRecord]:
        """The newest entries first (of one case, when given)."""
        query = select(AuditRow).order_by(col(AuditRow.id).desc()).limit(limit)
        if incident_id is not None:
            query = query.where(AuditRow.incident_id == incident_id)
        with self.session() as s:
            return [AuditRecord(r.at, r.actor, r.action, r.incident_id, r.before, r.after,
                                r.note) for r in s.exec(query).all()]

    # -- the cases page ----------------------------------------------------------------------

    def case_page(self, query: CaseQuery) -> CasePage:
        """One page of cases (limit + 1 rows read, to know whether another follows) and the
        counts per status: two queries, and one more for the page's clauses."""
        filters = _case_filters(query)
        key = _sort_key(query.sort)
        page = select(IncidentRow).where(*filters)
        if query.statuses:
            page = page.where(col(IncidentRow.status).in_(list(query.statuses)))
        if query.after:
            page = page.where(_after(key, query, decode_cursor(query.after, query.sort)))
        order = (key.desc(), col(IncidentRow.id).desc()) if query.descending else (
            key.asc(), col(IncidentRow.id).asc())
        page = page.order_by(*order).limit(query.limit + 1)
        counts_query = select(IncidentRow.status, func.count(col(IncidentRow.id))).where(
            *filters).group_by(col(IncidentRow.status))
        with self.session() as s:
            rows = list(s.exec(page).all())
            counts = {str(k): int(v) for k, v in s.exec(counts_query).all()}
            more = len(rows) > query.limit
            rows = rows[:query.limit]
            cases = incident_records(s, rows)
        cursor = encode_cursor(query.sort, rows[-1]) if more and rows else None
        return CasePage(cases, counts, cursor)

    def every_case(self, query: CaseQuery, batch: int = 500) -> Iterator[IncidentRecord]:
        """Every case the query's filters select, in its order, a page at a time (CSV)."""
        after = query.after
        while True:
            page = self.case_page(replace(query, after=after, limit=batch))
            yield from page.cases
            if page.next_cursor is None:
                return
            after = page.next_cursor

    # -- changes from the console, in the audit log ------------------------------------------

    def set_statuses_by(self, incident_ids: Sequence[int], status: IncidentStatus, note: str,
                        actor: str, now: datetime) -> list[IncidentRecord]:
        """Change cases' status in one transaction, each change in the case's history (with
        who made it) and in the audit log; all of them, or (an unknown id) none."""
        with self.session() as s:
            rows = []
            for incident_id in dict.fromkeys(incident_ids):
                incident = s.get(IncidentRow, incident_id)
                if incident is None:
                    raise ConsoleStoreError(f"no incident {incident_id}")
                old = IncidentStatus(incident.status)
                incident.status = status
                add_event(s, incident, old, status, f"{note} ({actor})" if note else actor, now)
                _audit(s, actor, "status", incident_id, str(old), str(status), note, now)
                s.add(incident)
                rows.append(incident)
            s.commit()
            return incident_records(s, rows)

    def notices_of(self, incident_id: int) -> list[OutboxItem]:
        """A case's notices and reminders in the outbox, oldest first."""
        query = select(OutboxRow).where(OutboxRow.incident_id == incident_id).order_by(
            col(OutboxRow.id))
        with self.session() as s:
            return [outbox_item(r) for r in s.exec(query).all()]

    def hold_notice(self, outbox_id: int, actor: str, note: str, now: datetime) -> OutboxItem:
        """Hold a pending notice for approval (it is not sent until an admin approves it)."""
        with self.session() as s:
            row = s.get(OutboxRow, outbox_id)
            if row is None or row.kind != "notice" or row.status != "pending":
                raise ConsoleStoreError(f"outbox item {outbox_id} is not a pending notice")
            row.status = "held"
            row.decided_by, row.decided_at, row.decision_note = None, None, None
            _audit(s, actor, "notice-hold", row.incident_id, "pending", "held", note, now)
            s.add(row)
            s.commit()
            return outbox_item(row)

    # -- evidence by content id --------------------------------------------------------------

    def evidence_file(self, digest: str, kind: str) -> str | None:
        """The stored relative path of a capture's screenshot (`kind` "screenshot") or page
        HTML ("html") whose content hash is `digest`; None when no capture has it. The path
        comes from the store, never from the caller."""
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            return None
        column = CaptureRow.screenshot_path if kind == "screenshot" else CaptureRow.html_path
        suffix = ".png" if kind == "screenshot" else ".html.gz"
        expected = f"evidence/{digest[:2]}/{digest}{suffix}"
        with self.session() as s:
            found = s.exec(select(column).where(column == expected).limit(1)).first()
            return str(found) if found else None


# -- helpers -----------------------------------------------------------------------------------


def _user_row(s: Session, name: str) -> ConsoleUserRow | None:
    return s.exec(select(ConsoleUserRow).where(ConsoleUserRow.name == name)).first()


def _user(row: ConsoleUserRow) -> ConsoleUser:
    return ConsoleUser(row.id or 0, row.name, row.role, row.created_at, row.disabled)


def _audit(s: Session, actor: str, action: str, incident_id: int | None, before: str | None,
           after: str | None, note: str, now: datetime) -> None:
    s.add(AuditRow(at=now, actor=actor, action=action, incident_id=incident_id, before=before,
                   after=after, note=note))


def _json_member(column: Any, value: str) -> ColumnElement[bool]:
    """`value` is in the JSON list of strings `column` (written by json.dumps, sorted)."""
    token = json.dumps(value).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return col(column).like(f"%{token}%", escape="\\")


def _case_filters(query: CaseQuery) -> list[ColumnElement[bool]]:
    """Every filter but the status one (the counts per status are taken under these)."""
    filters: list[ColumnElement[bool]] = []
    if query.severities:
        filters.append(col(IncidentRow.severity).in_(list(query.severities)))
    if query.partners:
        filters.append(col(IncidentRow.partner).in_(list(query.partners)))
    if query.policies:
        wanted = list(query.policies)
        # a set of ids read by the clause indexes once, not a lookup per case
        filters.append(col(IncidentRow.id).in_(
            select(ClauseRow.incident_id).where(col(ClauseRow.policy).in_(wanted)).union(
                select(ClauseRow.incident_id).where(col(ClauseRow.clause).in_(wanted)))))
    if query.offender_classes:
        filters.append(exists().where(
            col(FindingRow.incident_id) == col(IncidentRow.id),
            col(SightingRow.id) == col(FindingRow.sighting_id),
            col(SightingRow.advertiser_class).in_(list(query.offender_classes))))
    for column, values in ((IncidentRow.engines_json, query.engines),
                           (IncidentRow.markets_json, query.markets),
                           (IncidentRow.devices_json, query.devices),
                           (IncidentRow.term_groups_json, query.term_groups)):
        if values:
            filters.append(or_(*(_json_member(column, v) for v in values)))
    if query.seen_from is not None:
        filters.append(col(IncidentRow.last_seen) >= query.seen_from)
    if query.seen_to is not None:
        filters.append(col(IncidentRow.first_seen) <= query.seen_to)
    return filters


def _severity_rank() -> Any:
    return case({s.value: s.rank for s in Severity}, value=col(IncidentRow.severity), else_=-1)


def _sort_key(sort: str) -> Any:
    if sort not in CASE_SORTS:
        raise BadCursor(f"unknown sort {sort!r}; use one of: {', '.join(CASE_SORTS)}")
    return _severity_rank() if sort == "severity" else col(getattr(IncidentRow, sort))


def _sort_value(sort: str, row: IncidentRow) -> Any:
    if sort == "severity":
        return Severity(row.severity).rank if row.severity in Severity.__members__ else -1
    value = getattr(row, sort)
    return value.isoformat() if isinstance(value, datetime) else value


def encode_cursor(sort: str, row: IncidentRow) -> str:
    raw = json.dumps([sort, _sort_value(sort, row), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int]:
    """(sort value, id) of a cursor this store made for `sort`; BadCursor otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, value, last_id = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as error:
        raise BadCursor("not a page cursor") from error
    if made_for != sort or not isinstance(last_id, int):
        raise BadCursor("a page cursor for another sort")
    if sort in ("last_seen", "first_seen"):
        try:
            return datetime.fromisoformat(str(value)), last_id
        except ValueError as error:
            raise BadCursor("not a page cursor") from error
    if not isinstance(value, int):
        raise BadCursor("not a page cursor")
    return value, last_id


def _after(key: Any, query: CaseQuery, last: tuple[Any, int]) -> ColumnElement[bool]:
    """Rows after (value, id) in the page's order: keyset pagination, no OFFSET."""
    value, last_id = last
    if query.descending:
        return or_(key < value, and_(key == value, col(IncidentRow.id) < last_id))
    return or_(key > value, and_(key == value, col(IncidentRow.id) > last_id))
