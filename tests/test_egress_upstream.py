"""The egress proxy chained to a market's own proxy (BIDWATCH_PROXIES).

A market's contexts are given the egress's route, not the market's proxy: every connection
is vetted at the egress (resolved once, refused when forbidden), then opened through the
market's proxy with a CONNECT to the vetted address and the proxy's own credentials. The
stand-ins are those of tests/test_egress.py (127.0.0.2 "public", 127.0.0.3 forbidden, with
a raw listener), and the market's proxy is a small CONNECT proxy written here, on 127.0.0.4,
with Basic auth, that records every request it gets. The browser is the keeper's, started as
the sweep starts it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from monitor.capture.browser import BrowserChoice
from monitor.capture.keeper import BrowserKeeper, BrowserLease
from monitor.capture.pacing import pace_key
from monitor.capture.page import CaptureOptions, close_context, new_task_context
from monitor.dev.simulator.tls import server_context
from monitor.errors import ConfigError
from monitor.models import Chain, Device, MarketRef, SearchTask
from monitor.resolve import egress
from monitor.resolve.egress import EgressProxy, Upstream
from monitor.resolve.follow import follow
from monitor.services.wiring import egress_proxy
from monitor.settings import Settings
from tests.test_egress import FORBIDDEN, PUBLIC, AttackServer, Listener, StandInGuard

UPSTREAM_HOST = "127.0.0.4"
USER, PASSWORD = "market-de", "pw-Upstream-7f3a"
WRONG_PASSWORD = "pw-Wrong-91c2"
DE = MarketRef(id="de-de", country="DE", language="de", timezone="Europe/Berlin")
FR = MarketRef(id="fr-fr", country="FR", language="fr", timezone="Europe/Paris")  # wrong pw
US = MarketRef(id="us-en", country="US", language="en", timezone="America/New_York")  # none


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class UpstreamProxy:
    """A CONNECT-only HTTP proxy with Basic auth, as a market's provider runs one: it records
    each request line with the credentials it came with, answers 407 to wrong ones and 405 to
    anything but CONNECT, and tunnels to the host:port asked. `silent`: it accepts and never
    answers (a hung upstream)."""

    def __init__(self, user: str, password: str) -> None:
        self.expected = basic(user, password)
        self.seen: list[tuple[str, str | None]] = []  # (request line, Proxy-Authorization)
        self.silent = False
        self.sock = socket.create_server((UPSTREAM_HOST, 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._spawn(self._serve)

    def url(self, user: str = USER, password: str = PASSWORD) -> str:
        return f"http://{user}:{password}@{UPSTREAM_HOST}:{self.port}"

    def targets(self) -> list[str]:
        return [line.split(" ")[1] for line, _auth in self.seen]

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _keep(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _peer = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._keep(connection)
            self._spawn(self._handle, connection)

    def _handle(self, client: socket.socket) -> None:
        client.settimeout(5)
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        auth = next((line.split(":", 1)[1].strip() for line in lines[1:]
                     if line.lower().startswith("proxy-authorization:")), None)
        self.seen.append((lines[0], auth))
        method, target, _version = ([*lines[0].split(" "), "", ""])[:3]
        if method != "CONNECT":
            return self._say(client, b"405 Method Not Allowed")
        if auth != self.expected:
            return self._say(client, b"407 Proxy Authentication Required",
                             b"Proxy-Authenticate: Basic realm=\"market\"\r\n")
        if self.silent:
            self._stop.wait(30)
            return None
        host, _, port = target.rpartition(":")
        try:
            onward = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except OSError:
            return self._say(client, b"502 Bad Gateway")
        self._keep(onward)
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self._relay(client, onward)

    @staticmethod
    def _say(client: socket.socket, status: bytes, headers: bytes = b"") -> None:
        with contextlib.suppress(OSError):
            client.sendall(b"HTTP/1.1 " + status + b"\r\n" + headers
                           + b"Content-Length: 0\r\nConnection: close\r\n\r\n")

    def _relay(self, a: socket.socket, b: socket.socket) -> None:
        peers = {a: b, b: a}
        while not self._stop.is_set():
            try:
                readable, _, _ = select.select([a, b], [], [], 0.2)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peers[sock].sendall(data)
            except (OSError, ValueError):
                return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        with self._lock:
            opened, threads = list(self._open), list(self._threads)
        for sock in opened:
            with contextlib.suppress(OSError):
                sock.close()
        for thread in threads:
            thread.join(3)
        assert not any(thread.is_alive() for thread in threads)


class TlsSite(AttackServer):
    """The attacker's site over TLS on PUBLIC, recording the SNI names it is asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.sni: list[str | None] = []
        tls = server_context(["pub.test"])
        tls.sni_callback = self._on_sni
        self.socket = tls.wrap_socket(self.socket, server_side=True)

    def _on_sni(self, _sock: ssl.SSLObject, name: str | None, _tls: ssl.SSLContext) -> None:
        self.sni.append(name)


class Rig:
    """The stand-ins, the market's upstream, and the keeper's browser through the egress."""

    def __init__(self, executable: Path) -> None:
        self.site, self.tls_site = AttackServer(), TlsSite()
        for server in (self.site, self.tls_site):
            threading.Thread(target=server.serve_forever, daemon=True).start()
        self.site_port: int = self.site.server_address[1]
        self.tls_port: int = self.tls_site.server_address[1]
        self.listener = Listener()
        self.upstream = UpstreamProxy(USER, PASSWORD)
        self.guard = StandInGuard([self.site_port, self.tls_port, self.listener.port])
        self.guard.names["pub.test"] = lambda: [PUBLIC]
        self.guard.names["bad.test"] = lambda: [FORBIDDEN]
        self.proxy = EgressProxy(self.guard)
        self.options = CaptureOptions(timeout_s=15, ignore_https_errors=True, proxies={
            DE.id: self.upstream.url(), FR.id: self.upstream.url(password=WRONG_PASSWORD)})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.playwright = self.run(async_playwright().start())
        self.keeper = BrowserKeeper(self.playwright, BrowserChoice(executable, "system"),
                                    self.options, context_reuse=1, recycle_after=1000,
                                    egress=self.proxy)
        self.held = contextlib.AsyncExitStack()
        self.lease: BrowserLease = self.run(self.held.enter_async_context(self.keeper.lease()))

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def page(self, path: str, html: str, *, tls: bool = False) -> str:
        (self.tls_site if tls else self.site).pages[path] = html
        scheme, port = ("https", self.tls_port) if tls else ("http", self.site_port)
        return f"{scheme}://pub.test:{port}{path}"

    def follow(self, market: MarketRef, url: str, *, settle_s: float = 1.0) -> Chain:
        """Follow `url` in a context of `market`, made as the sweep's chain follower makes
        it (new_task_context on the keeper's browser)."""
        task = SearchTask("lumora", "google", "lumora", "brand", market, Device.desktop)

        async def in_a_context() -> Chain:
            context = await new_task_context(self.lease.browser, task, self.options,
                                             calls=self.lease.calls)
            try:
                return await follow(context, url, guard=self.guard, timeout_s=12,
                                    settle_s=settle_s, egress=self.proxy)
            finally:
                await close_context(context, self.lease.calls)

        return self.run(in_a_context())

    def close(self) -> None:
        try:
            self.run(self.held.aclose(), 20)
            self.run(self.keeper.close(), 30)  # its browser, then the egress proxy
            self.run(self.playwright.stop(), 20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()
            self.proxy.stop()  # a no-op when the keeper stopped it
            for server in (self.site, self.tls_site):
                server.shutdown()
                server.server_close()
            self.listener.close()
            self.upstream.close()


@pytest.fixture(scope="module")
def rig(browser_path: Path) -> Iterator[Rig]:
    built = Rig(browser_path)
    yield built
    name = built.proxy.thread_name
    built.close()
    deadline = time.monotonic() + 3
    while any(t.name.startswith(name) for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the egress proxy left a thread behind"
        time.sleep(0.05)


def wait_for(check: Any, seconds: float = 3.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (found := check()):
        if time.monotonic() > deadline:
            return found
        time.sleep(0.05)
    return found


# ---- through the market's proxy -------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_market_context_goes_through_the_egress_then_its_upstream(rig: Rig, tls: bool) -> None:
    """The upstream is asked, with its credentials, for the address the egress vetted (not
    the name: a browser talking to the upstream itself would name pub.test), and the site
    still sees the name, in its Host header and, over TLS, in the SNI."""
    rig.upstream.seen.clear()
    rig.guard.lookups.clear()
    url = rig.page("/de-landing", "<html><body>landed in de</body></html>", tls=tls)
    port = rig.tls_port if tls else rig.site_port
    chain = rig.follow(DE, url)
    assert chain.error is None and chain.landing_url == url
    assert "pub.test" in rig.guard.lookups  # resolved at the egress
    assert set(rig.upstream.seen) == {(f"CONNECT {PUBLIC}:{port} HTTP/1.1", basic(USER, PASSWORD))}
    site = rig.tls_site if tls else rig.site
    assert (f"pub.test:{port}", "/de-landing") in site.seen
    if tls:
        assert "pub.test" in rig.tls_site.sni


@pytest.mark.browser
def test_what_a_market_page_must_not_reach_is_refused_at_the_egress_before_the_upstream(
    rig: Rig,
) -> None:
    """A WebSocket (by address and by a name on loopback), a popup and a clicked
    target=_blank link to the forbidden listener: refused at the egress, so the upstream is
    never asked for them and the listener never hears of them."""
    rig.upstream.seen.clear()
    since = time.monotonic()
    port = rig.listener.port
    target = f"http://{FORBIDDEN}:{port}/popup"
    url = rig.page("/de-attack", f"""<html><body><a id=a target=_blank href="{target}">x</a>
      <script>
      for (const u of ["ws://{FORBIDDEN}:{port}/", "wss://bad.test:{port}/"]) {{
        try {{ new WebSocket(u); }} catch (e) {{}}
      }}
      window.open("http://bad.test:{port}/popup");
      document.getElementById("a").click();
      </script></body></html>""")
    chain = rig.follow(DE, url, settle_s=2.0)
    assert chain.error is None and chain.landing_url == url
    for host in (FORBIDDEN, "bad.test"):
        note = wait_for(lambda h=host: rig.proxy.note(h, port, since))
        assert note is not None and note.refused
        assert note.reason == f"{host} is loopback ({FORBIDDEN})"
    time.sleep(0.3)  # late connections land
    assert rig.upstream.targets() == [f"{PUBLIC}:{rig.site_port}"] * len(rig.upstream.seen)
    assert rig.listener.hits == []


@pytest.mark.browser
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_refused_navigation_of_a_market_page_opens_nothing_anywhere(rig: Rig, tls: bool) -> None:
    rig.upstream.seen.clear()
    scheme = "https" if tls else "http"
    target = f"{scheme}://{FORBIDDEN}:{rig.listener.port}/scan"
    url = rig.page(f"/de-scan-{scheme}", f"""<html><body><script>
      setTimeout(() => {{ location.href = {target!r}; }}, 50);</script></body></html>""")
    chain = rig.follow(DE, url)
    assert chain.error == f"guard: {FORBIDDEN} is loopback ({FORBIDDEN})"
    time.sleep(0.3)
    assert FORBIDDEN not in " ".join(rig.upstream.targets())
    assert rig.listener.hits == []


@pytest.mark.browser
@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_a_wrong_upstream_password_ends_the_chain_with_a_clear_reason_and_no_secret(
    rig: Rig, tls: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig.upstream.seen.clear()
    since = time.monotonic()
    url = rig.page(f"/fr-landing-{tls}", "<html><body>never</body></html>", tls=tls)
    chain = rig.follow(FR, url)
    where = f"{UPSTREAM_HOST}:{rig.upstream.port}"
    assert chain.error is not None
    assert chain.error.startswith(f"network error at {url}: net::ERR_")
    assert chain.error.endswith(f"(egress: upstream proxy {where}: 407 Proxy Authentication "
                                "Required (its credentials in BIDWATCH_PROXIES were refused))")
    assert rig.upstream.seen[0][1] == basic(USER, WRONG_PASSWORD)  # it did ask, as configured
    site = rig.tls_site if tls else rig.site
    assert not any(path == f"/fr-landing-{tls}" for _host, path in site.seen)
    notes = " ".join(n.reason for n in rig.proxy.notes.all() if n.at >= since)
    for secret in (WRONG_PASSWORD, PASSWORD, basic(USER, WRONG_PASSWORD).split()[1]):
        assert secret not in chain.error and secret not in notes and secret not in caplog.text


@pytest.mark.browser
def test_a_context_without_a_market_proxy_still_goes_straight_from_the_egress(rig: Rig) -> None:
    rig.upstream.seen.clear()
    rig.guard.lookups.clear()
    url = rig.page("/us-landing", "<html><body>landed in us</body></html>")
    chain = rig.follow(US, url)
    assert chain.error is None and chain.landing_url == url
    assert "pub.test" in rig.guard.lookups
    assert (f"pub.test:{rig.site_port}", "/us-landing") in rig.site.seen
    assert rig.upstream.seen == []


# ---- the routes alone -------------------------------------------------------------------------


def _through(proxy_url: str, request: bytes) -> bytes:
    host, port = proxy_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                answer += chunk
    return answer


@pytest.fixture
def upstream() -> Iterator[UpstreamProxy]:
    proxy = UpstreamProxy(USER, PASSWORD)
    yield proxy
    proxy.close()


def test_routes_are_one_per_upstream_carry_no_credentials_and_close_with_the_proxy(
    upstream: UpstreamProxy,
) -> None:
    proxy = EgressProxy(StandInGuard([80]))
    with pytest.raises(RuntimeError):
        proxy.route(upstream.url())  # only while it runs
    with proxy:
        route = proxy.route(upstream.url())
        assert proxy.route(upstream.url()) == route  # every context of the market shares it
        other = proxy.route(upstream.url(password=WRONG_PASSWORD))  # other credentials
        assert other != route and route != proxy.url
        assert PASSWORD not in route and USER not in route
    for url in (route, other):
        host, port = url.removeprefix("http://").split(":")
        with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
            pass
    parsed = Upstream.parse(upstream.url())
    assert PASSWORD not in repr(parsed) and parsed.where == f"{UPSTREAM_HOST}:{upstream.port}"
    # pacing stays per upstream host and port, credentials aside
    assert pace_key("google", upstream.url()) == f"google@{UPSTREAM_HOST}:{upstream.port}"


def test_a_plain_request_goes_down_a_tunnel_to_the_vetted_address(
    upstream: UpstreamProxy,
) -> None:
    site = AttackServer()
    threading.Thread(target=site.serve_forever, daemon=True).start()
    port = site.server_address[1]
    guard = StandInGuard([port])
    guard.names["pub.test"] = lambda: [PUBLIC]
    try:
        with EgressProxy(guard) as proxy:
            answer = _through(proxy.route(upstream.url()),
                              f"GET http://pub.test:{port}/plain HTTP/1.1\r\n"
                              f"Host: pub.test:{port}\r\n\r\n".encode())
    finally:
        site.shutdown()
        site.server_close()
    assert answer.split(b"\r\n", 1)[0].endswith(b" 200 OK")
    assert answer.endswith(b"page /plain</body></html>")
    assert upstream.seen == [(f"CONNECT {PUBLIC}:{port} HTTP/1.1", basic(USER, PASSWORD))]
    assert site.seen == [(f"pub.test:{port}", "/plain")]


def test_an_upstream_that_is_down_or_never_answers_is_a_bounded_clear_error(
    upstream: UpstreamProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(egress, "UPSTREAM_ANSWER_TIMEOUT_S", 1.0)
    guard = StandInGuard([443])
    guard.names["pub.test"] = lambda: [PUBLIC]
    closed = socket.create_server((UPSTREAM_HOST, 0))
    down = f"http://{USER}:{PASSWORD}@{UPSTREAM_HOST}:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there now
    upstream.silent = True
    with EgressProxy(guard) as proxy:
        started = time.monotonic()
        notes = []  # the newest note per host and port: read after each
        refused = _through(proxy.route(down), b"CONNECT pub.test:443 HTTP/1.1\r\n\r\n")
        notes.append(proxy.notes.all()[-1].reason)
        hung = _through(proxy.route(upstream.url()), b"CONNECT pub.test:443 HTTP/1.1\r\n\r\n")
        notes.append(proxy.notes.all()[-1].reason)
        seconds = time.monotonic() - started
    assert refused.startswith(b"HTTP/1.1 502 ") and hung.startswith(b"HTTP/1.1 502 ")
    assert notes[0].startswith(f"upstream proxy {UPSTREAM_HOST}:{down.rsplit(':', 1)[1]}: "
                               "could not connect: ")
    assert notes[1] == (f"upstream proxy {UPSTREAM_HOST}:{upstream.port}: no answer to CONNECT"
                        " within 1 s")
    assert seconds < 5
    assert all(PASSWORD not in text for text in [*notes, refused.decode(), hung.decode()])


def test_a_market_proxy_the_egress_cannot_chain_is_a_config_error_naming_no_secret() -> None:
    settings = Settings(proxies={"de-de": f"socks5://{USER}:{PASSWORD}@proxy.example:1080"})
    with pytest.raises(ConfigError) as refused:
        egress_proxy(settings, StandInGuard([443]))
    assert "BIDWATCH_PROXIES['de-de']" in str(refused.value)
    assert "socks5://proxy.example" in str(refused.value) and PASSWORD not in str(refused.value)


def test_a_result_page_the_egress_refused_says_why_in_its_capture() -> None:
    # the browser only says net::ERR_TUNNEL_CONNECTION_FAILED; the capture names the reason
    from monitor.models import Capture, CaptureStatus, Device, MarketRef, SearchTask
    from monitor.sweep import with_egress_reason

    guard = StandInGuard([443])
    guard.names["www.google.com"] = lambda: [FORBIDDEN]
    task = SearchTask("lumora", "google", "lumora", "brand", MarketRef("us-en", "US", "en",
                                                                       "America/New_York"),
                      Device.desktop)
    failed = Capture(task=task, status=CaptureStatus.error,
                     url="https://www.google.com/search?q=lumora", final_url="",
                     http_status=None, captured_at=datetime.now(UTC),
                     error="net::ERR_TUNNEL_CONNECTION_FAILED")
    with EgressProxy(guard) as proxy:
        since = time.monotonic()
        answer = _through(proxy.url, b"CONNECT www.google.com:443 HTTP/1.1\r\n"
                                     b"Host: www.google.com:443\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 403")
        explained = with_egress_reason(failed, proxy, since)
        assert explained.error is not None
        assert explained.error.startswith("net::ERR_TUNNEL_CONNECTION_FAILED (egress: ")
        assert "loopback" in explained.error
        # a page that did not fail, or a failure before the proxy's word, is left as it is
        ok = replace(failed, status=CaptureStatus.ok, error=None)
        assert with_egress_reason(ok, proxy, since) == ok
        assert with_egress_reason(failed, proxy, time.monotonic() + 1) == failed
        assert with_egress_reason(failed, None, since) == failed
