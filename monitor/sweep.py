"""One sweep end to end. This module only wires the stages; each stage lives in its own module.

plan → capture → read → resolve → attribute → judge → record → notify
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from playwright.async_api import BrowserContext, async_playwright
from playwright.async_api import Error as PlaywrightError

from monitor.attribute.partners import attribute
from monitor.capture.browser import find_browser
from monitor.capture.calls import BrowserCalls, bounded
from monitor.capture.contexts import ContextPool
from monitor.capture.evidence import EvidenceStore
from monitor.capture.keeper import BrowserKeeper, BrowserLease
from monitor.capture.pacing import EnginePacer, pace_key, shuffled
from monitor.capture.page import (
    LOST_BROWSER,
    LOST_HUNG,
    CaptureOptions,
    PageResult,
    capture_page,
    close_context,
    failed_capture,
    new_task_context,
    read_only_in_part,
)
from monitor.engines import get_engine
from monitor.engines.base import Engine
from monitor.engines.pagetext import bound_page
from monitor.errors import BidwatchError
from monitor.judge import Judge
from monitor.judge.incidents import Escalation
from monitor.models import Capture, CaptureStatus, JudgedAd, ObservedAd, SearchTask, Sighting
from monitor.program import Program
from monitor.resolve.follow import resolve_chain
from monitor.resolve.guard import AddressGuard
from monitor.settings import Settings
from monitor.store import RecordOutcome, Store

log = logging.getLogger(__name__)

#: redirect chains of one result page followed at once (each in its own page)
CHAINS_AT_ONCE = 4
#: starting and stopping Playwright's driver (a local process; it starts in a second or two)
DRIVER_TIMEOUT_S = 60.0
#: statuses whose page is read for ads: a partial page's ads are real, only incomplete
READ_STATUSES = (CaptureStatus.ok, CaptureStatus.partial)

#: called after each task with its capture and the number of ads read
ProgressHook = Callable[[Capture, int], None]


@dataclass
class SweepDeps:
    """Everything a sweep needs, built once from settings and the program."""

    settings: Settings
    program: Program
    store: Store
    judge: Judge
    evidence: EvidenceStore
    guard: AddressGuard
    escalation: Escalation


@dataclass(frozen=True)
class TaskResult:
    """One finished task, as the sweep report counts it."""

    capture: Capture
    ads: int
    stray_clicks: int
    outcome: RecordOutcome
    lost: str | None = None  # what besides the page broke (PageResult.lost)


@dataclass
class SweepReport:
    sweep_id: int
    status: str = "running"  # done | interrupted | failed
    tasks: int = 0
    captured: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    ads: int = 0
    stray_clicks: int = 0  # ad clicks outside every ad read: the markup may have changed
    incidents_new: set[int] = field(default_factory=set)
    incidents_seen_again: set[int] = field(default_factory=set)
    #: (case, policy): clauses new to a case that was open before this sweep's sighting
    clauses_new: set[tuple[int, str]] = field(default_factory=set)
    notices_queued: int = 0
    notices_sent: int = 0
    notices_failed: int = 0
    retries: int = 0  # tasks asked again after a failed or blocked page
    cooldowns: int = 0  # blocks that put an engine into a cool-down
    browser_restarts: int = 0  # browsers replaced after a crash or a hang
    browser_recycles: int = 0  # browsers replaced after serving their share of tasks

    def add(self, result: TaskResult) -> None:
        capture, outcome = result.capture, result.outcome
        if capture.status.covered:
            self.captured += 1
        elif capture.status.blocked:
            self.blocked[str(capture.status)] += 1
        else:
            self.failed += 1
        self.ads += result.ads
        self.stray_clicks += result.stray_clicks
        self.incidents_new.update(outcome.new_incidents)
        self.incidents_seen_again.update(outcome.seen_again)
        self.clauses_new.update(outcome.new_clauses)
        self.notices_queued += len(outcome.notices_queued)

    def counts(self) -> dict[str, int]:
        """The sweep row's counters."""
        return {
            "captured": self.captured, "blocked": sum(self.blocked.values()),
            "failed": self.failed, "ads": self.ads,
            "incidents_new": len(self.incidents_new),
            "incidents_seen_again": len(self.incidents_seen_again - self.incidents_new),
            "notices_queued": self.notices_queued, "notices_sent": self.notices_sent,
        }


def capture_options(settings: Settings) -> CaptureOptions:
    return CaptureOptions(timeout_s=settings.page_timeout_s,
                          ignore_https_errors=settings.simulator is not None,
                          proxies=settings.proxies)


def browser_args(settings: Settings) -> tuple[str, ...]:
    """Extra Chromium flags: in simulator mode every host name resolves to the simulator."""
    if settings.simulator:
        return (f"--host-resolver-rules=MAP * {settings.simulator}",)
    return ()


async def run_sweep(
    deps: SweepDeps,
    tasks: Sequence[SearchTask],
    *,
    dry_run: bool = False,
    progress: ProgressHook | None = None,
) -> SweepReport:
    """Run every task, recording each as it finishes. Ctrl-C (cancellation) leaves finished
    tasks stored, unfinished ones pending, and the sweep marked interrupted."""
    now = datetime.now(UTC)
    sweep_id, task_ids = deps.store.begin_sweep(deps.program.name, tasks, dry_run=dry_run,
                                                now=now)
    report = SweepReport(sweep_id=sweep_id, tasks=len(tasks))
    planned = [(task, task_ids[task.key]) for task in tasks]
    await _run_recorded(deps, planned, report, dry_run, progress, resumed=False)
    return report


async def resume_sweep(
    deps: SweepDeps, sweep_id: int, *, progress: ProgressHook | None = None
) -> SweepReport:
    """Run the tasks an interrupted sweep left pending (a stop, a crash, Ctrl-C), under the
    same sweep; its counts grow by what this run does."""
    sweep = deps.store.sweep(sweep_id)
    if sweep is None:
        raise BidwatchError(f"no sweep {sweep_id}")
    planned = deps.store.pending_tasks(sweep_id, deps.program)
    report = SweepReport(sweep_id=sweep_id, tasks=len(planned))
    deps.store.reopen_sweep(sweep_id)
    try:
        await _run_recorded(deps, planned, report, sweep.dry_run, progress, resumed=True)
    finally:
        if sweep.status == "running":
            # no run finished it before: begun for this run, or cut off without a word (a
            # kill, a power cut), when its first run never wrote its counts and adding this
            # run's to them would undercount; so the coverage counts come from its tasks
            # (the other counters stay what its runs added)
            coverage = deps.store.sweep_coverage(sweep_id)
            deps.store.finish_sweep(sweep_id, report.status, datetime.now(UTC),
                                    captured=coverage.captured,
                                    blocked=coverage.blocked_total, failed=coverage.failed)
    return report


async def _run_recorded(
    deps: SweepDeps,
    planned: Sequence[tuple[SearchTask, int]],
    report: SweepReport,
    dry_run: bool,
    progress: ProgressHook | None,
    *,
    resumed: bool,
) -> None:
    # the allowlist as it stands now: staff may have cleared an ad since the last sweep
    deps.judge.clear((a.advertiser, a.destination) for a in deps.store.allowlist())
    try:
        with _stopped_by_sigterm():
            await _run_all(deps, planned, report, dry_run, progress)
        report.status = "done"
    except asyncio.CancelledError:
        report.status = "interrupted"
        raise
    except BaseException:
        report.status = "failed"
        raise
    finally:
        deps.store.finish_sweep(report.sweep_id, report.status, datetime.now(UTC),
                                add=resumed, **report.counts())


@contextlib.contextmanager
def _stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM stops the sweep as Ctrl-C does (invariant 8: finished tasks stored, the rest
    pending, the sweep interrupted) instead of killing the process mid-sweep, which would
    leave it marked running. Only when nobody else handles SIGTERM: the daemon has its own
    handler, which stops its sweeps the same way. Signal handlers live in the main thread."""
    task = asyncio.current_task()
    if (task is None or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, _on_sigterm, task)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)  # back to the default


def _on_sigterm(task: asyncio.Task[object]) -> None:
    log.warning("SIGTERM: stopping the sweep; finished tasks are stored, the rest stay pending")
    task.cancel()


async def _run_all(
    deps: SweepDeps,
    planned: Sequence[tuple[SearchTask, int]],
    report: SweepReport,
    dry_run: bool,
    progress: ProgressHook | None,
) -> None:
    settings = deps.settings
    limit = asyncio.Semaphore(settings.concurrency)
    pacer = EnginePacer(settings.pace_s, settings.pace_jitter_s, cooldown_s=settings.cooldown_s,
                        cooldown_max_s=settings.cooldown_max_s)
    # the driver's start and stop are bounded like every browser call
    playwright = await bounded(async_playwright().start(), "start Playwright",
                               DRIVER_TIMEOUT_S)
    try:
        keeper = BrowserKeeper(
            playwright, find_browser(settings.chromium), capture_options(settings),
            context_reuse=settings.context_reuse,
            recycle_after=settings.browser_recycle_tasks, idle_pages=settings.concurrency,
            extra_args=browser_args(settings))
        try:
            async def one(task: SearchTask, task_id: int) -> None:
                try:
                    result = await run_task_with_retry(deps, keeper, pacer, limit, task,
                                                       task_id, dry_run, report)
                except Exception as error:
                    # a bug in one task must not cancel its siblings (a TaskGroup cancels
                    # them all): the task is recorded failed and the sweep goes on
                    log.exception("%s %s %r failed", task.engine, task.market.id, task.query)
                    result = _record_failure(deps, task, task_id, error, None)
                report.add(result)
                if progress:
                    progress(result.capture, result.ads)

            async with asyncio.TaskGroup() as group:
                for task, task_id in shuffled(planned):
                    group.create_task(one(task, task_id))
        finally:
            report.browser_restarts += keeper.restarts
            report.browser_recycles += keeper.recycles
            await asyncio.shield(keeper.close())
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(bounded(playwright.stop(), "stop Playwright", DRIVER_TIMEOUT_S))


async def run_task_with_retry(
    deps: SweepDeps,
    keeper: BrowserKeeper,
    pacer: EnginePacer,
    limit: asyncio.Semaphore,
    task: SearchTask,
    task_id: int,
    dry_run: bool,
    report: SweepReport,
) -> TaskResult:
    """One task, asked again once when its page failed (on a fresh context or browser) or
    was blocked (after the engine's cool-down, if that ends soon enough). Every attempt is
    recorded; the task's last one is what counts."""
    key = pace_key(task.engine, deps.settings.proxies.get(task.market.id))
    for attempt in (1, 2):
        # a cooling engine must not hold a slot other engines' tasks could use
        await asyncio.sleep(pacer.cooling_for(key))
        async with limit:
            await pacer.wait(key)
            async with contextlib.AsyncExitStack() as leased:
                try:
                    lease = await leased.enter_async_context(keeper.lease())
                except (PlaywrightError, TimeoutError, OSError) as error:
                    # no browser could be started for it: a failed page, asked again once
                    log.warning("no browser for %s %s %r: %s", task.engine, task.market.id,
                                task.query, error)
                    result = _record_failure(deps, task, task_id, error, LOST_BROWSER)
                else:
                    result = await run_task(deps, lease, task, task_id, dry_run)
                    if result.lost in (LOST_BROWSER, LOST_HUNG):
                        keeper.lose(lease, result.lost)
        if not _ask_again(deps.settings, pacer, key, result, attempt, report):
            return result
        report.retries += 1
        log.info("%s %s %r: %s, asking again", task.engine, task.market.id, task.query,
                 result.capture.error or result.capture.status)
    return result


def _ask_again(settings: Settings, pacer: EnginePacer, key: str, result: TaskResult,
               attempt: int, report: SweepReport) -> bool:
    status = result.capture.status
    if status in (CaptureStatus.captcha, CaptureStatus.rate_limited):
        cooldown = pacer.cool_down(key)
        report.cooldowns += 1
        log.warning("%s: %s; not asking it for %.0f s", key, status, cooldown)
        return attempt == 1 and cooldown <= settings.block_retry_wait_s
    if status.covered:
        pacer.answered(key)
    # a partial page is asked again like a failed one: the next answer may be whole
    return attempt == 1 and status in (CaptureStatus.error, CaptureStatus.partial)


def _record_failure(deps: SweepDeps, task: SearchTask, task_id: int, error: BaseException,
                    lost: str | None) -> TaskResult:
    """Record a task whose page was never captured as failed (an error capture, no ads)."""
    result = failed_capture(task, get_engine(task.engine), error, lost)
    outcome = deps.store.record_task(task_id, result.capture, [], queue_notices=False)
    return TaskResult(result.capture, 0, 0, outcome, lost)


async def run_task(
    deps: SweepDeps,
    lease: BrowserLease,
    task: SearchTask,
    task_id: int,
    dry_run: bool,
) -> TaskResult:
    """Capture, read, resolve, attribute, judge and record one task."""
    engine = get_engine(task.engine)
    result = await capture_in_pool(lease.contexts, task, engine, deps.evidence)
    reading = engine.read_page(result.html) if result.capture.status in READ_STATUSES else None
    capture = result.capture
    if reading is not None and (cut := bound_page(result.html).cut):  # cached: the same text
        capture = read_only_in_part(capture, cut)
    ads = reading.ads if reading else []
    strays = reading.stray_click_urls if reading else []
    if strays:
        log.warning("%s %s %r: %d ad clicks outside every ad read; has the markup changed? "
                    "evidence %s", task.engine, task.market.id, task.query, len(strays),
                    capture.html_path)
    judged = await judge_ads(deps, lease, task, ads, capture.captured_at)
    # The store is synchronous and fast; one short transaction per task.
    outcome = deps.store.record_task(task_id, capture, judged, queue_notices=not dry_run,
                                     stray_click_urls=strays, escalation=deps.escalation)
    return TaskResult(capture, len(ads), len(strays), outcome, result.lost)


async def capture_in_pool(
    contexts: ContextPool,
    task: SearchTask,
    engine: Engine,
    evidence: EvidenceStore,
) -> PageResult:
    """Capture in the profile's context, with the pool's options, on a page a finished search
    of the profile left open when there is one; a context (or page) a search failed in is
    not reused."""
    try:
        context = await contexts.acquire(task)
    except (PlaywrightError, TimeoutError) as error:  # the browser is gone or hung: retried
        return failed_capture(task, engine, error, _lost_by(contexts, error))
    result: PageResult | None = None
    page = None
    try:
        page = await contexts.page(context)
        result = await capture_page(context, task, engine, evidence, contexts.options, page,
                                    contexts.calls)
    except (PlaywrightError, TimeoutError) as error:  # no page could be opened: as above
        result = failed_capture(task, engine, error, _lost_by(contexts, error))
    finally:
        await contexts.release(context, page=page, broken=result is None
                               or result.capture.status is CaptureStatus.error,
                               keep_page=result is not None and not result.page_spent)
    return result


def _lost_by(contexts: ContextPool, error: BaseException) -> str:
    """A browser that gives no context or tab, or does not answer for one, cannot be
    trusted with the next task either: lost at once (its other calls end now)."""
    lost = LOST_HUNG if isinstance(error, TimeoutError) else LOST_BROWSER
    contexts.calls.lose(lost)
    return lost


async def judge_ads(
    deps: SweepDeps,
    lease: BrowserLease,
    task: SearchTask,
    ads: Sequence[ObservedAd],
    seen_at: datetime,
) -> list[JudgedAd]:
    """Resolve, attribute and judge each ad, in a context of their own (no search cookies).

    A page's chains are followed side by side: most of a chain's time is spent waiting for
    redirects and for the landing page to settle, not computing. A browser that cannot give
    that context (it went away since the page was captured) costs the chains their live
    hops, never the ads: they are decoded offline and say why.
    """
    if not ads:
        return []
    context: BrowserContext | None = None
    try:
        context = await new_task_context(lease.browser, task, capture_options(deps.settings),
                                         calls=lease.calls)
    except (PlaywrightError, TimeoutError) as error:
        log.warning("%s %s %r: no browser context to follow %d chains in: %s", task.engine,
                    task.market.id, task.query, len(ads), str(error).splitlines()[0][:200])
    try:
        limit = asyncio.Semaphore(CHAINS_AT_ONCE)

        async def one(ad: ObservedAd) -> JudgedAd:
            async with limit:
                return await judge_ad(deps, context, task, ad, seen_at, lease.calls)

        return list(await asyncio.gather(*(one(ad) for ad in ads)))
    finally:
        if context is not None:
            await close_context(context, lease.calls)


async def judge_ad(
    deps: SweepDeps,
    context: BrowserContext | None,
    task: SearchTask,
    ad: ObservedAd,
    seen_at: datetime,
    calls: BrowserCalls | None = None,
) -> JudgedAd:
    settings = deps.settings
    chain = await resolve_chain(
        ad, context=context, guard=deps.guard,
        follow_click_urls=deps.program.follow_click_urls,
        max_hops=settings.max_hops, timeout_s=settings.chain_timeout_s,
        calls=calls or BrowserCalls(settings.page_timeout_s),
    )
    attribution = attribute(ad, chain, deps.program)
    sighting = Sighting(task=task, ad=ad, chain=chain, attribution=attribution, seen_at=seen_at)
    return JudgedAd(ad, chain, attribution, sighting, tuple(deps.judge.judge(sighting)))
