"""telnet:// with the MUD protocol family over real sockets: a Mudlet-like client's
whole negotiation, NEW-ENVIRON facts, MSDP both ways, MCCP2 output and MCCP3 input,
and what bad compressed input does."""

from __future__ import annotations

import asyncio
import logging
import random
import tracemalloc
import zlib
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.ansi import TRUECOLOR
from hubbub.protocols import telnet as t
from hubbub.protocols.telnet import environ as env
from hubbub.protocols.telnet import msdp

from ..conftest import Start, until
from ..telnet_opening import OPENING

IAC, SB, SE, DO, DONT, WILL, WONT = t.IAC, t.SB, t.SE, t.DO, t.DONT, t.WILL, t.WONT
TTYPE_SEND = bytes([IAC, SB, t.TTYPE, 1, IAC, SE])
START = bytes([IAC, SB, t.MCCP2, IAC, SE])
Raw = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def neg(command: int, *options: int) -> bytes:
    return b"".join(bytes([IAC, command, option]) for option in options)


def sb(option: int, payload: bytes) -> bytes:
    return bytes([IAC, SB, option]) + t.escape(payload) + bytes([IAC, SE])


def ttype_is(name: bytes) -> bytes:
    return sb(t.TTYPE, b"\x00" + name)


async def open_raw(service: hubbub.Service) -> Raw:
    address = service.servers[0].address
    assert isinstance(address, tuple)
    reader, writer = await asyncio.open_connection(*address[:2], limit=1 << 22)
    assert await asyncio.wait_for(reader.readexactly(len(OPENING)), 5) == OPENING
    return reader, writer


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), 5)


def mud_service(**settings: Any) -> tuple[hubbub.Service, list[hubbub.Client], list[Any]]:
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], **settings)
    clients: list[hubbub.Client] = []
    data: list[Any] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    service.listen(events.Data, lambda e: data.append((e.package, e.data)))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service, clients, data


MUDLET_ENVIRON = bytes([env.IS]) + b"".join(
    bytes([kind]) + name + bytes([env.VALUE]) + value
    for kind, name, value in (
        (env.VAR, b"CLIENT_NAME", b"MUDLET"),
        (env.VAR, b"CLIENT_VERSION", b"4.17.2"),
        (env.VAR, b"CHARSET", b"UTF-8"),
        (env.VAR, b"MTTS", b"2831"),
        (env.USERVAR, b"SCREEN_READER", b"0"),
    )
)


async def mudlet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> zlib._Decompress:
    """Answer the opening as Mudlet does, run the MTTS cycle, and return the inflater of
    the MCCP2 stream (everything the server sent after its start)."""
    writer.write(
        neg(WILL, t.NAWS, t.TTYPE, t.BINARY, t.NEW_ENVIRON)
        + neg(DO, t.EOR_OPT, t.GMCP, t.MSDP, t.CHARSET, t.MCCP2)
        + neg(DONT, t.MSSP, t.MCCP3)
        + sb(t.NAWS, bytes([0, 120, 0, 40]))
    )
    seen = b""
    for name in (b"MUDLET", b"ANSI-TRUECOLOR", b"MTTS 2831"):
        seen += await read_until(reader, TTYPE_SEND)
        writer.write(ttype_is(name))
    seen += await read_until(reader, TTYPE_SEND)
    assert START not in seen  # nothing compressed during the cycle
    writer.write(sb(t.NEW_ENVIRON, MUDLET_ENVIRON) + ttype_is(b"MUDLET"))  # the wrap ends it
    seen += await read_until(reader, START)
    assert seen.count(START) == 1
    return zlib.decompressobj()


async def inflated(reader: asyncio.StreamReader, inflate: Any, want: bytes) -> bytes:
    """Read and decompress until ``want`` has arrived; everything up to it."""
    out = b""
    while want not in out:
        out += inflate.decompress(await asyncio.wait_for(reader.read(65536), 5))
    return out


async def test_a_mudlet_like_client_gets_every_fact_and_compressed_output(start: Start) -> None:
    service, clients, _ = mud_service()
    await start(service)
    reader, writer = await open_raw(service)
    inflate = await mudlet(reader, writer)
    [client] = clients
    await until(lambda: client.environ.get("CLIENT_NAME") == "MUDLET")
    assert client.terminal == "MUDLET"
    assert client.terminal_types == ["MUDLET", "ANSI-TRUECOLOR", "MTTS 2831"]
    assert client.mtts == 2831
    assert (client.colors, client.utf8, client.screen_reader) == (TRUECOLOR, True, False)
    assert client.environ["CLIENT_VERSION"] == "4.17.2"
    assert (client.width, client.height) == (120, 40)
    # Mudlet's screen-reader switch, mid-session: an INFO update
    info = bytes([env.INFO, env.USERVAR]) + b"SCREEN_READER" + bytes([env.VALUE]) + b"1"
    writer.write(sb(t.NEW_ENVIRON, info))
    await until(lambda: client.screen_reader)
    writer.write(b"look\r\n")
    assert (await inflated(reader, inflate, b"echo: look\r\n")).endswith(b"echo: look\r\n")
    client.prompt("HP 10> ")
    mark = bytes([IAC, t.EOR])
    assert (await inflated(reader, inflate, mark)) == b"HP 10> " + mark
    snapshot = client.snapshot()
    assert snapshot["terminal_types"] == ["MUDLET", "ANSI-TRUECOLOR", "MTTS 2831"]
    assert (snapshot["mtts"], snapshot["utf8"]) == (2831, True)
    writer.close()


async def test_msdp_both_ways_inside_the_compressed_stream(start: Start) -> None:
    service, clients, data = mud_service()
    await start(service)
    reader, writer = await open_raw(service)
    inflate = await mudlet(reader, writer)
    [client] = clients
    report = msdp.encode({"REPORT": ["HEALTH", "MANA"]})
    writer.write(b"a\r\n" + sb(t.MSDP, report) + sb(t.MSDP, b"\x01BAD") + b"b\r\n")
    await until(lambda: data)
    assert data == [("MSDP", {"REPORT": ["HEALTH", "MANA"]})]
    await inflated(reader, inflate, b"echo: b\r\n")
    assert client.supports_data
    client.send_data("MSDP", {"HEALTH": 10, "ROOM": {"NAME": "Inn"}})
    client.send_data("Char.Vitals", {"hp": 10})
    expected = sb(t.MSDP, msdp.encode({"HEALTH": 10, "ROOM": {"NAME": "Inn"}}))
    expected += sb(t.GMCP, b'Char.Vitals {"hp":10}')
    assert await inflated(reader, inflate, expected) == expected
    writer.close()


async def test_broadcast_reaches_compressed_and_plain_clients(start: Start) -> None:
    service, _clients, _ = mud_service()
    await start(service)
    reader, writer = await open_raw(service)
    inflate = await mudlet(reader, writer)
    plain_reader, plain_writer = await open_raw(service)
    plain_writer.write(neg(DONT, t.MCCP2, t.MCCP3))
    await until(lambda: len(service.clients) == 2)
    for i in range(3):
        service.write_all(f"news {i}: ÿ")
    want = "".join(f"news {i}: ÿ\r\n" for i in range(3)).encode()
    assert await inflated(reader, inflate, want) == want
    got = b""
    while not got.endswith(b"news 2: \xc3\xbf\r\n"):
        got += await asyncio.wait_for(plain_reader.read(4096), 5)
    assert got.endswith(want)
    writer.close()
    plain_writer.close()


async def test_dont_mccp2_while_output_is_queued_ends_the_stream_cleanly(start: Start) -> None:
    """A client that stops reading, then refuses MCCP2 while megabytes wait: all of the
    output arrives in order, compressed then plain, and the session goes on."""
    service, clients, _ = mud_service(max_output_buffer=64 * 1024 * 1024)
    await start(service)
    reader, writer = await open_raw(service)
    inflate = await mudlet(reader, writer)
    [client] = clients
    noise = random.Random(7)
    lines = [f"line {i:06d} {noise.randbytes(30).hex()}" for i in range(200_000)]  # 14 MiB
    for line in lines:
        client.write(line)
    await until(lambda: client.connection.buffered() > 0)
    writer.write(neg(DONT, t.MCCP2))
    await asyncio.sleep(0.1)
    client.write("after")
    got = b""
    while not inflate.eof:
        got += inflate.decompress(await asyncio.wait_for(reader.read(1 << 20), 5))
    rest = inflate.unused_data
    while b"after\r\n" not in rest:
        rest += await asyncio.wait_for(reader.read(1 << 20), 5)
    # the WONT answering DONT is the stream's last word, then Z_FINISH, then plain text
    assert got == "".join(line + "\r\n" for line in lines).encode() + neg(WONT, t.MCCP2)
    assert rest == b"after\r\n"
    writer.write(b"still here\r\n")
    assert await read_until(reader, b"\r\n") == b"echo: still here\r\n"
    writer.close()


async def test_mccp3_input(start: Start) -> None:
    service, _, _ = mud_service()
    received: list[str] = []
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    _reader, writer = await open_raw(service)
    writer.write(neg(DO, t.MCCP3) + neg(DONT, t.MCCP2))
    z = zlib.compressobj()
    writer.write(sb(t.MCCP3, b"") + z.compress(b"one\r\ntwo\r\n") + z.flush(zlib.Z_SYNC_FLUSH))
    await until(lambda: received == ["one", "two"])
    writer.write(z.compress(b"three\r\n") + z.flush())  # the end of the compressed stream
    writer.write(b"four\r\n")
    await until(lambda: received == ["one", "two", "three", "four"])
    writer.close()


async def test_a_decompression_bomb_costs_little_and_refuses_the_line(start: Start) -> None:
    """200 MiB of one line in about 200 KiB of zlib: the server holds a piece at a time,
    refuses the line, and serves another client meanwhile."""
    service, _, _ = mud_service()
    received: list[str] = []
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    reader, writer = await open_raw(service)
    other_reader, other_writer = await open_raw(service)
    z = zlib.compressobj(1)
    block = b"A" * (1 << 20)
    bomb = b"".join(z.compress(block) for _ in range(200)) + z.compress(b"\r\nafter\r\n")
    bomb += z.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < 2 << 20
    writer.write(neg(DO, t.MCCP3) + neg(DONT, t.MCCP2))
    tracemalloc.start()
    try:
        writer.write(sb(t.MCCP3, b"") + bomb)
        other_writer.write(b"ping\r\n")
        assert b"echo: ping" in await read_until(other_reader, b"echo: ping\r\n")
        got = await asyncio.wait_for(reader.readuntil(b"echo: after\r\n"), 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert b"Line too long" in got
    assert received == ["ping", "after"]
    assert peak < 40 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"
    writer.close()
    other_writer.close()


async def test_a_broken_compressed_stream_closes_that_client_with_a_log_line(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service, _, _ = mud_service()
    await start(service)
    reader, writer = await open_raw(service)
    other_reader, other_writer = await open_raw(service)
    writer.write(neg(DO, t.MCCP3) + neg(DONT, t.MCCP2))
    with caplog.at_level(logging.WARNING, logger="hubbub"):
        writer.write(sb(t.MCCP3, b"") + b"definitely not zlib" * 10)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed
    assert any("MCCP3" in r.getMessage() for r in caplog.records)
    other_writer.write(b"hi\r\n")
    assert await read_until(other_reader, b"\r\n") == b"echo: hi\r\n"
    writer.close()
    other_writer.close()


async def test_mccp_off_refuses_it_cleanly(start: Start) -> None:
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], mccp=False)
    await start(service)
    address = service.servers[0].address
    assert isinstance(address, tuple)
    reader, writer = await asyncio.open_connection(*address[:2])
    opening = await asyncio.wait_for(reader.readexactly(len(OPENING) - 6), 5)
    assert neg(WILL, t.MCCP2) not in opening and neg(WILL, t.MCCP3) not in opening
    writer.write(neg(DO, t.MCCP2, t.MCCP3, t.MCCP1))
    assert await asyncio.wait_for(reader.readexactly(9), 5) == neg(WONT, t.MCCP2, t.MCCP3, t.MCCP1)
    writer.close()


async def test_screen_reader_default_and_mtts_bit(start: Start) -> None:
    service, clients, _ = mud_service(screen_reader_default=True)
    await start(service)
    reader, writer = await open_raw(service)
    await until(lambda: clients)
    assert clients[0].screen_reader  # the setting, before anything is said
    writer.write(neg(WILL, t.TTYPE))
    await read_until(reader, TTYPE_SEND)
    writer.write(ttype_is(b"XTERM"))
    await read_until(reader, TTYPE_SEND)
    writer.write(ttype_is(b"XTERM"))
    await until(lambda: clients[0].terminal == "XTERM")
    assert clients[0].screen_reader  # an MTTS without bit 64 says nothing either way
    second_reader, second = await open_raw(service)
    second.write(neg(WILL, t.TTYPE))
    await read_until(second_reader, TTYPE_SEND)
    for name in (b"BLIND", b"MTTS 64"):
        second.write(ttype_is(name))
        await read_until(second_reader, TTYPE_SEND)
    second.write(ttype_is(b"MTTS 64"))  # the repeat ends the cycle
    await until(lambda: len(clients) == 2 and clients[1].mtts == 64)
    assert clients[1].screen_reader
    writer.close()
    second.close()


async def test_a_late_dont_msdp_keeps_the_session_and_data_goes_by_gmcp(start: Start) -> None:
    service, clients, _ = mud_service()
    await start(service)
    reader, writer = await open_raw(service)
    inflate = await mudlet(reader, writer)
    [client] = clients
    writer.write(neg(DONT, t.MSDP))
    assert await inflated(reader, inflate, neg(WONT, t.MSDP)) == neg(WONT, t.MSDP)
    client.send_data("MSDP", {"HEALTH": 9})
    expected = sb(t.GMCP, b'MSDP {"HEALTH":9}')  # MSDP over GMCP
    assert await inflated(reader, inflate, expected) == expected
    writer.write(neg(DONT, t.GMCP))
    await inflated(reader, inflate, neg(WONT, t.GMCP))
    assert not client.supports_data
    client.send_data("MSDP", {"HEALTH": 8})  # nowhere to go: dropped
    writer.write(b"still here\r\n")
    assert await inflated(reader, inflate, b"echo: still here\r\n") == b"echo: still here\r\n"
    writer.close()
