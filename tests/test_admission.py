"""Tests for the gate: ``Connecting`` handlers, ``refuse()``, ``Blocked``, over real sockets."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.admission import CHECK_FAILED

from .conftest import Start, connect, until


def recording_service(**settings: Any) -> tuple[hubbub.Service, list[str]]:
    settings.setdefault("listen", ["tcp://127.0.0.1:0"])
    service = hubbub.Service(**settings)
    seen: list[str] = []
    service.listen(events.Connect, lambda e: seen.append("connect"))
    service.listen(events.Disconnect, lambda e: seen.append("disconnect"))
    service.listen(events.Receive, lambda e: seen.append(f"line {e.data}"))
    service.listen(events.Blocked, lambda e: seen.append(f"blocked {e.reason}"))
    return service, seen


async def test_refused_peer_gets_one_line_and_nothing_else_sees_it(start: Start) -> None:
    service, seen = recording_service()
    addresses: list[tuple[Any, ...]] = []

    def gate(event: events.Connecting) -> None:
        assert event.client not in service.clients
        event.refuse("Go\raway\x1b[31m now\nplease" + "x" * 500)

    service.listen(events.Connecting, gate)
    service.listen(events.Blocked, lambda e: addresses.append(e.address))
    await start(service)
    peer = await connect(service)
    line = await peer.read_line()
    assert line.startswith("Go away") and "\x1b" not in line and "please" in line
    assert len(line) <= 200
    assert await peer.closed()
    await until(lambda: seen)
    await asyncio.sleep(0.05)
    assert [s[:10] for s in seen] == ["blocked Go"]
    assert addresses and addresses[0][0] == "127.0.0.1"
    assert list(service.clients) == []


async def test_let_in_peer_connects_normally(start: Start) -> None:
    service, seen = recording_service()
    service.listen(events.Connecting, lambda e: None)
    service.listen(events.Connect, lambda e: e.client.write("hello"))
    await start(service)
    peer = await connect(service)
    assert await peer.read_line() == "hello"
    await peer.close()
    await asyncio.sleep(0.3)
    await until(lambda: "disconnect" in seen)
    assert seen == ["connect", "disconnect"]


def held_gate(service: hubbub.Service) -> asyncio.Event:
    """A Connecting handler that waits until the returned event is set."""
    release = asyncio.Event()

    async def gate(event: events.Connecting) -> None:
        await release.wait()

    service.listen(events.Connecting, gate)
    return release


async def test_async_gate_holds_input_until_connect(start: Start) -> None:
    """A coroutine handler decides later: lines sent meanwhile arrive after Connect, in order."""
    service, seen = recording_service()
    release = held_gate(service)
    await start(service)
    peer = await connect(service)
    for i in range(3):
        await peer.send(f"early {i}")
    await asyncio.sleep(0.05)
    assert seen == []
    release.set()
    await until(lambda: len(seen) == 4)
    assert seen == ["connect", "line early 0", "line early 1", "line early 2"]
    await peer.close()


async def test_async_gate_refuses(start: Start) -> None:
    service, seen = recording_service()

    async def gate(event: events.Connecting) -> None:
        await asyncio.sleep(0.01)
        event.refuse("banned")

    service.listen(events.Connecting, gate)
    await start(service)
    peer = await connect(service)
    await peer.send("hi")
    assert await peer.read_line() == "banned"
    assert await peer.closed()
    await asyncio.sleep(0.05)
    assert seen == ["blocked banned"]


async def test_peer_leaving_while_checked_gets_a_paired_connect_and_disconnect(
    start: Start,
) -> None:
    """Reads are paused during the check, so some loops notice the close only after it:
    the app sees nothing, or a Connect and its Disconnect; never a Disconnect alone."""
    service, seen = recording_service()
    release = held_gate(service)
    await start(service)
    peer = await connect(service)
    await asyncio.sleep(0.05)
    await peer.close()
    await asyncio.sleep(0.05)
    release.set()
    await until(lambda: not service.clients and seen in ([], ["connect", "disconnect"]))
    await asyncio.sleep(0.05)
    assert seen in ([], ["connect", "disconnect"])
    assert list(service.clients) == []


async def test_gate_that_raises_fails_closed(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A crashing gatekeeper refuses (generic reason), logs, and fires HandlerError."""
    service, seen = recording_service()
    errors: list[BaseException] = []

    def gate(event: events.Connecting) -> None:
        raise RuntimeError("database down")

    service.listen(events.Connecting, gate)
    service.listen(events.HandlerError, lambda e: errors.append(e.error))
    await start(service)
    peer = await connect(service)
    assert await peer.read_line() == CHECK_FAILED
    assert await peer.closed()
    await until(lambda: seen)
    assert seen == [f"blocked {CHECK_FAILED}"]
    assert isinstance(errors[0], RuntimeError)
    assert any(
        r.levelno == logging.ERROR and "database down" in (r.exc_text or str(r.exc_info))
        for r in caplog.records
    )
