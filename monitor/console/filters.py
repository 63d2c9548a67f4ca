"""The cases list's filters, read from the query string the same way by the page, its CSV
and the API (one FastAPI dependency), and written back into links (the next page)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import Query

from monitor.judge.incidents import IncidentStatus
from monitor.models import AdvertiserClass, Severity
from monitor.store import CaseQuery

Values = Annotated[list[str] | None, Query()]
MAX_PAGE = 200
#: what the cases may be sorted by (monitor.store.console.CASE_SORTS, checked equal by the
#: tests; a Literal so that the API's description lists them)
CaseSort = Literal["last_seen", "first_seen", "severity", "sighting_count", "id"]


def case_filters(
    status: Annotated[list[IncidentStatus | Literal[""]] | None, Query()] = None,
    severity: Annotated[list[Severity | Literal[""]] | None, Query()] = None,
    partner: Values = None, policy: Values = None,
    offender_class: Annotated[list[AdvertiserClass | Literal[""]] | None, Query()] = None,
    engine: Values = None, market: Values = None, device: Values = None,
    term_group: Values = None,
    seen_from: Annotated[date | Literal[""] | None, Query(description="seen on or after")] = None,
    seen_to: Annotated[date | Literal[""] | None, Query(description="seen on or before")] = None,
    sort: Annotated[CaseSort, Query()] = "last_seen",
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> CaseQuery:
    """A CaseQuery from the query string: FastAPI refuses an unknown status, severity,
    offender class or sort and a bad date with 422 (a form's empty field means "any")."""
    return CaseQuery(
        statuses=_given([str(s) for s in status or ()]),
        severities=_given([str(s) for s in severity or ()]),
        partners=_given(partner), policies=_given(policy),
        offender_classes=_given([str(c) for c in offender_class or ()]),
        engines=_given(engine), markets=_given(market), devices=_given(device),
        term_groups=_given(term_group),
        seen_from=_day(seen_from), seen_to=_day(seen_to, end=True),
        sort=sort, descending=order == "desc", after=after or None, limit=limit)


def _given(values: list[str] | None) -> tuple[str, ...]:
    """The values chosen (a form's empty choice means "any"), each once."""
    return tuple(dict.fromkeys(v for v in values or () if v and len(v) <= 200))


def _day(day: date | str | None, *, end: bool = False) -> datetime | None:
    if not isinstance(day, date):
        return None
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start + timedelta(days=1) - timedelta(microseconds=1) if end else start


#: CaseQuery's fields as the query string names them
_PARAMS = {"statuses": "status", "severities": "severity", "partners": "partner",
           "policies": "policy", "offender_classes": "offender_class", "engines": "engine",
           "markets": "market", "devices": "device", "term_groups": "term_group"}


def query_string(query: CaseQuery, **changes: str | None) -> str:
    """The query string that asks for `query` again (with `changes`: a page, a sort)."""
    pairs: list[tuple[str, str]] = []
    for f in fields(query):
        if f.name in _PARAMS:
            pairs += [(_PARAMS[f.name], v) for v in getattr(query, f.name)]
    if query.seen_from:
        pairs.append(("seen_from", query.seen_from.date().isoformat()))
    if query.seen_to:
        pairs.append(("seen_to", query.seen_to.date().isoformat()))
    pairs += [("sort", query.sort), ("order", "desc" if query.descending else "asc"),
              ("limit", str(query.limit))]
    pairs += [(k, v) for k, v in changes.items() if v is not None]
    return urlencode(pairs)
