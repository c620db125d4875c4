"""udp:// (transports/udp.py): one Datagram event per datagram, bytes exactly; replies
and broadcasts; oversize datagrams, floods, failing handlers and a full send buffer."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

import hubbub
from hubbub import events
from hubbub.endpoints import parse_url
from hubbub.server import Server
from hubbub.testing import AsyncTestClient
from hubbub.transports.udp import DATAGRAMS_PER_TURN, open_datagram_listener

from ..conftest import Start, until

MAX_UDP = 65507  # the largest payload of an IPv4 datagram


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    return sock


async def receive(sock: socket.socket) -> tuple[bytes, tuple[str, int]]:
    """The next datagram on a non-blocking socket (uvloop has no sock_recvfrom)."""
    got: list[tuple[bytes, tuple[str, int]]] = []

    def arrived() -> bool:
        try:
            got.append(sock.recvfrom(70_000))
        except BlockingIOError:
            return False
        return True

    await until(arrived)
    return got[0]


def rss() -> int:
    """Resident memory of this process, in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def udp_service(**settings: object) -> hubbub.Service:
    return hubbub.Service(listen=["udp://127.0.0.1:0?name=status"], **settings)


async def test_one_event_per_datagram_bytes_exactly(start: Start) -> None:
    """Boundaries kept, nothing decoded or framed (garbage included), no task per datagram."""
    service = udp_service()
    got: list[events.Datagram] = []
    tasks: list[object] = []

    @service.listen(events.Datagram)
    def record(event: events.Datagram) -> None:
        got.append(event)
        tasks.append(asyncio.current_task())

    await start(service)
    server = service.servers[0]
    assert server.name == "status" and server.address is not None
    assert server.address[0] == "127.0.0.1" and server.address[1] != 0
    sent = [b"ping", b"two\r\nlines\n", b"\xff\xfe\x80 not utf-8 \xc3", b"", b"\x00" * 1000]
    peer = udp_socket()
    for data in sent:
        peer.sendto(data, server.address)
    await until(lambda: len(got) == len(sent))
    assert [event.data for event in got] == sent
    assert all(type(event.data) is bytes for event in got)
    assert {event.address for event in got} == {peer.getsockname()}
    assert all(event.server is server and event.service is service for event in got)
    assert tasks == [None] * len(sent)  # run inline from the socket's callback
    peer.close()


async def test_reply_with_send_to(start: Start) -> None:
    service = udp_service()
    service.listen(events.Datagram, lambda e: e.server.send_to(b"pong:" + e.data, e.address))
    await start(service)
    peer = udp_socket()
    peer.sendto(b"\x01\x02", service.servers[0].address)
    assert await receive(peer) == (b"pong:\x01\x02", service.servers[0].address)
    peer.close()


async def test_oversize_datagram_dropped_counted_logged(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Over max_datagram_size: no event, counted, logged; the next datagram is fine."""
    service = udp_service()
    got: list[bytes] = []
    service.listen(events.Datagram, lambda e: got.append(e.data))
    await start(service)
    server = service.servers[0]
    listener = server.listener
    peer = udp_socket()
    peer.sendto(b"x" * 8193, server.address)
    peer.sendto(b"x" * 8192, server.address)
    await until(lambda: got)
    assert got == [b"x" * 8192]
    assert listener.dropped_in == 1  # type: ignore[union-attr]
    [line] = [r.getMessage() for r in caplog.records if "dropped a datagram" in r.getMessage()]
    assert "from 127.0.0.1:" in line and "over max_datagram_size (8192 bytes)" in line
    peer.close()


async def test_largest_datagrams_delivered_whole(start: Start) -> None:
    """With max_datagram_size raised, 64 KiB datagrams arrive exactly."""
    service = udp_service(max_datagram_size=MAX_UDP)
    got: list[bytes] = []
    service.listen(events.Datagram, lambda e: got.append(e.data))
    await start(service)
    big = bytes(range(256)) * (MAX_UDP // 256) + b"end"
    big = big[:MAX_UDP]
    peer = udp_socket()
    peer.sendto(big, service.servers[0].address)
    peer.sendto(big[::-1], service.servers[0].address)
    await until(lambda: len(got) == 2)
    assert got == [big, big[::-1]]
    peer.close()


FLOOD = """
import socket, sys, time
port, size, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
data = b"\\xff" * size
end = time.monotonic() + seconds
sent = 0
while time.monotonic() < end:
    for _ in range(64):
        try:
            sock.sendto(data, ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass
print(sent)
"""


@pytest.mark.parametrize("limit", [8192, MAX_UDP], ids=["oversize", "delivered"])
async def test_flood_of_64k_datagrams_keeps_the_service_responsive(
    start: Start, caplog: pytest.LogCaptureFixture, limit: int
) -> None:
    """Half a second of 64 KiB datagrams from another process, dropped as oversize or delivered:
    a TCP client of the same service keeps its round trip under 0.5 s (a generous bound:
    it is milliseconds), the loop handles at most a few datagrams per turn, memory stays
    bounded and the log holds a handful of lines."""
    service = hubbub.Service(
        listen=["udp://127.0.0.1:0", "tcp://127.0.0.1:0"], max_datagram_size=limit
    )
    seen = [0]
    service.listen(events.Datagram, lambda e: seen.__setitem__(0, seen[0] + 1))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    udp, tcp = service.servers
    assert udp.address is not None and tcp.address is not None
    before = rss()
    # Datagrams handled between two consecutive turns of the loop.
    per_turn: list[int] = []
    loop = asyncio.get_running_loop()
    last = [0]

    def tick() -> None:
        count = seen[0] + udp.listener.dropped_in  # type: ignore[union-attr]
        per_turn.append(count - last[0])
        last[0] = count
        if not stopped:
            loop.call_soon(tick)

    stopped = False
    tick()
    flooder = subprocess.Popen(
        [sys.executable, "-c", FLOOD, str(udp.address[1]), str(MAX_UDP), "0.5"],
        stdout=subprocess.PIPE,
    )
    client = await AsyncTestClient.connect(tcp.address)
    worst = 0.0
    trips = 0
    try:
        while flooder.poll() is None or trips < 5:
            began = time.monotonic()
            await client.send(f"trip {trips}")
            assert await client.read_line() == f"echo: trip {trips}"
            worst = max(worst, time.monotonic() - began)
            trips += 1
    finally:
        stopped = True
        flooder.wait(10)
    assert flooder.stdout is not None
    sent = int(flooder.stdout.read())
    handled = seen[0] + udp.listener.dropped_in  # type: ignore[union-attr]
    assert sent > 100 and handled > 100  # it was a flood, and it reached the service
    assert worst < 0.5, f"round trip took {worst:.3f}s during the flood"
    assert max(per_turn) <= DATAGRAMS_PER_TURN, f"{max(per_turn)} datagrams in one loop turn"
    assert rss() - before < 64 * 1024 * 1024
    if limit == MAX_UDP:
        assert seen[0] > 0 and udp.listener.dropped_in == 0  # type: ignore[union-attr]
    else:
        assert seen[0] == 0
        lines = [r for r in caplog.records if "dropped a datagram" in r.getMessage()]
        assert 1 <= len(lines) <= 4  # three, then one per minute
    await client.close()


async def test_handler_raising_on_every_datagram(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Logged at a bounded rate; the next handler gets every datagram; clients are fine."""
    service = hubbub.Service(listen=["udp://127.0.0.1:0", "tcp://127.0.0.1:0"])
    got: list[bytes] = []

    @service.listen(events.Datagram)
    def broken(event: events.Datagram) -> None:
        raise ValueError("cannot parse " + event.data.hex())

    service.listen(events.Datagram, lambda e: got.append(e.data))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    udp, tcp = service.servers
    peer = udp_socket()
    for i in range(300):
        peer.sendto(b"%d " % i + b"\xff" * 1000, udp.address)
        if i % 10 == 9:
            await until(lambda i=i: len(got) > i)  # do not overrun the receive buffer
    await until(lambda: len(got) == 300)
    assert got[299].startswith(b"299 ")
    failures = [
        r for r in caplog.records if r.levelno == logging.ERROR and "broken" in r.getMessage()
    ]
    assert 1 <= len(failures) <= 4
    assert failures[0].exc_info is not None
    assert len(failures[0].getMessage()) < 400  # the datagram is shown abbreviated
    client = await AsyncTestClient.connect(tcp.address)  # type: ignore[arg-type]
    await client.send("fine")
    assert await client.read_line() == "echo: fine"
    await client.close()
    peer.close()


async def test_broadcast_uses_so_broadcast(start: Start) -> None:
    """broadcast() reaches a broadcast address, which a plain UDP socket may not send to."""
    service = udp_service()
    await start(service)
    listener_ = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener_.bind(("0.0.0.0", 0))
    listener_.setblocking(False)
    port = listener_.getsockname()[1]
    plain = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(PermissionError):
        plain.sendto(b"no", ("127.255.255.255", port))
    plain.close()
    service.servers[0].broadcast(b"hello everyone", port, address="127.255.255.255")
    data, _ = await receive(listener_)
    assert data == b"hello everyone"
    listener_.close()


async def test_send_to_errors(start: Start) -> None:
    """Programming errors raise; after stop send_to says the listener is closed."""
    service = udp_service()
    await start(service)
    server = service.servers[0]
    with pytest.raises(TypeError, match="sends bytes, not str"):
        server.send_to("text", ("127.0.0.1", 9))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host names are not looked up"):
        server.send_to(b"x", ("localhost", 9))
    with pytest.raises(ValueError, match="not an \\(IP address, port\\)"):
        server.send_to(b"x", ("::1", 9))  # the listener is IPv4 only
    await service.stop()
    with pytest.raises(RuntimeError, match="status is not listening"):
        server.send_to(b"x", ("127.0.0.1", 9))
    with pytest.raises(RuntimeError, match="status is not listening"):
        server.broadcast(b"x", 9)


async def test_full_send_buffer_drops_instead_of_queueing(
    socket_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    """When the kernel takes no more, datagrams are dropped, counted and logged (bounded):
    nothing queues in the process. Loopback UDP never fills, so this uses the same
    listener on a datagram socket file whose reader never reads."""
    service = udp_service()
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.bind(f"{socket_dir}/out")
    sender.setblocking(False)
    reader = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    reader.bind(f"{socket_dir}/in")
    server = Server(parse_url("udp://127.0.0.1:0"))
    listener = await open_datagram_listener(service, server, [sender])
    try:
        for _ in range(2000):
            listener.send_to(b"z" * 4096, f"{socket_dir}/in")
        assert listener.dropped_out > 1000
        lines = [r for r in caplog.records if "dropped a datagram of 4096" in r.getMessage()]
        assert 1 <= len(lines) <= 3
        assert "send buffer full" in lines[0].getMessage()
        reader.setblocking(False)
        assert reader.recv(8192) == b"z" * 4096  # what the kernel took is intact
    finally:
        listener.close()
        reader.close()
    with pytest.raises(RuntimeError, match="is closed"):
        listener.send_to(b"late", f"{socket_dir}/in")
