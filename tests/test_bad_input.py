"""Bad input has defined outcomes: a message for the person, a log line, bounded
memory, and no effect on anyone else. Each case over real sockets."""

from __future__ import annotations

import asyncio
import logging
import resource
import socket

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient

from .conftest import Start, connect, until


def echo_service(**settings: object) -> hubbub.Service:
    settings.setdefault("listen", ["tcp://127.0.0.1:0"])
    service = hubbub.Service(**settings)
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service


def warnings_matching(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and text in r.getMessage()
    ]


async def test_invalid_utf8_becomes_replacement_characters(start: Start) -> None:
    service = await start(echo_service())
    client = await connect(service)
    await client.send_raw(b"caf\xc3\xa9 \xff\xfe bad \xc3\r\nnext\r\n")
    assert await client.read_line() == "echo: café \ufffd\ufffd bad \ufffd"
    assert await client.read_line() == "echo: next"
    await client.close()


@pytest.mark.parametrize("scheme", ["tcp", "telnet"])
async def test_ten_megabyte_line_is_refused_without_buffering(
    start: Start, caplog: pytest.LogCaptureFixture, scheme: str
) -> None:
    service = await start(echo_service(listen=[f"{scheme}://127.0.0.1:0"]))
    flooder = await connect(service)
    bystander = await connect(service)
    await until(lambda: len(service.clients) == 2)
    peak = 0
    for i in range(160 + 8):  # 10 MiB, no newline; small pieces first, to fill the buffer
        await flooder.send_raw(b"x" * (1000 if i < 8 else 65536))
        await asyncio.sleep(0.001 if i < 8 else 0)
        for client in service.clients:
            partial = client.connection.snapshot()["lines"]["partial"]
            peak = max(peak, len(partial))
    assert 0 < peak <= service.settings.max_line_length
    message = await flooder.read_line()
    assert message == "Line too long (over 8192 bytes); it was ignored."
    await bystander.send("still here")
    assert await bystander.read_line() == "echo: still here"
    await flooder.send_raw(b"tail of the long line\r\nnormal\r\n")
    assert await flooder.read_line() == "echo: normal"
    assert len(warnings_matching(caplog, "over 8192 bytes")) == 1
    await flooder.close()
    await bystander.close()


async def test_telnet_garbage_and_truncated_subnegotiation(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service = await start(echo_service(listen=["telnet://127.0.0.1:0"]))
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
    assert any(
        "telnet protocol error" in r.getMessage() for r in caplog.records
    ), "the operator sees what was dropped"
    assert len(service.clients) == 2
    await client.close()
    await other.close()


async def test_client_that_never_reads_is_cut_off(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    limit = 256 * 1024
    service = await start(echo_service(max_output_buffer=limit))
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.setblocking(False)
    address = service.servers[0].address
    assert address is not None
    await asyncio.get_running_loop().sock_connect(stalled, address[:2])
    reader = await connect(service)
    await until(lambda: len(service.clients) == 2)
    stalled_client = next(c for c in service.clients if c.address[1] == stalled.getsockname()[1])
    line = "y" * 1000
    batches = 0
    while stalled_client.connected and batches < 400:  # at most 40 MB
        for i in range(100):
            service.write_all(f"{batches}:{i}:{line}")  # never blocks
        batches += 1
        await reader.expect(f"{batches - 1}:99:{line}\r\n")  # the reader keeps up
        await asyncio.sleep(0)
    await until(lambda: not stalled_client.connected)
    assert stalled_client not in service.clients
    assert warnings_matching(caplog, "is not reading")
    service.write_all("after")
    assert await reader.read_line() == "after"
    stalled.close()
    await reader.close()


async def test_silent_client_is_held_and_costs_nothing(start: Start) -> None:
    service = echo_service()
    connects: list[hubbub.Client] = []
    disconnects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))
    service.listen(events.Disconnect, lambda e: disconnects.append(e.client))
    await start(service)
    silent = await connect(service)
    talker = await connect(service)
    await talker.send("hello")
    assert await talker.read_line() == "echo: hello"
    assert len(connects) == 2 and len(service.clients) == 2
    assert silent.pending == ""
    await service.stop()
    assert len(disconnects) == 2
    assert await silent.closed()
    await silent.close()
    await talker.close()


async def test_burst_of_500_connections(start: Start) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    service = echo_service()
    service.listen(events.Connect, lambda e: e.client.write("hi"))
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


async def test_raising_handler_leaves_connection_and_others_alone(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])

    @service.listen(events.Receive)
    def fragile(event: events.Receive) -> None:
        if event.data == "crash":
            raise ZeroDivisionError("handler bug")

    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.send("crash")
    assert await a.read_line() == "echo: crash"  # later handlers still ran
    await b.send("ok")
    assert await b.read_line() == "echo: ok"
    await a.send("again")
    assert await a.read_line() == "echo: again"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "fragile" in errors[0].getMessage()
    assert "Client" in errors[0].getMessage()  # names the client
    await a.close()
    await b.close()


async def test_handler_that_never_returns_holds_only_its_client(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    disconnects: list[hubbub.Client] = []

    @service.listen(events.Receive)
    async def hang(event: events.Receive) -> None:
        if event.data == "hang":
            await asyncio.Event().wait()
        event.client.write(f"echo: {event.data}")

    service.listen(events.Disconnect, lambda e: disconnects.append(e.client))
    await start(service)
    stuck = await connect(service)
    free = await connect(service)
    await stuck.send("hang")
    await stuck.send("queued")
    for i in range(3):
        await free.send(str(i))
        assert await free.read_line() == f"echo: {i}"
    assert stuck.pending == ""
    await stuck.close()  # Disconnect is not held back by the hung handler
    await until(lambda: len(disconnects) == 1)
    assert len(service.clients) == 1
    await free.close()


async def test_disconnect_mid_prompt(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    log: list[str] = []

    @service.listen(events.Connect)
    def prompt(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.write("Name: ", newline=False)
        try:
            yield
            log.append("answered")
        except GeneratorExit:
            log.append("closed")
            raise

    service.listen(events.Connect, lambda e: log.append("rest of chain"))

    @service.listen(events.Receive)
    async def reader(event: events.Receive) -> None:
        try:
            await event.client.read()
        except hubbub.Disconnected:
            log.append("read raised Disconnected")

    service.listen(
        events.Disconnect, lambda e: log.append(f"disconnect {e.client in service.clients}")
    )
    await start(service)
    first = await connect(service)
    await first.expect("Name: ")
    await first.close()
    await until(lambda: any(x.startswith("disconnect") for x in log))
    assert log == ["closed", "disconnect False"]
    log.clear()
    second = await connect(service)
    await second.expect("Name: ")
    await second.send("x")  # answers the prompt
    await second.send("start reading")
    await until(lambda: len(log) >= 2)
    await second.close()
    await until(lambda: len(log) >= 4)
    assert log == ["answered", "rest of chain", "read raised Disconnected", "disconnect False"]
    assert len(service.clients) == 0


async def test_input_flood_while_busy_is_held_back_by_tcp(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    gate = asyncio.Event()
    got: list[str] = []

    @service.listen(events.Receive)
    async def slow(event: events.Receive) -> None:
        if event.data == "wait":
            await gate.wait()
        got.append(event.data)

    await start(service)
    client = await connect(service)
    await client.send("wait")
    await until(lambda: len(service.clients) == 1)
    inbox = next(iter(service.clients)).inbox
    lines = b"".join(b"%d\r\n" % i for i in range(100_000))
    client.writer.write(lines)  # about 590 KB; the server must not queue it all
    peak = 0
    for _ in range(50):
        await asyncio.sleep(0.002)
        peak = max(peak, len(inbox.items))
    assert inbox.paused
    assert peak < 20_000
    gate.set()
    await until(lambda: len(got) == 100_001, timeout=30)
    assert got[1:] == [str(i) for i in range(100_000)]
    assert not inbox.paused
    await client.close()
