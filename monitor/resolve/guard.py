"""The SSRF guard: refuse URLs whose host is (or resolves to) an address we must never reach.

A redirect chain is written by whoever placed the ad, so each hop is hostile input. Before any
request the follower asks `AddressGuard.check`. Hosts are read the way a browser reads them
(WHATWG URL rules): backslashes end the authority, tabs and newlines vanish, and a host that
ends in a number is an IPv4 address in decimal, octal or hex, in one to four parts
(2130706433, 0177.0.0.1, 0x7f.1, 127.1 are all 127.0.0.1).

The guard decides; two places ask it. The follower asks before each hop leaves the page
(so a refused hop is recorded with why), and the egress proxy (`monitor.resolve.egress`) asks
for every connection the sweep's browser opens, resolving each name once and connecting to
the address it vetted — so a DNS answer that changes between the check and the connection
(rebinding) cannot move it, and WebSockets, popups and prefetches are vetted too.
"""

from __future__ import annotations

import ipaddress
import socket
import unicodedata
from collections.abc import Callable, Iterable
from urllib.parse import unquote, urlsplit

from monitor.errors import BidwatchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


class BlockedAddress(BidwatchError):
    """A URL the guard refuses; `reason` says why in a few words."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"refused {url[:200]}: {reason}")
        self.url = url
        self.reason = reason


def system_resolve(host: str) -> list[str]:
    """Every address the system resolver gives for `host` (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


class AddressGuard:
    """Decides whether a URL may be requested.

    allow_private opts in to loopback and private ranges (the simulator, the tests); link-local
    (cloud metadata at 169.254.169.254), multicast, reserved and unspecified stay refused.
    `resolve` maps a host name to addresses; tests and the demo pass their own.
    """

    def __init__(
        self,
        allow_private: bool = False,
        allowed_ports: Iterable[int] = (80, 443),
        resolve: Callable[[str], list[str]] = system_resolve,
    ) -> None:
        self.allow_private = allow_private
        self.allowed_ports = frozenset(allowed_ports)
        self.resolve = resolve

    def check(self, url: str) -> None:
        """Return quietly when `url` may be requested; raise BlockedAddress otherwise."""
        scheme, host, port = split_target(url)
        if scheme not in DEFAULT_PORTS:
            raise BlockedAddress(url, f"scheme {scheme or '(none)'!r} is not http or https")
        if port not in self.allowed_ports:
            raise BlockedAddress(url, f"port {port} is not allowed")
        for address in self._addresses(url, host):
            problem = self.address_problem(address)
            if problem:
                raise BlockedAddress(url, f"{host} is {problem} ({address})")

    def address_problem(self, address: IPAddress) -> str | None:
        """What is wrong with reaching `address`, or None when it is fine."""
        # The embedded IPv4 address first: it names the real problem (loopback, not "private").
        for candidate in reversed(embedded_addresses(address)):
            problem = _classify(candidate, self.allow_private)
            if problem:
                return problem
        return None

    def _addresses(self, url: str, host: str) -> list[IPAddress]:
        literal = parse_ip_host(url, host)
        if literal is not None:
            return [literal]
        try:
            resolved = self.resolve(host)
        except (OSError, UnicodeError):
            resolved = []
        return resolved_addresses(url, host, resolved)


def resolved_addresses(url: str, host: str, resolved: list[str]) -> list[IPAddress]:
    """What a resolver answered for `host`, as addresses (a scope id dropped); refused when it
    answered nothing or something that is not an address."""
    if not resolved:
        raise BlockedAddress(url, f"{host} does not resolve")
    try:
        return [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolved]
    except ValueError as exc:
        raise BlockedAddress(url, f"{host} resolved to a non-address: {exc}") from None


def split_target(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL as a browser would read it; raises BlockedAddress."""
    cleaned = "".join(ch for ch in url.strip("\x00 \t\n\r\x0b\x0c") if ch not in "\t\n\r")
    parts = urlsplit(cleaned.replace("\\", "/"))
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise BlockedAddress(url, "invalid port") from None
    host = normalise_host(parts.hostname or "")
    if not host and scheme in DEFAULT_PORTS:
        raise BlockedAddress(url, "no host")
    return scheme, host, port if port is not None else DEFAULT_PORTS.get(scheme, -1)


def normalise_host(host: str) -> str:
    """Percent-decode, fold width and case, drop a trailing dot: the host a browser connects to."""
    decoded = unicodedata.normalize("NFKC", unquote(host)).lower()
    return decoded.removesuffix(".").strip("[]")


def parse_ip_host(url: str, host: str) -> IPAddress | None:
    """The address a host literally names (IPv6, or IPv4 in any WHATWG spelling), else None."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise BlockedAddress(url, f"invalid IPv6 host {host!r}") from None
    if not _ends_in_number(host):
        return None
    value = _whatwg_ipv4(host)
    if value is None:
        # A browser refuses such a URL outright; so do we rather than guess.
        raise BlockedAddress(url, f"invalid IPv4 host {host!r}")
    return ipaddress.IPv4Address(value)


def _ends_in_number(host: str) -> bool:
    last = host.split(".")[-1]
    if last.isdigit() and last.isascii():
        return True
    return last.startswith("0x") and all(c in "0123456789abcdef" for c in last[2:])


def _whatwg_ipv4(host: str) -> int | None:
    parts = host.split(".")
    if len(parts) > 4 or any(p == "" for p in parts):
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    *head, last = [n for n in numbers if n is not None]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(parts)):
        return None
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return value


def _ipv4_number(part: str) -> int | None:
    digits, base = part, 10
    if part[:2] in ("0x", "0X"):
        digits, base = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        digits, base = part[1:], 8
    if digits == "":
        return 0
    try:
        return int(digits, base) if digits.isascii() and digits.isalnum() else None
    except ValueError:
        return None


def embedded_addresses(address: IPAddress) -> list[IPAddress]:
    """The address itself and any IPv4 address it carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped:
            found.append(mapped)
        if address.teredo:
            found.extend(address.teredo)
        if address in NAT64_PREFIX:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _classify(address: IPAddress, allow_private: bool) -> str | None:
    always = [
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
    ]
    for name, flagged in always:
        if flagged:
            return name
    # before the private test: Python counts these "private" too, and the opt-in for private
    # networks must not open them
    if address.is_reserved or any(address in network for network in _NEVER_REACHED):
        return "reserved"
    if address.is_loopback:
        return None if allow_private else "loopback"
    if address.is_private:
        return None if allow_private else "private"
    if not address.is_global:
        return "not globally routable"
    return None


#: ranges no chain has reason to reach, even with private networks allowed: limited broadcast,
#: benchmarking (RFC 2544), IETF protocol assignments (RFC 6890), the documentation ranges,
#: and 240/4 (is_reserved covers it in IPv4Address, listed for the IPv4-mapped forms)
_NEVER_REACHED = tuple(ipaddress.ip_network(n) for n in (
    "255.255.255.255/32", "198.18.0.0/15", "192.0.0.0/24", "192.0.2.0/24", "198.51.100.0/24",
    "203.0.113.0/24", "240.0.0.0/4", "2001:db8::/32", "100::/64",
))
