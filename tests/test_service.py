"""Service lifecycle, listeners, broadcast."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

import hubbub
from hubbub import events

from .conftest import Start, connect, until
from .telnet_opening import OPENING


def record_lifecycle(service: hubbub.Service) -> list[str]:
    seen: list[str] = []
    for cls in (events.PreStart, events.PostStart, events.PreStop, events.PostStop):
        service.listen(cls, lambda e, n=cls.__name__: seen.append(n))
    service.listen(events.ListenStart, lambda e: seen.append(f"ListenStart {e.server.name}"))
    service.listen(events.ListenStop, lambda e: seen.append(f"ListenStop {e.server.name}"))
    service.listen(events.Disconnect, lambda e: seen.append("Disconnect"))
    return seen


async def test_lifecycle_order_and_prestop_can_write() -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0?name=one", "telnet://127.0.0.1:0?name=two"])
    seen = record_lifecycle(service)
    service.listen(events.PreStop, lambda e: service.write_all("going down"))
    await service.start()
    assert seen == ["PreStart", "ListenStart one", "ListenStart two", "PostStart"]
    a = await connect(service, 0)
    b = await connect(service, 1)
    await until(lambda: len(service.clients) == 2)
    seen.clear()
    await service.stop()
    assert seen == [
        "PreStop",
        "Disconnect",
        "Disconnect",
        "ListenStop one",
        "ListenStop two",
        "PostStop",
    ]
    assert await a.read_line() == "going down"
    assert await b.read_line() == "going down"
    assert await a.closed() and await b.closed()
    await service.stop()  # idempotent
    await a.close()
    await b.close()


async def test_servers_report_bound_addresses(start: Start) -> None:
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"]))
    ports = [server.address[1] for server in service.servers if server.address]
    assert len(ports) == 2 and all(p > 0 for p in ports) and ports[0] != ports[1]
    assert [s.url for s in service.servers] == ["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"]
    for server in service.servers:
        assert server.address is not None
        with socket.create_connection(server.address[:2], timeout=2):
            pass


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_listener(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://[::1]:0"])
    service.listen(events.Receive, lambda e: e.client.write(e.data.upper()))
    await start(service)
    assert service.servers[0].address is not None
    assert service.servers[0].address[0] == "::1"
    client = await connect(service)
    await client.send("six")
    assert await client.read_line() == "SIX"
    await client.close()


async def test_start_twice_is_an_error(start: Start) -> None:
    service = await start()
    with pytest.raises(RuntimeError, match="running"):
        await service.start()


async def test_port_in_use_raises_listen_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = hubbub.Service(listen=[f"tcp://127.0.0.1:{port}"])
        with pytest.raises(hubbub.ListenError, match="address already in use"):
            await service.start()
        # A failed start leaves the service stopped and startable again.
        service.settings.listen = ["tcp://127.0.0.1:0"]
        await service.start()
        await service.stop()


async def test_restart_after_stop(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    service.listen(events.Receive, lambda e: e.client.write("pong"))
    for _ in range(2):
        await service.start()
        client = await connect(service)
        await client.send("ping")
        assert await client.read_line() == "pong"
        await service.stop()
        await client.close()


async def test_write_all_exclude_filter_newline(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    clients: dict[str, hubbub.Client] = {}

    @service.listen(events.Receive)
    def name(event: events.Receive) -> None:
        if not hasattr(event.client, "name"):
            event.client.name = event.data
            clients[event.data] = event.client

    await start(service)
    socks = {}
    for who in ("a", "b", "c"):
        socks[who] = await connect(service)
        await socks[who].send(who)
    await until(lambda: len(clients) == 3)

    service.write_all("to all")
    service.write_all("not a", exclude=clients["a"])
    service.write_all("only c", exclude=[clients["a"], clients["b"]])
    service.write_all("filtered", filter=lambda c: c.name != "c")
    service.write_all("x", "y", newline=False)
    service.write_all("")
    with pytest.raises(TypeError, match="write_raw"):
        service.write_all(b"bytes")  # type: ignore[arg-type]
    assert await socks["a"].expect("x\r\ny") == "to all\r\nfiltered\r\nx\r\ny"
    assert await socks["b"].expect("x\r\ny") == "to all\r\nnot a\r\nfiltered\r\nx\r\ny"
    assert await socks["c"].expect("x\r\ny") == "to all\r\nnot a\r\nonly c\r\nx\r\ny"
    for sock in socks.values():
        assert await sock.read_line() == ""
        await sock.close()


async def test_write_all_encodes_per_client_encoding(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    ready: list[hubbub.Client] = []

    @service.listen(events.Receive)
    def choose(event: events.Receive) -> None:
        event.client.encoding = event.data
        ready.append(event.client)

    await start(service)
    utf = await connect(service)
    latin = await connect(service, encoding="latin-1")
    await utf.send("utf-8")
    await latin.send("latin-1")
    await until(lambda: len(ready) == 2)
    service.write_all("naïve ☃")
    assert await utf.read_line() == "naïve ☃"
    assert await latin.read_line() == "naïve ?"  # unencodable characters become '?'
    await utf.close()
    await latin.close()


async def test_server_filter_by_name(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0?name=game", "tcp://127.0.0.1:0?name=admin"])
    service.listen(events.Receive, lambda e: e.client.write("admin says " + e.data), server="admin")
    service.listen(events.Receive, lambda e: e.client.write("game says " + e.data), server="game")
    await start(service)
    game = await connect(service, 0)
    admin = await connect(service, 1)
    await game.send("hi")
    await admin.send("hi")
    assert await game.read_line() == "game says hi"
    assert await admin.read_line() == "admin says hi"
    await game.close()
    await admin.close()


async def test_stop_cancels_suspended_handlers() -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    outcomes: list[str] = []

    @service.listen(events.Connect)
    def prompt(event: events.Connect):  # type: ignore[no-untyped-def]
        try:
            yield
        finally:
            outcomes.append("generator closed")

    @service.listen(events.Receive)
    async def forever(event: events.Receive) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            outcomes.append("task cancelled")
            raise

    await service.start()
    waiting = await connect(service)
    busy = await connect(service)
    await until(lambda: len(service.clients) == 2)
    await busy.send("first")  # answers its prompt
    await busy.send("stuck")  # then never returns
    await until(lambda: "generator closed" in outcomes)
    outcomes.clear()
    await service.stop()
    assert sorted(outcomes) == ["generator closed", "task cancelled"]
    await waiting.close()
    await busy.close()


async def test_max_connections_turns_away_with_message(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], max_connections=2)
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))
    await start(service)
    first = await connect(service)
    second = await connect(service)
    third = await connect(service)
    assert "server is full" in await third.read_line()
    assert await third.closed()
    assert len(connects) == 2 and len(service.clients) == 2
    await first.close()
    await until(lambda: len(service.clients) == 1)
    fourth = await connect(service)
    await until(lambda: len(connects) == 3)
    for c in (second, third, fourth):
        await c.close()


async def test_batched_output_keeps_order_across_clients(start: Start) -> None:
    # One packet of 600 lines: each line is broadcast and also answered to its
    # sender, so writes are held in batches (and released early past the cap).
    service = hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"])

    @service.listen(events.Receive)
    def fan_out(event: events.Receive) -> None:
        service.write_all(f"all {event.data}")
        event.client.write(f"you {event.data}")

    await start(service)
    sender = await connect(service, 0)
    listener = await connect(service, 1)
    await until(lambda: len(service.clients) == 2)
    await sender.send_raw(b"".join(b"m%d\xc3\xbf\r\n" % i for i in range(600)))
    for i in range(600):
        assert await sender.read_line() == f"all m{i}ÿ"
        assert await sender.read_line() == f"you m{i}ÿ"
        assert await listener.read_line() == f"all m{i}ÿ"
    await sender.close()
    await listener.close()


async def test_write_all_escapes_0xff_for_telnet_only(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"])
    service.listen(events.Connect, lambda e: setattr(e.client, "encoding", "latin-1"))
    await start(service)
    plain = await connect(service, 0)
    address = service.servers[1].address
    assert address is not None
    reader, writer = await asyncio.open_connection(*address[:2])
    await reader.readexactly(len(OPENING))  # the telnet offers
    await until(lambda: len(service.clients) == 2)
    service.write_all("ÿes")
    assert await plain.reader.readexactly(5) == b"\xffes\r\n"
    assert await reader.readexactly(6) == b"\xff\xffes\r\n"
    writer.close()
    await plain.close()


async def test_write_from_outside_a_batch_waits_behind_held_output(start: Start) -> None:
    # The handler's write to the listener is held until the end of the loop's
    # turn; a callback scheduled by the handler runs before that, and its
    # write must still arrive second.
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    listeners: list[hubbub.Client] = []

    @service.listen(events.Receive)
    def relay(event: events.Receive) -> None:
        if event.data == "listen":
            listeners.append(event.client)
            return
        target = listeners[0]
        target.write("first")
        asyncio.get_running_loop().call_soon(target.write, "second")

    await start(service)
    listener = await connect(service)
    await listener.send("listen")
    await until(lambda: bool(listeners))
    sender = await connect(service)
    await sender.send("go")
    assert await listener.read_line() == "first"
    assert await listener.read_line() == "second"
    await listener.close()
    await sender.close()


# --- stopping -------------------------------------------------------------------------------


async def test_stop_cuts_off_a_client_that_will_not_take_its_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """At stop, a client that never reads while output waits for it cannot hold the
    service open: after close_timeout it is cut off, and Disconnect and PostStop still
    fire; a well-behaved client is closed normally.

    Latency guarantee: stop() returns within 5 s with close_timeout 0.3 s."""
    service = hubbub.Service(
        listen=["tcp://127.0.0.1:0"], close_timeout=0.3, max_output_buffer=64 * 1024 * 1024
    )
    seen: list[str] = []
    service.listen(events.Disconnect, lambda e: seen.append(f"Disconnect {e.client.address[1]}"))
    service.listen(events.PostStop, lambda e: seen.append("PostStop"))
    await service.start()
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    address = service.servers[0].address
    assert address is not None
    try:
        await asyncio.get_running_loop().sock_connect(stalled, address[:2])
        polite = await connect(service)
        await until(lambda: len(service.clients) == 2)
        stalled_port = stalled.getsockname()[1]
        stuck = next(c for c in service.clients if c.address[1] == stalled_port)
        chunk = "z" * 65535
        for _ in range(500):  # at most ~32 MB, well under max_output_buffer
            if stuck.connection.buffered():  # type: ignore[attr-defined]
                break
            stuck.write(chunk)
            await asyncio.sleep(0)
        assert stuck.connection.buffered() > 0  # type: ignore[attr-defined]
        await asyncio.wait_for(service.stop(), 5)
        polite_port = polite.writer.get_extra_info("sockname")[1]
        assert sorted(seen[:2]) == sorted(
            [f"Disconnect {stalled_port}", f"Disconnect {polite_port}"]
        )
        assert seen[2:] == ["PostStop"]
        assert not stuck.connected and len(service.clients) == 0
        # If the operator is told about the cut-off, the count is the one client cut off.
        cut_off = [r.getMessage() for r in caplog.records if "did not close" in r.getMessage()]
        assert all(line.startswith("1 client(s) did not close") for line in cut_off), cut_off
        assert await polite.closed()
        await polite.close()
    finally:
        stalled.close()


async def test_client_connecting_during_stop_is_told_and_closed() -> None:
    """While PreStop handlers run, listeners are still open: a new peer gets one
    line saying the server is shutting down and is closed, and never becomes a
    client (no Connect)."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"])
    gate = asyncio.Event()
    holding: list[bool] = []
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))

    @service.listen(events.PreStop)
    async def hold(event: events.PreStop) -> None:
        holding.append(True)
        await gate.wait()

    await service.start()
    stopping = asyncio.ensure_future(service.stop())
    await until(lambda: holding)
    try:
        for server in service.servers:
            assert server.address is not None
            reader, writer = await asyncio.open_connection(*server.address[:2])
            # The raw bytes: one line, no telnet negotiation before it.
            assert await asyncio.wait_for(reader.read(), 5) == (
                b"Sorry, the server is shutting down.\r\n"
            )
            writer.close()
        assert connects == []
        assert len(service.clients) == 0
    finally:
        gate.set()
        await asyncio.wait_for(stopping, 5)


# --- reading ----------------------------------------------------------------------------


async def test_cancelled_read_does_not_lose_the_next_line(start: Start) -> None:
    """A ``client.read()`` abandoned by cancelling its task (a timeout, a user giving
    up) takes no line: the next read gets the next line, and once the handler is
    done, the line after raises ``Receive`` as usual."""
    service = await start()
    received: list[str] = []

    @service.listen(events.Connect)
    async def ask(event: events.Connect) -> None:
        client = event.client

        async def read_one() -> object:
            return await client.read()

        task = asyncio.ensure_future(read_one())
        await asyncio.sleep(0.01)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await asyncio.wait_for(client.read(), 0.01)
        except TimeoutError:
            client.write("nothing yet", "Name: ", newline=False)
        name = await client.read()
        client.write(f"Hello {name}")

    service.listen(events.Receive, lambda e: received.append(e.data))
    client = await connect(service)
    await client.expect("nothing yet\r\nName: ")
    await client.send("ann")
    assert await client.read_line() == "Hello ann"
    await client.send("chat")
    await until(lambda: received)
    assert received == ["chat"]
    await client.send("more")
    await until(lambda: len(received) == 2)
    assert received == ["chat", "more"]
    await client.close()


# --- write_all across kinds of connection -------------------------------------------------


async def test_write_all_prepares_per_kind_and_encoding(start: Start) -> None:
    """One broadcast to tcp and telnet clients in UTF-8 and Latin-1: each client gets
    its own encoding, 0xFF is doubled (IAC IAC) only on telnet, and clients of one
    kind and encoding share one prepared form (equal ``share_key``)."""
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"]))
    chosen: list[hubbub.Client] = []

    @service.listen(events.Receive)
    def choose(event: events.Receive) -> None:
        event.client.encoding = event.data
        chosen.append(event.client)

    peers: dict[tuple[str, str], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}
    for index, kind in enumerate(("tcp", "telnet")):
        address = service.servers[index].address
        assert address is not None
        for encoding in ("utf-8", "latin-1", "utf-8", "latin-1"):
            reader, writer = await asyncio.open_connection(*address[:2])
            if kind == "telnet":
                offers = await reader.readexactly(len(OPENING))  # the telnet offers
                assert offers[0] == 0xFF  # IAC DO …: the server's offers, unanswered
            writer.write(encoding.encode() + b"\r\n")
            await writer.drain()
            peers.setdefault((kind, encoding), []).append((reader, writer))
    await until(lambda: len(chosen) == 8)

    keys = {(c.connection.share_key, c.server.endpoint.scheme, c.encoding) for c in chosen}
    assert len({key for key, _, _ in keys}) == 4  # one prepared form per kind and encoding
    assert len(keys) == 4

    service.write_all("ÿ☃")
    expected = {
        ("tcp", "utf-8"): "ÿ☃\r\n".encode(),
        ("tcp", "latin-1"): b"\xff?\r\n",
        ("telnet", "utf-8"): "ÿ☃\r\n".encode(),
        ("telnet", "latin-1"): b"\xff\xff?\r\n",
    }
    for key, pair in peers.items():
        for reader, writer in pair:
            data = await asyncio.wait_for(reader.readexactly(len(expected[key])), 5)
            assert data == expected[key], key
            writer.close()


async def test_the_disconnect_log_says_how_long_and_why(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator reading the log learns how each client left and after how long."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    service.listen(events.Receive, lambda e: e.client.close() if e.data == "bye" else None)
    await start(service)
    leaves = await connect(service)
    is_sent_away = await connect(service)
    resets = await connect(service)
    await until(lambda: len(service.clients) == 3)
    await leaves.close()
    await is_sent_away.send("bye")
    sock = resets.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    resets.writer.transport.abort()
    await until(lambda: not service.clients)
    lines = [r.getMessage() for r in caplog.records if "disconnected after" in r.getMessage()]
    reasons = sorted(line.rsplit("(", 1)[1].rstrip(")") for line in lines)
    assert len(lines) == 3
    assert reasons[0] == "closed by the client"
    assert reasons[1] == "closed by the service"
    assert reasons[2].startswith("connection lost") or reasons[2] == "connection reset"
    assert all(" after 0." in line or " after 1." in line for line in lines)


async def test_a_forced_stop_counts_the_clients_it_abandons(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """force_stop() during the graceful close names how many clients are still there,
    not how many there were when the stop began."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], close_timeout=30)
    await start(service)
    quick = await connect(service)
    stalled = socket.create_connection(service.servers[0].address[:2])  # type: ignore[index]
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    await until(lambda: len(service.clients) == 2)
    victim = next(c for c in service.clients if c.address[1] == stalled.getsockname()[1])
    while victim.connection.buffered() == 0:  # type: ignore[attr-defined]
        victim.write_raw(b"x" * 262144)
        await asyncio.sleep(0)
    stopping = asyncio.ensure_future(service.stop())
    assert await quick.closed()  # the reading client leaves at once
    await until(lambda: len(service.clients) == 1)
    service.force_stop("test")
    await asyncio.wait_for(stopping, 5)
    [line] = [r.getMessage() for r in caplog.records if "stopping now" in r.getMessage()]
    assert line == "test: stopping now, abandoning the graceful close of 1 client(s)"
    stalled.close()
    await quick.close()
