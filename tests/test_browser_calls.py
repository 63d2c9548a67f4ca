"""The bound on every browser call (`monitor.capture.calls`), without a browser: a call that
answers, one that never does, one cut short when its browser is lost, and the corners of
losing a browser while its calls are ending."""

from __future__ import annotations

import asyncio
import time

import pytest

from monitor.capture.calls import BrowserCalls, BrowserLost, CallTimedOut, bounded


async def _answer(value: int, after_s: float = 0.0) -> int:
    await asyncio.sleep(after_s)
    return value


async def _never() -> None:
    await asyncio.Event().wait()  # a browser that never answers


def test_an_answer_within_the_bound_passes_through() -> None:
    assert asyncio.run(BrowserCalls(1)(_answer(7), "new_page")) == 7


def test_a_call_without_an_answer_ends_at_its_bound_as_a_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(CallTimedOut, match=r"new_page timed out after 0\.2 s") as raised:
        asyncio.run(BrowserCalls(5)(_never(), "new_page", 0.2))
    assert isinstance(raised.value, TimeoutError) and raised.value.what == "new_page"
    assert time.monotonic() - started < 2


def test_losing_the_browser_ends_every_waiting_call_at_once() -> None:
    async def run() -> tuple[list[BaseException], float]:
        calls = BrowserCalls(60)
        waiting = [asyncio.ensure_future(calls(_never(), f"call {n}")) for n in range(3)]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        calls.lose("disconnected")
        ended = await asyncio.gather(*waiting, return_exceptions=True)
        return [e for e in ended if isinstance(e, BaseException)], time.monotonic() - started

    errors, seconds = asyncio.run(run())
    assert [str(e) for e in errors] == [f"call {n}: disconnected" for n in range(3)]
    assert all(isinstance(e, BrowserLost) for e in errors) and seconds < 1


def test_a_call_on_a_lost_browser_fails_before_it_starts() -> None:
    async def run() -> None:
        calls = BrowserCalls(60)
        calls.lose("disconnected")
        calls.lose("hung")  # the first reason stays
        coroutine = _answer(1)
        with pytest.raises(BrowserLost, match="goto: disconnected"):
            await calls(coroutine, "goto")
        assert coroutine.cr_frame is None  # closed, never run (and no "never awaited")

    asyncio.run(run())


def test_losing_the_browser_as_a_call_times_out_is_no_error_of_its_own() -> None:
    """The deadline fires and the browser is lost in the same loop iteration: the expiring
    bound cannot be moved (asyncio raises RuntimeError; seen when Chromium was killed), and
    the call still ends as BrowserLost."""

    raised: list[BaseException] = []

    async def run() -> BaseException | None:
        calls = BrowserCalls(60)
        waiting = asyncio.ensure_future(calls(_never(), "content", 0.05))
        await asyncio.sleep(0)
        (bound,) = calls._waiting  # the call's deadline, to lose the browser right after it

        def lose() -> None:  # as the browser's "disconnected" handler does
            try:
                calls.lose("disconnected")
            except Exception as error:
                raised.append(error)

        loop = asyncio.get_running_loop()
        lost = loop.call_at(bound.when() + 1e-9, lose)
        try:
            await waiting
        except BaseException as error:
            return error
        finally:
            lost.cancel()
        return None

    error = asyncio.run(run())
    assert raised == []
    assert isinstance(error, BrowserLost) and str(error) == "content: disconnected"


def test_an_error_of_the_call_itself_passes_through_unchanged() -> None:
    async def failing() -> None:
        raise TimeoutError("a timeout of the call's own")

    with pytest.raises(TimeoutError, match="of the call's own") as raised:
        asyncio.run(bounded(failing(), "evaluate", 1))
    assert not isinstance(raised.value, CallTimedOut)
