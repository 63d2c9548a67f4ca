"""The cases list's filters, read from the query string the same way by the page, its CSV
and the API (one FastAPI dependency), and written back into links (the next page)."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import HTTPException, Query

from monitor.judge.incidents import IncidentStatus
from monitor.models import Severity
from monitor.store import CaseQuery
from monitor.store.console import CASE_SORTS

Values = Annotated[list[str] | None, Query()]
MAX_PAGE = 200


def case_filters(
    status: Values = None, severity: Values = None, partner: Values = None,
    policy: Values = None, offender_class: Values = None, engine: Values = None,
    market: Values = None, device: Values = None, term_group: Values = None,
    seen_from: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    seen_to: Annotated[str | None, Query(description="YYYY-MM-DD")] = None,
    sort: Annotated[str, Query(description=", ".join(CASE_SORTS))] = "last_seen",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    after: Annotated[str | None, Query(max_length=512)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> CaseQuery:
    """A CaseQuery from the query string; an unknown status, severity, sort or a bad date is
    refused (400) rather than matching nothing."""
    if sort not in CASE_SORTS:
        raise HTTPException(400, f"unknown sort {sort!r}; use one of: {', '.join(CASE_SORTS)}")
    return CaseQuery(
        statuses=_known("status", status, [s.value for s in IncidentStatus]),
        severities=_known("severity", severity, [s.value for s in Severity]),
        partners=_given(partner), policies=_given(policy),
        offender_classes=_known("offender_class", offender_class,
                                ["partner", "competitor", "unknown", "brand"]),
        engines=_given(engine), markets=_given(market), devices=_given(device),
        term_groups=_given(term_group),
        seen_from=_day(seen_from, "seen_from"), seen_to=_day(seen_to, "seen_to", end=True),
        sort=sort, descending=order == "desc", after=after or None, limit=limit)


def _given(values: list[str] | None) -> tuple[str, ...]:
    """The values chosen (a form's empty choice means "any"), each once."""
    return tuple(dict.fromkeys(v for v in values or () if v and len(v) <= 200))


def _known(name: str, values: list[str] | None, known: list[str]) -> tuple[str, ...]:
    chosen = _given(values)
    unknown = [v for v in chosen if v not in known]
    if unknown:
        raise HTTPException(400, f"unknown {name} {unknown[0]!r}; use one of: "
                                 f"{', '.join(known)}")
    return chosen


def _day(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{name}: not a date (YYYY-MM-DD): {value[:40]!r}") from None
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
