"""The SSRF guard refuses every spelling of a private address and lets public ones through.

`resolve` is the guard's seam for name resolution: the tests pass a fixed table instead of
asking DNS, which is exactly how the demo maps every name to the simulator.
"""

from __future__ import annotations

import pytest

from monitor.resolve.guard import AddressGuard, BlockedAddress, parse_ip_host, split_target

PUBLIC = "93.184.215.14"


def table_resolver(table: dict[str, list[str]]):
    def resolve(host: str) -> list[str]:
        return table.get(host, [])

    return resolve


@pytest.fixture
def guard() -> AddressGuard:
    return AddressGuard(
        resolve=table_resolver(
            {
                "brand.example.com": [PUBLIC],
                "internal.example.com": ["10.1.2.3"],
                "mixed.example.com": [PUBLIC, "127.0.0.1"],
                "metadata.example.com": ["169.254.169.254"],
                "v6.example.com": ["2606:4700::1111"],
                "v6-local.example.com": ["fd00::1"],
            }
        )
    )


REFUSED = [
    "http://127.0.0.1/",
    "http://127.0.0.2/",
    "http://2130706433/",  # decimal
    "http://0177.0.0.1/",  # octal
    "http://0x7f.1/",  # hex, short
    "http://0x7f000001/",
    "http://127.1/",  # short form
    "http://127.0.1/",
    "http://0/",  # 0.0.0.0
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]/",
    "http://[0:0:0:0:0:ffff:10.0.0.1]/",
    "http://[2002:7f00:1::]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    "http://[fe80::1]/",
    "http://[fd12:3456::1]/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",  # carrier-grade NAT: not globally routable
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://%31%32%37.0.0.1/",  # percent-encoded host
    "http://１２７.０.０.１/",  # full-width digits
    "http://127.0.0.1\\@brand.example.com/",  # backslash ends the authority in a browser
    "http://127.0.0.\n1/",  # newlines vanish in a browser
    "http://brand.example.com@127.0.0.1/",  # userinfo
    "http://internal.example.com/",  # a name that resolves to a private address
    "http://mixed.example.com/",  # any resolved address counts
    "http://metadata.example.com/",
    "http://v6-local.example.com/",
    "http://unknown.example.com/",  # does not resolve
    "ftp://brand.example.com/",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http://brand.example.com:8080/",  # port
    "https://brand.example.com:22/",
    "http://brand.example.com:99999/",
    "http:///nohost",
    "http://256.1.1.1/",  # invalid IPv4: a browser refuses it too
    "http://1.2.3.4.5/",
]

ALLOWED = [
    f"http://{PUBLIC}/",
    "https://brand.example.com/",
    "https://BRAND.example.com./path?x=1",
    "http://brand.example.com:80/",
    "https://brand.example.com:443/",
    "https://v6.example.com/",
    "http://[2606:4700::1111]/",
    "http://1572395790/",  # 93.184.215.14 in decimal is still public
]


@pytest.mark.parametrize("url", REFUSED)
def test_refuses(guard: AddressGuard, url: str) -> None:
    with pytest.raises(BlockedAddress) as refused:
        guard.check(url)
    assert refused.value.reason
    assert refused.value.url == url


@pytest.mark.parametrize("url", ALLOWED)
def test_allows_public(guard: AddressGuard, url: str) -> None:
    guard.check(url)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("192.168.257", "192.168.1.1"),
        ("0x7f.0.0.0x1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ],
)
def test_reads_address_spellings_like_a_browser(host: str, address: str) -> None:
    assert str(parse_ip_host(f"http://{host}/", host)) == address


def test_names_that_end_in_letters_are_names() -> None:
    assert parse_ip_host("http://a.example/", "a.example") is None
    assert parse_ip_host("http://0x7g.com/", "0x7g.com") is None


def test_reason_names_the_problem(guard: AddressGuard) -> None:
    with pytest.raises(BlockedAddress, match="loopback"):
        guard.check("http://[::ffff:127.0.0.1]/")
    with pytest.raises(BlockedAddress, match="link-local"):
        guard.check("http://metadata.example.com/")
    with pytest.raises(BlockedAddress, match="port 8080"):
        guard.check("http://brand.example.com:8080/")


def test_allow_private_opens_loopback_and_private_only() -> None:
    simulator = AddressGuard(
        allow_private=True, allowed_ports=(80, 443, 8765), resolve=lambda _h: ["127.0.0.1"]
    )
    simulator.check("https://prf.hn/click/camref:1/")
    simulator.check("http://www.lumora.com:8765/")
    simulator.check("http://10.0.0.1/")
    for url in ("http://169.254.169.254/", "http://0.0.0.0/", "http://224.0.0.1/"):
        with pytest.raises(BlockedAddress):
            simulator.check(url)
    # reserved, broadcast, benchmarking, documentation: Python calls them private, and the
    # opt-in must still not open them (nor their IPv4-mapped forms)
    for url in ("http://240.0.0.1/", "http://255.255.255.255/", "http://198.18.0.1/",
                "http://192.0.2.1/", "http://[::ffff:198.18.0.1]/", "http://[2001:db8::1]/"):
        with pytest.raises(BlockedAddress, match="reserved"):
            simulator.check(url)
    with pytest.raises(BlockedAddress, match="port"):
        simulator.check("http://www.lumora.com:9000/")


def test_resolver_errors_are_refusals() -> None:
    def failing(_host: str) -> list[str]:
        raise OSError("no DNS")

    with pytest.raises(BlockedAddress, match="does not resolve"):
        AddressGuard(resolve=failing).check("https://brand.example.com/")


def test_split_target_defaults_ports() -> None:
    assert split_target("HTTPS://Example.COM/x") == ("https", "example.com", 443)
    assert split_target("http://example.com:8080") == ("http", "example.com", 8080)
