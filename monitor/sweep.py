"""One sweep end to end. This module only wires the stages; each stage lives in its own module.

plan → capture → read → resolve → attribute → judge → record → notify
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from playwright.async_api import Browser, BrowserContext, async_playwright

from monitor.attribution import attribute
from monitor.capture.browser import find_browser, launch
from monitor.capture.contexts import ContextPool
from monitor.capture.evidence import EvidenceStore
from monitor.capture.pacing import EnginePacer, shuffled
from monitor.capture.page import (
    CaptureOptions,
    PageResult,
    capture_page,
    close_context,
    new_task_context,
)
from monitor.engines import get_engine
from monitor.incidents import Escalation
from monitor.models import Capture, CaptureStatus, JudgedAd, ObservedAd, SearchTask, Sighting
from monitor.netguard import AddressGuard
from monitor.policy import Judge
from monitor.program import Program
from monitor.redirects import resolve_chain
from monitor.settings import Settings
from monitor.store import RecordOutcome, Store

log = logging.getLogger(__name__)

#: redirect chains of one result page followed at once (each in its own page)
CHAINS_AT_ONCE = 4

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
    notices_queued: int = 0
    notices_sent: int = 0
    notices_failed: int = 0

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
    try:
        await _run_all(deps, tasks, task_ids, report, dry_run, progress)
        report.status = "done"
    except asyncio.CancelledError:
        report.status = "interrupted"
        raise
    except BaseException:
        report.status = "failed"
        raise
    finally:
        deps.store.finish_sweep(sweep_id, report.status, datetime.now(UTC), **report.counts())
    return report


async def _run_all(
    deps: SweepDeps,
    tasks: Sequence[SearchTask],
    task_ids: dict[str, int],
    report: SweepReport,
    dry_run: bool,
    progress: ProgressHook | None,
) -> None:
    choice = find_browser(deps.settings.chromium)
    limit = asyncio.Semaphore(deps.settings.concurrency)
    pacer = EnginePacer(deps.settings.pace_s, deps.settings.pace_jitter_s)
    async with async_playwright() as playwright:
        browser = await launch(playwright, choice, extra_args=browser_args(deps.settings))
        contexts = ContextPool(browser, capture_options(deps.settings),
                               deps.settings.context_reuse)
        try:
            async def one(task: SearchTask) -> None:
                async with limit:
                    await pacer.wait(task.engine)
                    result = await run_task(deps, browser, contexts, task, task_ids[task.key],
                                            dry_run)
                report.add(result)
                if progress:
                    progress(result.capture, result.ads)

            async with asyncio.TaskGroup() as group:
                for task in shuffled(tasks):
                    group.create_task(one(task))
        finally:
            await asyncio.shield(contexts.close())
            await asyncio.shield(browser.close())


async def run_task(
    deps: SweepDeps,
    browser: Browser,
    contexts: ContextPool,
    task: SearchTask,
    task_id: int,
    dry_run: bool,
) -> TaskResult:
    """Capture, read, resolve, attribute, judge and record one task."""
    engine = get_engine(task.engine)
    options = capture_options(deps.settings)
    context = await contexts.acquire(task)
    result: PageResult | None = None
    try:
        result = await capture_page(context, task, engine, deps.evidence, options)
    finally:
        # a page that failed may have left its context broken: it is not reused
        await contexts.release(context, broken=result is None
                               or result.capture.status is CaptureStatus.error)
    reading = engine.read_page(result.html) if result.capture.status is CaptureStatus.ok else None
    ads = reading.ads if reading else []
    strays = reading.stray_click_urls if reading else []
    if strays:
        log.warning("%s %s %r: %d ad clicks outside every ad read; has the markup changed? "
                    "evidence %s", task.engine, task.market.id, task.query, len(strays),
                    result.capture.html_path)
    judged = await judge_ads(deps, browser, task, ads, result.capture.captured_at)
    # The store is synchronous and fast; one short transaction per task.
    outcome = deps.store.record_task(task_id, result.capture, judged, queue_notices=not dry_run,
                                     stray_click_urls=strays, escalation=deps.escalation)
    return TaskResult(result.capture, len(ads), len(strays), outcome)


async def judge_ads(
    deps: SweepDeps,
    browser: Browser,
    task: SearchTask,
    ads: Sequence[ObservedAd],
    seen_at: datetime,
) -> list[JudgedAd]:
    """Resolve, attribute and judge each ad, in a context of their own (no search cookies).

    A page's chains are followed side by side: most of a chain's time is spent waiting for
    redirects and for the landing page to settle, not computing.
    """
    if not ads:
        return []
    context = await new_task_context(browser, task, capture_options(deps.settings))
    try:
        limit = asyncio.Semaphore(CHAINS_AT_ONCE)

        async def one(ad: ObservedAd) -> JudgedAd:
            async with limit:
                return await judge_ad(deps, context, task, ad, seen_at)

        return list(await asyncio.gather(*(one(ad) for ad in ads)))
    finally:
        await close_context(context)


async def judge_ad(
    deps: SweepDeps,
    context: BrowserContext,
    task: SearchTask,
    ad: ObservedAd,
    seen_at: datetime,
) -> JudgedAd:
    settings = deps.settings
    chain = await resolve_chain(
        ad, context=context, guard=deps.guard,
        follow_click_urls=deps.program.follow_click_urls,
        max_hops=settings.max_hops, timeout_s=settings.chain_timeout_s,
    )
    attribution = attribute(ad, chain, deps.program)
    sighting = Sighting(task=task, ad=ad, chain=chain, attribution=attribution, seen_at=seen_at)
    return JudgedAd(ad, chain, attribution, sighting, tuple(deps.judge.judge(sighting)))
