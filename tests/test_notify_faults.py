"""Delivery under SMTP faults, against real aiosmtpd servers and sockets on loopback: a
server that refuses one recipient, a server that accepts TCP and never answers, and a stop
that comes while a slow server holds a message."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from monitor.notify.outbox import DeliveryReport, DeliveryStop, deliver_outbox
from monitor.notify.render import TemplateSet
from monitor.store import Store
from tests.notify_support import TEMPLATES, Breach, notify_settings, program, record_breach

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
TEMPLATE_SET = TemplateSet(TEMPLATES)
PARTNER = "affiliates@sleepsaver.net"
CC = "legal@lumora.com"  # rules/program.yaml: notices.cc
#: every wait on another thread or a server is bounded by this
WAIT_S = 30

@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(f"sqlite:///{tmp_path / 'home' / 'bidwatch.db'}")
    yield opened
    opened.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """An aiosmtpd handler that keeps each transaction's recipients and DATA; it can refuse
    a recipient at RCPT (550), and hold a message at DATA until released."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.hold = False
        self.holding = threading.Event()
        self.release = threading.Event()
        self.received: list[tuple[tuple[str, ...], bytes, float]] = []  # (rcpts, DATA, when)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold:
            self.holding.set()
            deadline = time.monotonic() + WAIT_S
            while not self.release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
        self.received.append((tuple(envelope.rcpt_tos), envelope.original_content,
                              time.time()))
        return "250 Message accepted"

    def copies_to(self, address: str) -> int:
        return sum(address in rcpts for rcpts, _, _ in self.received)


@pytest.fixture
def server() -> Iterator[tuple[Server, str]]:
    handler, port = Server(), _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, f"smtp://127.0.0.1:{port}?starttls=never"
    finally:
        handler.release.set()
        controller.stop()


# -- a recipient refused ---------------------------------------------------------------------


def test_a_refused_partner_is_owed_the_notice_until_the_server_takes_it(
    store: Store, tmp_path: Path, server: tuple[Server, str]
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("sleepsaver"), T0)
    handler, url = server
    handler.refuse = {PARTNER}
    settings = notify_settings(home, notice_url=url)

    first = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)

    # the Cc took it, the partner did not: the notice is not sent, it is owed to the partner
    assert (first.sent, first.failed) == (0, 1)
    [row] = store.outbox_items()
    assert row.status == "pending" and row.attempts == 1
    assert f"{PARTNER} (550 5.1.1 no such mailbox)" in (row.last_error or "")
    assert handler.copies_to(PARTNER) == 0

    handler.refuse = set()
    later = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(hours=1))

    assert later.sent == 1 and handler.copies_to(PARTNER) == 1
    [row] = store.outbox_items()
    assert row.status == "sent"
    # the retry sent the bytes stored before the first attempt
    assert {data for _, data, _ in handler.received} == {row.message}


def test_the_cc_gets_one_copy_while_the_refused_partner_waits(
    store: Store, tmp_path: Path, server: tuple[Server, str]
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("sleepsaver"), T0)
    handler, url = server
    handler.refuse = {PARTNER}
    settings = notify_settings(home, notice_url=url, outbox_max_attempts=6)

    for hour in range(3):  # three runs while the server refuses the partner
        deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(hours=hour))
    assert (handler.copies_to(CC), handler.copies_to(PARTNER)) == (1, 0)
    [row] = store.outbox_items()
    assert row.status == "pending" and row.attempts == 3
    assert row.delivered_to == (CC,)

    handler.refuse = set()
    for hour in range(3, 5):
        deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(hours=hour))

    assert (handler.copies_to(CC), handler.copies_to(PARTNER)) == (1, 1)
    # the partner's transaction named the partner alone; the message is the stored one
    assert handler.received[-1][0] == (PARTNER,)
    [row] = store.outbox_items()
    assert row.status == "sent" and set(row.delivered_to) == {PARTNER, CC}
    assert {data for _, data, _ in handler.received} == {row.message}


# -- a hung server ---------------------------------------------------------------------------


@pytest.fixture
def hung_port() -> Iterator[int]:
    """A TCP listener that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(WAIT_S)
        for conn in accepted:
            conn.close()
        listener.close()


def test_over_a_hung_server_each_backoff_runs_from_its_own_failure(
    store: Store, tmp_path: Path, hung_port: int
) -> None:
    home = tmp_path / "home"
    for partner, language in (("sleepsaver", "en"), ("kuponhemat", "id"),
                              ("dealspotter", "en")):
        record_breach(store, home, Breach(partner, language=language), T0)
    backoff = 300
    settings = notify_settings(home, notice_url=f"smtp://127.0.0.1:{hung_port}?starttls=never",
                               smtp_timeout_s=1, outbox_backoff_s=backoff)

    started = time.monotonic()
    report = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0)
    elapsed = time.monotonic() - started

    assert report.failed == 3 and elapsed < 3 * 1 + 5  # a timeout each, and some slack
    rows = sorted(store.outbox_items(), key=lambda r: r.next_attempt_at or T0)
    assert all(r.last_error == f"127.0.0.1:{hung_port}: no answer within 1 s" for r in rows)
    # each failure's moment, as the run's clock saw it (T0 + time since the run began)
    failed_at = [(r.next_attempt_at - T0 - timedelta(seconds=backoff)).total_seconds()
                 for r in rows if r.next_attempt_at]
    assert len(failed_at) == 3
    for n, moment in enumerate(failed_at, start=1):
        # the n-th failed after n timeouts: later than n seconds, never after the run ended
        assert n * 0.9 <= moment <= elapsed + 0.1, failed_at
    # so none of them is due before its own backoff has passed, even the last one
    due = store.due_outbox(T0 + timedelta(seconds=backoff + 1.5))
    assert len(due) < 3


# -- a stop while a slow server holds a message -------------------------------------------


def _three_partners(store: Store, home: Path) -> None:
    for partner, language in (("sleepsaver", "en"), ("kuponhemat", "id"),
                              ("dealspotter", "en")):
        record_breach(store, home, Breach(partner, language=language), T0)


def _deliver_in_thread(
    store: Store, settings: Any, stop: DeliveryStop
) -> tuple[threading.Thread, list[DeliveryReport]]:
    reports: list[DeliveryReport] = []
    thread = threading.Thread(target=lambda: reports.append(deliver_outbox(
        store, program(), settings, TEMPLATE_SET, now=T0, stop=stop)))
    thread.start()
    return thread, reports


def test_a_stop_ends_delivery_after_the_message_in_flight(
    store: Store, tmp_path: Path, server: tuple[Server, str]
) -> None:
    home = tmp_path / "home"
    _three_partners(store, home)
    handler, url = server
    handler.hold = True
    stop = DeliveryStop()
    thread, reports = _deliver_in_thread(store, notify_settings(home, notice_url=url), stop)

    assert handler.holding.wait(WAIT_S)
    stop.request()  # while the server holds the first message
    handler.release.set()
    thread.join(WAIT_S)

    assert not thread.is_alive()
    [report] = reports
    assert report.stopped and (report.sent, report.messages) == (1, 1)
    assert len(handler.received) == 1  # the one in flight went; nothing after the stop
    statuses = sorted(r.status for r in store.outbox_items())
    assert statuses == ["pending", "pending", "sent"]
    assert {r.attempts for r in store.outbox_items() if r.status == "pending"} == {0}


def test_an_abort_cuts_the_send_short_and_the_item_goes_again_marked(
    store: Store, tmp_path: Path, server: tuple[Server, str]
) -> None:
    home = tmp_path / "home"
    record_breach(store, home, Breach("sleepsaver"), T0)
    handler, url = server
    handler.hold = True
    settings = notify_settings(home, notice_url=url)
    stop = DeliveryStop()
    thread, reports = _deliver_in_thread(store, settings, stop)

    assert handler.holding.wait(WAIT_S)
    started = time.monotonic()
    stop.abort()  # the server still holds the message (it may take it yet: unknown)
    thread.join(WAIT_S)

    assert not thread.is_alive() and time.monotonic() - started < 5
    [report] = reports
    assert report.stopped and report.interrupted == 1 and report.sent == 0
    [row] = store.outbox_items()
    assert row.status == "sending" and row.attempts == 0  # outcome unknown: no verdict saved

    handler.hold = False
    handler.release.set()
    again = deliver_outbox(store, program(), settings, TEMPLATE_SET, now=T0 + timedelta(hours=1))

    assert again.sent == 1
    [row] = store.outbox_items()
    assert row.status == "sent" and "may be a duplicate" in (row.last_error or "")
    assert handler.received[-1][1] == row.message
