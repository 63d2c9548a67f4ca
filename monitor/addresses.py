"""The one rule for an email address: one plain address, nothing that could smuggle a header.

The program's validation and the sender both apply it, so an address the program accepts is
one the sender will use (`a,b@x.com` is refused when the program is read, not at sending).
"""

from __future__ import annotations

import re

from monitor.errors import BidwatchError
from monitor.text import inert_text

_ADDRESS = re.compile(r"^[^@\s,;:<>()\[\]\"\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,63}$")


class AddressError(BidwatchError, ValueError):
    """An email address that is not one plain address (and so could smuggle headers)."""


def checked_address(value: str) -> str:
    """The address itself, or AddressError: 'a@x.com', never 'a@x.com\\r\\nBcc: …'."""
    if not _ADDRESS.fullmatch(value):
        raise AddressError(f"not a plain email address: {inert_text(value, 80)!r}")
    return value
