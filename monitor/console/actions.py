"""What staff do from the console, checked on the server whatever the page showed: status
changes (reviewers and admins) and notice decisions (admins), each in the audit log."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from fastapi import HTTPException

from monitor.console.context import Console, Principal
from monitor.judge.incidents import OPEN, IncidentStatus
from monitor.store import ConsoleStoreError, IncidentRecord, OutboxError, OutboxItem

#: the console's status actions and the status each sets (reopen: the one before, _reopened)
ACTIONS = {"acknowledge": IncidentStatus.acknowledged, "resolve": IncidentStatus.resolved,
           "false_positive": IncidentStatus.false_positive, "reopen": None}
NOTICE_DECISIONS = ("approve", "reject", "hold")
MAX_NOTE = 2000
MAX_BULK = 500


def change_status(console: Console, principal: Principal, ids: Sequence[int], action: str,
                  note: str) -> list[IncidentRecord]:
    if not principal.may("reviewer"):
        raise HTTPException(403, "changing a case's status needs the reviewer role")
    if action not in ACTIONS:
        raise HTTPException(400, f"unknown action {action[:40]!r}; use one of: "
                                 f"{', '.join(ACTIONS)}")
    if not ids or len(ids) > MAX_BULK:
        raise HTTPException(400, f"choose between 1 and {MAX_BULK} cases")
    note = note.strip()[:MAX_NOTE]
    if action == "false_positive" and not note:
        raise HTTPException(400, "say why it is a false positive (the note)")
    now = datetime.now(UTC)
    store = console.store
    try:
        target = ACTIONS[action]
        if target is not None:
            return store.set_statuses_by(ids, target, note, principal.user.name, now)
        cases = store.incidents_by_id(ids)
        if len(cases) != len(set(ids)):
            raise ConsoleStoreError(f"no such case among {', '.join(map(str, sorted(set(ids))))}")
        changed: list[IncidentRecord] = []
        for case in cases:  # each back to where it stood before it was closed
            changed += store.set_statuses_by([case.id], _reopened(console, case), note,
                                             principal.user.name, now)
        return changed
    except ConsoleStoreError as error:
        raise HTTPException(404, str(error)) from None


def _reopened(console: Console, case: IncidentRecord) -> IncidentStatus:
    """A reopened case goes back to the open status it had before it was closed (new when
    its history does not say)."""
    detail = console.store.incident(case.id)
    for event in reversed(detail.events if detail else ()):
        if event.status_to == case.status and event.status_from in OPEN:
            return IncidentStatus(event.status_from)
    return IncidentStatus.new


def decide_notice(console: Console, principal: Principal, outbox_id: int, decision: str,
                  note: str) -> OutboxItem:
    if not principal.may("admin"):
        raise HTTPException(403, "deciding on a notice needs the admin role")
    if decision not in NOTICE_DECISIONS:
        raise HTTPException(400, f"unknown decision; use one of: {', '.join(NOTICE_DECISIONS)}")
    note, now, store = note.strip()[:MAX_NOTE], datetime.now(UTC), console.store
    try:
        if decision == "hold":
            return store.hold_notice(outbox_id, principal.user.name, note, now)
        (item,) = store.decide_held([outbox_id], approve=decision == "approve",
                                    by=principal.user.name, note=note, now=now)
    except (ConsoleStoreError, OutboxError) as error:
        raise HTTPException(409, str(error)) from None
    store.audit(principal.user.name, f"notice-{decision}", now, incident_id=item.incident_id,
                before="held", after=item.status, note=note)
    return item
