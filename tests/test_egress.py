"""The egress proxy against the ways a page could reach what a chain must never reach.

A real Chromium follows chains with every connection sent through the proxy
(`proxied_args`), as the sweep's browser does. Loopback addresses stand in for the world:
127.0.0.2 is "public" (the guard below lets it through) and serves the attacker's pages;
127.0.0.3 is what must never be reached, with raw listeners that record any connection at
all (TCP and UDP), not only well-formed requests. The guard is the production guard with
private and loopback refused; only 127.0.0.2 is waved through.
"""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright

from monitor.capture.browser import LAUNCH_ARGS, proxied_args
from monitor.models import Chain, HopHow
from monitor.resolve.egress import EgressProxy
from monitor.resolve.follow import follow
from monitor.resolve.guard import AddressGuard, IPAddress

PUBLIC = "127.0.0.2"
FORBIDDEN = "127.0.0.3"
#: the proxy's stretch bounds for these tests: a trickle is cut within seconds
STRETCH_S = 3.0
REST_S = 1.0
MB = 1024 * 1024


class Listener:
    """A raw socket on FORBIDDEN that records every connection (or datagram) it gets."""

    def __init__(self, port: int = 0, kind: socket.SocketKind = socket.SOCK_STREAM) -> None:
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind((FORBIDDEN, port))
        self.sock.settimeout(0.2)
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]
        self.kind = kind
        self.hits: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.kind == socket.SOCK_STREAM:
                    connection, peer = self.sock.accept()
                    connection.close()
                else:
                    _data, peer = self.sock.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            self.hits.append(peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class AttackServer(http.server.ThreadingHTTPServer):
    """The attacker's site on PUBLIC: pages by path, and what it sent of its big bodies."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__((PUBLIC, 0), AttackHandler)
        self.pages: dict[str, str] = {}
        self.seen: list[tuple[str, str]] = []  # (Host, path)
        self.sent: dict[str, int] = {}


class AttackHandler(http.server.BaseHTTPRequestHandler):
    server: AttackServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        self.server.seen.append((self.headers.get("Host") or "", path))
        if path in ("/big", "/big-chunked"):
            return self._endless(path, chunked=path == "/big-chunked", pause=0.0)
        if path == "/slow":
            return self._endless(path, chunked=False, pause=0.2)
        if path == "/sw.js":
            target = self.server.pages["sw-target"]
            return self._send(SERVICE_WORKER.replace("FORBIDDEN_URL", target), "text/javascript")
        self._send(self.server.pages.get(path, f"<html><body>page {path}</body></html>"))

    def _send(self, text: str, kind: str = "text/html; charset=utf-8") -> None:
        body = text.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _endless(self, path: str, *, chunked: bool, pause: float) -> None:
        """A 200 MB page (or a trickle of one): written until the reader goes away."""
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(200 * MB))
        self.end_headers()
        piece = b"<p>" + b"x" * (100 if pause else 64 * 1024 - 8) + b"</p>\n"
        self.server.sent[path] = 0
        try:
            while self.server.sent[path] < 200 * MB:
                data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
                self.wfile.write(data)
                self.server.sent[path] += len(piece)
                if pause:
                    self.wfile.flush()
                    time.sleep(pause)
        except OSError:
            return  # the proxy cut it

    def log_message(self, format: str, *args: Any) -> None:
        return


SERVICE_WORKER = """
self.addEventListener('install', (e) => {
  e.waitUntil(fetch('FORBIDDEN_URL').catch(() => {}));
});
"""


class StandInGuard(AddressGuard):
    """The production guard (private, loopback refused), except PUBLIC, which stands for a
    public address; names resolve through `names` (a callable per name, for rebinding)."""

    def __init__(self, ports: list[int]) -> None:
        self.names: dict[str, Callable[[], list[str]]] = {}
        self.lookups: list[str] = []
        super().__init__(allow_private=False, allowed_ports=ports, resolve=self._lookup)

    def _lookup(self, name: str) -> list[str]:
        self.lookups.append(name)
        answer = self.names.get(name)
        return answer() if answer else []

    def address_problem(self, address: IPAddress) -> str | None:
        return None if str(address) == PUBLIC else super().address_problem(address)


class Rig:
    """The attacker's server, the forbidden listeners, the guard, the proxy and a Chromium
    that sends everything through it, driven from an event loop on its own thread."""

    def __init__(self, executable: Path) -> None:
        self.site = AttackServer()
        threading.Thread(target=self.site.serve_forever, daemon=True).start()
        self.site_port: int = self.site.server_address[1]
        self.listener = Listener()  # FORBIDDEN, a port of its own
        self.same_port = Listener(self.site_port)  # FORBIDDEN at the site's port (rebinding)
        self.udp = Listener(kind=socket.SOCK_DGRAM)
        self.guard = StandInGuard([self.site_port, self.listener.port])
        self.guard.names["pub.test"] = lambda: [PUBLIC]
        self.guard.names["bad.test"] = lambda: [FORBIDDEN]
        self.proxy = EgressProxy(self.guard, stretch_s=STRETCH_S, rest_s=REST_S)
        proxy_url = self.proxy.start()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.playwright = self.run(async_playwright().start())
        self.browser: Browser = self.run(self.playwright.chromium.launch(
            executable_path=str(executable), args=[*LAUNCH_ARGS, *proxied_args(proxy_url)]))

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def page(self, path: str, html: str) -> str:
        self.site.pages[path] = html
        return f"http://pub.test:{self.site_port}{path}"

    def follow(self, url: str, *, timeout_s: float = 10, settle_s: float = 1.5) -> Chain:
        async def in_a_context() -> Chain:
            context = await self.browser.new_context(ignore_https_errors=True)
            try:
                return await follow(context, url, guard=self.guard, timeout_s=timeout_s,
                                    settle_s=settle_s, egress=self.proxy)
            finally:
                await context.close()

        return self.run(in_a_context())

    def forbidden_hits(self) -> list[tuple[str, int]]:
        return [*self.listener.hits, *self.same_port.hits, *self.udp.hits]

    def refused(self, host: str, port: int, since: float, wait_s: float = 3.0) -> str | None:
        """The proxy's refusal of host:port since `since`, waiting a little for it."""
        deadline = time.monotonic() + wait_s
        while True:
            note = self.proxy.note(host, port, since)
            if note is not None and note.refused:
                return note.reason
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.run(self.browser.close(), 20)
            self.run(self.playwright.stop(), 20)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.proxy.stop()
            self.site.shutdown()
            self.site.server_close()
            for listener in (self.listener, self.same_port, self.udp):
                listener.close()


@pytest.fixture(scope="module")
def rig(browser_path: Path) -> Iterator[Rig]:
    built = Rig(browser_path)
    yield built
    built.close()


@pytest.fixture(autouse=True)
def nothing_reached(request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test of the rig: no connection reached a forbidden listener."""
    yield
    if "rig" in request.fixturenames:
        rig: Rig = request.getfixturevalue("rig")
        time.sleep(0.3)  # late connections land
        assert rig.forbidden_hits() == []


def forbidden_url(rig: Rig, path: str = "/", scheme: str = "http") -> str:
    return f"{scheme}://{FORBIDDEN}:{rig.listener.port}{path}"


# ---- what a page does besides its navigation ------------------------------------------------


@pytest.mark.browser
def test_a_websocket_is_refused_at_the_proxy(rig: Rig) -> None:
    since = time.monotonic()
    port = rig.listener.port
    url = rig.page("/ws", f"""<html><body><script>
      for (const u of ["ws://{FORBIDDEN}:{port}/", "wss://bad.test:{port}/"]) {{
        try {{ new WebSocket(u); }} catch (e) {{}}
      }}</script></body></html>""")
    chain = rig.follow(url)
    assert chain.error is None and chain.landing_url == url
    assert rig.refused(FORBIDDEN, port, since) == f"{FORBIDDEN} is loopback ({FORBIDDEN})"
    assert rig.refused("bad.test", port, since) == f"bad.test is loopback ({FORBIDDEN})"


@pytest.mark.browser
@pytest.mark.parametrize("opener", ["window.open", "target=_blank click"])
def test_a_popup_is_refused_at_the_proxy(rig: Rig, opener: str) -> None:
    since = time.monotonic()
    target = forbidden_url(rig, "/popup")
    script = (f"window.open({target!r});" if opener == "window.open" else
              "document.getElementById('a').click();")
    url = rig.page(f"/popup-{opener[:6]}", f"""<html><body>
      <a id=a target=_blank href="{target}">offer</a><script>{script}</script></body></html>""")
    chain = rig.follow(url)
    assert chain.landing_url == url and chain.error is None
    assert rig.refused(FORBIDDEN, rig.listener.port, since) is not None


@pytest.mark.browser
def test_prefetches_and_speculation_rules_go_through_the_proxy_and_reach_nothing(
    rig: Rig,
) -> None:
    """Link prefetches escape the follower's Fetch filter (they reached the attacker's
    server beside it); they are the proxy's to vet. Chromium asks the proxy for a prefetch
    of a public name (here one at a port where nothing listens: the proxy's own connection
    fails, and says so), and nothing the page names on loopback is reached, by prefetch,
    preconnect, speculation rules or prerender."""
    since = time.monotonic()
    port = rig.listener.port
    rig.guard.names["cdn.test"] = lambda: [PUBLIC]
    url = rig.page("/speculate", f"""<html><head>
      <link rel=prefetch href="http://cdn.test:{port}/link-prefetch">
      <link rel=prefetch href="http://bad.test:{port}/link-prefetch">
      <link rel=prefetch href="http://{FORBIDDEN}:{port}/link-prefetch">
      <link rel=preconnect href="https://bad.test:{port}/">
      <script type=speculationrules>{{
        "prefetch": [{{"source": "list", "urls": ["http://bad.test:{port}/spec-prefetch",
                                                 "https://{FORBIDDEN}:{port}/spec-prefetch"]}}],
        "prerender": [{{"source": "list", "urls": ["http://{FORBIDDEN}:{port}/prerender"]}}]
      }}</script></head><body>speculating</body></html>""")
    chain = rig.follow(url)
    assert chain.landing_url == url and chain.error is None
    deadline = time.monotonic() + 3
    while (note := rig.proxy.note("cdn.test", port, since)) is None:
        assert time.monotonic() < deadline, "the prefetch never reached the proxy"
        time.sleep(0.05)
    assert note.reason.startswith(f"could not connect: [Errno 111] Connect call failed ('{PUBLIC}'")
    for host in ("bad.test", FORBIDDEN):  # when Chromium asks for these at all, refused
        assert (n := rig.proxy.note(host, port, since)) is None or n.refused


@pytest.mark.browser
def test_a_service_workers_fetch_is_refused_at_the_proxy(rig: Rig) -> None:
    since = time.monotonic()
    rig.site.pages["sw-target"] = forbidden_url(rig, "/from-service-worker")
    rig.site.pages["/sw-page"] = """<html><body><script>
      navigator.serviceWorker.register('/sw.js').catch(() => {});</script></body></html>"""
    # an address literal on loopback: a secure context, where service workers may register
    url = f"http://{PUBLIC}:{rig.site_port}/sw-page"
    chain = rig.follow(url, settle_s=2.5)
    assert chain.landing_url == url
    assert (f"{PUBLIC}:{rig.site_port}", "/sw.js") in rig.site.seen  # it did register
    assert rig.refused(FORBIDDEN, rig.listener.port, since) is not None


@pytest.mark.browser
def test_webrtc_sends_no_udp(rig: Rig) -> None:
    stun = f"stun:{FORBIDDEN}:{rig.udp.port}"
    url = rig.page("/webrtc", f"""<html><body><script>
      const pc = new RTCPeerConnection({{iceServers: [{{urls: "{stun}"}}]}});
      pc.onicegatheringstatechange = () => {{
        if (pc.iceGatheringState === "complete") fetch("/gathered").catch(() => {{}});
      }};
      pc.createDataChannel("x");
      pc.createOffer().then((offer) => pc.setLocalDescription(offer));
      </script></body></html>""")
    chain = rig.follow(url, settle_s=3.0)
    assert chain.landing_url == url and chain.error is None
    assert (f"pub.test:{rig.site_port}", "/gathered") in rig.site.seen  # it did try
    assert rig.udp.hits == []


# ---- hops ----------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_refused_navigation_opens_no_connection_to_its_target(rig: Rig, scheme: str) -> None:
    """A script's navigation the guard refuses: once, Chromium connected to the target
    before the request was paused (a port scanner). Now nothing reaches it at all."""
    target = forbidden_url(rig, "/scan", scheme)
    url = rig.page(f"/scan-{scheme}", f"""<html><body><script>
      setTimeout(() => {{ location.href = {target!r}; }}, 50);</script></body></html>""")
    chain = rig.follow(url)
    assert chain.error == f"guard: {FORBIDDEN} is loopback ({FORBIDDEN})"
    assert [h.url for h in chain.hops] == [url]


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_name_that_rebinds_to_loopback_is_refused_where_it_connects(
    rig: Rig, scheme: str
) -> None:
    """The follower's guard sees the public answer (twice: before the chain and at the
    hop); the proxy asks again and gets loopback: it refuses, so the connection is never
    made, and the hop ends the chain with the proxy's reason (for https the browser itself
    only says the tunnel failed)."""
    answers = iter([[PUBLIC], [PUBLIC]])
    rig.guard.names["rebind.test"] = lambda: next(answers, [FORBIDDEN])
    url = f"{scheme}://rebind.test:{rig.site_port}/landing"
    rig.guard.lookups.clear()
    chain = rig.follow(url)
    assert chain.error == f"guard: rebind.test is loopback ({FORBIDDEN})"
    assert rig.guard.lookups.count("rebind.test") >= 3  # the proxy asked for itself
    if scheme == "http":
        assert [(h.url, h.how) for h in chain.hops] == [(url, HopHow.start)]
    else:
        # Chromium may open the tunnel (a preconnect) before the request is paused: then
        # the proxy had the second, public, answer and connected there, and the
        # follower's own check got loopback and refused the hop before it was recorded
        assert [h.url for h in chain.hops] in ([url], [])
    assert ("rebind.test", "/landing") not in {(h.split(":")[0], p) for h, p in rig.site.seen}


@pytest.mark.browser
@pytest.mark.parametrize("path", ["/big", "/big-chunked"])
def test_a_200_mb_landing_page_is_cut_at_the_proxys_bound(rig: Rig, path: str) -> None:
    started = time.monotonic()
    url = f"http://pub.test:{rig.site_port}{path}"
    chain = rig.follow(url, timeout_s=20)
    assert chain.error is not None and chain.error.startswith(f"network error at {url}: ")
    assert "(egress: more than 8,388,608 bytes without a rest)" in chain.error
    assert rig.site.sent[path] < 40 * MB  # the proxy's bound plus the sockets' buffers
    assert time.monotonic() - started < 15
    # the driver survived: the next chain is followed as ever
    after = rig.follow(rig.page("/after-big", "<html><body>fine</body></html>"), settle_s=0.4)
    assert after.error is None


@pytest.mark.browser
def test_a_trickling_page_is_cut_at_the_proxys_bound(rig: Rig) -> None:
    started = time.monotonic()
    url = f"http://pub.test:{rig.site_port}/slow"
    chain = rig.follow(url, timeout_s=15)
    seconds = time.monotonic() - started
    assert chain.error is not None and chain.error.startswith(f"network error at {url}: ")
    assert f"(egress: busy for more than {STRETCH_S:g} s without a rest)" in chain.error
    assert STRETCH_S <= seconds < 12


# ---- the proxy alone ---------------------------------------------------------------------


def _through(proxy: EgressProxy, request: bytes) -> bytes:
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    return answer


@pytest.fixture
def site() -> Iterator[AttackServer]:
    server = AttackServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_the_proxy_resolves_once_and_connects_to_the_address_it_vetted(
    site: AttackServer,
) -> None:
    port = site.server_address[1]
    rebound = Listener(port)
    guard = StandInGuard([port])
    answers = iter([[PUBLIC]])
    guard.names["flip.test"] = lambda: next(answers, [FORBIDDEN])
    try:
        with EgressProxy(guard) as proxy:
            answer = _through(proxy, f"GET http://flip.test:{port}/once HTTP/1.1\r\n"
                                     f"Host: flip.test:{port}\r\n\r\n".encode())
        assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
        assert b"\r\nConnection: close\r\n" in answer
        assert answer.endswith(b"page /once</body></html>")
        assert guard.lookups == ["flip.test"]
        assert site.seen == [(f"flip.test:{port}", "/once")]
        time.sleep(0.2)
        assert rebound.hits == []
    finally:
        rebound.close()


@pytest.mark.parametrize(
    ("request_line", "reason"),
    [
        ("CONNECT {forbidden}:{port} HTTP/1.1", "{forbidden} is loopback ({forbidden})"),
        ("CONNECT pub.test:6379 HTTP/1.1", "port 6379 is not allowed"),
        ("GET http://169.254.169.254:{port}/latest HTTP/1.1", "169.254.169.254 is link-local"
         " (169.254.169.254)"),
        ("GET http://nowhere.test:{port}/ HTTP/1.1", "nowhere.test does not resolve"),
    ],
)
def test_the_proxy_refuses_with_403_and_a_reason(
    site: AttackServer, request_line: str, reason: str
) -> None:
    port = site.server_address[1]
    guard = StandInGuard([port])
    guard.names["pub.test"] = lambda: [PUBLIC]
    line = request_line.format(forbidden=FORBIDDEN, port=port)
    expected = reason.format(forbidden=FORBIDDEN)
    with EgressProxy(guard) as proxy:
        answer = _through(proxy, f"{line}\r\nHost: x\r\n\r\n".encode())
        notes = proxy.notes.all()
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert answer.endswith(f"bidwatch egress: {expected}\n".encode())
    assert [(n.reason, n.refused) for n in notes] == [(expected, True)]
    assert site.seen == []


def test_the_proxy_is_shared_and_stopped_by_its_last_user_leaving_no_thread() -> None:
    proxy = EgressProxy(StandInGuard([80]))
    first = proxy.start()
    # a lookup, so its resolver has a thread to end too
    assert _through(proxy, b"GET http://nowhere.test/ HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 403")
    assert proxy.start() == first  # a second keeper joins the running proxy
    proxy.stop()
    assert proxy.url == first
    proxy.stop()
    with pytest.raises(RuntimeError):
        _ = proxy.url
    deadline = time.monotonic() + 2
    while any(t.name.startswith(proxy.thread_name) for t in threading.enumerate()):
        assert time.monotonic() < deadline, [t.name for t in threading.enumerate()]
        time.sleep(0.05)
    host, port = first.removeprefix("http://").split(":")
    with pytest.raises(OSError), socket.create_connection((host, int(port)), timeout=1):
        pass
