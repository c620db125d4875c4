"""Timers: every / after / at, handler kinds, no drift, skipped ticks, lifetime, bad input."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Generator
from datetime import UTC, datetime, timedelta

import pytest

import hubbub
from hubbub import events

from .conftest import Start, until


def service() -> hubbub.Service:
    return hubbub.Service(listen=["tcp://127.0.0.1:0"])


async def test_every_ticks_on_its_grid_and_the_decorator_returns_the_timer(
    start: Start,
) -> None:
    svc = service()
    seen: list[float] = []

    @svc.every(0.05)
    def tick(event: events.Tick) -> None:
        assert event.service is svc and event.timer is tick
        seen.append(asyncio.get_running_loop().time())

    assert isinstance(tick, hubbub.Timer)
    await start(svc)
    began = asyncio.get_running_loop().time()
    await until(lambda: len(seen) >= 8)
    tick.cancel()
    # the n-th tick is due at start + n * period: no drift, however late each ran
    for n, at in enumerate(seen[:8], start=1):
        assert at - began == pytest.approx(n * 0.05, abs=0.03), (n, at - began)


async def test_a_slow_handler_does_not_push_the_grid_back(start: Start) -> None:
    svc = service()
    seen: list[float] = []

    def slow(event: events.Tick) -> None:
        seen.append(asyncio.get_running_loop().time())
        time.sleep(0.02)  # 40% of the period, every time

    timer = svc.every(0.05, slow)
    await start(svc)
    await until(lambda: len(seen) >= 10)
    timer.cancel()
    span = seen[9] - seen[0]
    assert span == pytest.approx(9 * 0.05, abs=0.03)  # drift would add 9 x 20 ms


async def test_missed_ticks_are_skipped_with_one_log_line(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service()
    seen: list[int] = []
    timer = svc.every(0.05, lambda e: seen.append(1))
    await start(svc)
    await until(lambda: len(seen) >= 1)
    with caplog.at_level(logging.WARNING, logger="hubbub.timers"):
        time.sleep(0.3)  # the loop is blocked for six periods
        await asyncio.sleep(0.12)
    timer.cancel()
    skipped = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(skipped) == 1
    assert "tick(s) of 1 timer(s) skipped" in skipped[0].getMessage()
    assert len(seen) <= 5  # one late tick, then the grid: never a burst of six


async def test_every_kind_of_handler(start: Start) -> None:
    svc = service()
    seen: list[str] = []

    async def coroutine(event: events.Tick) -> None:
        await asyncio.sleep(0)
        seen.append("async")

    class Ticker(hubbub.Handler):
        def handler_tick(self, event: events.Tick) -> None:
            seen.append("handler")

    svc.after(0.01, lambda e: seen.append("function"))
    svc.after(0.01, coroutine)
    svc.after(0.01, Ticker)
    await start(svc)
    await until(lambda: len(seen) == 3)
    assert sorted(seen) == ["async", "function", "handler"]


async def test_a_raising_handler_keeps_its_timer(start: Start) -> None:
    svc = service()
    calls: list[int] = []
    errors: list[BaseException] = []
    svc.listen(events.HandlerError, lambda e: errors.append(e.error))

    def boom(event: events.Tick) -> None:
        calls.append(1)
        raise RuntimeError("tick failed")

    timer = svc.every(0.02, boom)
    await start(svc)
    await until(lambda: len(calls) >= 3)
    assert timer.active
    assert all(isinstance(e, RuntimeError) for e in errors) and errors


async def test_a_handler_that_never_returns_holds_up_nothing(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    svc = service()
    hung: list[int] = []
    other: list[int] = []

    async def forever(event: events.Tick) -> None:
        hung.append(1)
        await asyncio.Event().wait()

    stuck = svc.every(0.02, forever)
    svc.every(0.02, lambda e: other.append(1))
    with caplog.at_level(logging.WARNING, logger="hubbub.timers"):
        await start(svc)
        await until(lambda: len(other) >= 10)
    assert hung == [1]  # its later ticks were skipped, not piled up as tasks
    assert stuck.active
    assert any("still running" in r.getMessage() for r in caplog.records)


async def test_after_and_at(start: Start) -> None:
    svc = service()
    seen: list[str] = []
    now = datetime.now(UTC)
    svc.at(now + timedelta(seconds=0.05), lambda e: seen.append("aware"))
    svc.at(datetime.now() + timedelta(seconds=0.05), lambda e: seen.append("local"))
    svc.at(now - timedelta(hours=1), lambda e: seen.append("past"))
    once = svc.after(0.02, lambda e: seen.append("after"))
    assert once.next is not None and once.active
    await start(svc)
    await until(lambda: len(seen) == 4)
    assert seen[0] == "past"  # already due: at once
    assert set(seen) == {"aware", "local", "past", "after"}
    assert not once.active and once.next is None


async def test_timers_run_between_post_start_and_pre_stop(start: Start) -> None:
    svc = service()
    seen: list[str] = []
    svc.every(0.01, lambda e: seen.append("tick"))
    svc.listen(events.PostStart, lambda e: seen.append("PostStart"))
    svc.listen(events.PreStop, lambda e: seen.append("PreStop"))
    await asyncio.sleep(0.05)
    assert seen == []  # made before start: not running yet
    await start(svc)
    await until(lambda: seen.count("tick") >= 3)
    assert seen[0] == "PostStart"
    await svc.stop()
    stopped = len(seen)
    await asyncio.sleep(0.05)
    assert seen[-1] == "PreStop" and len(seen) == stopped


async def test_cancel_from_inside_and_next(start: Start) -> None:
    svc = service()
    seen: list[int] = []

    @svc.every(0.01)
    def three(event: events.Tick) -> None:
        seen.append(1)
        if len(seen) == 3:
            event.timer.cancel()

    await start(svc)
    nxt = three.next
    assert nxt is not None and time.time() - 0.01 <= nxt <= time.time() + 0.02
    await until(lambda: len(seen) == 3)
    await asyncio.sleep(0.05)
    assert len(seen) == 3 and three.next is None
    three.cancel()  # twice: harmless


async def test_every_random_intervals(start: Start) -> None:
    svc = service()
    seen: list[float] = []
    timer = svc.every(random=(0.01, 0.03), handler=lambda e: seen.append(time.monotonic()))
    await start(svc)
    await until(lambda: len(seen) >= 8)
    timer.cancel()
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert all(0.005 <= gap <= 0.06 for gap in gaps), gaps


def test_bad_arguments_are_clear_errors() -> None:
    svc = service()
    for call, kind in (
        (lambda: svc.every(0, print), ValueError),
        (lambda: svc.every(-1, print), ValueError),
        (lambda: svc.every(float("nan"), print), ValueError),
        (lambda: svc.every("5", print), TypeError),  # type: ignore[arg-type]
        (lambda: svc.every(print), TypeError),  # type: ignore[arg-type]
        (lambda: svc.every(handler=print), TypeError),
        (lambda: svc.every(1, print, random=(1, 2)), TypeError),
        (lambda: svc.every(random=(2, 1), handler=print), ValueError),
        (lambda: svc.after(-0.1, print), ValueError),
        (lambda: svc.every(1, "not callable"), TypeError),
        (lambda: svc.every(1, print, jitter=-1), ValueError),
    ):
        with pytest.raises(kind):
            call()


async def test_a_generator_handler_is_closed_with_a_log_line(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A timer has no client to read from: a handler that yields for input is closed."""
    svc = service()
    closed: list[bool] = []

    def waits(event: events.Tick) -> Generator[None, str, None]:
        try:
            yield
        finally:
            closed.append(True)

    with caplog.at_level(logging.ERROR, logger="hubbub"):
        svc.after(0, waits)
        await start(svc)
        await until(lambda: closed)
    assert any("no client to read from" in r.getMessage() for r in caplog.records)
