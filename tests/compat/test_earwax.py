"""hubbub.compat.earwax: earwax_server applications on hubbub, over real sockets.

The seed's own examples run as real processes, unchanged but for the import line;
the rest of the API is checked in-process against a server started on a free port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub import events
from hubbub.compat.earwax import (
    EVENT_HANDLED,
    ConnectionContext,
    EventNameError,
    Server,
)
from hubbub.testing import AsyncTestClient

from ..conftest import until
from ..subprocesses import Watched

ROOT = Path(__file__).parents[2]
LISTENING = re.compile(r"listening on \S+ \(127\.0\.0\.1:(\d+)\)")

# The seed's examples, word for word but for the import line.
EXAMPLE_MINIMAL = """\
from hubbub.compat.earwax import Server

s = Server()
s.run(1234)
"""

EXAMPLE_LOGGING = """\
import logging
from hubbub.compat.earwax import Server
logging.basicConfig(level='INFO')
s = Server()
s.run(1234)
"""

# The on_data snippet, placed in the minimal example where the seed means it to go.
EXAMPLE_ON_DATA = """\
from hubbub.compat.earwax import Server

s = Server()

@s.event
def on_data(ctx, data) -> None:
    print(data)

s.run(1234)
"""


# --- the examples, as programs --------------------------------------------------------


class Program(Watched):
    """A script run with this tree's hubbub; stderr watched, stdout read at the end."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        clean["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p
        )
        clean.update(env)
        super().__init__([sys.executable, str(path)], cwd=path.parent, env=clean)

    def port(self) -> int:
        return int(self.wait_for(LISTENING.search, "listening line").group(1))


@pytest.fixture
def program(tmp_path: Path) -> Iterator[Callable[..., Program]]:
    """``program(source, **env)`` writes ``source`` to a file and runs it."""
    started: list[Program] = []

    def run(source: str, **env: str) -> Program:
        path = tmp_path / f"app{len(started)}.py"
        path.write_text(source)
        started.append(Program(path, env))
        return started[-1]

    yield run
    for proc in started:
        proc.kill()


# The examples listen on port 1234 as written; the operator's HUBBUB_LISTEN, which
# beats settings in code, moves them to a free port here.
FREE_PORT = {"HUBBUB_LISTEN": "tcp://127.0.0.1:0"}


def talk(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(5)
    return sock


def test_minimal_example_accepts_and_swallows_data(program: Callable[..., Program]) -> None:
    """``s = Server(); s.run(1234)``: a server that takes connections and data and says
    nothing; Ctrl-C (SIGINT) stops it with status 0."""
    app = program(EXAMPLE_MINIMAL, **FREE_PORT)
    with talk(app.port()) as sock:
        sock.sendall(b"hello\r\nis anyone there?\r\n")
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(100)  # nothing comes back, and the connection stays open
        sock.settimeout(5)
        assert app.stop(signal.SIGINT) == 0
        assert sock.recv(100) == b""  # closed by the stop
    assert "Traceback" not in app.text + app.rest


def test_logging_example_logs_connections(program: Callable[..., Program]) -> None:
    """With ``logging.basicConfig(level='INFO')`` each connection logs, through a logger
    named ``host:port``, that it was established and that it disconnected."""
    app = program(EXAMPLE_LOGGING, **FREE_PORT)
    sock = talk(app.port())
    host, port = sock.getsockname()[:2]
    app.wait_for(
        lambda line: line == f"INFO:{host}:{port}:Connection established.", "connect log"
    )
    sock.close()
    app.wait_for(lambda line: line == f"INFO:{host}:{port}:Disconnected.", "disconnect log")
    assert app.stop() == 0


def test_on_data_example_gets_bytes_lines(program: Callable[..., Program]) -> None:
    """The ``on_data`` handler is given each line as bytes, exactly as sent (line ending
    included, undecodable bytes untouched); an unfinished last line comes at the end."""
    app = program(EXAMPLE_ON_DATA, **FREE_PORT)
    with talk(app.port()) as sock:
        sock.sendall(b"hello\r\n")
        sock.sendall(b"caf\xe9 \xff\nno newline")
    app.wait_for(lambda line: "disconnected" in line, "disconnect log")
    assert app.stop() == 0
    assert app.rest.splitlines() == [
        repr(b"hello\r\n"),
        repr(b"caf\xe9 \xff\n"),
        repr(b"no newline"),
    ]


def test_run_listens_on_the_port_and_host_given(program: Callable[..., Program]) -> None:
    """``run(port, host)`` listens there (no environment override here)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = program(
        "from hubbub.compat.earwax import Server\n"
        "s = Server()\n"
        "@s.event\n"
        "def on_data(ctx, data):\n"
        "    ctx.send_string(data.decode().strip().upper())\n"
        f"s.run({port}, '127.0.0.1')\n"
    )
    assert app.port() == port
    with talk(port) as sock:
        sock.sendall(b"shout\n")
        assert sock.recv(100) == b"SHOUT\r\n"
    assert app.stop(signal.SIGTERM) == 0


# --- the API, in-process ------------------------------------------------------------


class Running:
    """A Server started on a free tcp:// port, and what its handlers saw."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.seen: list[tuple[str, Any]] = []

    @property
    def address(self) -> tuple[Any, ...]:
        address = self.server.service.servers[0].address
        assert address is not None
        return address

    async def connect(self) -> AsyncTestClient:
        return await AsyncTestClient.connect(self.address)

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(*self.address[:2])


@pytest.fixture
async def running() -> AsyncIterator[Callable[..., Any]]:
    """``await running(server)`` starts ``server`` (default: a plain one) on a free port."""
    started: list[Server] = []

    async def start(server: Server | None = None) -> Running:
        server = server or Server()
        # What an operator's HUBBUB_LISTEN would do: a plain tcp:// listener.
        server.service.settings.update("cli", {"listen": ["tcp://127.0.0.1:0"]})
        await server.service.start()
        started.append(server)
        return Running(server)

    yield start
    for server in started:
        await server.service.stop()


def record(run: Running, *names: str) -> None:
    """Bind a handler to each event in ``names`` that notes what it got."""
    for name in names:

        def handler(ctx: ConnectionContext, *args: Any, name: str = name) -> None:
            run.seen.append((name, args[0] if args else ctx))

        run.server.event(name)(handler)


async def test_on_data_lines_split_across_packets(running: Callable[..., Any]) -> None:
    """Lines are whole however the bytes arrive, with their own endings (``\\n``,
    ``\\r\\n``); several in one packet each get an ``on_data``; the unfinished last
    line is delivered before ``on_disconnect``."""
    run = await running()
    record(run, "on_data", "on_disconnect")
    _, writer = await run.open()
    for piece in (b"hel", b"lo\r", b"\nworld\nthree\r\nfo", b"ur\n\n", b"last"):
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(0.01)
    await until(lambda: len(run.seen) == 5)
    writer.close()
    await until(lambda: len(run.seen) == 7)
    data = [args for name, args in run.seen[:6]]
    assert data == [b"hello\r\n", b"world\n", b"three\r\n", b"four\n", b"\n", b"last"]
    assert run.seen[6][0] == "on_disconnect"


async def test_send_methods_put_exact_bytes_on_the_wire(running: Callable[..., Any]) -> None:
    """send_string encodes UTF-8 and adds CRLF; send_bytes adds CRLF in the encoding
    given; send_raw adds nothing and escapes nothing."""
    run = await running()

    @run.server.event
    def on_connect(ctx: ConnectionContext) -> None:
        ctx.send_string("héllo")
        ctx.send_bytes(b"\xe9t\xe9")
        ctx.send_bytes("hi".encode("utf-16-le"), "utf-16-le")
        ctx.send_raw(b"\x00\xff\xfe")

    reader, writer = await run.open()
    expected = "héllo\r\n".encode() + b"\xe9t\xe9\r\n" + "hi\r\n".encode("utf-16-le")
    expected += b"\x00\xff\xfe"
    assert await asyncio.wait_for(reader.readexactly(len(expected)), 5) == expected
    writer.close()


async def test_context_describes_the_peer(
    running: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """hostname, port and address are the peer's; the logger is named ``host:port``
    and the default handlers log with it; ``socket`` says what to use instead; the
    context is in ``connections`` after ``on_connect`` and out of it before
    ``on_disconnect``; ``ctx.client`` is the hubbub client."""
    run = await running()
    caplog.set_level(logging.INFO)
    contexts: list[ConnectionContext] = []
    listed: list[bool] = []

    @run.server.event
    def on_connect(ctx: ConnectionContext) -> None:
        contexts.append(ctx)
        listed.append(ctx in run.server.connections)

    @run.server.event("on_disconnect")
    def gone(ctx: ConnectionContext) -> None:
        listed.append(ctx in run.server.connections)

    _, writer = await run.open()
    host, port = writer.get_extra_info("sockname")[:2]
    await until(lambda: contexts)
    [ctx] = contexts
    assert (ctx.hostname, ctx.port, ctx.address[:2]) == (host, port, (host, port))
    assert ctx.logger.name == f"{host}:{port}"
    assert run.server.connections == [ctx]
    assert ctx.client in run.server.service.clients
    with pytest.raises(AttributeError, match="send_raw"):
        ctx.socket  # noqa: B018
    writer.close()
    await until(lambda: len(listed) == 2)
    assert listed == [False, False]
    assert run.server.connections == []
    messages = [r.getMessage() for r in caplog.records if r.name == f"{host}:{port}"]
    assert messages == ["Connection established.", "Disconnected."]


async def test_handlers_run_newest_first_and_event_handled_stops(
    running: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The most recently bound handler runs first; returning EVENT_HANDLED stops the
    older ones, the default handler included (so its log line is not written)."""
    run = await running()
    caplog.set_level(logging.INFO)
    order: list[str] = []

    @run.server.event
    def on_data(ctx: ConnectionContext, data: bytes) -> None:
        order.append(f"older {data!r}")

    @run.server.event("on_data")
    def newer(ctx: ConnectionContext, data: bytes) -> bool | None:
        order.append(f"newer {data!r}")
        return EVENT_HANDLED if data.startswith(b"stop") else None

    @run.server.event("on_connect")
    def quiet(ctx: ConnectionContext) -> bool:
        return EVENT_HANDLED

    _, writer = await run.open()
    writer.write(b"go\nstop\ngo again\n")
    await until(lambda: len(order) == 5)
    assert order == [
        "newer b'go\\n'", "older b'go\\n'", "newer b'stop\\n'",
        "newer b'go again\\n'", "older b'go again\\n'",
    ]
    assert not [r for r in caplog.records if r.getMessage() == "Connection established."]
    writer.close()


async def test_custom_events_and_event_name_errors(running: Callable[..., Any]) -> None:
    """register_event_type adds an event that handlers bind to and dispatch_event
    calls with its arguments; unknown names and a second registration raise
    EventNameError, and a handler's exception reaches dispatch_event's caller."""
    run = await running()
    server = run.server
    got: list[tuple[Any, ...]] = []
    assert server.register_event_type("on_chat") == "on_chat"

    @server.event
    def on_chat(who: str, text: str, *, loud: bool = False) -> None:
        got.append((who, text, loud))

    server.dispatch_event("on_chat", "ann", "hi", loud=True)
    assert got == [("ann", "hi", True)]
    with pytest.raises(EventNameError, match="on_chat"):
        server.register_event_type("on_chat")
    with pytest.raises(EventNameError, match="on_data"):
        server.register_event_type("on_data")  # the standard ones exist already
    with pytest.raises(EventNameError, match="on_nothing"):
        server.dispatch_event("on_nothing")
    with pytest.raises(EventNameError, match="on_nothing"):
        server.event("on_nothing")(lambda: None)

    def on_unknown() -> None: ...

    with pytest.raises(EventNameError, match="on_unknown"):
        server.event(on_unknown)

    @server.event("on_chat")
    def broken(who: str, text: str, **kwargs: Any) -> None:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        server.dispatch_event("on_chat", "bob", "hello")
    assert got == [("ann", "hi", True)]  # the older handler did not run after it


class OnePlayer(Server):
    """Lets one connection in at a time (earwax's way: override can_connect)."""

    def can_connect(self, ctx: ConnectionContext) -> bool:
        return not self.connections


async def test_can_connect_false_blocks_and_fires_on_block(running: Callable[..., Any]) -> None:
    """A peer can_connect refuses gets on_block (it can still be told why), is closed,
    and is never connected as far as the application knows: no on_connect, no
    on_data, no on_disconnect, not in connections, not a hubbub client after."""
    run = await running(OnePlayer())
    record(run, "on_connect", "on_data", "on_disconnect")
    hubbub_connects: list[object] = []  # the app's own hubbub handlers, if it has any
    run.server.service.listen(events.Connect, lambda e: hubbub_connects.append(e.client))

    @run.server.event
    def on_block(ctx: ConnectionContext) -> None:
        run.seen.append(("on_block", ctx))
        ctx.send_string("Sorry, the game is full.")

    first = await run.connect()
    await until(lambda: run.seen)
    second = await run.connect()
    await second.send("let me in")
    assert await second.read_line() == "Sorry, the game is full."
    assert await second.closed()
    assert [name for name, _ in run.seen] == ["on_connect", "on_block"]
    assert len(run.server.connections) == 1
    await until(lambda: len(run.server.service.clients) == 1)
    await first.send("still here")
    await until(lambda: len(run.seen) == 3)
    assert run.seen[2] == ("on_data", b"still here\r\n")
    await first.close()
    await until(lambda: len(run.seen) == 4)
    third = await run.connect()  # room again
    await until(lambda: len(run.seen) == 5)
    assert [name for name, _ in run.seen[3:]] == ["on_disconnect", "on_connect"]
    assert len(hubbub_connects) == 2  # the blocked peer was not among them
    await third.close()


async def test_disconnect_closes_after_output_and_ignores_later_input(
    running: Callable[..., Any],
) -> None:
    """ctx.disconnect() sends what was written, closes, and on_disconnect follows; lines
    that arrived with the one that asked to quit are not delivered."""
    run = await running()
    record(run, "on_disconnect")
    lines: list[bytes] = []

    @run.server.event
    def on_data(ctx: ConnectionContext, data: bytes) -> None:
        lines.append(data)
        if data.strip() == b"quit":
            ctx.send_string("Bye.")
            ctx.disconnect()

    peer = await run.connect()
    await peer.send_raw(b"look\r\nquit\r\nlook again\r\n")
    assert await peer.read_line() == "Bye."
    assert await peer.closed()
    await until(lambda: run.seen)
    assert lines == [b"look\r\n", b"quit\r\n"]
    assert run.server.connections == []


async def test_too_long_line_is_refused_and_memory_stays_bounded(
    running: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A line over max_line_length bytes, even one that never ends in the packets
    seen so far, is not buffered: it is dropped up to its newline, the peer is told,
    the operator gets a warning, and the next line arrives as usual."""
    run = await running(Server(max_line_length=100))
    lines: list[bytes] = []
    run.server.event("on_data")(lambda ctx, data: lines.append(data))
    peer = await run.connect()
    for _ in range(20):
        await peer.send_raw(b"x" * 5000)  # 100 kB, no newline
    await peer.send_raw(b"xx\nok\n" + b"y" * 101 + b"\r\n" + b"z" * 100 + b"\r\n")
    assert await peer.read_line() == "Line too long (over 100 bytes); it was ignored."
    assert await peer.read_line() == "Line too long (over 100 bytes); it was ignored."
    await until(lambda: len(lines) == 2)
    assert lines == [b"ok\n", b"z" * 100 + b"\r\n"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "over 100 bytes" in warnings[0]
    await peer.send_raw(b"after\n")
    await until(lambda: len(lines) == 3)
    await peer.close()


async def test_a_handler_that_raises_is_logged_and_the_connection_stays(
    running: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in on_data is logged with its traceback; the next lines, even
    those in the same packet, are still delivered, and the client is still served."""
    run = await running()
    lines: list[bytes] = []

    @run.server.event
    def on_data(ctx: ConnectionContext, data: bytes) -> None:
        if data.startswith(b"boom"):
            raise ValueError("handler bug")
        lines.append(data)
        ctx.send_string(f"ok {len(lines)}")

    peer = await run.connect()
    await peer.send_raw(b"one\nboom\ntwo\n")
    assert await peer.read_line() == "ok 1"
    assert await peer.read_line() == "ok 2"
    assert lines == [b"one\n", b"two\n"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "on_data" in errors[0].getMessage()
    assert errors[0].exc_info and "handler bug" in str(errors[0].exc_info[1])
    await peer.close()


async def test_stopping_the_service_disconnects_every_context(running: Callable[..., Any]) -> None:
    """When the service stops, each connection gets its on_disconnect."""
    run = await running()
    record(run, "on_connect", "on_disconnect")
    peers = [await run.connect() for _ in range(2)]
    await until(lambda: len(run.seen) == 2)
    await run.server.service.stop()
    assert [name for name, _ in run.seen] == ["on_connect"] * 2 + ["on_disconnect"] * 2
    assert run.server.connections == []
    for peer in peers:
        assert await peer.closed()
        await peer.close()


async def test_a_telnet_listener_delivers_bytes_without_negotiation() -> None:
    """If the operator picks a telnet:// listener, on_data still gets bytes lines, with
    telnet commands taken out and IAC IAC as one 0xFF; output is telnet-escaped."""
    server = Server()
    got: list[bytes] = []

    @server.event
    def on_data(ctx: ConnectionContext, data: bytes) -> None:
        got.append(data)
        ctx.send_raw(b"<\xff>")

    server.service.settings.update("cli", {"listen": ["telnet://127.0.0.1:0"]})
    await server.service.start()
    try:
        address = server.service.servers[0].address
        assert address is not None
        reader, writer = await asyncio.open_connection(*address[:2])
        writer.write(b"lo\xff\xffk\xff\xf1 x\r\n")  # IAC IAC is 0xFF; IAC NOP is nothing
        data = await asyncio.wait_for(reader.readuntil(b">"), 5)
        assert data.endswith(b"<\xff\xff>")
        assert got == [b"lo\xffk x\r\n"]
        writer.close()
    finally:
        await server.service.stop()
