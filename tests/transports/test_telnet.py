"""telnet:// over real sockets: negotiation, window size, terminal type, echo, bad input."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Generator
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.protocols import telnet as t
from hubbub.testing import serve

from ..conftest import Start, connect, until
from ..telnet_opening import OPENING, OPENING_ASCII

IAC, SB, SE, WILL, WONT, DO, DONT = t.IAC, t.SB, t.SE, t.WILL, t.WONT, t.DO, t.DONT
#: The server's opening: what it asks for (DO), then what it offers (WILL).
OFFERS = OPENING
TTYPE_SEND = bytes([IAC, SB, t.TTYPE, 1, IAC, SE])

Raw = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_raw(service: hubbub.Service) -> Raw:
    address = service.servers[0].address
    assert address is not None
    return await asyncio.open_connection(*address[:2], limit=1 << 22)


def telnet_service(**settings: Any) -> hubbub.Service:
    return hubbub.Service(listen=["telnet://127.0.0.1:0"], **settings)


def echo_service(**settings: Any) -> hubbub.Service:
    """Writes every line back as it was received."""
    service = telnet_service(**settings)
    service.listen(events.Receive, lambda e: e.client.write(e.data))
    return service


async def read(reader: asyncio.StreamReader, n: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(n), 5)


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), 5)


async def send(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def agree_naws_ttype(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the offers as a MUD client does: WILL NAWS, WILL TTYPE; take the TTYPE SEND."""
    assert await read(reader, len(OFFERS)) == OFFERS
    await send(writer, bytes([IAC, WILL, t.NAWS, IAC, WILL, t.TTYPE]))
    assert await read(reader, len(TTYPE_SEND)) == TTYPE_SEND


def client_at(service: hubbub.Service, writer: asyncio.StreamWriter) -> hubbub.Client:
    """The server-side client of the raw connection ``writer``."""
    port = writer.get_extra_info("sockname")[1]
    return next(c for c in service.clients if c.address[1] == port)


# --- opening -------------------------------------------------------------------------


async def test_connect_fires_at_once_after_offers(start: Start) -> None:
    """No WILL SGA up front (it would put common clients into character mode), and the
    prompt comes right after the offers even though the client answers nothing."""
    service = telnet_service()
    service.listen(events.Connect, lambda e: e.client.write("Name: ", newline=False))
    await start(service)
    reader, writer = await open_raw(service)
    data = await read_until(reader, b"Name: ")
    assert data == OFFERS + b"Name: "
    writer.close()


async def test_ascii_service_does_not_ask_for_binary(start: Start) -> None:
    """With encoding="ascii" the greeting has DO NAWS, DO TTYPE and the offers: no BINARY."""
    service = telnet_service(encoding="ascii")
    service.listen(events.Connect, lambda e: e.client.write("Name: ", newline=False))
    await start(service)
    reader, writer = await open_raw(service)
    data = await read_until(reader, b"Name: ")
    assert data == OPENING_ASCII + b"Name: "
    writer.close()


async def test_utf8_in_binary_mode_reaches_the_handler_exactly(start: Start) -> None:
    """After WILL BINARY (no reply: it answers our DO), U+0400..U+043F typed as UTF-8
    arrives as the exact text. Its bytes include 0x83, 0x8F, 0x9A, 0x9C, 0x85 and 0x9D,
    which the stock telnet client turned into commands before BINARY was asked for."""
    text = "".join(chr(c) for c in range(0x400, 0x440))
    encoded = text.encode("utf-8")
    assert {0x83, 0x8F, 0x9A, 0x9C, 0x85, 0x9D} <= set(encoded)
    received: list[str] = []
    service = echo_service()
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    reader, writer = await open_raw(service)
    assert await read(reader, len(OFFERS)) == OFFERS
    await send(writer, bytes([IAC, WILL, t.BINARY]) + encoded + b"\r\n")
    # The first thing back is the echo: no DONT BINARY (a refusal) came before it.
    assert await read_until(reader, b"\r\n") == encoded + b"\r\n"
    assert received == [text]
    # Repeating WILL BINARY changes nothing and is not answered (no negotiation loop).
    await send(writer, bytes([IAC, WILL, t.BINARY]) + b"\xd0\x83\r\n")
    assert await read_until(reader, b"\r\n") == b"\xd0\x83\r\n"
    assert received == [text, "\u0403"]
    writer.close()


# --- window size and terminal type -------------------------------------------------------


async def test_naws_and_ttype_update_client_and_raise_events(start: Start) -> None:
    """Negotiation split at every byte still gives each event once, and never reaches
    Receive; WindowSize and TerminalType are not Client events."""
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
    assert await read(reader, 6) == TTYPE_SEND
    for turn in range(2):  # the MTTS cycle: the same answer twice ends it
        writer.write(bytes([IAC, SB, t.TTYPE, 0]) + b"XTERM-256color" + bytes([IAC, SE]))
        if not turn:
            assert await read(reader, 6) == TTYPE_SEND
    await until(lambda: terminals)
    assert sizes == [(132, 50), (255, 40)]
    assert terminals == ["XTERM-256color"]
    assert received == ["hello"]
    client = next(iter(service.clients))
    assert (client.width, client.height, client.terminal) == (255, 40, "XTERM-256color")
    assert client.colors == 256  # what the terminal type says
    assert set(client_seen) == {events.Connect, events.Receive}
    writer.close()


async def test_window_size_and_terminal_type_are_handled_while_a_handler_waits(
    start: Start,
) -> None:
    """A Connect generator waiting at ``name = yield`` does not hold back WindowSize or
    TerminalType: their handlers run before the name is typed, and the name still goes
    to the waiting generator, not to Receive."""
    service = telnet_service()
    seen: list[str] = []

    @service.listen(events.Connect)
    def login(event: events.Connect) -> Generator[None, str, None]:
        event.client.write("Name: ", newline=False)
        name = yield
        seen.append(f"name {name}")

    service.listen(events.WindowSize, lambda e: seen.append(f"size {e.width}x{e.height}"))
    service.listen(events.TerminalType, lambda e: seen.append(f"terminal {e.terminal}"))
    service.listen(events.Receive, lambda e: seen.append(f"receive {e.data}"))
    await start(service)
    reader, writer = await open_raw(service)
    assert await read_until(reader, b"Name: ") == OFFERS + b"Name: "
    await send(writer, bytes([IAC, WILL, t.NAWS, IAC, WILL, t.TTYPE]))
    assert await read(reader, len(TTYPE_SEND)) == TTYPE_SEND
    await send(writer, bytes([IAC, SB, t.NAWS, 0, 100, 0, 30, IAC, SE]))
    await until(lambda: seen, timeout=2)
    await send(writer, bytes([IAC, SB, t.TTYPE, 0]) + b"MUDLET" + bytes([IAC, SE]))
    assert await read(reader, len(TTYPE_SEND)) == TTYPE_SEND
    await send(writer, bytes([IAC, SB, t.TTYPE, 0]) + b"MUDLET" + bytes([IAC, SE]))
    await until(lambda: len(seen) == 2, timeout=2)
    assert seen == ["size 100x30", "terminal MUDLET"]
    await send(writer, b"alice\r\nlook\r\n")
    await until(lambda: len(seen) == 4)
    assert seen[2:] == ["name alice", "receive look"]
    writer.close()


async def test_echo_change_in_window_size_handler_keeps_terminal_type(start: Start) -> None:
    """Regression: a WindowSize handler that hides input (``client.echo = False``, which
    sends WILL ECHO from inside the telnet record loop) must not lose a TerminalType
    that arrived in the same packet."""
    service = telnet_service()
    terminals: list[str] = []

    @service.listen(events.WindowSize)
    def size(event: events.WindowSize) -> None:
        event.client.echo = False

    service.listen(events.TerminalType, lambda e: terminals.append(e.terminal))
    await start(service)
    reader, writer = await open_raw(service)
    await agree_naws_ttype(reader, writer)
    packet = bytes([IAC, SB, t.NAWS, 0, 80, 0, 24, IAC, SE])
    packet += bytes([IAC, SB, t.TTYPE, 0]) + b"ANSI" + bytes([IAC, SE])
    await send(writer, packet)
    assert await read(reader, 9) == TTYPE_SEND + bytes([IAC, WILL, t.ECHO])
    await send(writer, bytes([IAC, SB, t.TTYPE, 0]) + b"ANSI" + bytes([IAC, SE]))
    await until(lambda: terminals, timeout=2)
    assert terminals == ["ANSI"]
    client = client_at(service, writer)
    assert (client.width, client.height, client.terminal) == (80, 24, "ANSI")
    assert client.echo is False
    writer.close()


# --- hidden input (passwords) -----------------------------------------------------------


def password_service() -> hubbub.Service:
    """Asks for a password with input hidden, then shows input again and answers."""
    service = telnet_service()

    @service.listen(events.Connect)
    def login(event: events.Connect) -> Generator[None, str, None]:
        event.client.echo = False
        event.client.write("Password: ", newline=False)
        password = yield
        event.client.echo = True
        event.client.write("ok" if password == "secret" else f"wrong: {password}")

    return service


async def test_hidden_line_of_a_client_that_never_agreed_gets_no_line_ending(
    start: Start,
) -> None:
    """A client that ignores WILL ECHO (like nc) still echoes for itself, line ending
    included: the server adds no ``\\r\\n`` and sends no WONT ECHO it never needed."""
    service = await start(password_service())
    reader, writer = await open_raw(service)
    data = await read_until(reader, b"Password: ")
    assert data == OFFERS + bytes([IAC, WILL, t.ECHO]) + b"Password: "
    await send(writer, b"secret\r\n")
    assert await read_until(reader, b"\r\n") == b"ok\r\n"
    writer.close()


async def test_echo_negotiation_for_passwords(start: Start) -> None:
    """A client that agreed (DO ECHO) leaves echoing to us: each hidden line gets exactly
    ``\\r\\n`` back, never its text; showing input again sends WONT ECHO."""
    service = telnet_service()

    @service.listen(events.Connect)
    def login(event: events.Connect) -> Generator[None, str, None]:
        event.client.echo = False
        event.client.write("Password: ", newline=False)
        password = yield
        event.client.write("Again: ", newline=False)
        again = yield
        event.client.echo = True
        event.client.write(f"got {len(password)} {password == again}")

    await start(service)
    reader, writer = await open_raw(service)
    data = await read_until(reader, b"Password: ")
    assert data.endswith(bytes([IAC, WILL, t.ECHO]) + b"Password: ")
    await send(writer, bytes([IAC, DO, t.ECHO]) + b"hunter2\r\n")
    assert await read_until(reader, b"Again: ") == b"\r\nAgain: "
    await send(writer, b"hunter2\r\n")
    data = await read_until(reader, b"got 7 True\r\n")
    assert data == b"\r\n" + bytes([IAC, WONT, t.ECHO]) + b"got 7 True\r\n"
    writer.close()


def test_password_prompt_with_the_test_client() -> None:
    """hubbub.testing's TestClient answers no negotiation, like nc: the natural password
    test reads "ok" as the next line, with no stray empty line before it."""
    with serve(password_service()) as running:
        client = running.connect()
        client.expect("Password: ")
        client.send("secret")
        assert client.read_line() == "ok"
        client.close()


# --- editing keys and commands -------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        (b"dorx" + bytes([IAC, t.EC]) + b"a", "dora"),
        (b"junk" + bytes([IAC, t.EL]) + b"name", "name"),
        (b"ab" + bytes([IAC, t.EC, IAC, t.EC, IAC, t.EC]) + b"cd", "cd"),
    ],
)
async def test_erase_character_and_erase_line_are_applied(
    start: Start, typed: bytes, meant: str
) -> None:
    """IAC EC / IAC EL typed into a line edit it, as BS / ^U do, before a handler sees it."""
    received: list[str] = []
    service = echo_service()
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await send(writer, typed + b"\r\n")
    assert await read_until(reader, b"\r\n") == meant.encode() + b"\r\n"
    assert received == [meant]
    writer.close()


async def test_iac_iac_in_and_out(start: Start) -> None:
    """IAC IAC is a literal 0xFF coming in; a 0xFF going out is doubled."""
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
    data = await read_until(reader, b">\r\n")
    assert data == "<a\ufffdb>\r\n".encode("latin-1", "replace")
    # Now in latin-1, 0xFF is 'ÿ' coming in and must be doubled going out.
    writer.write(bytes([IAC, IAC]) + b"\r\n")
    data = await read_until(reader, b">\r\n")
    assert data == b"<" + bytes([IAC, IAC]) + b">\r\n"
    writer.close()


async def test_are_you_there_and_unknown_options(start: Start) -> None:
    """IAC AYT is answered at once; options we do not have are refused."""
    service = telnet_service()
    await start(service)
    reader, writer = await open_raw(service)
    await reader.readexactly(len(OFFERS))
    writer.write(bytes([IAC, t.AYT]))
    assert await read(reader, 9) == b"\r\n[Yes]\r\n"
    writer.write(bytes([IAC, WILL, 99, IAC, DO, 98]))  # options we don't have
    refusal = await read(reader, 6)
    assert refusal == bytes([IAC, DONT, 99, IAC, WONT, 98])
    writer.close()


# --- bad input -----------------------------------------------------------------------------


async def test_oversize_subnegotiation_is_dropped_whole(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """10,000 bytes of line-like text inside ``IAC SB TTYPE … IAC SE`` never become lines:
    the handler gets only the line after it; one protocol error is logged; the closing
    IAC SE is not taken for a command of its own (commands are logged at DEBUG: an
    ``IAC NOP`` sent afterwards shows that one would be seen)."""
    received: list[str] = []
    service = telnet_service(log_level="DEBUG")
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    payload = b"abc\r\n" * 2000  # past max_line_length, the subnegotiation limit
    stream = bytes([IAC, SB, t.TTYPE]) + payload + bytes([IAC, SE]) + b"after\r\n"
    for i in range(0, len(stream), 1500):  # several packets: the drop spans reads
        await send(writer, stream[i : i + 1500])
        await asyncio.sleep(0.005)
    await until(lambda: received)
    await send(writer, bytes([IAC, t.NOP]) + b"more\r\n")
    await until(lambda: len(received) == 2)
    assert received == ["after", "more"]
    messages = [r.getMessage() for r in caplog.records if r.name == "hubbub.transport"]
    errors = [m for m in messages if "telnet protocol error" in m]
    assert len(errors) == 1
    assert "exceeded" in errors[0]
    assert [m for m in messages if "IAC NOP" in m]
    assert not [m for m in messages if "IAC SE" in m]
    writer.close()


async def test_flood_of_malformed_subnegotiations_is_logged_boundedly(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """1.3 MB of broken NAWS reports (one protocol error each) cost a handful of log
    lines, do not stall a bystander, do not drop the flooder; its disconnect logs one
    INFO line with how many errors were left out."""
    service = await start(echo_service())
    bystander = await connect(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await until(lambda: len(service.clients) == 2)
    flooder = client_at(service, writer)
    unit = bytes([IAC, SB, t.NAWS, 1, 2, 3, IAC, SE])
    reps = 1_300_000 // len(unit)
    flood = unit * reps

    async def do_flood() -> bytes:
        for i in range(0, len(flood), 65536):
            await send(writer, flood[i : i + 65536])
        await send(writer, b"done\r\n")
        return await asyncio.wait_for(reader.readuntil(b"\r\n"), 30)

    task = asyncio.create_task(do_flood())
    pings = 0
    while not task.done() or pings == 0:
        await bystander.send(f"ping {pings}")
        assert await bystander.read_line() == f"ping {pings}"
        pings += 1
    assert await task == b"done\r\n"  # the flooder is still served, in order
    assert flooder.connected and flooder in service.clients
    await bystander.send("after")
    assert await bystander.read_line() == "after"

    about = [
        r
        for r in caplog.records
        if r.name == "hubbub.transport" and repr(flooder) in r.getMessage()
    ]
    assert 1 <= len(about) <= 5
    errors = [r for r in about if "telnet protocol error" in r.getMessage()]
    assert errors and all(r.levelno == logging.INFO for r in errors)

    writer.close()
    await until(lambda: flooder not in service.clients)
    summaries = [
        r
        for r in caplog.records
        if r.name == "hubbub.transport"
        and repr(flooder) in r.getMessage()
        and "not logged" in r.getMessage()
    ]
    assert len(summaries) == 1
    assert summaries[0].levelno == logging.INFO
    found = re.search(r"(\d+) more not logged", summaries[0].getMessage())
    assert found is not None
    assert int(found.group(1)) == reps - len(errors)  # every error is counted
    await bystander.close()


async def test_full_server_refuses_before_any_negotiation(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer over max_connections gets one line and EOF; no telnet bytes come first,
    and the operator's warning reads "clients connected: 1"."""
    service = await start(telnet_service(max_connections=1))
    first_reader, first_writer = await open_raw(service)
    await read(first_reader, len(OFFERS))
    await until(lambda: len(service.clients) == 1)
    reader, writer = await open_raw(service)
    data = await asyncio.wait_for(reader.read(), 5)  # everything, up to EOF
    assert data == b"Sorry, the server is full. Please try again later.\r\n"
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "full" in r.getMessage()
    ]
    assert len(warnings) == 1
    assert "clients connected: 1" in warnings[0]
    assert "1 clients" not in warnings[0]
    assert len(service.clients) == 1
    writer.close()
    first_writer.close()


async def test_telnet_garbage_and_truncated_subnegotiation(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Every byte value, a truncated and an oversize subnegotiation: telnet garbage is
    logged and dropped, the text around it still arrives, and others are unaffected."""
    service = telnet_service()
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    client = await connect(service)
    other = await connect(service)
    await client.send_raw(bytes(range(256)) * 4 + b"\r\n")  # every byte value, IAC included
    await client.send_raw(b"\xff\xfa\x1f\x00")  # ends inside a NAWS subnegotiation
    # A truncated subnegotiation is ended by the next command; then text flows again.
    await client.send_raw(b"\xff\xf1ok\r\n")
    found = await client.expect("echo: ok\r\n")
    assert found.endswith("echo: ok\r\n")
    # An oversize subnegotiation is dropped whole, with a log line; input recovers.
    await client.send_raw(b"\xff\xfa\x18" + b"A" * 5000 + b"\r\nB\xff\xf0after\r\n")
    assert await client.read_line() == "echo: after"
    await other.send("fine")
    assert await other.read_line() == "echo: fine"
    assert any("telnet protocol error" in r.getMessage() for r in caplog.records), (
        "the operator sees what was dropped"
    )
    assert len(service.clients) == 2
    await client.close()
    await other.close()


async def test_negotiation_is_logged_at_debug_with_option_names(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """With log_level DEBUG an operator sees what each client negotiated, by name:
    options switched on, window sizes and terminal names."""
    service = telnet_service(log_level="DEBUG")
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    writer.write(bytes([IAC, WILL, t.NAWS, IAC, SB, t.NAWS, 0, 100, 0, 30, IAC, SE]))
    await until(lambda: any("WindowSize" in r.getMessage() for r in caplog.records))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(line.endswith("telnet: NAWS (the client's) on") for line in debug)
    assert any(line.endswith("telnet: WindowSize(width=100, height=30)") for line in debug)
    writer.close()


# ============================================================ GMCP: structured data


def gmcp_sb(payload: bytes) -> bytes:
    return bytes([IAC, SB, t.GMCP]) + t.escape(payload) + bytes([IAC, SE])


async def test_gmcp_is_structured_data_both_ways(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that answers DO GMCP gets send_data as GMCP and its GMCP messages
    arrive as events.Data, in order with its lines; malformed ones are logged, not fatal."""
    service = telnet_service()
    seen: list[tuple[str, Any]] = []
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    service.listen(events.Receive, lambda e: seen.append(("line", e.data)))
    service.listen(events.Data, lambda e: seen.append((e.package, e.data)))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await send(writer, bytes([IAC, t.DO, t.GMCP]))
    await until(lambda: clients and clients[0].supports_data)
    client = clients[0]
    client.send_data("Char.Vitals", {"hp": 7, "maxhp": 10})
    expected = gmcp_sb(b'Char.Vitals {"hp":7,"maxhp":10}')
    assert await read(reader, len(expected)) == expected
    await send(
        writer,
        b"first\r\n"
        + gmcp_sb(b'Core.Hello {"Client": "Mudlet", "VERSION": "4.17"}')
        + gmcp_sb(b'Core.Supports.Set ["Char 1", "Room 1"]')
        + gmcp_sb(b"Char.Vitals {broken")
        + b"second\r\n",
    )
    await until(lambda: len(seen) == 4)
    assert seen == [
        ("line", "first"),
        ("Core.Hello", {"Client": "Mudlet", "VERSION": "4.17"}),
        ("Core.Supports.Set", ["Char 1", "Room 1"]),
        ("line", "second"),
    ]
    assert client.gmcp_supports == ["Char 1", "Room 1"]
    assert client.environ == {"CLIENT_NAME": "Mudlet", "CLIENT_VERSION": "4.17"}
    assert client.snapshot()["gmcp_supports"] == ["Char 1", "Room 1"]
    assert "data is not JSON" in caplog.text
    writer.close()


async def test_a_client_that_refuses_gmcp_gets_no_data(start: Start) -> None:
    service = telnet_service()
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await send(writer, bytes([IAC, t.DONT, t.GMCP]))
    await until(lambda: clients)
    await asyncio.sleep(0.05)
    assert not clients[0].supports_data
    clients[0].send_data("Char.Vitals", {"hp": 1})  # dropped
    clients[0].write("plain")
    assert await read_until(reader, b"plain\r\n") == b"plain\r\n"
    writer.close()


# ============================================================ prompts: EOR / GA


@pytest.mark.parametrize(
    ("answer", "setting", "mark"),
    [
        (bytes([IAC, t.DO, t.EOR_OPT]), "auto", bytes([IAC, t.EOR])),
        (bytes([IAC, t.DONT, t.EOR_OPT]), "auto", bytes([IAC, t.GA])),
        (bytes([IAC, t.DO, t.EOR_OPT]), "none", b""),
        (bytes([IAC, t.DO, t.EOR_OPT]), "ga", bytes([IAC, t.GA])),
    ],
)
async def test_client_prompt_is_marked(
    start: Start, answer: bytes, setting: str, mark: bytes
) -> None:
    """client.prompt() ends with IAC EOR for a client that agreed to EOR, else IAC GA;
    prompt_mark changes that; a line refused as too long brings the prompt back, marked."""
    service = telnet_service(prompt_mark=setting, max_line_length=20)
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await send(writer, answer)
    await until(lambda: clients)
    await asyncio.sleep(0.05)  # the answer is in
    clients[0].prompt("HP 10> ")
    assert await read(reader, 7 + len(mark)) == b"HP 10> " + mark
    await send(writer, b"x" * 40 + b"\r\n")
    notice = await read_until(reader, b"ignored.\r\n")
    assert notice.startswith(b"Line too long")
    assert await read(reader, 7 + len(mark)) == b"HP 10> " + mark
    writer.close()


async def test_prompt_on_tcp_is_the_text_alone(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    await start(service)
    reader, writer = await open_raw(service)
    await until(lambda: clients)
    clients[0].prompt("Name: ")
    clients[0].write("")
    assert await read_until(reader, b"\r\n") == b"Name: \r\n"
    writer.close()


# ============================================================ MSSP: for MUD crawlers


async def test_a_crawler_reads_the_mssp_table(start: Start) -> None:
    """DO MSSP gets one table: the mssp setting, NAME default, PLAYERS and UPTIME live."""
    service = telnet_service(mssp={"NAME": "Moria", "CODEBASE": "hubbub", "PORT": [4000]})
    await start(service)
    player_reader, player_writer = await open_raw(service)
    await read(player_reader, len(OFFERS))
    await until(lambda: len(service.clients) == 1)
    reader, writer = await open_raw(service)
    await read(reader, len(OFFERS))
    await send(writer, bytes([IAC, t.DO, t.MSSP]))
    table = await read_until(reader, bytes([IAC, SE]))
    assert table.startswith(bytes([IAC, SB, t.MSSP]))
    fields = {}
    for chunk in table[3:-2].split(b"\x01")[1:]:
        name, *values = chunk.split(b"\x02")
        fields[name.decode()] = [v.decode() for v in values]
    assert fields["NAME"] == ["Moria"] and fields["CODEBASE"] == ["hubbub"]
    assert fields["PORT"] == ["4000"]
    assert fields["PLAYERS"] == ["2"]  # the crawler counts while connected
    uptime = int(fields["UPTIME"][0])
    assert abs(uptime - time.time()) < 60
    writer.close()
    player_writer.close()


def test_mssp_setting_is_checked() -> None:
    with pytest.raises(hubbub.SettingsError, match="MSSP"):
        hubbub.Service(listen=["telnet://127.0.0.1:0"], mssp={"NAME": {"x": 1}})
    with pytest.raises(hubbub.SettingsError, match="MSSP"):
        hubbub.Service(listen=["telnet://127.0.0.1:0"], mssp="Moria")


# ============================================================ CHARSET


async def test_charset_switches_a_latin1_service_client_to_utf8(start: Start) -> None:
    """On a latin-1 service, a client that accepts UTF-8 is read and written in UTF-8."""
    service = telnet_service(encoding="latin-1")
    clients: list[hubbub.Client] = []
    received: list[str] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    service.listen(events.Receive, lambda e: (received.append(e.data), e.client.write(e.data)))
    await start(service)
    reader, writer = await open_raw(service)
    await read(reader, len(OPENING))
    await send(writer, bytes([IAC, t.DO, t.CHARSET]))
    request = bytes([IAC, SB, t.CHARSET, 1]) + b";UTF-8" + bytes([IAC, SE])
    assert await read_until(reader, bytes([IAC, SE])) == request
    await until(lambda: clients)
    assert clients[0].encoding == "latin-1"
    await send(writer, bytes([IAC, SB, t.CHARSET, 2]) + b"UTF-8" + bytes([IAC, SE]))
    await until(lambda: clients[0].encoding == "utf-8")
    await send(writer, "zoë\r\n".encode())
    assert await read_until(reader, b"\r\n") == "zoë\r\n".encode()
    assert received == ["zoë"]
    writer.close()
