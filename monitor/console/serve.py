"""`bidwatch serve`: the console under uvicorn, over the store of the settings."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn

from monitor.console.app import create_app
from monitor.console.secret import console_secret
from monitor.services.wiring import opened_store
from monitor.settings import Settings


def serve_console(settings: Settings, host: str, port: int, say: Callable[[str], None]) -> None:
    secret = console_secret(settings)
    if secret.note:
        say(secret.note)
    with opened_store(settings) as store:
        if not store.console_users():
            say("no console user yet: add the first with `bidwatch users add NAME --role admin`")
        app = create_app(settings, store, secret=secret.value)
        say(f"the console listens on http://{host}:{port}/ (docs/console.md)")
        # proxy headers are not trusted: behind a reverse proxy, see docs/console.md
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False,
                    server_header=False, timeout_graceful_shutdown=5)
