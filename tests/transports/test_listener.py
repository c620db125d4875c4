"""hubbub's own accept loop (transports/listener.py): refusals before any transport
exists, floods of connections, and running out of file descriptors.

The descriptor tests run the service in a subprocess with a low open-files limit,
so the test process keeps its own descriptors."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient

from ..conftest import Start, connect, until
from ..subprocesses import Watched

FULL = b"Sorry, the server is full. Please try again later.\r\n"
STOPPING = b"Sorry, the server is shutting down.\r\n"

APP = """
import os
import resource
import sys

import hubbub
from hubbub import events

mode, loop = sys.argv[1], sys.argv[2]
# Hundreds of peers from one address: the per-IP limits are off.
settings = {"listen": ["tcp://127.0.0.1:0"], "loop": loop, "connection_rate": 0,
            "max_connections_per_ip": 0}
if mode == "low-limit":
    resource.setrlimit(resource.RLIMIT_NOFILE, (160, 160))
    settings["log_level"] = "WARNING"
else:  # "starve": enough descriptors for max_connections, then PostStart uses them up
    resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120))
    settings["max_connections"] = 20
service = hubbub.Service(**settings)
dummies = []


@service.listen(events.PostStart)
def ready(event):
    if mode == "starve":
        try:
            while True:
                dummies.append(open(os.devnull, "rb"))
        except OSError:
            pass
        for _ in range(int(sys.argv[3])):
            dummies.pop().close()
    print(f"PORT {service.servers[0].address[1]}", file=sys.stderr, flush=True)


@service.listen(events.Connect)
def greet(event):
    event.client.write("hi")


@service.listen(events.Receive)
def receive(event):
    if event.data == "free":
        while dummies:
            dummies.pop().close()
        event.client.write("freed")


@service.listen(events.Disconnect)
def left(event):
    print(f"left {len(service.clients)}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    service.run()
"""


class App(Watched):
    """The app above in a subprocess; its stderr (log and markers) is read line by line."""

    def __init__(self, script: Path, *args: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        super().__init__([sys.executable, str(script), *args], cwd=script.parent, env=env)

    def wait_line(self, text: str) -> str:
        return self.wait_for(lambda line: line if text in line else None, repr(text))

    def port(self) -> int:
        return int(self.wait_line("PORT ").split()[-1])


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    script = tmp_path / "app.py"
    script.write_text(APP, encoding="utf-8")
    started: list[App] = []

    def start(*args: str) -> App:
        app = App(script, *args)
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()


def first_line(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """What the server sends up to and including the first line end (b"" on EOF)."""
    sock.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def at_eof(sock: socket.socket, timeout: float = 5.0) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True


def nothing_yet(sock: socket.socket) -> bool:
    """True if the peer has sent nothing and has not closed (nothing is consumed)."""
    sock.setblocking(False)
    try:
        sock.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    finally:
        sock.setblocking(True)
    return False


def enough_descriptors(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))


def test_server_full_at_the_open_files_limit(start_app: Callable[..., App]) -> None:
    """With 160 descriptors and the default max_connections, the service warns once at
    start and admits 160 - 64 = 96 clients; the other 204 of 300 peers are told the
    server is full and closed, nothing hangs, and the log stays a few lines long. Once
    everyone has left, a new client is served."""
    enough_descriptors(1024)
    app = start_app("low-limit", "auto")
    address = ("127.0.0.1", app.port())
    peers = [socket.create_connection(address, timeout=5) for _ in range(300)]
    try:
        answers = [first_line(peer) for peer in peers]
        served = [i for i, answer in enumerate(answers) if answer == b"hi\r\n"]
        refused = [i for i, answer in enumerate(answers) if answer == FULL]
        assert served == list(range(96))
        assert len(refused) == 204
        assert all(at_eof(peers[i]) for i in refused)
    finally:
        for peer in peers:
            peer.close()
    app.wait_line("left 0")
    with socket.create_connection(address, timeout=5) as late:
        assert first_line(late) == b"hi\r\n"
    assert app.stop(signal.SIGTERM) == 0, app.text
    log = [line for line in app.lines if not line.startswith(("PORT", "left"))]
    limit_warnings = [line for line in log if "open-files limit is 160" in line]
    assert len(limit_warnings) == 1 and "at most 96 clients" in limit_warnings[0]
    assert len(log) <= 10, log
    assert "Traceback" not in app.text
    # The 64 descriptors kept back for refusals and the like were enough: accepting
    # never ran out (peers being set up count towards the limit).
    assert not [line for line in log if "cannot accept" in line], log


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_out_of_descriptors_while_accepting(start_app: Callable[..., App], loop: str) -> None:
    """When accept() fails for want of descriptors, new peers wait in the backlog (not
    refused, not closed), one WARNING says so, and once descriptors are free again they
    are accepted and served, with an INFO line saying accepting resumed."""
    app = start_app("starve", loop, "3")
    address = ("127.0.0.1", app.port())
    control = socket.create_connection(address, timeout=5)
    assert first_line(control) == b"hi\r\n"
    others = [socket.create_connection(address, timeout=5) for _ in range(6)]
    try:
        app.wait_line("cannot accept")
        # Longer than one pause (0.5 s): the retry that fails again logs nothing new.
        control.settimeout(0.7)
        with pytest.raises(TimeoutError):
            control.recv(1)
        waiting = [peer for peer in others if nothing_yet(peer)]  # no data, no EOF
        served = [peer for peer in others if peer not in waiting]
        assert len(waiting) >= 3
        assert [first_line(peer) for peer in served] == [b"hi\r\n"] * len(served)
        control.sendall(b"free\r\n")
        assert first_line(control) == b"freed\r\n"
        app.wait_line("accepting on")
        assert [first_line(peer) for peer in waiting] == [b"hi\r\n"] * len(waiting)
    finally:
        control.close()
        for peer in others:
            peer.close()
    assert app.stop(signal.SIGTERM) == 0, app.text
    assert len([line for line in app.lines if "cannot accept" in line]) == 1
    assert len([line for line in app.lines if "accepting on" in line]) == 1
    assert "Traceback" not in app.text


@pytest.mark.parametrize("scheme", ["tcp", "telnet"])
async def test_connection_during_stop_is_refused(start: Start, scheme: str) -> None:
    """A peer connecting while the service stops (PreStop handlers still running) gets
    one line saying so and is closed, before any telnet negotiation; it never becomes
    a client. The client already connected is unaffected until the stop goes on."""
    service = hubbub.Service(listen=[f"{scheme}://127.0.0.1:0"])
    gate = asyncio.Event()
    stopping = asyncio.Event()
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))

    @service.listen(events.PreStop)
    async def hold(event: events.PreStop) -> None:
        stopping.set()
        await gate.wait()

    await start(service)
    address = service.servers[0].address
    assert address is not None
    present = await connect(service)
    await until(lambda: connects)
    stop = asyncio.create_task(service.stop())
    await asyncio.wait_for(stopping.wait(), 5)
    reader, writer = await asyncio.open_connection(*address[:2])
    assert await asyncio.wait_for(reader.read(), 5) == STOPPING  # then EOF
    assert len(connects) == 1
    gate.set()
    await asyncio.wait_for(stop, 5)
    assert await present.closed()
    writer.close()
    await present.close()


async def test_server_full_is_told_before_telnet_negotiation(start: Start) -> None:
    """Over max_connections on a telnet listener, the peer gets the refusal as its only
    bytes (no negotiation was started for it) and then EOF."""
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], max_connections=1)
    await start(service)
    first = await connect(service)
    await until(lambda: len(service.clients) == 1)
    address = service.servers[0].address
    assert address is not None
    reader, writer = await asyncio.open_connection(*address[:2])
    assert await asyncio.wait_for(reader.read(), 5) == FULL
    assert len(service.clients) == 1
    writer.close()
    await first.close()


async def test_refusals_in_a_burst_come_before_any_transport(start: Start) -> None:
    """100 peers connecting at once to a telnet listener with room for 5: five are
    served, and each of the other 95 gets the refusal as its only bytes, sent on the
    raw socket before any telnet negotiation (connections being set up count towards
    the limit, not only the clients already registered)."""
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], max_connections=5)
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))
    await start(service)
    address = service.servers[0].address
    assert address is not None
    peers = await asyncio.gather(*(asyncio.open_connection(*address[:2]) for _ in range(100)))
    await until(lambda: len(connects) == 5)
    served = {tuple(client.address) for client in connects}
    refused = [
        reader for reader, writer in peers if writer.get_extra_info("sockname")[:2] not in served
    ]
    assert len(refused) == 95
    answers = await asyncio.gather(*(asyncio.wait_for(r.read(), 5) for r in refused))
    assert answers == [FULL] * 95, {a: answers.count(a) for a in set(answers)}
    for _, writer in peers:
        writer.close()


async def test_accepted_sockets_send_small_writes_at_once(start: Start) -> None:
    """Accepted TCP sockets have TCP_NODELAY set: a one-line reply is not held back
    waiting for the peer's acknowledgement of the previous one."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"])
    await start(service)
    plain = await connect(service, 0)
    telnet = await connect(service, 1)
    await until(lambda: len(service.clients) == 2)
    for client in service.clients:
        sock = client.connection.transport.get_extra_info("socket")  # type: ignore[attr-defined]
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await plain.close()
    await telnet.close()


async def test_burst_of_500_connections(start: Start) -> None:
    """500 peers connecting at once are all accepted, greeted and served."""
    enough_descriptors(1200)
    service = hubbub.Service(
        listen=["tcp://127.0.0.1:0"], connection_rate=0, max_connections_per_ip=0
    )
    service.listen(events.Connect, lambda e: e.client.write("hi"))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    address = service.servers[0].address
    assert address is not None
    clients = await asyncio.gather(*(AsyncTestClient.connect(address) for _ in range(500)))
    greetings = await asyncio.gather(*(c.read_line() for c in clients))
    assert greetings == ["hi"] * 500
    assert len(service.clients) == 500
    await clients[123].send("one of many")
    assert await clients[123].read_line() == "echo: one of many"
    await asyncio.gather(*(c.close() for c in clients))
    await until(lambda: len(service.clients) == 0)
