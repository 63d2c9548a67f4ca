"""`bidwatch run`: sweeps, outbox, digest, reminders and retention on the program's schedule.

One process, one asyncio loop, APScheduler 3 (AsyncIOScheduler, memory job store: the jobs
come from the program at every start, so there is nothing to persist). Sweeps take turns on
one lock: two sweeps at once would double the pace on an engine. Blocking work (SMTP, file
pruning) runs in worker threads so /healthz stays responsive.

Every run of a sweep, finished, stopped or failed, is followed by the same `after_sweep`
the CLI calls (expiry, and the sweep's alerts for what it recorded). At start, every sweep
left with pending tasks (interrupted, cut off, or failed) runs them before anything new.

A stop (SIGTERM, SIGINT) asks the delivery thread to end before its next message, waits
(bounded) for the message in flight, and only then closes the store and logs the stop: a
cancelled `to_thread` does not stop its thread, so nothing else would keep a message from
going out after "stopped cleanly".
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.daemon.console import ConsoleServer, start_console
from monitor.daemon.health import HealthServer, HealthState, Metrics
from monitor.daemon.jobs import SweepSpec, daily_trigger, sweep_specs
from monitor.daemon.lock import InstanceLock
from monitor.daemon.logs import setup_logging
from monitor.daemon.reload import ProgramWatcher, describe_issues
from monitor.daemon.tasks import (
    deliver,
    prune,
    queue_reminders,
    resumable_sweeps,
    status_counts,
    write_daily_digest,
)
from monitor.errors import ConfigError
from monitor.judge import compile_policies
from monitor.judge.incidents import escalation_of
from monitor.models import SearchTask
from monitor.notify.alerts import queue_program_refused_alert
from monitor.notify.outbox import DeliveryReport, DeliveryStop
from monitor.program import Program, ProgramError, load_program
from monitor.resources import templates_dir
from monitor.services.commands import AfterSweep, after_sweep, begin_sweep
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.sweep import SweepDeps, SweepReport, resume_sweep

log = logging.getLogger("monitor.daemon")

#: jobs that belong to the daemon itself, not to the program; a reload keeps them
HOUSEKEEPING = ("reload-poll",)
#: after the bounded wait for a message in flight, how long an aborted send may take to end
ABORT_GRACE_S = 5.0


def run_daemon(settings: Settings, *, log_json: bool | None = None) -> int:
    """Run until SIGTERM or SIGINT; 0 after a clean stop. Refuses to start (ConfigError) on
    an invalid program, and (BidwatchError) when another daemon holds the home's lock."""
    setup_logging(settings, as_json=settings.log_json if log_json is None else log_json)
    with InstanceLock(settings.home):
        try:
            program = load_program(settings.rules, templates_dir())
        except ProgramError as error:
            raise ConfigError("the program is invalid; not starting:\n"
                              + describe_issues(error.issues)) from None
        return asyncio.run(Daemon(settings, program).run())


class Daemon:
    def __init__(self, settings: Settings, program: Program) -> None:
        self.settings = settings
        self.deps: SweepDeps = build_deps(settings, program)
        self.seed = schedule_seed(settings)
        self.scheduler = AsyncIOScheduler(timezone=UTC, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": settings.misfire_grace_s})
        self.metrics = Metrics()
        self.state = HealthState(next_runs=self.next_runs)
        self.watcher = ProgramWatcher(settings.rules)
        self.sweep_lock = asyncio.Lock()
        self.outbox_lock = asyncio.Lock()
        self.running: dict[str, asyncio.Task[Any]] = {}
        self.specs: dict[str, SweepSpec] = {}
        self.stopping = asyncio.Event()
        self.delivery_stop = DeliveryStop()
        self._delivery: asyncio.Future[DeliveryReport] | None = None
        self.http: HealthServer | None = None
        self.console: ConsoleServer | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- life cycle ------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._request_stop, signum)
        loop.add_signal_handler(signal.SIGHUP, self._spawn, self.reload, "SIGHUP")
        self._loaded(self.deps.program)
        self.http = start_http(self.settings, self.state, self.metrics)
        self.console = start_console(self.settings)
        self.scheduler.start()
        self.state.scheduler_running = True
        self.metrics.scheduler_running.set(1)
        self._add_program_jobs()
        self._add_housekeeping()
        self._spawn(self.resume_interrupted)
        log.info("bidwatch run: program %r, %d jobs", self.deps.program.name,
                 len(self.scheduler.get_jobs()))
        await self.stopping.wait()
        await self.shutdown()
        return 0

    def _request_stop(self, signum: int) -> None:
        log.info("%s: stopping (the running sweep is interrupted; its unfinished tasks run "
                 "again at the next start)", signal.Signals(signum).name)
        self.stopping.set()

    async def shutdown(self) -> None:
        self.delivery_stop.request()  # no message starts from here on
        self.scheduler.pause()
        for task in self.running.values():
            task.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)
        await self._delivery_ended()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self.scheduler.shutdown(wait=False)
        self.state.scheduler_running = False
        self.metrics.scheduler_running.set(0)
        if self.http:
            self.http.stop()
        if self.console:
            self.console.stop()
        self.deps.store.close()
        log.info("bidwatch run: stopped cleanly")

    async def _delivery_ended(self) -> None:
        """Wait for the delivery thread to finish the message it is sending (at most one
        SMTP timeout); past that, cut the send short (its item stays `sending` and goes again
        later, marked as a possible duplicate) and give it a moment to return."""
        work = self._delivery
        if work is None or work.done():
            return
        wait = self.settings.smtp_timeout_s
        log.info("stopping: waiting up to %.0f s for the message being sent", wait)
        done, _ = await asyncio.wait({work}, timeout=wait)
        if done:
            if work.exception() is not None:
                log.error("outbox delivery failed", exc_info=work.exception())
            return
        log.warning("stopping: the message being sent took longer than %.0f s; cutting it "
                    "short (it is sent again later, marked as a possible duplicate)", wait)
        self.delivery_stop.abort()
        # an SMTP server that has not greeted us yet cannot be cut short: one more timeout
        done, _ = await asyncio.wait({work}, timeout=wait + ABORT_GRACE_S)
        if not done:
            log.error("stopping: the delivery thread did not end; a message may still go out")

    def _spawn(self, function: Any, *args: Any) -> None:
        task = asyncio.get_running_loop().create_task(function(*args))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- jobs ------------------------------------------------------------------------------

    def _add_program_jobs(self) -> None:
        program = self.deps.program
        self.specs = {spec.job_id: spec for spec in sweep_specs(program, self.seed)}
        for job_id, spec in self.specs.items():
            self.scheduler.add_job(self.sweep, spec.trigger, args=[job_id], id=job_id,
                                   name=job_id, replace_existing=True)
        schedule = program.schedule
        zone = schedule.office_zone
        self.scheduler.add_job(self.deliver_outbox, IntervalTrigger(
            seconds=schedule.outbox_every_seconds), id="outbox", name="outbox",
            replace_existing=True)
        self.scheduler.add_job(self.daily_digest, daily_trigger(schedule.digest_at, zone),
                               id="digest", name="digest", replace_existing=True)
        self.scheduler.add_job(self.retention, daily_trigger(schedule.retention_at, zone),
                               id="retention", name="retention", replace_existing=True)
        self.scheduler.add_job(self.reminders, daily_trigger(schedule.reminders_at, zone),
                               id="reminders", name="reminders", replace_existing=True)

    def _add_housekeeping(self) -> None:
        if self.settings.reload_poll_s > 0:
            self.scheduler.add_job(self.poll_program, IntervalTrigger(
                seconds=self.settings.reload_poll_s), id="reload-poll", name="reload-poll")

    def next_runs(self) -> list[dict[str, str]]:
        jobs: list[Job] = [j for j in self.scheduler.get_jobs() if j.next_run_time]
        jobs.sort(key=lambda j: j.next_run_time)
        return [{"job": j.id, "at": j.next_run_time.isoformat()} for j in jobs[:20]]

    async def sweep(self, job_id: str) -> None:
        """One scheduled sweep; waits its turn behind a sweep already running."""
        spec = self.specs.get(job_id)
        if spec is None:  # removed by a reload while it waited
            return
        deps = self.deps
        tasks = spec.tasks(deps.program)
        if not tasks:
            log.warning("sweep %s: the program gives it no task", job_id)
            return
        await self._run_tracked(job_id, self._locked_sweep(job_id, deps, tasks=tasks))

    async def resume_interrupted(self) -> None:
        """Sweeps left with pending tasks (a stop, a crash, a failure) run them, before
        anything new."""
        deps = self.deps
        for sweep_id in await asyncio.to_thread(resumable_sweeps, deps.store, deps.program.name):
            log.info("resume: sweep %d has unfinished tasks; running them", sweep_id)
            await self._run_tracked(f"resume:{sweep_id}",
                                    self._locked_sweep(f"resume:{sweep_id}", deps,
                                                       sweep_id=sweep_id))

    async def _run_tracked(self, name: str, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.running[name] = task
        try:
            await task
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
        finally:
            self.running.pop(name, None)

    async def _locked_sweep(
        self,
        name: str,
        deps: SweepDeps,
        *,
        tasks: list[SearchTask] | None = None,
        sweep_id: int | None = None,
    ) -> None:
        """Run a new sweep of `tasks`, or resume sweep `sweep_id`, when the lock is ours.
        However the run ends, what it recorded gets its alerts (after_sweep)."""
        async with self.sweep_lock:
            if self.stopping.is_set():
                return
            if sweep_id is None:
                sweep_id = begin_sweep(deps, tasks or [])
            self.state.running_sweeps.add(name)
            log.info("sweep %s (#%d): starting", name, sweep_id)
            try:
                report: SweepReport = await resume_sweep(deps, sweep_id)
            except asyncio.CancelledError:
                log.info("sweep %s (#%d) interrupted: its pending tasks run at the next "
                         "start", name, sweep_id)
                self._after_cut_short(name, deps, sweep_id)
                raise
            except Exception:
                log.exception("sweep %s (#%d) failed; its pending tasks run at the next start",
                              name, sweep_id)
                self.metrics.sweeps.labels("failed").inc()
                self._after_cut_short(name, deps, sweep_id)
                return
            finally:
                self.state.running_sweeps.discard(name)
        after = await asyncio.to_thread(after_sweep, deps, sweep_id)
        self._after_sweep(name, report, after)
        await self.deliver_outbox()

    def _after_cut_short(self, name: str, deps: SweepDeps, sweep_id: int) -> None:
        """The alerts for what an interrupted or failed run recorded. Run on the loop, not in
        a thread: a stop is cancelling this task, and the alerts must be queued before the
        store closes (a few queries and a template). A failure is logged, never raised over
        the reason the sweep stopped."""
        try:
            after = after_sweep(deps, sweep_id)
        except Exception:
            log.exception("sweep %s (#%d): the alerts for what it recorded could not be "
                          "queued", name, sweep_id)
            return
        if after.alerts:
            log.info("sweep %s (#%d): %d alerts queued for what it recorded", name, sweep_id,
                     len(after.alerts))

    def _after_sweep(self, name: str, report: SweepReport, after: AfterSweep) -> None:
        ended = datetime.now(UTC)
        self.metrics.record_sweep(report, ended)
        self.state.record_sweep(name, report, ended)
        blocked = sum(report.blocked.values())
        log.info("sweep %s (#%d) %s: %d tasks, %d captured, %d blocked, %d failed, %d ads, "
                 "%d new incidents, %d notices queued, %d alerts queued, %d incidents expired",
                 name, report.sweep_id, report.status, report.tasks, report.captured, blocked,
                 report.failed, report.ads, len(report.incidents_new), report.notices_queued,
                 len(after.alerts), len(after.expired))

    async def deliver_outbox(self) -> None:
        if self.outbox_lock.locked() or self.stopping.is_set():
            return  # a delivery is under way (it takes what is due), or the daemon stops
        async with self.outbox_lock:
            deps = self.deps
            work = asyncio.ensure_future(
                asyncio.to_thread(deliver, deps, self.settings, self.delivery_stop))
            work.add_done_callback(_retrieve)
            self._delivery = work
            try:
                # shielded: cancelling this job (the stop) does not stop the thread, so the
                # thread is left to finish, and shutdown waits for it (_delivery_ended)
                report = await asyncio.shield(work)
                counts = await asyncio.to_thread(status_counts, deps.store)
            except Exception:
                log.exception("outbox delivery failed")
                return
        if report.sent or report.failed or report.dead:
            log.info("outbox: %d sent, %d failed, %d dead, %d waiting", report.sent,
                     report.failed, report.dead, report.waiting)
        self.metrics.set_counts(self.metrics.outbox, counts.outbox)
        self.metrics.set_counts(self.metrics.incidents, counts.incidents)

    async def daily_digest(self) -> None:
        zone = ZoneInfo(self.deps.program.schedule.office_zone)
        day = datetime.now(zone).date() - timedelta(days=1)
        await self._thread("digest", write_daily_digest, self.deps, self.settings, day)

    async def retention(self) -> None:
        await self._thread("retention", prune, self.deps, self.settings)

    async def reminders(self) -> None:
        await self._thread("reminders", queue_reminders, self.deps)
        await self.deliver_outbox()

    async def _thread(self, name: str, function: Any, *args: Any) -> None:
        try:
            outcome = await asyncio.to_thread(function, *args)
        except Exception:
            log.exception("%s failed", name)
            return
        log.info("%s: %s", name, outcome)

    # -- reload ----------------------------------------------------------------------------

    async def poll_program(self) -> None:
        if await asyncio.to_thread(self.watcher.changed):
            await self.reload("rules changed on disk")

    async def reload(self, reason: str) -> None:
        """Load the program again; keep the last good one when the new one is invalid."""
        self.watcher.mark_seen()
        try:
            program = await asyncio.to_thread(load_program, self.settings.rules, templates_dir())
        except ProgramError as error:
            self.state.reload_error = describe_issues(error.issues)
            self.metrics.reload_failures.inc()
            log.error("reload (%s) refused: the program is invalid; keeping the last good "
                      "program %r\n%s", reason, self.deps.program.name, self.state.reload_error)
            await self._alert_refused([str(issue) for issue in error.issues])
            return
        self.deps = replace(self.deps, program=program, judge=compile_policies(program),
                            escalation=escalation_of(program))
        for job in self.scheduler.get_jobs():
            if job.id not in HOUSEKEEPING:
                job.remove()
        self._add_program_jobs()
        self._loaded(program)
        log.info("reload (%s): program %r in force, %d jobs", reason, program.name,
                 len(self.scheduler.get_jobs()))

    async def _alert_refused(self, problems: list[str]) -> None:
        """Compliance staff hear of it too (an `ops` alert), once per distinct breakage."""
        try:
            await asyncio.to_thread(queue_program_refused_alert, self.deps.store,
                                    self.deps.program, problems, datetime.now(UTC))
        except Exception:  # the alert is a courtesy; the refusal stands and is logged
            log.exception("reload: the refused-program alert could not be queued")
            return
        await self.deliver_outbox()

    def _loaded(self, program: Program) -> None:
        now = datetime.now(UTC)
        self.state.program, self.state.program_loaded_at = program.name, now
        self.state.reload_error = None
        self.metrics.program_loaded.set(now.timestamp())


def _retrieve(work: asyncio.Future[Any]) -> None:
    """Mark a finished delivery's error as seen: the job awaiting it logs it, or, when a
    stop cancelled that job, _delivery_ended does (not asyncio's "never retrieved")."""
    if not work.cancelled():
        work.exception()


def schedule_seed(settings: Settings) -> str:
    """The seed of the random sweep times: the setting, else one kept under home, so times
    survive a restart and stay unknown outside."""
    if settings.schedule_seed:
        return settings.schedule_seed
    path = settings.home / "schedule.seed"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(16) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def start_http(settings: Settings, state: HealthState, metrics: Metrics) -> HealthServer | None:
    listen = settings.http_listen.strip()
    if listen in ("", "0"):
        return None
    host, _, port = listen.rpartition(":")
    try:
        server = HealthServer(host.strip("[]") or "127.0.0.1", int(port), state, metrics)
    except (OSError, ValueError) as error:
        raise ConfigError(f"BIDWATCH_HTTP_LISTEN={listen!r}: cannot listen there: {error}") \
            from None
    server.start()
    return server
