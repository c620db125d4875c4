"""One suite every listener scheme must pass, over real sockets.

The schemes come from :data:`hubbub.transports.SCHEMES`, so a transport added
there is held to this suite at once; it only needs a test client in
:data:`CLIENTS` (the suite fails, naming the scheme, until it has one).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient
from hubbub.transports import SCHEMES

from ..conftest import Start, until
from ..tls_certs import open_tls
from ..tls_certs import shared as shared_certs

ClientFactory = Callable[[tuple[Any, ...]], Awaitable[AsyncTestClient]]


async def tcp_client(address: tuple[Any, ...]) -> AsyncTestClient:
    return await AsyncTestClient.connect(address)


async def telnet_client(address: tuple[Any, ...]) -> AsyncTestClient:
    return await AsyncTestClient.connect(address, telnet=True)


async def tls_client(address: tuple[Any, ...]) -> AsyncTestClient:
    return await open_tls(address)


async def telnets_client(address: tuple[Any, ...]) -> AsyncTestClient:
    return await open_tls(address, telnet=True)


#: How the suite opens a client on each scheme (a path scheme's address is its path).
CLIENTS: dict[str, ClientFactory] = {
    "tcp": tcp_client,
    "telnet": telnet_client,
    "tls": tls_client,
    "telnets": telnets_client,
    "unix": tcp_client,
}

#: Settings a scheme needs to listen at all (a certificate for TLS).
SCHEME_SETTINGS: dict[str, Callable[[], dict[str, Any]]] = {
    "tls": lambda: shared_certs().settings(),
    "telnets": lambda: shared_certs().settings(),
}

DISCONNECTED_NOTICE = "*** Disconnected: output was not being read fast enough. ***"


#: Message transports: this suite's stream checks (split packets, raw bytes, line
#: endings) have no meaning there; test_websocket.py holds them to the same behaviour
#: (lines, prompts, close, a client that never reads, resets, bursts).
MESSAGE_SCHEMES = frozenset({"ws", "wss"})


@pytest.fixture(
    params=sorted(
        name for name, kind in SCHEMES.items() if kind.clients and name not in MESSAGE_SCHEMES
    )
)
def scheme(request: pytest.FixtureRequest, socket_dir: str) -> str:
    name: str = request.param
    if name not in CLIENTS:
        pytest.fail(f"scheme {name!r} is served but has no test client in CLIENTS")
    Recorder.socket_dir = socket_dir
    return name


class Recorder:
    """A service on one listener of ``scheme`` that echoes lines and records events."""

    #: Where a path scheme's socket goes (set per test by the ``scheme`` fixture).
    socket_dir = ""

    def __init__(self, scheme: str, **settings: Any) -> None:
        self.scheme = scheme
        self.path = SCHEMES[scheme].path
        url = f"{scheme}://{self.socket_dir}/s.sock" if self.path else f"{scheme}://127.0.0.1:0"
        needs = SCHEME_SETTINGS.get(scheme)
        settings = {**(needs() if needs else {}), **settings}
        self.service = hubbub.Service(listen=[url], **settings)
        # Peers of a path scheme all have the listener's path for an address,
        # so they are matched with their server-side client by arrival order.
        self.opened: dict[int, int] = {}
        self.connects: list[hubbub.Client] = []
        self.disconnects: list[hubbub.Client] = []
        self.service.listen(events.Connect, lambda e: self.connects.append(e.client))
        self.service.listen(events.Disconnect, lambda e: self.disconnects.append(e.client))

    def echo(self) -> Recorder:
        self.service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
        return self

    async def open(self) -> AsyncTestClient:
        address = self.service.servers[0].address
        assert address is not None
        index = len(self.connects)
        client = await CLIENTS[self.scheme](address)  # type: ignore[arg-type]
        if self.path:
            await until(lambda: len(self.connects) > index)
            self.opened[id(client)] = index
        return client

    def peer(self, client: AsyncTestClient) -> tuple[Any, ...]:
        """What ``client.address`` is on the server side for this test client."""
        if self.path:
            return (self.service.servers[0].address, 0)
        return tuple(client.writer.get_extra_info("sockname")[:2])

    async def server_side(self, client: AsyncTestClient) -> hubbub.Client:
        """The service's Client for ``client`` (matched by the peer's address)."""
        peer = self.peer(client)

        def find() -> hubbub.Client | None:
            if self.path:
                return self.connects[self.opened[id(client)]]
            return next((c for c in self.service.clients if tuple(c.address) == peer), None)

        await until(lambda: find() is not None)
        found = find()
        assert found is not None
        return found


async def test_connect(start: Start, scheme: str) -> None:
    """Connect fires once per peer, the client is listed, its address is the peer's."""
    rec = Recorder(scheme)
    await start(rec.service)
    client = await rec.open()
    await until(lambda: rec.connects)
    [accepted] = rec.connects
    assert accepted in rec.service.clients
    assert tuple(accepted.address) == rec.peer(client)
    assert accepted.server is rec.service.servers[0]
    assert accepted.transport == scheme
    assert accepted.connected
    await client.close()
    await until(lambda: rec.disconnects)
    assert rec.disconnects == [accepted]


async def test_receive_line_endings_and_split_packets(start: Start, scheme: str) -> None:
    """Each of \\r\\n, \\n, \\r\\0 and a lone \\r ends a line; packets never matter."""
    rec = Recorder(scheme)
    got: list[str] = []
    rec.service.listen(events.Receive, lambda e: got.append(e.data))
    await start(rec.service)
    client = await rec.open()
    accepted = await rec.server_side(client)
    await client.send_raw(b"one\r\ntwo\nthree\r\0four\rfive\r\n")
    await until(lambda: len(got) == 5)
    assert got == ["one", "two", "three", "four", "five"]

    def partial_is(text: str) -> Callable[[], bool]:
        return lambda: accepted.connection.snapshot()["lines"]["partial"] == text

    typed = ""
    for piece in (b"sp", b"li", b"t l", b"ine"):  # each a packet of its own
        await client.send_raw(piece)
        typed += piece.decode()
        await until(partial_is(typed))
    assert got[5:] == []
    await client.send_raw(b"\r")  # a CR ends the line at once...
    await until(lambda: len(got) == 6)
    await client.send_raw(b"\nnext\r\n")  # ...and the LF after it in the next packet is no line
    await until(lambda: len(got) == 7)
    assert got[5:] == ["split line", "next"]
    await client.close()


async def test_write(start: Start, scheme: str) -> None:
    """Multi-line writes, non-ASCII text and write_all arrive as written."""
    rec = Recorder(scheme)
    await start(rec.service)
    first = await rec.open()
    second = await rec.open()
    a = await rec.server_side(first)
    await rec.server_side(second)
    a.write("one", "two\nthree")
    a.write("héllo wörld ☃ 日本語 ÿ")
    assert await first.expect("\r\n") == "one\r\n"
    assert await first.read_line() == "two"
    assert await first.read_line() == "three"
    assert await first.read_line() == "héllo wörld ☃ 日本語 ÿ"
    rec.service.write_all("to all", "ünïcode")
    for client in (first, second):
        assert await client.read_line() == "to all"
        assert await client.read_line() == "ünïcode"
    rec.service.write_all("not you", exclude=a)
    assert await second.read_line() == "not you"
    a.write("last")
    assert await first.read_line() == "last"  # "not you" never reached it
    await first.close()
    await second.close()


async def test_prompt_and_prompt_again_after_too_long_line(start: Start, scheme: str) -> None:
    """A prompt has no newline; a refused over-long line is followed by the same prompt."""
    rec = Recorder(scheme)

    @rec.service.listen(events.Connect)
    def ask(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.write("Name: ", newline=False)
        name = yield
        event.client.write(f"Hello, {name}.")

    await start(rec.service)
    client = await rec.open()
    assert await client.expect("Name: ") == "Name: "
    await client.send("x" * 9000)
    limit = rec.service.settings.max_line_length
    refusal = f"Line too long (over {limit} bytes); it was ignored.\r\nName: "
    assert await client.expect(refusal) == refusal
    await client.send("ann")
    # Nothing between the prompt and the reply: no newline was sent after it.
    assert await client.read_line() == "Hello, ann."
    await client.close()


async def test_close_delivers_last_line_then_eof(start: Start, scheme: str) -> None:
    """client.close() sends what was written, then EOF; Disconnect fires; connected is False."""
    rec = Recorder(scheme)

    @rec.service.listen(events.Receive)
    def bye(event: events.Receive) -> None:
        event.client.write("x" * 50_000)
        event.client.write("goodbye")
        event.client.close()

    await start(rec.service)
    client = await rec.open()
    accepted = await rec.server_side(client)
    await client.send("quit")
    assert await client.read_line() == "x" * 50_000
    assert await client.read_line() == "goodbye"
    assert await client.closed()
    assert client.pending == ""  # read to EOF: nothing after the last line
    await until(lambda: rec.disconnects)
    assert rec.disconnects == [accepted]
    assert not accepted.connected
    assert accepted not in rec.service.clients
    await client.close()


async def test_client_that_never_reads_is_cut_off(
    start: Start, scheme: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer that takes no output is cut off and logged; a bystander never notices."""
    rec = Recorder(scheme, max_output_buffer=64 * 1024).echo()
    await start(rec.service)
    stalled = await rec.open()
    # Paused once the server has it: uvloop's TLS client sends its last
    # handshake message only when it next reads or writes.
    victim = await rec.server_side(stalled)
    stalled.writer.transport.pause_reading()  # type: ignore[attr-defined]
    bystander = await rec.open()
    await rec.server_side(bystander)
    line = "z" * 1000
    for i in range(64_000):  # 64 MB at most; the cut-off comes long before
        if not victim.connected:
            break
        victim.write(line)
        if i % 64 == 0:
            await asyncio.sleep(0)
    assert not victim.connected
    await until(lambda: rec.disconnects)
    assert rec.disconnects == [victim]
    assert victim not in rec.service.clients
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "is not reading" in r.getMessage()
    ]
    assert len(warnings) == 1 and victim.id in warnings[0]
    await bystander.send("still here")
    assert await bystander.read_line() == "echo: still here"
    stalled.writer.transport.abort()  # type: ignore[attr-defined]
    await bystander.close()


async def test_input_flood_does_not_hold_up_others(start: Start, scheme: str) -> None:
    """One client's burst of 20,000 lines is handled in turns: another's line goes first."""
    rec = Recorder(scheme, max_lines_per_second=0).echo()
    order: list[hubbub.Client] = []
    rec.service.listen(events.Receive, lambda e: order.append(e.client))
    await start(rec.service)
    flooder = await rec.open()
    other = await rec.open()
    a = await rec.server_side(flooder)
    b = await rec.server_side(other)
    count = 20_000
    flooder.writer.write(b"".join(b"flood %d\r\n" % i for i in range(count)))
    await other.send("me too")
    assert await other.read_line() == "echo: me too"
    position = order.index(b)
    assert order[:position].count(a) < count // 10
    for i in range(count):
        assert await flooder.read_line() == f"echo: flood {i}"
    await flooder.close()
    await other.close()


async def test_reset_mid_stream(start: Start, scheme: str) -> None:
    """A peer that resets (SO_LINGER 0) while output streams to it: Disconnect, others fine."""
    rec = Recorder(scheme).echo()
    ended: list[str] = []

    @rec.service.listen(events.Connect)
    async def stream(event: events.Connect) -> None:
        client = event.client
        if len(rec.connects) > 1:
            return  # only the first client gets the stream
        try:
            while client.connected:
                client.write("s" * 16_000)
                await client.flush()
            ended.append("connected is False")
        except hubbub.Disconnected:
            ended.append("Disconnected")

    await start(rec.service)
    resetting = await rec.open()
    await resetting.expect("s" * 16_000)
    bystander = await rec.open()
    victim = await rec.server_side(resetting)
    await rec.server_side(bystander)
    sock = resetting.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    resetting.writer.transport.abort()  # type: ignore[attr-defined]
    await until(lambda: rec.disconnects)
    assert rec.disconnects == [victim]
    await until(lambda: ended)
    assert not victim.connected and victim not in rec.service.clients
    await bystander.send("ping")
    assert await bystander.read_line() == "echo: ping"
    await bystander.close()


async def test_silent_client_is_held_until_stop(start: Start, scheme: str) -> None:
    """A client that connects and says nothing stays connected, costs the others nothing,
    and is closed with Disconnect when the service stops."""
    rec = Recorder(scheme).echo()
    await start(rec.service)
    silent = await rec.open()
    talker = await rec.open()
    await talker.send("hello")
    assert await talker.read_line() == "echo: hello"
    assert len(rec.connects) == 2 and len(rec.service.clients) == 2
    await rec.service.stop()
    assert len(rec.disconnects) == 2
    assert await silent.closed()
    assert silent.pending == ""  # read to EOF: it was sent nothing but negotiation
    await silent.close()
    await talker.close()


async def test_burst_of_connections(start: Start, scheme: str) -> None:
    """Fifty peers connecting at once are all greeted and served."""
    rec = Recorder(scheme, connection_rate=0, max_connections_per_ip=0).echo()
    rec.service.listen(events.Connect, lambda e: e.client.write("hi"))
    await start(rec.service)
    clients = await asyncio.gather(*(rec.open() for _ in range(50)))
    assert await asyncio.gather(*(c.read_line() for c in clients)) == ["hi"] * 50
    assert len(rec.service.clients) == 50
    await clients[17].send("one of many")
    assert await clients[17].read_line() == "echo: one of many"
    await asyncio.gather(*(c.close() for c in clients))
    await until(lambda: len(rec.disconnects) == 50)
