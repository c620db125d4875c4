"""telnet:// over real sockets: negotiation, window size, terminal type, echo."""

from __future__ import annotations

import asyncio

import hubbub
from hubbub import events
from hubbub.protocols import telnet as t

from ..conftest import Start, until

IAC, SB, SE, WILL, WONT, DO = t.IAC, t.SB, t.SE, t.WILL, t.WONT, t.DO
# What the server says first: DO NAWS, DO TTYPE, DO BINARY (the encoding is UTF-8).
OFFERS = bytes([IAC, DO, t.NAWS, IAC, DO, t.TTYPE, IAC, DO, t.BINARY])


async def open_raw(service: hubbub.Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = service.servers[0].address
    assert address is not None
    return await asyncio.open_connection(*address[:2])


def telnet_service() -> hubbub.Service:
    return hubbub.Service(listen=["telnet://127.0.0.1:0"])


async def test_connect_fires_at_once_after_offers(start: Start) -> None:
    # No WILL SGA up front: it would put common clients into character mode.
    service = telnet_service()
    service.listen(events.Connect, lambda e: e.client.write("Name: ", newline=False))
    await start(service)
    reader, writer = await open_raw(service)
    # The client answers nothing, yet the prompt arrives right after the offers.
    data = await asyncio.wait_for(reader.readuntil(b"Name: "), 5)
    assert data == OFFERS + b"Name: "
    writer.close()


async def test_naws_and_ttype_update_client_and_raise_events(start: Start) -> None:
    service = telnet_service()
    sizes: list[tuple[int, int]] = []
    terminals: list[str] = []
    received: list[str] = []
    client_seen: list[object] = []
    service.listen(events.WindowSize, lambda e: sizes.append((e.width, e.height)))
    service.listen(events.TerminalType, lambda e: terminals.append(e.terminal))
    service.listen(events.Receive, lambda e: received.append(e.data))
    service.listen(events.Client, lambda e: client_seen.append(type(e)))
    await start(service)
    reader, writer = await open_raw(service)
    await reader.readexactly(len(OFFERS))
    stream = (
        bytes([IAC, WILL, t.NAWS, IAC, WILL, t.TTYPE])
        + bytes([IAC, SB, t.NAWS, 0, 132, 0, 50, IAC, SE])
        + b"hel"
        + bytes([IAC, SB, t.NAWS, 0, 255, 255, 0, 40, IAC, SE])  # 255 is doubled
        + b"lo\r\n"
    )
    for i in range(len(stream)):  # byte by byte: negotiation split at every point
        writer.write(stream[i : i + 1])
        await writer.drain()
        await asyncio.sleep(0)
    ask = await asyncio.wait_for(reader.readexactly(6), 5)
    assert ask == bytes([IAC, SB, t.TTYPE, 1, IAC, SE])
    writer.write(bytes([IAC, SB, t.TTYPE, 0]) + b"XTERM-256color" + bytes([IAC, SE]))
    await until(lambda: terminals)
    assert sizes == [(132, 50), (255, 40)]
    assert terminals == ["XTERM-256color"]
    assert received == ["hello"]
    client = next(iter(service.clients))
    assert (client.width, client.height, client.terminal) == (255, 40, "XTERM-256color")
    # Telnet events are not Client events.
    assert set(client_seen) == {events.Connect, events.Receive}
    writer.close()


async def test_echo_negotiation_for_passwords(start: Start) -> None:
    service = telnet_service()

    @service.listen(events.Connect)
    def login(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.echo = False
        event.client.write("Password: ", newline=False)
        password = yield
        event.client.echo = True
        event.client.write(f"got {len(password)}")

    await start(service)
    reader, writer = await open_raw(service)
    data = await asyncio.wait_for(reader.readuntil(b"Password: "), 5)
    assert data.endswith(bytes([IAC, WILL, t.ECHO]) + b"Password: ")
    writer.write(bytes([IAC, DO, t.ECHO]) + b"hunter2\r\n")
    data = await asyncio.wait_for(reader.readuntil(b"got 7\r\n"), 5)
    # The hidden line's ending is echoed (we are the echoing side), not its text.
    assert data == b"\r\n" + bytes([IAC, WONT, t.ECHO]) + b"got 7\r\n"
    writer.close()


async def test_iac_iac_in_and_out(start: Start) -> None:
    service = telnet_service()

    @service.listen(events.Receive)
    def receive(event: events.Receive) -> None:
        event.client.encoding = "latin-1"
        event.client.write(f"<{event.data}>")

    await start(service)
    reader, writer = await open_raw(service)
    await reader.readexactly(len(OFFERS))
    writer.write(b"a" + bytes([IAC, IAC]) + b"b\r\n")
    # The first line was decoded as UTF-8, where a lone 0xFF is invalid: U+FFFD.
    data = await asyncio.wait_for(reader.readuntil(b">\r\n"), 5)
    assert data == "<a\ufffdb>\r\n".encode("latin-1", "replace")
    # Now in latin-1, 0xFF is 'ÿ' coming in and must be doubled going out.
    writer.write(bytes([IAC, IAC]) + b"\r\n")
    data = await asyncio.wait_for(reader.readuntil(b">\r\n"), 5)
    assert data == b"<" + bytes([IAC, IAC]) + b">\r\n"
    writer.close()


async def test_are_you_there_and_unknown_options(start: Start) -> None:
    service = telnet_service()
    await start(service)
    reader, writer = await open_raw(service)
    await reader.readexactly(len(OFFERS))
    writer.write(bytes([IAC, t.AYT]))
    assert await asyncio.wait_for(reader.readexactly(9), 5) == b"\r\n[Yes]\r\n"
    writer.write(bytes([IAC, WILL, 99, IAC, DO, 98]))  # options we don't have
    refusal = await asyncio.wait_for(reader.readexactly(6), 5)
    assert refusal == bytes([IAC, t.DONT, 99, IAC, WONT, 98])
    writer.close()
