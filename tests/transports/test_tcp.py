"""tcp:// (transports/tcp.py): what the stream socket glue does on its own, over real
sockets."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

import hubbub
from hubbub import events

from ..conftest import Start, connect, until


async def test_write_to_a_reset_peer_marks_the_client_disconnected_at_once(
    start: Start,
) -> None:
    """A write that finds the peer reset (before the service read the reset) makes the
    client disconnected on the spot: ``connected`` is False right after the write,
    later writes are dropped, ``flush()`` raises Disconnected, and Disconnect follows."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    gate = asyncio.Event()
    disconnects: list[hubbub.Client] = []

    @service.listen(events.Receive)
    async def hold(event: events.Receive) -> None:
        await gate.wait()  # the client's later lines queue up behind this

    service.listen(events.Disconnect, lambda e: disconnects.append(e.client))
    await start(service)
    peer = await connect(service)
    await until(lambda: len(service.clients) == 1)
    [client] = service.clients
    # Enough queued lines that the service stops reading this socket: it will not
    # see the reset until it writes.
    await peer.send_raw(b"".join(b"line %d\r\n" % i for i in range(200)))
    await until(lambda: client.inbox.paused)
    sock = peer.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    peer.writer.transport.abort()  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)  # the RST reaches the server's socket
    assert client.connected  # nothing has noticed yet: reading is paused
    client.write("are you there?")
    assert not client.connected
    client.write("dropped")  # harmless
    with pytest.raises(hubbub.Disconnected):
        await client.flush()
    await until(lambda: disconnects)
    assert disconnects == [client]
    assert client not in service.clients
    gate.set()


async def test_half_closed_peer_gets_its_replies(start: Start) -> None:
    """A peer that sends its lines and then shuts down its sending side (as
    ``printf 'a\\nb\\n' | nc host port`` does) has every line handled and gets every
    reply before the connection closes; then Disconnect fires."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], max_lines_per_second=0)
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    disconnects: list[hubbub.Client] = []
    service.listen(events.Disconnect, lambda e: disconnects.append(e.client))
    await start(service)
    address = service.servers[0].address
    assert address is not None
    reader, writer = await asyncio.open_connection(*address[:2])
    writer.write(b"".join(b"q%d\r\n" % i for i in range(500)))
    writer.write_eof()
    data = await asyncio.wait_for(reader.read(), 5)  # everything, up to EOF
    assert data == b"".join(b"echo: q%d\r\n" % i for i in range(500))
    await until(lambda: disconnects)
    writer.close()
