"""The supervisor link: messages and descriptors both ways, sent from the loop without
blocking, over a real UNIX socket pair."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

from hubbub.restart.channel import Channel
from hubbub.restart.link import Link


async def test_messages_and_descriptors_arrive_in_order_when_the_peer_reads_late() -> None:
    """More than the socket buffers is queued while the peer does not read: nothing
    blocks, and once it reads, every message arrives in order with working sockets."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = Link(ours, loop, lambda message, sockets: None, lambda: None)
    link.start()
    pairs = [socket.socketpair() for _ in range(3)]
    big = "x" * 200_000
    for n in range(40):
        fds = [pairs[n % 3][0].fileno()] if n % 10 == 0 else []
        link.send({"n": n, "pad": big}, fds)
    for a, _ in pairs:
        a.close()  # the link holds copies: closing ours changes nothing
    received: list[tuple[dict[str, object], list[socket.socket]]] = []

    def read() -> None:
        channel = Channel(theirs, 10)
        for _ in range(40):
            received.append(channel.receive())

    reader = threading.Thread(target=read)
    reader.start()
    while reader.is_alive():
        await asyncio.sleep(0.01)
    assert [message["n"] for message, _ in received] == list(range(40))
    for n, (_, sockets) in enumerate(received):
        assert len(sockets) == (1 if n % 10 == 0 else 0)
        for sock in sockets:
            sock.sendall(b"ping")
            assert pairs[n % 3][1].recv(4) == b"ping"
            sock.close()
    link.close()
    theirs.close()


async def test_messages_from_the_peer_reach_the_loop_and_its_end_is_reported() -> None:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    got: list[object] = []
    lost = asyncio.Event()
    link = Link(ours, loop, lambda message, sockets: got.append(message["kind"]), lost.set)
    link.start()
    other = Channel(theirs, 5)
    other.send({"kind": "one"})
    other.send({"kind": "two"})
    theirs.close()
    await asyncio.wait_for(lost.wait(), 5)
    assert got == ["one", "two"]
    link.close()


async def test_a_closed_descriptor_is_not_sent() -> None:
    """A socket closed before its message is queued (a client gone at once) is skipped."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = Link(ours, loop, lambda message, sockets: None, lambda: None)
    link.start()
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    link.send({"kind": "client"}, [fd])  # gone: nothing goes
    link.send({"kind": "next"})
    message, sockets = await asyncio.to_thread(Channel(theirs, 5).receive)
    assert message == {"kind": "next"} and sockets == []
    link.close()
    assert os.read(theirs.fileno(), 1) == b""  # closing the link ends it for the peer
    theirs.close()
