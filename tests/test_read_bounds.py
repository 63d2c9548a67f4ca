"""A captured result page past the readers' bounds (`engines.pagetext`) is read up to the
bound and recorded as partial, with why: never as a page fully read. A real browser against
the simulator; the bound is lowered so an ordinary result page is past it."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Iterator

import pytest

from monitor.capture.page import CUT_SHORT
from monitor.engines import pagetext
from monitor.models import CaptureStatus, Device
from monitor.plan import plan_tasks
from monitor.services.wiring import build_deps
from monitor.settings import Settings
from monitor.sweep import run_sweep

#: a bound an ordinary simulator result page is past, with ads before it
LOW_BOUND = 5_000


@pytest.fixture
def low_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    pagetext.bound_page.cache_clear()
    monkeypatch.setattr(pagetext, "MAX_PAGE_BYTES", LOW_BOUND)
    yield
    pagetext.bound_page.cache_clear()


def test_a_page_past_the_reading_bound_is_partial_and_says_why(
    sim_settings: Settings, low_bound: None,
) -> None:
    deps = build_deps(sim_settings)
    tasks = plan_tasks(deps.program, engines=["google"], markets=["us-en"],
                       devices=[Device.desktop], terms=["Lumora"])
    report = asyncio.run(run_sweep(deps, tasks))
    # a partial page is asked once more, as a page cut by the network is; both were cut
    captures = deps.store.captures()
    assert [c.status for c in captures] == [CaptureStatus.partial.value] * 2
    for capture in captures:
        assert capture.error == (f"{CUT_SHORT} for reading: more than {LOW_BOUND:,} "
                                 "characters: read the first part")
        # the evidence is the whole page, not the part read
        assert capture.html_path is not None
        html = gzip.decompress((sim_settings.home / capture.html_path).read_bytes())
        assert len(html) > LOW_BOUND
    # not covered: coverage must not count it as a page whose every ad was seen; the ads
    # before the bound are still read and judged
    assert (report.tasks, report.captured, report.retries) == (1, 0, 1)
    assert report.ads > 0
