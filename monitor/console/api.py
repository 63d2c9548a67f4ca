"""The JSON API beside the pages (for users' own tools), described at /openapi.json: the
cases (JSON or CSV, the pages' filters), a case, status changes, coverage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from monitor.console.actions import change_status
from monitor.console.context import (
    Console,
    Principal,
    RowId,
    console_of,
    principal_of,
    requires,
)
from monitor.console.filters import case_filters
from monitor.console.pages import cases_csv
from monitor.console.views import case_summary, case_view
from monitor.store import BadCursor, CaseQuery

router = APIRouter(prefix="/api", tags=["api"], dependencies=[Depends(principal_of)])
ConsoleDep = Annotated[Console, Depends(console_of)]
Reviewer = Annotated[Principal, Depends(requires("reviewer"))]


class StatusChange(BaseModel):
    action: Literal["acknowledge", "resolve", "reopen"]
    note: str = Field(default="", max_length=2000)


class FalsePositive(BaseModel):
    action: Literal["false_positive"]
    note: str = Field(max_length=2000, pattern=r"\S", description="why (required)")


Change = Annotated[StatusChange | FalsePositive, Field(discriminator="action")]


class BulkStatusChange(BaseModel):
    ids: list[Annotated[int, Field(ge=1, le=2**53)]] = Field(min_length=1, max_length=500)
    change: Change


class CaseList(BaseModel):
    cases: list[dict[str, Any]]
    counts: dict[str, int]
    next: str | None = Field(description="the `after` of the next page; null: the last page")


@router.get("/incidents", response_model=CaseList, responses={
    200: {"content": {"text/csv": {}}, "description": "the cases (JSON, or CSV with format=csv)"},
    400: {"description": "an unknown filter value or a bad cursor"}})
def incidents(console: ConsoleDep, query: Annotated[CaseQuery, Depends(case_filters)],
              format: Annotated[Literal["json", "csv"], Query()] = "json") -> Any:
    """Cases by the filters of the cases page, a keyset page at a time (`after`)."""
    if format == "csv":
        return cases_csv(console, query)
    try:
        found = console.store.case_page(query)
    except BadCursor as error:
        raise HTTPException(400, str(error)) from None
    return CaseList(cases=[case_summary(c) for c in found.cases], counts=found.counts,
                    next=found.next_cursor)


@router.get("/incidents/{case_id}", responses={404: {"description": "no such case"}})
def incident(case_id: RowId, console: ConsoleDep) -> dict[str, Any]:
    """A case with every sighting's ad, evidence ids, chain, attribution and facts, its
    notices and its history."""
    store = console.store
    found = store.case_of(case_id)
    detail = store.incident(found) if found is not None else None
    if detail is None:
        raise HTTPException(404, f"no case {case_id}")
    return case_view(detail, console.zones, store.notices_of(detail.incident.id),
                     store.audit_log(incident_id=detail.incident.id))


@router.post("/incidents/{case_id}/status", responses={
    403: {"description": "not a reviewer"}, 404: {"description": "no such case"}})
def incident_status(case_id: RowId, change: Change, console: ConsoleDep,
                    principal: Reviewer) -> dict[str, Any]:
    """Acknowledge, resolve, mark a false positive (with a note) or reopen a case."""
    (case,) = change_status(console, principal, [case_id], change.action, change.note)
    return case_summary(case)


@router.post("/incidents/status", responses={
    403: {"description": "not a reviewer"}, 404: {"description": "an unknown case"}})
def incidents_status(change: BulkStatusChange, console: ConsoleDep,
                     principal: Reviewer) -> list[dict[str, Any]]:
    """The same status change for several cases: all of them, or none."""
    return [case_summary(c) for c in change_status(console, principal, change.ids,
                                                   change.change.action, change.change.note)]


@router.get("/coverage")
def coverage(console: ConsoleDep,
             days: Annotated[int, Query(ge=1, le=366)] = 7) -> dict[str, Any]:
    """Asked, captured, blocked and failed: per engine and market over the last `days`,
    and per sweep (a blocked week must never look like a clean one)."""
    now = datetime.now(UTC)
    store = console.store
    rows = store.coverage(now - timedelta(days=days), now)
    sweeps = [s for s in store.recent_sweeps(50) if s.started_at >= now - timedelta(days=days)]
    return {
        "from": (now - timedelta(days=days)).isoformat(), "to": now.isoformat(),
        "by_engine_market": [{"engine": r.engine, "market": r.market, "asked": r.asked,
                              "captured": r.captured, "blocked": r.blocked,
                              "failed": r.failed} for r in rows],
        "sweeps": [{"id": s.id, "started_at": s.started_at.isoformat(), "status": s.status,
                    "tasks": s.tasks_total, "captured": s.captured, "blocked": s.blocked,
                    "failed": s.failed} for s in sweeps],
    }
