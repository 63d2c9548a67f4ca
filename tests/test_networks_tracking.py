"""looks_like_tracking: the marks of a tracking link whose network the table does not know."""

from __future__ import annotations

import pytest

from monitor.networks.table import recognise
from monitor.networks.tracking import looks_like_tracking
from tests.test_networks import CASES


@pytest.mark.parametrize(
    "url",
    [
        "https://trk.unknownnet.io/click/123456?dest=https%3A%2F%2Fwww.lumora.com",  # redirect
        "https://links.newnet.example.com/r?u=https%253A%252F%252Fwww.lumora.com",  # twice
        "https://partners.lumora.com/?aff_id=4471&offer_id=12",  # ids by name
        "https://www.lumora.com/sale?PubID=8812",  # names compared without case
        "https://go.bridge-deals.net/out/88123",  # a tracking path then an id
        "https://t.somenet.com/c/aB3x9Qk",  # a token with digits
        "https://www.deals.example.com/click.php?id=5",  # a click script
        "https://www.lumora.com/#clickid=Zx81kq",  # ids in the fragment
        "//trk.unknownnet.io/go/55512",  # scheme-relative
    ],
)
def test_tracking_links_of_unknown_networks(url: str) -> None:
    assert recognise(url) is None
    assert looks_like_tracking(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.lumora.com/mattress?utm_source=google&utm_medium=cpc&gclid=EAIaIQobChMI",
        "https://www.lumora.com/?msclkid=0f1e2d3c&ref=producthunt",
        "https://www.lumora.com/c/abc/def/ghi",  # words, not ids
        "https://www.lumora.com/go/mattresses",
        "https://www.lumora.com/products/12345",  # an id, but no tracking segment before it
        "https://www.lumora.com/?aff_id=",  # named but empty
        "https://www.lumora.com/?q=https",  # not a URL
        "not a url",
        "",
    ],
)
def test_ordinary_pages_are_not_tracking(url: str) -> None:
    assert not looks_like_tracking(url)


def test_most_known_network_click_urls_look_like_tracking_too() -> None:
    # The marks are generic: most known networks' click URLs carry them as well (short links
    # and merchant-site parameters such as Amazon's tag do not), so an unknown network's
    # link is likely to.
    clicks = [url for url, _, expected in CASES
              if recognise(url) is not None and not _is_landing(url)]
    marked = [url for url in clicks if looks_like_tracking(url)]
    assert len(marked) >= 0.65 * len(clicks)  # 67 of 96 when written


def _is_landing(url: str) -> bool:
    from monitor.networks.table import is_landing_marker

    return is_landing_marker(url)
