"""Sweeps and their tasks: begin, finish, resume, fail a task, and read them back."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import col, select

from monitor.models import Capture, Device, SearchTask
from monitor.program import Program
from monitor.store.base import StoreBase
from monitor.store.mapping import ad_record, capture_record, sweep_record, task_record
from monitor.store.records import AdRecord, CaptureRecord, SweepRecord, TaskRecord
from monitor.store.tables import AdRow, CaptureRow, SweepRow, TaskRow


class SweepStore(StoreBase):
    def begin_sweep(
        self, program: str, tasks: Sequence[SearchTask], *, dry_run: bool, now: datetime
    ) -> tuple[int, dict[str, int]]:
        """A new sweep with its tasks pending; returns its id and task ids by task key."""
        with self.session() as s:
            sweep = SweepRow(started_at=now, program=program, dry_run=dry_run,
                             tasks_total=len(tasks))
            s.add(sweep)
            s.flush()
            rows = [_task_row(sweep.id or 0, t) for t in tasks]
            s.add_all(rows)
            s.commit()
            return sweep.id or 0, {r.key: r.id or 0 for r in rows}

    def finish_sweep(
        self, sweep_id: int, status: str, now: datetime, *, add: bool = False, **counts: int
    ) -> SweepRecord:
        """Close a sweep with its counts (`add`: a resumed sweep's run adds to them)."""
        with self.session() as s:
            sweep = s.get_one(SweepRow, sweep_id)
            sweep.status = status
            sweep.finished_at = now
            for name, value in counts.items():
                setattr(sweep, name, value + (getattr(sweep, name) if add else 0))
            s.add(sweep)
            s.commit()
            return sweep_record(sweep)

    def unfinished_sweeps(self, program: str) -> list[int]:
        """Sweeps of `program` that a stop or a crash left with tasks never asked, oldest
        first (a sweep still marked running was cut off without a word: a kill, a power cut)."""
        pending = select(TaskRow.sweep_id).where(TaskRow.status == "pending")
        query = (select(SweepRow.id)
                 .where(SweepRow.program == program,
                        col(SweepRow.status).in_(("running", "interrupted")),
                        col(SweepRow.id).in_(pending))
                 .order_by(col(SweepRow.id)))
        with self.session() as s:
            return [sweep_id for sweep_id in s.exec(query).all() if sweep_id is not None]

    def pending_tasks(self, sweep_id: int, program: Program) -> list[tuple[SearchTask, int]]:
        """The tasks of a sweep never asked, as tasks again (markets from the program; a task
        whose market the program no longer has is dropped: it cannot be asked as it was)."""
        query = select(TaskRow).where(TaskRow.sweep_id == sweep_id, TaskRow.status == "pending")
        with self.session() as s:
            rows = s.exec(query.order_by(col(TaskRow.id))).all()
        planned = []
        for row in rows:
            market = program.market(row.market)
            if market is not None:
                task = SearchTask(row.brand, row.engine, row.query, row.term_group, market.ref(),
                                  Device(row.device), row.page)
                planned.append((task, row.id or 0))
        return planned

    def recent_sweeps(self, limit: int = 20, *, status: str | None = None) -> list[SweepRecord]:
        """The newest sweeps first (only those with `status`, when given)."""
        query = select(SweepRow).order_by(col(SweepRow.id).desc()).limit(limit)
        if status:
            query = query.where(SweepRow.status == status)
        with self.session() as s:
            return [sweep_record(row) for row in s.exec(query).all()]

    def reopen_sweep(self, sweep_id: int) -> None:
        with self.session() as s:
            sweep = s.get_one(SweepRow, sweep_id)
            sweep.status = "running"
            s.add(sweep)
            s.commit()

    def sweep(self, sweep_id: int) -> SweepRecord | None:
        with self.session() as s:
            row = s.get(SweepRow, sweep_id)
            return sweep_record(row) if row else None

    def tasks(self, sweep_id: int | None = None) -> list[TaskRecord]:
        """The tasks of a sweep (of every sweep without one), in the order they were planned."""
        query = select(TaskRow).order_by(col(TaskRow.id))
        if sweep_id is not None:
            query = query.where(TaskRow.sweep_id == sweep_id)
        with self.session() as s:
            return [task_record(row) for row in s.exec(query).all()]

    def captures(self, sweep_id: int | None = None) -> list[CaptureRecord]:
        """Every capture of a sweep (of every sweep without one), retries included, in order."""
        query = select(CaptureRow).order_by(col(CaptureRow.id))
        if sweep_id is not None:
            query = query.where(CaptureRow.sweep_id == sweep_id)
        with self.session() as s:
            return [capture_record(row) for row in s.exec(query).all()]

    def capture_ads(self, capture_ids: Iterable[int]) -> list[AdRecord]:
        """The ads read from the captures named, in the order they were stored."""
        query = (select(AdRow).where(col(AdRow.capture_id).in_(sorted(set(capture_ids))))
                 .order_by(col(AdRow.id)))
        with self.session() as s:
            return [ad_record(row) for row in s.exec(query).all()]

    def fail_task(self, task_id: int, capture: Capture | None) -> None:
        with self.session() as s:
            task = s.get_one(TaskRow, task_id)
            task.attempts += 1
            task.status = "failed"
            if capture is not None:
                s.add(capture_row(task, capture))
            s.add(task)
            s.commit()


def _task_row(sweep_id: int, task: SearchTask) -> TaskRow:
    return TaskRow(
        sweep_id=sweep_id, key=task.key, brand=task.brand, engine=task.engine, query=task.query,
        term_group=task.term_group, market=task.market.id, device=str(task.device),
        page=task.page,
    )


def capture_row(task: TaskRow, capture: Capture) -> CaptureRow:
    return CaptureRow(
        task_id=task.id or 0, sweep_id=task.sweep_id, engine=task.engine, market=task.market,
        status=str(capture.status), url=capture.url, final_url=capture.final_url,
        http_status=capture.http_status, captured_at=capture.captured_at,
        html_path=capture.html_path, screenshot_path=capture.screenshot_path,
        error=capture.error, elapsed_ms=capture.elapsed_ms,
        link_boxes_json=json.dumps([b._asdict() for b in capture.link_boxes]),
    )
