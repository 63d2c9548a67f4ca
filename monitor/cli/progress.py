"""Progress of long commands on stderr: a Rich bar when a person watches (stdout and stderr
both terminals), otherwise a plain line every few seconds (cron mail, CI logs); nothing
with -q. stdout keeps only the command's result, so `--json` stays parseable."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import TracebackType
from typing import TYPE_CHECKING, Any

from monitor.cli.output import Verbosity, err, log, on_terminal

if TYPE_CHECKING:
    from monitor.models import Capture

#: seconds between two plain progress lines (and between two case counts read from the store)
LINE_EVERY_S = 10.0
CASES_EVERY_S = 2.0


class SweepProgress:
    """Tasks done of all, blocked and failed pages, ads read, new cases, ETA."""

    def __init__(self, total: int, cases: Callable[[], int] | None = None, *,
                 label: str = "sweep", live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.label, self._cases = total, label, cases
        self.done = self.ads = self.failed = self.cases = 0
        self.blocked: Counter[str] = Counter()
        self._clock = clock
        self._started = self._last_line = self._last_cases = clock()
        self.quiet = Verbosity.quiet()
        self.live = on_terminal() if live is None else live
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.quiet:
            return self
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn(f"[bold]{self.label}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                TextColumn("{task.description}"), TimeElapsedColumn(), TextColumn("ETA"),
                TimeRemainingColumn(), console=err, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.counters(), total=self.total)
        else:
            self._line(f"{self.total} tasks")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
        elif not self.quiet and self.done:
            self._line(self.counters())

    def counters(self) -> str:
        blocked = sum(self.blocked.values())
        cases = f" · {self.cases} new cases" if self._cases is not None else ""
        return (f"blocked {blocked} · failed {self.failed} · {self.ads} ads{cases}")

    def eta_s(self) -> float | None:
        if not self.done or self.done >= self.total:
            return None
        return (self._clock() - self._started) / self.done * (self.total - self.done)

    def advance(self, capture: Capture, ads: int) -> None:
        """The sweep's progress hook: one task recorded."""
        self.done += 1
        self.ads += ads
        if capture.status.blocked:
            self.blocked[str(capture.status)] += 1
        elif not capture.status.covered:
            self.failed += 1
        now = self._clock()
        if self._cases is not None and (now - self._last_cases >= CASES_EVERY_S
                                        or self.done == self.total):
            self._last_cases = now
            self.cases = self._cases()
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=self.counters())
        elif now - self._last_line >= LINE_EVERY_S:
            self._line(self.counters())

    def _line(self, text: str) -> None:
        self._last_line = self._clock()
        eta = self.eta_s()
        left = f" · ETA {eta:.0f} s" if eta is not None else ""
        err.print(f"{self.label}: {self.done}/{self.total} · {text}{left}", markup=False,
                  highlight=False, soft_wrap=True)


def sweep_progress(total: int, cases: Callable[[], int] | None) -> tuple[
        SweepProgress, Callable[[Capture, int], None]]:
    """The progress factory `run_sweep_command` and the demo take."""
    progress = SweepProgress(total, cases)
    return progress, progress.advance


class CountProgress:
    """Items done of a known number (outbox items delivered, sightings replayed, files
    exported): a bar on a terminal, a plain line every LINE_EVERY_S otherwise, nothing
    with -q. `update` takes the counts and a short text of what happened so far."""

    def __init__(self, label: str, *, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label, self._clock = label, clock
        self.quiet = Verbosity.quiet()
        self.live = on_terminal() if live is None else live
        self.done = self.total = 0
        self.text = ""
        self._bar: Any = None
        self._task: Any = None
        self._last_line = clock()

    def __enter__(self) -> CountProgress:
        if not self.quiet and self.live:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._bar = Progress(TextColumn(f"[bold]{self.label}"), BarColumn(bar_width=20),
                                 MofNCompleteColumn(), TextColumn("{task.description}"),
                                 console=err, transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("", total=None)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, trace)
        elif not self.quiet and self.total and kind is None:
            self._line()

    def update(self, done: int, total: int, text: str = "") -> None:
        self.done, self.total, self.text = done, total, text
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, description=text)
        elif done == 0 or self._clock() - self._last_line >= LINE_EVERY_S:
            self._line()

    def _line(self) -> None:
        self._last_line = self._clock()
        text = f" · {self.text}" if self.text else ""
        err.print(f"{self.label}: {self.done}/{self.total}{text}", markup=False,
                  highlight=False, soft_wrap=True)


@contextmanager
def _logged(label: str) -> Iterator[None]:
    started = time.monotonic()
    log.info("%s…", label)
    yield
    log.info("%s: done in %.1f s", label, time.monotonic() - started)


def working(label: str) -> AbstractContextManager[Any]:
    """A step with no count to show (delivering the outbox, pruning evidence, rendering a
    digest): a spinner on a terminal; otherwise a log line before and after (with -v), so a
    cron job's mail holds only what went wrong."""
    if Verbosity.quiet():
        return nullcontext()
    if on_terminal():
        return err.status(label)
    return _logged(label)
