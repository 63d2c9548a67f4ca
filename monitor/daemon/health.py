"""What the daemon tells its operator: `/healthz` (JSON) and `/metrics` (Prometheus text).

The numbers are set by the daemon's own jobs on its event loop; the HTTP server runs in a
thread and only reads them, so a scrape never touches the database or waits on a sweep.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from monitor.sweep import SweepReport

log = logging.getLogger(__name__)

#: a last sweep with more of its tasks blocked than this is reported as degraded
BLOCKED_RATE_DEGRADED = 0.5
SWEEP_STATUSES = ("done", "interrupted", "failed")


class Metrics:
    """The daemon's Prometheus metrics, in a registry of their own (no process globals)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.last_sweep_time = Gauge("bidwatch_last_sweep_timestamp_seconds",
                                     "When the last sweep ended (Unix time).", registry=r)
        self.last_sweep_status = Gauge("bidwatch_last_sweep_status",
                                       "1 for the last sweep's status.", ["status"], registry=r)
        self.last_sweep_tasks = Gauge("bidwatch_last_sweep_tasks",
                                      "The last sweep's tasks by outcome (coverage).",
                                      ["outcome"], registry=r)
        self.blocked_rate = Gauge("bidwatch_last_sweep_blocked_ratio",
                                  "Share of the last sweep's tasks that were blocked.",
                                  registry=r)
        self.sweeps = Counter("bidwatch_sweeps", "Sweeps run by this daemon, by status.",
                              ["status"], registry=r)
        self.browser_restarts = Counter("bidwatch_browser_restarts",
                                        "Browsers restarted during sweeps.", registry=r)
        self.incidents = Gauge("bidwatch_incidents", "Incidents by status.", ["status"],
                               registry=r)
        self.outbox = Gauge("bidwatch_outbox", "Outbox items by status.", ["status"], registry=r)
        self.reload_failures = Counter("bidwatch_program_reload_failures",
                                       "Program reloads refused as invalid.", registry=r)
        self.program_loaded = Gauge("bidwatch_program_loaded_timestamp_seconds",
                                    "When the program in force was loaded.", registry=r)
        self.scheduler_running = Gauge("bidwatch_scheduler_running",
                                       "1 while the scheduler runs.", registry=r)

    def record_sweep(self, report: SweepReport, ended: datetime) -> None:
        self.last_sweep_time.set(ended.timestamp())
        for status in SWEEP_STATUSES:
            self.last_sweep_status.labels(status).set(1 if report.status == status else 0)
        blocked = sum(report.blocked.values())
        for outcome, value in (("captured", report.captured), ("blocked", blocked),
                               ("failed", report.failed), ("asked", report.tasks)):
            self.last_sweep_tasks.labels(outcome).set(value)
        self.blocked_rate.set(blocked / report.tasks if report.tasks else 0)
        self.sweeps.labels(report.status).inc()
        self.browser_restarts.inc(report.browser_restarts)

    def set_counts(self, gauge: Gauge, counts: dict[str, int]) -> None:
        for status, count in counts.items():
            gauge.labels(status).set(count)

    def text(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class HealthState:
    """What /healthz reports; written by the daemon, read by the HTTP thread."""

    program: str = ""
    program_loaded_at: datetime | None = None
    reload_error: str | None = None
    last_sweep: dict[str, Any] | None = None
    running_sweeps: set[str] = field(default_factory=set)
    scheduler_running: bool = False
    next_runs: Callable[[], list[dict[str, str]]] = lambda: []

    def record_sweep(self, job: str, report: SweepReport, ended: datetime) -> None:
        blocked = sum(report.blocked.values())
        self.last_sweep = {
            "job": job, "sweep_id": report.sweep_id, "status": report.status,
            "ended_at": ended.isoformat(), "tasks": report.tasks, "captured": report.captured,
            "blocked": blocked, "failed": report.failed,
            "blocked_rate": round(blocked / report.tasks, 3) if report.tasks else 0.0,
        }

    def problems(self) -> list[str]:
        problems = []
        if not self.scheduler_running:
            problems.append("the scheduler is not running")
        if self.reload_error:
            problems.append("the program on disk is invalid; the last good one is in force")
        last = self.last_sweep
        if last and last["status"] == "failed":
            problems.append("the last sweep failed")
        if last and last["blocked_rate"] > BLOCKED_RATE_DEGRADED:
            problems.append(f"the last sweep was {last['blocked_rate']:.0%} blocked")
        return problems

    def document(self) -> dict[str, Any]:
        problems = self.problems()
        loaded = self.program_loaded_at
        return {
            "status": "degraded" if problems else "ok", "problems": problems,
            "scheduler_running": self.scheduler_running, "program": self.program,
            "program_loaded_at": loaded.isoformat() if loaded else None,
            "reload_error": self.reload_error, "last_sweep": self.last_sweep,
            "running": sorted(self.running_sweeps), "next_runs": self.next_runs(),
            "now": datetime.now(UTC).isoformat(),
        }


class HealthServer:
    """A small HTTP server on loopback (by default) in a thread of its own."""

    def __init__(self, host: str, port: int, state: HealthState, metrics: Metrics) -> None:
        handler = _handler(state, metrics)
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="bidwatch-http",
                                       daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()
        log.info("health and metrics on http://%s/healthz and /metrics", self.address)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(state: HealthState, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                document = state.document()
                code = 200 if document["scheduler_running"] else 503
                self._send(code, "application/json", json.dumps(document).encode())
            elif path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, metrics.text())
            else:
                self._send(404, "text/plain", b"not found: try /healthz or /metrics\n")

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http: " + format, *args)

    return Handler
