"""The console's overview pages: partners (escalation, agreement in force and its history),
coverage (asked, captured, blocked by kind, failed, over time, with a chart) and the program
(what is loaded, when, from which files, the last reload error)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
