"""Building the services a command needs from settings: the program, the store, the judge.

The CLI and the demo call these; nothing here keeps process-wide state.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from monitor.capture.evidence import EvidenceStore
from monitor.errors import ConfigError
from monitor.judge import compile_policies
from monitor.judge.incidents import escalation_of
from monitor.program import Program, load_program
from monitor.resolve.egress import ConnectTo, EgressProxy, Upstream, direct, to_port
from monitor.resolve.guard import AddressGuard
from monitor.settings import Settings
from monitor.store import Store
from monitor.sweep import SweepDeps


def open_store(settings: Settings) -> Store:
    settings.home.mkdir(parents=True, exist_ok=True)
    return Store(settings.database)


@contextmanager
def opened_store(settings: Settings) -> Iterator[Store]:
    """The store for one command, closed afterwards whatever happens."""
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def address_guard(settings: Settings) -> AddressGuard:
    """The SSRF guard for chain following. In simulator mode every name resolves to the
    simulator (as the browser's resolver rule does), and loopback is allowed explicitly."""
    if settings.simulator:
        host, _, _port = settings.simulator.rpartition(":")
        return AddressGuard(allow_private=True, allowed_ports=settings.chain_ports,
                            resolve=lambda _name: [host])
    return AddressGuard(allow_private=settings.allow_private_networks,
                        allowed_ports=settings.chain_ports, resolve=_resolve)


def egress_proxy(settings: Settings, guard: AddressGuard) -> EgressProxy:
    """The proxy every connection of the sweep's browser goes through, vetted by `guard`. In
    simulator mode the guard's resolver gives the simulator's address for every name, and the
    proxy connects there at the simulator's one port (http and https alike), as the browser's
    --host-resolver-rules did before. A stretch of traffic may last as long as a page or a
    chain may (the longer of the two). Every market proxy must be one the proxy can chain
    to (http://): a market is never sent around it (ConfigError, naming no credentials)."""
    for market, url in sorted(settings.proxies.items()):
        try:
            Upstream.parse(url)
        except ValueError as error:
            raise ConfigError(f"BIDWATCH_PROXIES[{market!r}]: {error}") from None
    connect_to: ConnectTo = direct
    if settings.simulator:
        connect_to = to_port(int(settings.simulator.rpartition(":")[2]))
    return EgressProxy(guard, connect_to=connect_to,
                       stretch_s=max(settings.chain_timeout_s, settings.page_timeout_s))


def _resolve(name: str) -> list[str]:
    infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    return sorted({str(info[4][0]) for info in infos})


def build_deps(settings: Settings, program: Program | None = None) -> SweepDeps:
    program = program or load_program(settings.rules)
    guard = address_guard(settings)
    return SweepDeps(
        settings=settings,
        program=program,
        store=open_store(settings),
        judge=compile_policies(program),
        evidence=EvidenceStore(settings.home),
        guard=guard,
        escalation=escalation_of(program),
        egress=egress_proxy(settings, guard),
    )
