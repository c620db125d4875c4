"""keepalive and idle_timeout over real sockets: IAC NOP on telnet, Idle before the close."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import hubbub
from hubbub import events
from hubbub.protocols import telnet as t

from .conftest import Start, until


async def open_raw(service: hubbub.Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = service.servers[0].address
    assert isinstance(address, tuple)
    return await asyncio.open_connection(*address[:2])


async def test_telnet_keepalive_is_iac_nop(start: Start) -> None:
    service = await start(hubbub.Service(listen=["telnet://127.0.0.1:0"], keepalive=0.1))
    reader, writer = await open_raw(service)
    loop = asyncio.get_running_loop()
    began = loop.time()
    seen = b""
    while seen.count(bytes([t.IAC, t.NOP])) < 3:
        seen += await asyncio.wait_for(reader.read(100), 2)
    assert loop.time() - began >= 0.25  # three, a tenth of a second apart
    writer.close()


async def test_no_keepalive_bytes_on_plain_tcp_or_when_off(start: Start) -> None:
    for url, keepalive in (("tcp://127.0.0.1:0", 0.05), ("telnet://127.0.0.1:0", 0)):
        service = await start(hubbub.Service(listen=[url], keepalive=keepalive))
        reader, writer = await open_raw(service)
        await asyncio.sleep(0.3)
        data = b""
        while True:
            try:
                data += await asyncio.wait_for(reader.read(100), 0.05)
            except TimeoutError:
                break
        assert bytes([t.IAC, t.NOP]) not in data
        writer.close()


def idle_service(
    url: str = "tcp://127.0.0.1:0", **settings: Any
) -> tuple[hubbub.Service, list[str]]:
    service = hubbub.Service(listen=[url], idle_timeout=0.3, **settings)
    log: list[str] = []
    service.listen(events.Idle, lambda e: (log.append("idle"), e.client.write("You fell asleep.")))
    service.listen(events.Disconnect, lambda e: log.append("disconnect"))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service, log


async def test_idle_client_gets_idle_then_is_closed(start: Start) -> None:
    service, log = idle_service()
    await start(service)
    reader, writer = await open_raw(service)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await asyncio.wait_for(reader.read(), 3) == b"You fell asleep.\r\n"
    took = loop.time() - began
    assert 0.25 <= took <= 1.5  # between idle_timeout and 1.5 times it, give or take
    await until(lambda: log == ["idle", "disconnect"])
    writer.close()


async def test_a_typing_client_is_never_idle(start: Start) -> None:
    service, log = idle_service(max_lines_per_second=0)
    await start(service)
    reader, writer = await open_raw(service)
    for i in range(12):  # 1.2 s: four idle timeouts
        writer.write(f"n{i}\r\n".encode())
        assert await asyncio.wait_for(reader.readline(), 2) == f"echo: n{i}\r\n".encode()
        await asyncio.sleep(0.1)
    assert log == []
    writer.close()


async def test_idle_on_websocket_too(start: Start) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    service, log = idle_service("ws://127.0.0.1:0?page=0")
    await start(service)
    address = service.servers[0].address
    assert isinstance(address, tuple)
    async with connect(f"ws://127.0.0.1:{address[1]}/") as ws:
        await ws.send("hi")
        assert await ws.recv() == "echo: hi"
        assert await asyncio.wait_for(ws.recv(), 3) == "You fell asleep."
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 3)
    await until(lambda: log == ["idle", "disconnect"])


async def test_outbound_links_are_never_idle(start: Start) -> None:
    target = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"]))
    near, log = idle_service()
    await start(near)
    address = target.servers[0].address
    assert isinstance(address, tuple)
    link = await near.connect(f"tcp://127.0.0.1:{address[1]}")
    await asyncio.sleep(0.8)
    assert link.connected and log == []


async def test_data_messages_count_as_activity(start: Start) -> None:
    """A browser that only sends structured data (no typed lines) is not idle."""
    from websockets.asyncio.client import connect

    service, log = idle_service("ws://127.0.0.1:0?page=0")
    seen: list[str] = []
    service.listen(events.Data, lambda e: seen.append(e.package))
    await start(service)
    address = service.servers[0].address
    assert isinstance(address, tuple)
    async with connect(f"ws://127.0.0.1:{address[1]}/") as ws:
        for i in range(10):  # 1 s: more than three idle timeouts
            await ws.send(f'{{"data": ["Ping.{i}", null]}}')
            await asyncio.sleep(0.1)
        await until(lambda: len(seen) == 10)
        assert log == []


async def test_gmcp_messages_count_as_activity(start: Start) -> None:
    service, log = idle_service("telnet://127.0.0.1:0")
    seen: list[str] = []
    service.listen(events.Data, lambda e: seen.append(e.package))
    await start(service)
    _reader, writer = await open_raw(service)
    writer.write(bytes([t.IAC, t.DO, t.GMCP]))
    for i in range(10):
        writer.write(bytes([t.IAC, t.SB, t.GMCP]) + f"Core.Ping{i}".encode() + bytes([t.IAC, t.SE]))
        await asyncio.sleep(0.1)
    await until(lambda: len(seen) == 10)
    assert log == []
    writer.close()
