"""The simulator's server: one loopback port speaking HTTP and HTTPS, dispatching on Host.

Chromium started with `--host-resolver-rules=MAP * 127.0.0.1:PORT` sends every host, on
http:// and https:// alike, to this one port. Each connection's first byte tells which it
is (0x16 opens a TLS ClientHello), so the socket is wrapped in TLS only when needed.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from monitor.dev.simulator.exchange import Reply, Request, RequestRecord
from monitor.dev.simulator.routes import Router
from monitor.dev.simulator.scenario import Scenario, load_scenario
from monitor.dev.simulator.tls import server_context

log = logging.getLogger(__name__)

_TLS_HANDSHAKE = 0x16
#: seconds a connection may sit idle (browsers open spare connections they never use)
_IDLE_TIMEOUT = 15.0


class RequestLog:
    """A thread-safe, append-only list of RequestRecord, readable while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def hosts(self) -> list[str]:
        return [record.host for record in self.snapshot()]

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def __getitem__(self, index: int) -> RequestRecord:
        with self._lock:
            return self._records[index]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a hanging page must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        super().__init__(address, _Handler)

    def finish_request(  # type: ignore[override]  # a TCP server: the request is a socket
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        """Runs in the connection's own thread: peek, wrap in TLS if asked, then serve."""
        connection = self.simulator.open_connection(request)
        if connection is None:
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)  # type: ignore[arg-type]
        finally:
            if connection is not request:
                with contextlib.suppress(OSError):
                    connection.close()

    def handle_error(self, request: object, client_address: object) -> None:
        """Clients that hang up mid-answer are normal here (a test stops reading): stay quiet
        about those, and log anything else."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError | TimeoutError | ssl.SSLError):
            log.exception("simulator: error while serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gws"
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def log_message(self, format: str, *args: object) -> None:
        """Requests are recorded in Simulator.requests, not printed."""

    def _read_request(self) -> Request:
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20)) if length else b""
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip().lower().rstrip(".")
        return Request(
            method=self.command,
            scheme="https" if isinstance(self.connection, ssl.SSLSocket) else "http",
            host=host,
            path=target.path or "/",
            query=target.query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
        )

    def _serve(self, head: bool = False) -> None:
        request = self._read_request()
        reply = self.server.simulator.handle(request)
        self.server.simulator.wait(reply.delay)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self._write_body(reply)

    def _write_body(self, reply: Reply) -> None:
        if not reply.stall:
            self.wfile.write(reply.body)
            return
        half = len(reply.body) // 2
        self.wfile.write(reply.body[:half])
        self.wfile.flush()
        self.server.simulator.wait(reply.stall)
        self.wfile.write(reply.body[half:])


class Simulator:
    """A local search engine, affiliate redirectors and landing sites, from a scenario.

    Start it (or use it as a context manager), then point Chromium at it with
    `--host-resolver-rules=<host_resolver_rule>` and ignore_https_errors=True.
    """

    def __init__(self, scenario: Scenario | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.host = host
        self._wanted_port = port
        #: the simulator's idea of now (aware datetime); tests replace it to fake the hour
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.requests = RequestLog()
        self._router = Router(self.scenario, lambda: self.clock())
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls: ssl.SSLContext | None = None

    # --- life cycle -----------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._tls = server_context(self._router.hosts())
        self._stopping.clear()
        self._server = _Server((self.host, self._wanted_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"simulator:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()  # releases stalled and slow pages at once
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def host_resolver_rule(self) -> str:
        return f"MAP * {self.address}"

    # --- used by the connection threads ---------------------------------------------------

    def open_connection(self, raw: socket.socket) -> socket.socket | None:
        """The connection to serve: TLS-wrapped when the client opened with a handshake."""
        raw.settimeout(_IDLE_TIMEOUT)
        try:
            first = raw.recv(1, socket.MSG_PEEK)
            if not first or first[0] != _TLS_HANDSHAKE or self._tls is None:
                return raw if first else None
            return self._tls.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            with contextlib.suppress(OSError):
                raw.close()
            return None

    def handle(self, request: Request) -> Reply:
        self.requests.append(
            RequestRecord(request.host, request.path, request.query, request.method, self.clock())
        )
        try:
            return self._router.answer(request)
        except Exception:  # a bug here must show as a 500 page and a log line, not a hang
            log.exception("simulator: error answering %s", request.url)
            return Reply(500, b"<h1>500 Internal Server Error</h1>")

    def wait(self, seconds: float) -> None:
        """Sleep, but wake when the simulator stops."""
        if seconds > 0:
            self._stopping.wait(seconds)
