"""One sweep end to end. This module only wires the stages; each stage lives in its own module.

plan → capture → read → resolve → attribute → judge → record → notify
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from playwright.async_api import BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from monitor.attribute.partners import attribute, is_unrecognised_tracking
from monitor.capture.browser import find_browser
from monitor.capture.calls import bounded
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
from monitor.models import (
    Capture,
    CaptureStatus,
    Chain,
    Hop,
    HopHow,
    JudgedAd,
    LiveFollow,
    ObservedAd,
    SearchTask,
    Sighting,
)
from monitor.program import Program
from monitor.resolve.egress import EgressProxy
from monitor.resolve.follow import after_offline, live_entry, resolve_chain
from monitor.resolve.guard import AddressGuard, BlockedAddress, split_target
from monitor.settings import Settings
from monitor.store import ChainRecord, RecordOutcome, Store

log = logging.getLogger(__name__)

#: redirect chains of one result page followed at once (each in its own page)
CHAINS_AT_ONCE = 4
#: result pages whose chains are being resolved at once, per page captured at once. Only a
#: bound on the pages waiting (each holds its lease): the browser's pages are bounded by the
#: chains followed live at once, and pages whose chains are reused pass at once
CHAIN_PAGES_PER_CAPTURE = 4
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
    #: every connection of the sweep's browser goes through it (started with the keeper)
    egress: EgressProxy | None = None


@dataclass(frozen=True)
class TaskResult:
    """One finished task, as the sweep report counts it."""

    capture: Capture
    ads: int
    stray_clicks: int
    outcome: RecordOutcome
    lost: str | None = None  # what besides the page broke (PageResult.lost)
    #: ads whose chain went through a tracking link no network of the table claims
    unrecognised_links: int = 0


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
    #: ads whose chain went through a tracking link no network claims: a new network?
    unrecognised_links: int = 0
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
    chains_followed: int = 0  # chains followed live
    chains_reused: int = 0  # chains reused from an earlier follow (this sweep's or the store's)

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
        self.unrecognised_links += result.unrecognised_links
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


def browser_keeper(playwright: Playwright, deps: SweepDeps) -> BrowserKeeper:
    """The sweep's one browser, kept (and recycled) by the settings."""
    settings = deps.settings
    return BrowserKeeper(
        playwright, find_browser(settings.chromium), capture_options(settings),
        context_reuse=settings.context_reuse,
        recycle_after=settings.browser_recycle_tasks, idle_pages=settings.concurrency,
        extra_args=() if deps.egress else browser_args(settings), egress=deps.egress)


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


@dataclass
class SweepRun:
    """What the tasks of one run share: the browser, the pacing, the limits, the chains."""

    deps: SweepDeps
    keeper: BrowserKeeper
    pacer: EnginePacer
    #: pages being captured at once (BIDWATCH_CONCURRENCY)
    captures: asyncio.Semaphore
    #: captured pages whose chains are being resolved at once: a page's chains run beside
    #: the next captures, and this bound keeps them from piling up behind the captures
    chain_pages: asyncio.Semaphore
    chains: ChainReuse
    report: SweepReport
    dry_run: bool


async def _run_all(
    deps: SweepDeps,
    planned: Sequence[tuple[SearchTask, int]],
    report: SweepReport,
    dry_run: bool,
    progress: ProgressHook | None,
) -> None:
    settings = deps.settings
    pacer = EnginePacer(settings.pace_s, settings.pace_jitter_s, cooldown_s=settings.cooldown_s,
                        cooldown_max_s=settings.cooldown_max_s)
    # chains followed live at once: as many as the pages captured at once had before chains
    # ran beside the captures, so a sweep's browser holds no more pages than it did
    chains = ChainReuse(deps.store, settings.chain_reuse_hours, deps.program.follow_click_urls,
                        live_at_once=CHAINS_AT_ONCE * settings.concurrency)
    # the driver's start and stop are bounded like every browser call
    playwright = await bounded(async_playwright().start(), "start Playwright",
                               DRIVER_TIMEOUT_S)
    try:
        keeper = browser_keeper(playwright, deps)
        run = SweepRun(deps, keeper, pacer, asyncio.Semaphore(settings.concurrency),
                       asyncio.Semaphore(settings.concurrency * CHAIN_PAGES_PER_CAPTURE),
                       chains, report, dry_run)
        try:
            async def one(task: SearchTask, task_id: int) -> None:
                try:
                    result = await run_task_with_retry(run, task, task_id)
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
            report.chains_followed += chains.followed
            report.chains_reused += chains.reused
            await asyncio.shield(keeper.close())
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(bounded(playwright.stop(), "stop Playwright", DRIVER_TIMEOUT_S))


async def run_task_with_retry(run: SweepRun, task: SearchTask, task_id: int) -> TaskResult:
    """One task, asked again once when its page failed (on a fresh context or browser) or
    was blocked (after the engine's cool-down, if that ends soon enough). Every attempt is
    recorded; the task's last one is what counts."""
    settings, pacer = run.deps.settings, run.pacer
    key = pace_key(task.engine, settings.proxies.get(task.market.id))
    for attempt in (1, 2):
        # a cooling engine must not hold a slot other engines' tasks could use
        await asyncio.sleep(pacer.cooling_for(key))
        result = await run_task(run, task, task_id, key)
        if not _ask_again(settings, pacer, key, result, attempt, run.report):
            return result
        run.report.retries += 1
        log.info("%s %s %r: %s, asking again", task.engine, task.market.id, task.query,
                 result.capture.error or result.capture.status)
    return result


async def run_task(run: SweepRun, task: SearchTask, task_id: int, pace: str) -> TaskResult:
    """Capture and read one page in a capture slot; then, beside the next captures, resolve,
    attribute and judge its ads, and record the task (one transaction, after its chains).
    The browser lease is held to the end: the chains are followed in that browser."""
    deps = run.deps
    async with contextlib.AsyncExitStack() as held:
        async with run.captures:
            await run.pacer.wait(pace)
            try:
                lease = await held.enter_async_context(run.keeper.lease())
            except (PlaywrightError, TimeoutError, OSError) as error:
                # no browser could be started for it: a failed page, asked again once
                log.warning("no browser for %s %s %r: %s", task.engine, task.market.id,
                            task.query, error)
                return _record_failure(deps, task, task_id, error, LOST_BROWSER)
            page = await capture_and_read(deps, lease, task)
            if page.lost in (LOST_BROWSER, LOST_HUNG):
                run.keeper.lose(lease, page.lost)  # the next capture gets a new browser
            if page.ads:
                await held.enter_async_context(run.chain_pages)
        judged = await judge_ads(deps, run.chains, lease, task, page.ads,
                                 page.capture.captured_at)
        return record_page(deps, task_id, page, judged, run.dry_run)


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


@dataclass(frozen=True)
class ReadPage:
    """A captured result page and what its reader found on it."""

    capture: Capture
    ads: list[ObservedAd]
    stray_click_urls: list[str]
    lost: str | None = None  # what besides the page broke (PageResult.lost)


async def capture_and_read(deps: SweepDeps, lease: BrowserLease, task: SearchTask) -> ReadPage:
    engine = get_engine(task.engine)
    started = time.monotonic()
    result = await capture_in_pool(lease.contexts, task, engine, deps.evidence)
    reading = engine.read_page(result.html) if result.capture.status in READ_STATUSES else None
    capture = with_egress_reason(result.capture, deps.egress, started)
    if reading is not None and (cut := bound_page(result.html).cut):  # cached: the same text
        capture = read_only_in_part(capture, cut)
    ads = reading.ads if reading else []
    strays = reading.stray_click_urls if reading else []
    if strays:
        log.warning("%s %s %r: %d ad clicks outside every ad read; has the markup changed? "
                    "evidence %s", task.engine, task.market.id, task.query, len(strays),
                    capture.html_path)
    return ReadPage(capture, ads, strays, result.lost)


def with_egress_reason(capture: Capture, egress: EgressProxy | None, since: float) -> Capture:
    """A failed page with why the egress proxy refused or cut its connection, when it did
    (the browser only says net::ERR_TUNNEL_CONNECTION_FAILED or the like)."""
    if egress is None or capture.status is not CaptureStatus.error:
        return capture
    try:
        _scheme, host, port = split_target(capture.url)
    except BlockedAddress:
        return capture
    note = egress.note(host, port, since=since)
    if note is None:
        return capture
    error = f"{capture.error or 'failed'} (egress: {note.reason})"[:500]
    return replace(capture, error=error)


def record_page(deps: SweepDeps, task_id: int, page: ReadPage, judged: Sequence[JudgedAd],
                dry_run: bool) -> TaskResult:
    # The store is synchronous and fast; one short transaction per task.
    outcome = deps.store.record_task(task_id, page.capture, judged, queue_notices=not dry_run,
                                     stray_click_urls=page.stray_click_urls,
                                     escalation=deps.escalation)
    # an ad attributed to a network went through one the table knows: not asked again
    unrecognised = [j for j in judged
                    if j.attribution.network is None and is_unrecognised_tracking(j.chain)]
    for item in unrecognised:
        log.warning("%s %s %r: the ad %r went through a tracking link no known network "
                    "claims (a new network?): %s", page.capture.task.engine,
                    page.capture.task.market.id, page.capture.task.query,
                    item.ad.headline[:80], " → ".join(u[:120] for u in item.chain.urls))
    return TaskResult(page.capture, len(page.ads), len(page.stray_click_urls), outcome,
                      page.lost, len(unrecognised))


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


# -- chains: resolve, attribute, judge ---------------------------------------------------------


async def judge_ads(
    deps: SweepDeps,
    chains: ChainReuse,
    lease: BrowserLease,
    task: SearchTask,
    ads: Sequence[ObservedAd],
    seen_at: datetime,
) -> list[JudgedAd]:
    """Resolve, attribute and judge each ad. A page's chains are followed side by side:
    most of a chain's time is spent waiting for redirects and for the landing page to
    settle, not computing."""
    if not ads:
        return []
    follower = FollowContext(lease, task, capture_options(deps.settings))
    try:
        limit = asyncio.Semaphore(CHAINS_AT_ONCE)

        async def one(ad: ObservedAd) -> JudgedAd:
            async with limit:
                return await judge_ad(deps, chains, follower, task, ad, seen_at)

        return list(await asyncio.gather(*(one(ad) for ad in ads)))
    finally:
        await follower.close()


async def judge_ad(
    deps: SweepDeps,
    chains: ChainReuse,
    follower: FollowContext,
    task: SearchTask,
    ad: ObservedAd,
    seen_at: datetime,
) -> JudgedAd:
    settings = deps.settings

    async def follow(live: bool) -> Chain:
        # a chain decoded offline only asks nothing of the browser
        return await resolve_chain(
            ad, context=await follower.get() if live else None, guard=deps.guard,
            follow_click_urls=deps.program.follow_click_urls,
            max_hops=settings.max_hops, timeout_s=settings.chain_timeout_s,
            calls=follower.lease.calls, egress=deps.egress,
        )

    chain, age_s = await chains.resolve(ad, task, follow)
    attribution = attribute(ad, chain, deps.program)
    sighting = Sighting(task=task, ad=ad, chain=chain, attribution=attribution, seen_at=seen_at,
                        chain_age_s=age_s)
    return JudgedAd(ad, chain, attribution, sighting, tuple(deps.judge.judge(sighting)))


class FollowContext:
    """The context a page's chains are followed in (dressed as the page's market and device,
    without its search cookies), opened when the first of them is followed live, so a page
    whose chains are all reused opens none, and closed after the page. A browser that
    cannot give it (gone since the capture) costs the chains their live hops, never the
    ads: they are decoded offline and say why."""

    def __init__(self, lease: BrowserLease, task: SearchTask, options: CaptureOptions) -> None:
        self.lease = lease
        self.task = task
        self.options = options
        self._lock = asyncio.Lock()
        self._opened = False
        self._context: BrowserContext | None = None

    async def get(self) -> BrowserContext | None:
        async with self._lock:
            if not self._opened:
                self._opened = True
                self._context = await self._open()
        return self._context

    async def _open(self) -> BrowserContext | None:
        try:
            return await new_task_context(self.lease.browser, self.task, self.options,
                                          calls=self.lease.calls)
        except (PlaywrightError, TimeoutError) as error:
            task = self.task
            log.warning("%s %s %r: no browser context to follow chains in: %s", task.engine,
                        task.market.id, task.query, str(error).splitlines()[0][:200])
            return None

    async def close(self) -> None:
        if self._context is not None:
            await close_context(self._context, self.lease.calls)


#: follows an ad's chain; the flag says whether it follows anything live (needs a browser)
Follow = Callable[[bool], Awaitable[Chain]]


class ChainReuse:
    """The sweep's chains, reused where that is safe, so chains do not cost it its speed.

    A chain is keyed by where following starts (the live part's entry URL), the market and
    the device: a cloaking redirector sends each of them elsewhere. Within the window
    (BIDWATCH_CHAIN_REUSE_HOURS; 0 turns reuse off) a key's chain that ended well is reused:
    one followed earlier in this sweep, where asks for a key while it is being followed wait
    for that one follow, else the store's newest. A chain that ended with an error (a
    timeout, a lost browser, a network error, a refused hop) is never reused: the next ad
    with its key follows it live.
    """

    def __init__(self, store: Store, window_hours: float, follow_click_urls: bool, *,
                 live_at_once: int) -> None:
        self.store = store
        self.window = timedelta(hours=window_hours)
        self.follow_click_urls = follow_click_urls
        #: chains followed live at once, over all pages (each holds a page of the browser)
        self._live = asyncio.Semaphore(live_at_once)
        #: this sweep's follows by key, in flight or done with their live part (None: it
        #: ended badly, or was cut off)
        self._flights: dict[str, asyncio.Future[Chain | None]] = {}
        self.followed = 0  # chains followed live
        self.reused = 0  # chains reused instead

    async def resolve(self, ad: ObservedAd, task: SearchTask,
                      follow: Follow) -> tuple[Chain, float | None]:
        """The ad's chain and, when it was reused, its age in seconds."""
        offline, url = live_entry(ad, self.follow_click_urls)
        if url is None:
            return await follow(False), None  # nothing to follow live, so nothing to reuse
        key = chain_key(url, task)
        earlier = await self._earlier(key) if self.window else None
        if earlier is not None and earlier.live is not None:
            self.reused += 1
            age = datetime.now(UTC) - earlier.live.followed_at
            return joined(ad, offline, earlier), max(age.total_seconds(), 0.0)
        return await self._follow(key, max(len(offline) - 1, 0), follow), None

    async def _earlier(self, key: str) -> Chain | None:
        """The live part of a chain of `key` followed within the window that ended well:
        this sweep's (waiting for one being followed), else the store's newest."""
        flight = self._flights.get(key)
        if flight is None:
            stored = self.store.reusable_chain(key, datetime.now(UTC) - self.window)
            live = stored_live_part(stored) if stored else None
            if live is not None:
                self._flights[key] = flight = asyncio.get_running_loop().create_future()
                flight.set_result(live)
            return live
        live = await asyncio.shield(flight)  # the follow goes on if this ad is cancelled
        if live is None or live.live is None or not self._fresh(live.live):
            if self._flights.get(key) is flight:
                del self._flights[key]
            return None  # this ad follows it live (and waits for no other follow)
        return live

    def _fresh(self, live: LiveFollow) -> bool:
        return live.followed_at >= datetime.now(UTC) - self.window

    async def _follow(self, key: str, live_from: int, follow: Follow) -> Chain:
        flight: asyncio.Future[Chain | None] | None = None
        if self.window and key not in self._flights:
            flight = self._flights[key] = asyncio.get_running_loop().create_future()
        try:
            async with self._live:
                chain = await follow(True)
        except BaseException:
            self._land(key, flight, None)
            raise
        self.followed += 1
        # every live follow is recorded with its key, so a later sweep with reuse on may
        # reuse it; only one that ended well is shared
        followed = LiveFollow(key, datetime.now(UTC), live_from)
        chain = replace(chain, live=followed)
        self._land(key, flight, live_part(chain, followed) if reusable(chain) else None)
        return chain

    def _land(self, key: str, flight: asyncio.Future[Chain | None] | None,
              live: Chain | None) -> None:
        if flight is None:
            return
        flight.set_result(live)
        if live is None and self._flights.get(key) is flight:
            del self._flights[key]


def chain_key(entry_url: str, task: SearchTask) -> str:
    """The entry URL, the market (country, language, place and, by its id, the egress) and
    the device: what a cloaking redirector may tell apart."""
    market = task.market
    raw = "\x1f".join([entry_url, market.id, market.country, market.language,
                       market.city or "", str(task.device)])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def reusable(chain: Chain) -> bool:
    """A chain that ended well: followed to a landing page that settled, with no error."""
    return chain.error is None and bool(chain.hops) and chain.live is not None


def live_part(chain: Chain, live: LiveFollow) -> Chain:
    """The part of `chain` that was followed live, as following returned it."""
    first, *rest = chain.hops[live.live_from:]
    return Chain(start_url=first.url, hops=(replace(first, how=HopHow.start), *rest),
                 landing_url=chain.landing_url, live=replace(live, live_from=0))


def stored_live_part(record: ChainRecord) -> Chain | None:
    """The live part of a stored chain (None: one recorded without it)."""
    if (record.reuse_key is None or record.followed_at is None or record.live_from is None
            or record.live_from >= len(record.hops)):
        return None
    hops = tuple(Hop(h.url, HopHow(h.how), h.status, h.elapsed_ms) for h in record.hops)
    live = LiveFollow(record.reuse_key, record.followed_at, record.live_from)
    return live_part(Chain(record.start_url, hops, record.landing_url, live=live), live)


def joined(ad: ObservedAd, offline: list[Hop], live: Chain) -> Chain:
    """A reused live part after the ad's own offline hops, as resolve_chain joins them."""
    chain = after_offline(ad, offline, live)
    if live.live is None:
        return chain
    return replace(chain, live=replace(live.live, live_from=max(len(offline) - 1, 0)))
