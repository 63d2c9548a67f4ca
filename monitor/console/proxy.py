"""The console behind a reverse proxy: the client's address and scheme from X-Forwarded-For
and -Proto (uvicorn's ProxyHeadersMiddleware), believed only from the proxies in
BIDWATCH_CONSOLE_TRUSTED_PROXIES; and whether the request came through one, which the guard
needs before it believes an SSO proxy's user header."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

#: scope["state"] key: the request's direct peer is a trusted proxy
FROM_TRUSTED_PROXY = "from_trusted_proxy"


def trusted_proxies(setting: str) -> list[str]:
    return [part.strip() for part in setting.split(",") if part.strip()]


class TrustedProxies:
    """Marks each request with whether its peer is a trusted proxy, then lets uvicorn's
    middleware read the forwarded client from it (no trusted proxy: nothing is believed)."""

    def __init__(self, app: ASGIApp, proxies: list[str]) -> None:
        self.app = app
        self.forwarded = ProxyHeadersMiddleware(app, trusted_hosts=proxies) if proxies else None  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        trusted = bool(self.forwarded and peer and peer[0] in self.forwarded.trusted_hosts)
        scope.setdefault("state", {})[FROM_TRUSTED_PROXY] = trusted
        if self.forwarded is None:
            await self.app(scope, receive, send)
        else:
            await self.forwarded(scope, receive, send)  # type: ignore[arg-type]
