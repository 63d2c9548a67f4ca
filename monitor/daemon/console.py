"""The console inside `bidwatch run` (BIDWATCH_CONSOLE_LISTEN): the same app `bidwatch
serve` runs, under uvicorn in a thread of its own with its own event loop and its own
store connection, so a slow page never holds up a sweep and a sweep never a page. It
starts before the schedule and stops after it, within a bounded wait."""

from __future__ import annotations

import logging
import threading
import time

import uvicorn

from monitor.console.app import create_app
from monitor.console.secret import console_secret
from monitor.errors import ConfigError
from monitor.settings import Settings
from monitor.store import Store

log = logging.getLogger(__name__)

#: how long a stop waits for requests in flight, then for the thread
STOP_GRACE_S = 5.0
#: how long a start waits for the socket to be bound (a port taken fails the start)
START_TIMEOUT_S = 15.0


class ConsoleServer:
    """uvicorn serving the console on `host:port` until `stop()`."""

    def __init__(self, settings: Settings, host: str, port: int) -> None:
        secret = console_secret(settings)
        if secret.note:
            log.info("%s", secret.note)
        self.store = Store(settings.database)
        app = create_app(settings, self.store, secret=secret.value)
        # proxy headers are not trusted: behind a reverse proxy, see docs/console.md
        config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                                proxy_headers=False, server_header=False,
                                timeout_graceful_shutdown=int(STOP_GRACE_S), lifespan="off")
        self.server = uvicorn.Server(config)
        self.address = f"{host}:{port}"
        self._thread = threading.Thread(target=self.server.run, name="console", daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while (not self.server.started and self._thread.is_alive()
               and time.monotonic() < deadline):
            time.sleep(0.05)
        if not self.server.started:
            self.stop()
            raise ConfigError(f"BIDWATCH_CONSOLE_LISTEN={self.address!r}: the console could "
                              "not listen there (in use? see the log)")
        log.info("console on http://%s/ (docs/console.md)", self.address)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(STOP_GRACE_S + 2)
        if self._thread.is_alive():  # requests still in flight: cut them short
            self.server.force_exit = True
            self._thread.join(2)
        self.store.close()


def start_console(settings: Settings) -> ConsoleServer | None:
    """The console the settings ask for, listening; None when BIDWATCH_CONSOLE_LISTEN is
    empty. An address that cannot be used stops the daemon's start (ConfigError)."""
    listen = settings.console_listen.strip()
    if listen in ("", "0"):
        return None
    host, _, port = listen.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"BIDWATCH_CONSOLE_LISTEN={listen!r}: give host:port, e.g. "
                          "127.0.0.1:8700") from None
    server = ConsoleServer(settings, host.strip("[]") or "127.0.0.1", number)
    server.start()
    return server
