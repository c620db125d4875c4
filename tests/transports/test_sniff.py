"""TLS and plain on one port (transports/sniff.py, ``?tls=auto``): the first bytes
decide, silence means plain after tls_sniff_timeout; real sockets, real TLS."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.protocols.telnet import codes
from hubbub.testing import AsyncTestClient
from hubbub.transports.sniff import looks_like_tls, sniff

from ..conftest import Start, until
from ..tls_certs import client_hello, open_tls, raw_connection, read_to_end
from ..tls_certs import shared as certs


class AutoApp:
    """One ``?tls=auto`` listener that greets, echoes, and records connects."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.service = hubbub.Service(listen=[url], **{**certs().settings(), **settings})
        self.connects: list[hubbub.Client] = []
        self.service.listen(events.Connect, self.greet)
        self.service.listen(
            events.Receive, lambda e: e.client.write(f"echo: {e.data} ({e.client.transport})")
        )

    def greet(self, event: events.Connect) -> None:
        self.connects.append(event.client)
        event.client.write(f"hi ({event.client.transport})")

    @property
    def address(self) -> tuple[Any, ...]:
        found = self.service.servers[0].address
        assert found is not None
        return found


# ------------------------------------------------------------------ the decision


def test_looks_like_tls() -> None:
    assert looks_like_tls(client_hello())
    assert looks_like_tls(b"\x16")  # all that has come yet
    assert looks_like_tls(b"\x16\x03")
    for plain in (b"", b"hello\r\n", b"GET / HTTP/1.1", b"\xff\xfb\x18", b"\x16\x01", b"\x03"):
        assert not looks_like_tls(plain), plain


async def test_sniff_peeks_and_leaves_the_bytes() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        hello = client_hello()
        theirs.sendall(hello)
        assert await sniff(ours, 5.0) is True
        assert await loop.sock_recv(ours, len(hello)) == hello  # nothing was consumed


async def test_sniff_of_silence_is_plain() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.setblocking(False)
        assert await sniff(ours, 0.05) is False


# ------------------------------------------------------------------ on a listener


@pytest.mark.parametrize("scheme", ["tcp", "telnet"])
async def test_tls_client_on_an_auto_port(start: Start, scheme: str) -> None:
    app = AutoApp(f"{scheme}://127.0.0.1:0?tls=auto")
    await start(app.service)
    client = await open_tls(app.address, telnet=scheme == "telnet")
    secure = {"tcp": "tls", "telnet": "telnets"}[scheme]
    assert await client.read_line() == f"hi ({secure})"
    await client.send("over tls")
    assert await client.read_line() == f"echo: over tls ({secure})"
    assert app.connects[0].secure
    await client.close()


async def test_plain_client_that_types_first_is_served_at_once(start: Start) -> None:
    """Its first bytes decide: a long tls_sniff_timeout is never waited for."""
    app = AutoApp("tcp://127.0.0.1:0?tls=auto", tls_sniff_timeout=60)
    await start(app.service)
    client = await AsyncTestClient.connect(app.address)
    await client.send("hello")
    assert await client.read_line() == "hi (tcp)"
    assert await client.read_line() == "echo: hello (tcp)"
    assert not app.connects[0].secure
    await client.close()


async def test_silent_tcp_client_is_served_plainly_after_the_sniff_timeout(start: Start) -> None:
    app = AutoApp("tcp://127.0.0.1:0?tls=auto")  # the default tls_sniff_timeout, 0.3 s
    await start(app.service)
    client = await AsyncTestClient.connect(app.address)
    assert await client.read_line() == "hi (tcp)"  # greeted without having said anything
    await client.send("typed later")
    assert await client.read_line() == "echo: typed later (tcp)"
    await client.close()


async def test_silent_telnet_client_gets_negotiation_after_the_sniff_timeout(
    start: Start,
) -> None:
    """Like the stock telnet client, which waits for the server to speak first."""
    app = AutoApp("telnet://127.0.0.1:0?tls=auto", tls_sniff_timeout=0.1)
    await start(app.service)
    reader, writer = await asyncio.open_connection(*app.address[:2])
    first = await asyncio.wait_for(reader.read(3), 5)
    assert first[0] == codes.IAC  # plain telnet negotiation
    client = AsyncTestClient(reader, writer, telnet=True)
    assert await client.read_line() == "hi (telnet)"
    await client.send("chat")
    assert await client.read_line() == "echo: chat (telnet)"
    await client.close()


async def test_silent_peers_hold_up_nobody(start: Start) -> None:
    """While twenty peers sit out their sniff, a TLS client and a plain one are served."""
    app = AutoApp("telnet://127.0.0.1:0?tls=auto", tls_sniff_timeout=30, connection_rate=0)
    await start(app.service)
    silent = [await raw_connection(app.address) for _ in range(20)]
    tls = await open_tls(app.address, telnet=True)
    assert await tls.read_line() == "hi (telnets)"
    plain = await AsyncTestClient.connect(app.address, telnet=True)
    await plain.send("me")
    assert await plain.read_line() == "hi (telnet)"
    assert await plain.read_line() == "echo: me (telnet)"
    assert len(app.connects) == 2
    for sock in silent:
        sock.close()
    await tls.close()
    await plain.close()


async def test_broken_handshake_on_an_auto_port(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A handshake record that goes wrong is a failed TLS handshake: INFO, counted, no client."""
    app = AutoApp("tcp://127.0.0.1:0?tls=auto")
    await start(app.service)
    sock = await raw_connection(app.address)
    await asyncio.get_running_loop().sock_sendall(sock, b"\x16\x03\x01\x00\x05hello")
    await read_to_end(sock)
    sock.close()
    listener = app.service.servers[0].listener
    await until(lambda: listener.tls.failures == 1)  # type: ignore[union-attr]
    assert any(
        r.levelno == logging.INFO and "TLS handshake from" in r.getMessage() for r in caplog.records
    )
    assert app.connects == []


async def test_reset_while_sniffing(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """A peer that resets before it says anything: no client, nothing louder than DEBUG."""
    app = AutoApp("tcp://127.0.0.1:0?tls=auto", tls_sniff_timeout=0.2)
    await start(app.service)
    sock = await raw_connection(app.address)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    other = await AsyncTestClient.connect(app.address)
    await other.send("here")
    assert await other.read_line() == "hi (tcp)"
    assert await other.read_line() == "echo: here (tcp)"
    await asyncio.sleep(0.3)  # past the reset peer's sniff
    assert len(app.connects) == 1
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    await other.close()


async def test_auto_needs_a_certificate() -> None:
    service = hubbub.Service(listen=["telnet://127.0.0.1:0?tls=auto"])
    with pytest.raises(hubbub.ListenError, match="needs a TLS certificate"):
        await service.start()
