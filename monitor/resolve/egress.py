"""The egress proxy: every connection the chain-following browser makes goes through it, and
it connects only to an address the SSRF guard accepts — the address it vetted, at the moment
it connects (docs/egress.md).

The browser is started with `--proxy-server` pointing here (loopback included), so it never
connects to a target itself: plain http arrives as an absolute-URI request, https, wss and ws
as CONNECT. Each host is resolved once, with the guard's resolver; every address must pass
`AddressGuard.address_problem` and the port `allowed_ports`; then the proxy connects to that
exact address (`connect_to` may move it: the simulator's port in simulator mode). A name that
answers differently the next time (DNS rebinding) cannot move a connection that was vetted.

A refused connection is answered 403 with the reason and noted (`note`), so the follower can
end its chain with the guard's reason even where the browser only says the tunnel failed.
Traffic is bounded per connection: one stretch of traffic (until the connection rests for
`REST_S`) may carry `STRETCH_BYTES` for `STRETCH_S`; past either the connection is closed and
noted. A connection the browser keeps for its next pages (a result page's engine) rests
between them, so it is never cut for the pages it carried before.

A market with its own proxy (BIDWATCH_PROXIES) is not given that proxy: its contexts are
given a `route`, a listener of this proxy's own on loopback that vets each connection the
same way and then opens it through the market's proxy (the upstream): `CONNECT <vetted
address>:<port>` with the upstream's Basic credentials, for plain http as well (the request
then goes down that tunnel), so the upstream never resolves a name either. The browser sees
only the route's URL; the upstream's credentials stay in here and are never logged, noted or
answered.

The proxy runs its own event loop on its own thread: the sweep's loop runs CPU-heavy page
readers, and the browser's traffic must not wait for them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import unquote, urlsplit

from monitor.resolve.guard import (
    AddressGuard,
    BlockedAddress,
    IPAddress,
    parse_ip_host,
    resolved_addresses,
    split_target,
)

log = logging.getLogger(__name__)

#: bytes (both ways) one stretch of a connection's traffic may carry: no page a chain or a
#: capture needs comes near it; a 200 MB landing page is cut here, not pulled through CDP
STRETCH_BYTES = 8 * 1024 * 1024
#: seconds one stretch may last (the default chain timeout): a trickling body is cut here
STRETCH_S = 20.0
#: a connection quiet this long has ended its stretch; the next bytes start a new one
REST_S = 2.0
#: a connection quiet this long is closed (Chromium keeps idle connections as long)
IDLE_S = 300.0
#: the most a request or response head may be, and how long the browser may take to send one
HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 30.0
#: how long a server may take to begin its answer (longer than any page timeout)
RESPONSE_TIMEOUT_S = 60.0
#: one resolution, and one connection attempt, of a target
RESOLVE_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0
#: addresses of one name tried in turn before the connection is given up
ADDRESSES_TRIED = 3
#: how long a market's upstream proxy may take to answer a CONNECT (it connects onward first)
UPSTREAM_ANSWER_TIMEOUT_S = 15.0
#: starting the proxy's thread, and stopping it (its connections are cut)
START_TIMEOUT_S = 5.0
STOP_TIMEOUT_S = 5.0
#: notes kept for the follower (the newest per host and port)
NOTES_KEPT = 1024
_CHUNK = 64 * 1024
#: request headers that concern only the hop to the proxy
_HOP_HEADERS = frozenset({b"connection", b"keep-alive", b"proxy-connection",
                          b"proxy-authorization", b"proxy-authenticate", b"te", b"trailer",
                          b"upgrade"})

#: where to connect for a vetted address and port
ConnectTo = Callable[[IPAddress, int], tuple[str, int]]


def direct(address: IPAddress, port: int) -> tuple[str, int]:
    """Connect to the vetted address itself (production)."""
    return str(address), port


def to_port(port: int) -> ConnectTo:
    """Connect to the vetted address at `port` whatever port was asked: the simulator, which
    speaks http and https on one port (its resolver already gives its address)."""
    return lambda address, _asked: (str(address), port)


class UpstreamFailed(OSError):
    """A market's upstream proxy could not be reached, or would not open the tunnel; the
    message names it by host and port only (never its credentials)."""


@dataclass(frozen=True)
class Upstream:
    """A market's own proxy, which a route's connections leave through: where it is, and the
    Proxy-Authorization its URL's credentials make (kept out of repr, notes and logs)."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> Upstream:
        """From a proxy URL, http://user:password@host:port; ValueError (naming no
        credentials) for anything else: only an HTTP proxy speaks CONNECT to us."""
        parts = urlsplit(url)
        try:
            port = parts.port or 80  # Chromium's default for an http:// proxy, as before
        except ValueError:
            raise ValueError(f"a proxy URL with an invalid port ({parts.hostname})") from None
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise ValueError(f"only http://host:port proxies can be chained behind the egress "
                             f"proxy, not {parts.scheme or '(none)'}://{parts.hostname or ''}")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
        return cls(parts.hostname, port, authorization)

    @property
    def where(self) -> str:
        """host:port, as notes and errors name it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class EgressNote:
    """What became of a connection to host:port: refused by the guard, or cut at a bound."""

    host: str
    port: int
    reason: str
    refused: bool
    at: float  # time.monotonic()


class _Notes:
    """The newest note per (host, port), a bounded number, shared across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notes: OrderedDict[tuple[str, int], EgressNote] = OrderedDict()

    def add(self, note: EgressNote) -> None:
        with self._lock:
            key = (note.host, note.port)
            self._notes.pop(key, None)
            self._notes[key] = note
            while len(self._notes) > NOTES_KEPT:
                self._notes.popitem(last=False)

    def about(self, host: str, port: int, since: float) -> EgressNote | None:
        with self._lock:
            note = self._notes.get((host, port))
        return note if note is not None and note.at >= since else None

    def all(self) -> list[EgressNote]:
        with self._lock:
            return list(self._notes.values())


class _Capped(Exception):
    """A connection past its bound: closed, and noted with `reason`."""


class _Stretch:
    """The bytes and seconds of a connection's current stretch of traffic."""

    def __init__(self, max_bytes: int, max_s: float, rest_s: float) -> None:
        self.max_bytes, self.max_s, self.rest_s = max_bytes, max_s, rest_s
        self.started = self.last = -rest_s - 1.0
        self.bytes = 0

    def spend(self, count: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.rest_s:
            self.started, self.bytes = now, 0
        self.last = now
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise _Capped(f"more than {self.max_bytes:,} bytes without a rest")
        if now - self.started > self.max_s:
            raise _Capped(f"busy for more than {self.max_s:g} s without a rest")


class EgressProxy:
    """An HTTP forward proxy (absolute-URI http and CONNECT) on loopback that vets each
    connection with `guard`. Started by its first user and stopped by its last (the browser
    keepers of concurrent sweeps may share one); `note` tells what it refused or cut, and
    `route` gives the URL a market's contexts use to leave through the market's own proxy."""

    def __init__(
        self,
        guard: AddressGuard,
        *,
        connect_to: ConnectTo = direct,
        stretch_bytes: int = STRETCH_BYTES,
        stretch_s: float = STRETCH_S,
        rest_s: float = REST_S,
    ) -> None:
        self.guard = guard
        self.connect_to = connect_to
        self.stretch_bytes, self.stretch_s, self.rest_s = stretch_bytes, stretch_s, rest_s
        self.notes = _Notes()
        self._lock = threading.Lock()
        self._users = 0
        self._url: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._resolver: ThreadPoolExecutor | None = None
        self._connections: set[asyncio.Task[None]] = set()
        #: the listeners (the main one first, then one per route) and the routes' URLs
        self._servers: list[asyncio.Server] = []
        self._routes: dict[Upstream, str] = {}

    # ---- life cycle -----------------------------------------------------------------------

    @property
    def thread_name(self) -> str:
        """The name of its thread (and the prefix of its resolver's)."""
        return f"egress-proxy-{id(self):x}"

    @property
    def url(self) -> str:
        """The proxy's URL for --proxy-server; only while it runs."""
        if self._url is None:
            raise RuntimeError("the egress proxy is not running")
        return self._url

    def start(self) -> str:
        """Start the proxy (or count one more user of the running one); its URL."""
        with self._lock:
            self._users += 1
            if self._users == 1:
                try:
                    self._start_thread()
                except BaseException:
                    self._users = 0
                    raise
            return self.url

    def stop(self) -> None:
        """One user fewer; the last one stops the proxy and cuts its connections."""
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                self._stop_thread()

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def route(self, upstream_url: str) -> str:
        """The proxy URL for a browser context whose traffic must leave through the proxy at
        `upstream_url` (a market's own): a listener of this proxy's own on loopback, opened
        on first use and kept until the proxy stops, that vets every connection as the main
        one does and then opens it through the upstream. The URL carries no credentials.
        Blocks for at most START_TIMEOUT_S; ValueError for a proxy that cannot be chained
        (not http://), RuntimeError when the proxy is not running."""
        upstream = Upstream.parse(upstream_url)
        with self._lock:  # one listener per upstream, however many contexts ask at once
            loop = self._loop
            if loop is None or self._url is None:
                raise RuntimeError("the egress proxy is not running")
            known = self._routes.get(upstream)
            if known is not None:
                return known
            opening = asyncio.run_coroutine_threadsafe(self._listen(upstream), loop)
            try:
                url = opening.result(START_TIMEOUT_S)
            except TimeoutError:
                opening.cancel()
                raise OSError(f"the egress proxy opened no route to {upstream.where} within "
                              f"{START_TIMEOUT_S:g} s") from None
            self._routes[upstream] = url
            return url

    def note(self, host: str, port: int, since: float = 0.0) -> EgressNote | None:
        """The newest note about host:port taken at or after `since` (time.monotonic())."""
        return self.notes.about(host, port, since)

    def _start_thread(self) -> None:
        loop = asyncio.new_event_loop()
        started: list[str | BaseException] = []
        ready = threading.Event()
        self._loop = loop
        self._resolver = ThreadPoolExecutor(4, thread_name_prefix=f"{self.thread_name}-resolve")
        self._thread = threading.Thread(target=self._serve, args=(loop, started, ready),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S) or not isinstance(started[0], str):
            self._stop_thread()
            why = started[0] if started else f"no answer within {START_TIMEOUT_S:g} s"
            raise OSError(f"the egress proxy did not start: {why}")
        self._url = started[0]

    def _serve(self, loop: asyncio.AbstractEventLoop, started: list[str | BaseException],
               ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        try:
            started.append(loop.run_until_complete(self._listen(None)))
            ready.set()
            loop.run_forever()
        except Exception as error:  # cannot listen: start() says why
            started.append(error)
        finally:
            ready.set()
            for server in self._servers:
                server.close()
            self._servers.clear()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(
                    asyncio.gather(*self._connections, return_exceptions=True), STOP_TIMEOUT_S))
            loop.close()

    def _stop_thread(self) -> None:
        loop, thread, resolver = self._loop, self._thread, self._resolver
        self._url = self._loop = self._thread = self._resolver = None
        self._routes.clear()  # their listeners close with the loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile
                loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(STOP_TIMEOUT_S * 2)
            if thread.is_alive():
                log.warning("the egress proxy's thread did not end within %g s",
                            STOP_TIMEOUT_S * 2)
        if resolver is not None:
            resolver.shutdown(wait=False, cancel_futures=True)

    async def _listen(self, upstream: Upstream | None) -> str:
        """A listener on loopback, on the proxy's loop: the main one (None), or a route's,
        whose connections leave through `upstream`. Its URL."""
        server = await asyncio.start_server(functools.partial(self._accept, upstream=upstream),
                                            "127.0.0.1", 0, limit=HEAD_LIMIT, backlog=256)
        self._servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    # ---- one connection -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                      upstream: Upstream | None) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await self._handle(reader, writer, upstream)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError):
            pass  # the browser hung up, or sent something that is not a request
        except asyncio.CancelledError:
            # the proxy is stopping (only its stop cancels a connection): ended quietly, as
            # asyncio 3.11's server callback logs a cancelled handler as an error
            pass
        except Exception:
            log.exception("egress proxy: a connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._connections.discard(task)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      upstream: Upstream | None) -> None:
        async with asyncio.timeout(HEAD_TIMEOUT_S):
            head = await reader.readuntil(b"\r\n\r\n")
        method, target, lines = _parse_head(head)
        tunnel = method == b"CONNECT"
        url = f"https://{target}/" if tunnel else target
        if not tunnel and urlsplit(url).scheme.lower() != "http":
            return await _answer(writer, 400, "only http:// requests and CONNECT are proxied")
        try:
            host, port, addresses = await self._vet(url)
        except BlockedAddress as refused:
            host, port = _host_port(url)
            self.notes.add(EgressNote(host, port, refused.reason, True, time.monotonic()))
            return await _answer(writer, 403, refused.reason)
        try:
            if upstream is None:
                opened = await self._connect(addresses, port)
            else:
                opened = await self._through(upstream, addresses, port)
        except OSError as error:
            why = str(error) if isinstance(error, UpstreamFailed) else f"could not connect: {error}"
            self._note_cut(host, port, why)
            if tunnel:  # the browser: "tunnel connection failed"
                return await _answer(writer, 502, "could not connect")
            # a plain request is not answered: the browser's request then fails (an empty
            # response), so a chain ends with the proxy's reason instead of landing on a
            # 502 page of the proxy's own
            return None
        opened_writer = opened[1]
        try:
            if tunnel:
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            else:
                opened_writer.write(_origin_request(method, url, lines))
            await self._relay(host, port, (reader, writer), opened, rewrite_head=not tunnel)
        finally:
            opened_writer.close()

    async def _vet(self, url: str) -> tuple[str, int, list[IPAddress]]:
        """(host, port, addresses) of `url`, resolved once; BlockedAddress when refused."""
        _scheme, host, port = split_target(url)
        if port not in self.guard.allowed_ports:
            raise BlockedAddress(url, f"port {port} is not allowed")
        literal = parse_ip_host(url, host)
        addresses = [literal] if literal is not None else await self._resolve(url, host)
        for address in addresses:
            problem = self.guard.address_problem(address)
            if problem:
                raise BlockedAddress(url, f"{host} is {problem} ({address})")
        return host, port, addresses

    async def _resolve(self, url: str, host: str) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_S):
                resolved = await loop.run_in_executor(self._resolver, self.guard.resolve, host)
        except (OSError, UnicodeError, TimeoutError):
            resolved = []
        return resolved_addresses(url, host, resolved)

    async def _connect(
        self, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        error: OSError = OSError("no address")
        for address in addresses[:ADDRESSES_TRIED]:
            where, at_port = self.connect_to(address, port)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    return await asyncio.open_connection(where, at_port, limit=HEAD_LIMIT)
            except (OSError, TimeoutError) as failed:
                error = failed if isinstance(failed, OSError) else OSError("timed out")
        raise error

    async def _through(
        self, upstream: Upstream, addresses: list[IPAddress], port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A tunnel through `upstream` to the first vetted address it reaches. The CONNECT
        names the address, never the host name: the upstream does not resolve anything, so
        an answer that changes (rebinding) cannot move the connection there either; TLS and
        its SNI, and the Host header, come from the browser inside the tunnel. Plain http
        goes down such a tunnel too (not as an absolute-URI request, which would hand the
        upstream the name to resolve)."""
        failed = UpstreamFailed(f"upstream proxy {upstream.where}: no address")
        for address in addresses[:ADDRESSES_TRIED]:
            where, at_port = self.connect_to(address, port)
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    reader, writer = await asyncio.open_connection(
                        upstream.host, upstream.port, limit=HEAD_LIMIT)
            except (OSError, TimeoutError) as error:
                raise UpstreamFailed(f"upstream proxy {upstream.where}: could not connect: "
                                     f"{str(error) or 'timed out'}") from None
            try:
                status = await _open_tunnel(reader, writer, upstream, where, at_port)
            except BaseException:
                writer.close()
                raise
            if 200 <= status[0] < 300:
                return reader, writer
            writer.close()
            failed = UpstreamFailed(f"upstream proxy {upstream.where}: {status[1]}"
                                    + _UPSTREAM_HINTS.get(status[0], ""))
            if status[0] not in (502, 503, 504):  # only "cannot reach it" may differ per address
                break
        raise failed

    async def _relay(
        self,
        host: str,
        port: int,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        *,
        rewrite_head: bool,
    ) -> None:
        """Copy both ways until both ends are done, within the stretch bounds."""
        stretch = _Stretch(self.stretch_bytes, self.stretch_s, self.rest_s)
        if rewrite_head:  # one request per connection: the browser must not send a second
            async with asyncio.timeout(RESPONSE_TIMEOUT_S):
                head = await upstream[0].readuntil(b"\r\n\r\n")
            client[1].write(_closing_response_head(head))
        try:
            async with asyncio.TaskGroup() as pumps:
                pumps.create_task(_pump(client[0], upstream[1], stretch))
                pumps.create_task(_pump(upstream[0], client[1], stretch))
        except* _Capped as capped:
            self._note_cut(host, port, str(capped.exceptions[0]))
        except* (OSError, TimeoutError):
            pass  # one end went away or stayed idle too long: both are closed

    def _note_cut(self, host: str, port: int, reason: str) -> None:
        self.notes.add(EgressNote(host, port, reason, False, time.monotonic()))


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                stretch: _Stretch) -> None:
    while True:
        async with asyncio.timeout(IDLE_S):
            chunk = await source.read(_CHUNK)
        if not chunk:
            break
        stretch.spend(len(chunk))
        sink.write(chunk)
        async with asyncio.timeout(IDLE_S):
            await sink.drain()
    if sink.can_write_eof():
        with contextlib.suppress(OSError):
            sink.write_eof()


#: what an upstream's refusal of a CONNECT most likely means for the operator
_UPSTREAM_HINTS = {
    407: " (its credentials in BIDWATCH_PROXIES were refused)",
    403: " (it may allow CONNECT only to some ports: allow every port in "
         "BIDWATCH_CHAIN_PORTS, 80 included)",
}


async def _open_tunnel(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream,
    host: str, port: int
) -> tuple[int, str]:
    """Ask the upstream for a tunnel to host:port (an address); its status and status line
    (printable, short). UpstreamFailed when it does not answer in time or not in HTTP."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if upstream.authorization is not None:
        head += f"Proxy-Authorization: {upstream.authorization}\r\n"
    try:
        writer.write((head + "\r\n").encode("ascii"))
        async with asyncio.timeout(UPSTREAM_ANSWER_TIMEOUT_S):
            await writer.drain()
            answer = await reader.readuntil(b"\r\n\r\n")
    except TimeoutError:
        raise UpstreamFailed(f"upstream proxy {upstream.where}: no answer to CONNECT within "
                             f"{UPSTREAM_ANSWER_TIMEOUT_S:g} s") from None
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        raise UpstreamFailed(f"upstream proxy {upstream.where}: no answer to CONNECT "
                             f"({type(error).__name__})") from None
    line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise UpstreamFailed(f"upstream proxy {upstream.where}: not an HTTP answer to CONNECT")
    text = "".join(ch if " " <= ch < "\x7f" else "?" for ch in " ".join(parts[1:]))[:80]
    return int(parts[1]), text


def _parse_head(head: bytes) -> tuple[bytes, str, list[bytes]]:
    """(method, target, header lines) of a request head; ValueError when it is not one."""
    request_line, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    method, target, version = request_line.split(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ValueError("not HTTP/1.x")
    return method.upper(), target.decode("ascii"), lines


def _host_port(url: str) -> tuple[str, int]:
    try:
        _scheme, host, port = split_target(url)
    except BlockedAddress:
        return urlsplit(url).netloc[:200], -1
    return host, port


def _origin_request(method: bytes, url: str, lines: list[bytes]) -> bytes:
    """The request as the origin server expects it: origin-form target, one request only."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in _HOP_HEADERS]
    return b"\r\n".join([method + b" " + target.encode("ascii") + b" HTTP/1.1", *kept,
                         b"Connection: close", b"", b""])


def _closing_response_head(head: bytes) -> bytes:
    status, *lines = head.rstrip(b"\r\n").split(b"\r\n")
    kept = [line for line in lines
            if line.split(b":", 1)[0].strip().lower() not in (b"connection", b"keep-alive",
                                                               b"proxy-connection")]
    return b"\r\n".join([status, *kept, b"Connection: close", b"Proxy-Connection: close",
                         b"", b""])


async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
    """A short plain-text answer of the proxy's own, and the connection's end."""
    title = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}[status]
    text = "".join(ch if " " <= ch < "\x7f" else "?" for ch in reason)[:300]
    body = f"bidwatch egress: {text}\n".encode("ascii")
    writer.write(f"HTTP/1.1 {status} {title}\r\nContent-Type: text/plain\r\n"
                 f"X-Bidwatch-Egress: {text}\r\nContent-Length: {len(body)}\r\n"
                 "Connection: close\r\nProxy-Connection: close\r\n\r\n".encode("ascii") + body)
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(5.0):
            await writer.drain()
