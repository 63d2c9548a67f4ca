"""One HTTP exchange as plain data: the request the simulator read and the reply it sends."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs

_MOBILE_AGENT = re.compile(r"Mobile|Android|iPhone|iPad|iPod", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """What tests see of each request the simulator answered."""

    host: str
    path: str
    query: str
    method: str
    at: datetime


@dataclass(frozen=True)
class Request:
    method: str
    scheme: str  # http | https
    host: str  # lower case, without the port
    path: str  # as sent, percent-encoded
    query: str  # as sent, without the "?"
    headers: dict[str, str]  # names in lower case
    body: bytes = b""

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}{self.path}" + (f"?{self.query}" if self.query else "")

    @cached_property
    def args(self) -> dict[str, str]:
        """Query parameters, decoded; the first value of each wins."""
        return _first_values(self.query)

    @cached_property
    def form(self) -> dict[str, str]:
        """Fields of a url-encoded POST body."""
        return _first_values(self.body.decode("utf-8", "replace"))

    @property
    def device(self) -> str:
        agent = self.headers.get("user-agent", "")
        return "mobile" if _MOBILE_AGENT.search(agent) else "desktop"

    def cookie(self, name: str) -> str | None:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return None
        morsel = jar.get(name)
        return morsel.value if morsel else None


def _first_values(encoded: str) -> dict[str, str]:
    parsed = parse_qs(encoded, keep_blank_values=True)
    return {name: values[0] for name, values in parsed.items()}


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()
    #: seconds to wait before answering at all (a slow page)
    delay: float = 0.0
    #: seconds to stall half-way through the body (a page that hangs)
    stall: float = 0.0

    @classmethod
    def html(cls, status: int, markup: str, **kwargs: object) -> Reply:
        return cls(status, markup.encode("utf-8"), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def redirect(cls, status: int, location: str, *headers: tuple[str, str]) -> Reply:
        return cls(status, b"", headers=(("Location", location), *headers))
