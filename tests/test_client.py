"""Client API and per-client ordering, over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient

from .conftest import Start, connect, until


def tcp_service(**settings: object) -> hubbub.Service:
    settings.setdefault("listen", ["tcp://127.0.0.1:0"])
    return hubbub.Service(**settings)


async def test_write_forms(start: Start) -> None:
    service = tcp_service()

    @service.listen(events.Connect)
    def hello(event: events.Connect) -> None:
        c = event.client
        c.write("one")
        c.write("two", "three")
        c.write("prompt> ", newline=False)
        c.write("multi\nline")
        c.write_raw(b"raw-bytes|")
        c.write("")

    await start(service)
    client = await connect(service)
    expected = "one\r\ntwo\r\nthree\r\nprompt> multi\r\nline\r\nraw-bytes|\r\n"
    assert await client.expect(expected) == expected
    await client.close()


async def test_write_rejects_bytes_with_clear_error(start: Start) -> None:
    service = tcp_service()
    errors: list[str] = []

    @service.listen(events.Connect)
    def bad(event: events.Connect) -> None:
        try:
            event.client.write(b"bytes")  # type: ignore[arg-type]
        except TypeError as exc:
            errors.append(str(exc))
        event.client.write("ok")

    await start(service)
    client = await connect(service)
    assert await client.read_line() == "ok"
    assert "write_raw" in errors[0]
    await client.close()


async def test_client_attributes(start: Start) -> None:
    service = tcp_service()
    seen: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: seen.append(e.client))
    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.send("x")
    await b.send("x")
    await until(lambda: len(seen) == 2)
    first, second = seen
    assert first.id != second.id and len(first.id) >= 16
    assert first.address[0] == "127.0.0.1"
    assert first.server is service.servers[0]
    assert first.connected and first.encoding == "utf-8"
    assert first.terminal is None and first.width is None and first.height is None
    assert len(service.clients) == 2 and first in service.clients
    assert service.clients.get(first.id) is first
    assert set(service.clients) == {first, second}
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    ("sent", "lines"),
    [
        (b"a\r\nb\r\n", ["a", "b"]),
        (b"a\nb\n", ["a", "b"]),
        (b"a\r\0b\r\0", ["a", "b"]),
        (b"a\rb\r", ["a", "b"]),
        (b"a\r\n\r\nb\n", ["a", "", "b"]),
    ],
)
async def test_line_endings(start: Start, sent: bytes, lines: list[str]) -> None:
    service = tcp_service()
    got: list[str] = []
    service.listen(events.Receive, lambda e: got.append(e.data))
    await start(service)
    client = await connect(service)
    for byte in sent:  # one byte at a time: framing must not depend on packets
        await client.send_raw(bytes([byte]))
        await asyncio.sleep(0)
    await client.send_raw(b"end\n")
    await until(lambda: "end" in got)
    assert got == [*lines, "end"]
    await client.close()


async def test_generator_captures_input_without_receive(start: Start) -> None:
    service = tcp_service()
    received: list[str] = []

    def ask(client: hubbub.Client, question: str):  # type: ignore[no-untyped-def]
        client.write(question, newline=False)
        answer = yield
        return answer.strip()

    @service.listen(events.Connect)
    def login(event: events.Connect):  # type: ignore[no-untyped-def]
        name = yield from ask(event.client, "Name: ")
        colour = yield from ask(event.client, "Colour: ")
        event.client.write(f"Hello {name}, you like {colour}")

    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    client = await connect(service)
    await client.expect("Name: ")
    await client.send("ann")
    await client.expect("Colour: ")
    await client.send("blue")
    assert await client.read_line() == "Hello ann, you like blue"
    await client.send("chat")
    await until(lambda: received)
    assert received == ["chat"]
    await client.close()


async def test_lines_in_one_packet_are_split_between_prompt_and_receive(start: Start) -> None:
    service = tcp_service()
    log: list[str] = []

    @service.listen(events.Connect)
    def login(event: events.Connect):  # type: ignore[no-untyped-def]
        log.append("name:" + (yield))
        log.append("pass:" + (yield))

    service.listen(events.Receive, lambda e: log.append("recv:" + e.data))
    await start(service)
    client = await connect(service)
    await client.send_raw(b"bob\r\nsecret\r\nhello\r\nagain\r\n")
    await until(lambda: len(log) >= 4)
    assert log == ["name:bob", "pass:secret", "recv:hello", "recv:again"]
    await client.close()


async def test_async_read(start: Start) -> None:
    service = tcp_service()
    received: list[str] = []

    @service.listen(events.Connect)
    async def login(event: events.Connect) -> None:
        event.client.write("Name: ", newline=False)
        name = await event.client.read()
        await asyncio.sleep(0.01)  # input arriving now must wait, in order
        event.client.write(f"Hi {name}")

    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    client = await connect(service)
    await client.expect("Name: ")
    await client.send_raw(b"zed\r\nfirst\r\nsecond\r\n")
    assert await client.read_line() == "Hi zed"
    await until(lambda: len(received) >= 2)
    assert received == ["first", "second"]
    await client.close()


async def test_handler_class_with_generator_methods(start: Start) -> None:
    service = tcp_service()

    class Login(hubbub.Handler):
        def handler_10_name(self, event: events.Connect):  # type: ignore[no-untyped-def]
            event.client.write("Name: ", newline=False)
            self.name = yield

        def handler_20_password(self, event: events.Connect):  # type: ignore[no-untyped-def]
            event.client.echo = False
            event.client.write("Password: ", newline=False)
            self.password = yield
            event.client.echo = True

        def handler_30_done(self, event: events.Connect) -> None:
            event.client.write(f"{self.name}/{len(self.password)}")

    service.listen(events.Connect, Login)
    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.expect("Name: ")
    await b.expect("Name: ")
    await a.send("alice")
    await b.send("bob")
    await a.expect("Password: ")
    await b.expect("Password: ")
    await b.send("pw")
    await a.send("longpass")
    assert await a.read_line() == "alice/8"
    assert await b.read_line() == "bob/2"
    await a.close()
    await b.close()


async def test_per_client_ordering_and_others_not_held_up(start: Start) -> None:
    service = tcp_service()
    gate = asyncio.Event()
    handled: list[tuple[str, str]] = []

    @service.listen(events.Receive)
    async def work(event: events.Receive) -> None:
        if event.data == "slow":
            await gate.wait()
        handled.append((event.client.name, event.data))
        event.client.write(f"done {event.data}")

    @service.listen(events.Connect)
    def name(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.name = yield

    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.send("A")
    await b.send("B")
    await a.send_raw(b"slow\r\n1\r\n2\r\n")
    await b.send("x")
    assert await b.read_line() == "done x"  # B is not held up by A's slow handler
    assert ("A", "1") not in handled  # A's later lines wait their turn
    gate.set()
    assert [await a.read_line() for _ in range(3)] == ["done slow", "done 1", "done 2"]
    assert [d for n, d in handled if n == "A"] == ["slow", "1", "2"]
    await a.close()
    await b.close()


async def test_custom_event_for_busy_client_queues_behind_it(start: Start) -> None:
    service = tcp_service()
    order: list[str] = []

    class Poke(events.Event):
        pass

    seen: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: seen.append(e.client))

    @service.listen(events.Connect)
    def prompt(event: events.Connect):  # type: ignore[no-untyped-def]
        line = yield
        order.append(f"prompt:{line}")

    service.listen(Poke, lambda e: order.append("poke"))
    await start(service)
    client = await connect(service)
    await until(lambda: seen)
    poke = service.trigger(Poke(client=seen[0]))
    assert order == []  # the client is busy with its prompt
    await client.send("hi")
    await asyncio.wait_for(poke, 5)
    assert order == ["prompt:hi", "poke"]
    await client.close()


async def test_raw_mode_listener_and_switching(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0?raw=1", "tcp://127.0.0.1:0"])
    got: list[object] = []

    @service.listen(events.Receive)
    def receive(event: events.Receive) -> None:
        got.append(event.data)
        if event.data == "go raw":
            event.client.raw = True
        elif event.data == b"lines please":
            event.client.raw = False

    await start(service)
    raw = await connect(service, 0)
    await raw.send_raw(b"\x00\x01binary\xff")
    await until(lambda: got)
    assert got == [b"\x00\x01binary\xff"]
    got.clear()
    lined = await connect(service, 1)
    await lined.send("go raw")
    await until(lambda: got == ["go raw"])
    await lined.send_raw(b"lines please")
    await until(lambda: len(got) >= 2)
    assert got[1] == b"lines please"
    await asyncio.sleep(0.02)
    await lined.send("back to text")
    await until(lambda: len(got) >= 3)
    assert got[2] == "back to text"
    await raw.close()
    await lined.close()


async def test_raw_read_returns_bytes(start: Start) -> None:
    service = tcp_service()

    @service.listen(events.Connect)
    async def upload(event: events.Connect) -> None:
        event.client.raw = True
        chunk = await event.client.read()
        event.client.raw = False
        event.client.write(f"{type(chunk).__name__}:{len(chunk)}")

    await start(service)
    client = await connect(service)
    await asyncio.sleep(0.05)
    await client.send_raw(b"12345")
    assert await client.read_line() == "bytes:5"
    await client.close()


async def test_encoding_per_client(start: Start) -> None:
    service = tcp_service()

    @service.listen(events.Connect)
    def latin(event: events.Connect) -> None:
        event.client.encoding = "latin-1"

    service.listen(events.Receive, lambda e: e.client.write(f"[{e.data}]"))
    await start(service)
    client = await connect(service, encoding="latin-1")
    await client.send_raw("café\r\n".encode("latin-1"))
    assert await client.read_line() == "[café]"
    await client.close()


async def test_flush_and_close(start: Start) -> None:
    service = tcp_service()
    disconnected: list[hubbub.Client] = []
    flushed: list[bool] = []

    @service.listen(events.Receive)
    async def bye(event: events.Receive) -> None:
        for i in range(2000):
            event.client.write(f"line {i} " + "x" * 100)
        await event.client.flush()
        flushed.append(True)
        event.client.write("Goodbye!")
        event.client.close()
        assert event.client.connected  # close is graceful: Disconnect comes later

    service.listen(events.Disconnect, lambda e: disconnected.append(e.client))
    await start(service)
    client = await connect(service)
    await client.send("quit")
    text = await client.expect("Goodbye!\r\n")
    assert text.count("\r\n") == 2001
    assert await client.closed()
    await until(lambda: disconnected)
    assert flushed == [True]
    assert not disconnected[0].connected
    assert len(service.clients) == 0
    disconnected[0].write("dropped")  # writing to a gone client is harmless
    await client.close()


async def test_input_after_close_is_ignored(start: Start) -> None:
    service = tcp_service()
    got: list[str] = []

    @service.listen(events.Receive)
    def receive(event: events.Receive) -> None:
        got.append(event.data)
        if event.data == "/quit":
            event.client.close()

    await start(service)
    client = await connect(service)
    await client.send_raw(b"one\r\n/quit\r\nafter\r\n")
    assert await client.closed()
    assert got == ["one", "/quit"]
    await client.close()


async def test_echo_is_a_no_op_on_tcp(start: Start) -> None:
    service = tcp_service()

    @service.listen(events.Connect)
    def hide(event: events.Connect) -> None:
        event.client.echo = False
        event.client.write("ready")

    await start(service)
    client = await connect(service)
    raw = await client.reader.readuntil(b"ready\r\n")
    assert raw == b"ready\r\n"  # no telnet bytes on a plain socket
    await client.close()


async def test_encoding_and_raw_switches_apply_within_one_packet(start: Start) -> None:
    service = tcp_service()
    got: list[object] = []

    @service.listen(events.Receive)
    def receive(event: events.Receive) -> None:
        got.append(event.data)
        if event.data == "latin-1":
            event.client.encoding = "latin-1"
        elif event.data == "raw":
            event.client.raw = True

    await start(service)
    client = await connect(service)
    await client.send_raw(b"latin-1\r\ncaf\xe9\r\nraw\r\nframed\r\npartial")
    await until(lambda: len(got) >= 5)
    # Lines framed before the switch stay lines; the unfinished one becomes
    # the first raw chunk.
    assert got == ["latin-1", "café", "raw", "framed", b"partial"]
    await client.send_raw(b"more\r\n")
    await until(lambda: len(got) >= 6)
    assert got[5] == b"more\r\n"
    await client.close()


# --- state as data ---------------------------------------------------------------------------


async def connected_client(service: hubbub.Service) -> tuple[hubbub.Client, AsyncTestClient]:
    """A real client on ``service`` (started), and the test's end of it."""
    peer = await connect(service)
    await until(lambda: len(service.clients) == 1)
    (client,) = service.clients
    return client, peer


async def test_snapshot_holds_fields_and_app_attributes_as_json(start: Start) -> None:
    """``snapshot()`` has hubbub's fields, the session and the app's own attributes,
    and survives a JSON round trip unchanged."""
    service = await start(tcp_service())
    ready: list[hubbub.Client] = []

    @service.listen(events.Receive)
    def login(event: events.Receive) -> None:
        client = event.client
        client.username = event.data
        client.level = 3
        client.tags = ["new", "quiet"]
        client.session["room"] = "hall"
        client.encoding = "latin-1"
        client.write("Command: ", newline=False)
        ready.append(client)

    peer = await connect(service)
    await peer.send("ann")
    await peer.send_raw(b"half a li")  # an unfinished line is part of the state
    await peer.expect("Command: ")
    await until(lambda: ready)
    client = ready[0]
    await until(lambda: client.connection.snapshot()["lines"]["partial"] == "half a li")
    state = client.snapshot()
    assert json.loads(json.dumps(state)) == state
    assert state["id"] == client.id
    assert state["address"] == list(client.address)
    assert state["server"] == client.server.name
    assert state["encoding"] == "latin-1"
    assert (state["raw"], state["echo"], state["newline"]) == (False, True, "\r\n")
    assert (state["terminal"], state["width"], state["height"]) == (None, None, None)
    assert state["prompt_text"] == "Command: "
    assert state["session"] == {"room": "hall"}
    assert state["attributes"] == {"username": "ann", "level": 3, "tags": ["new", "quiet"]}
    assert state["connection"]["kind"] == "tcp"
    assert state["connection"]["lines"]["partial"] == "half a li"
    await peer.close()


async def test_snapshot_leaves_out_non_json_attribute_with_one_warning(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """An attribute that is not a JSON value (a socket, a set) is left out of the
    state, and one WARNING per snapshot names it; the JSON ones are kept."""
    service = await start(tcp_service())
    client, peer = await connected_client(service)
    client.username = "ann"
    client.lock = asyncio.Lock()
    client.seen = {1, 2}
    state = client.snapshot()
    assert state["attributes"] == {"username": "ann"}
    json.dumps(state)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "lock" in warnings[0] and "seen" in warnings[0]
    assert "username" not in warnings[0]
    await peer.close()


async def test_restore_keeps_the_state(start: Start) -> None:
    """``Client.restore`` of a snapshot (through JSON) gives back the id, encoding,
    echo, raw mode, terminal facts, session and the app's attributes."""
    service = await start(tcp_service())
    client, peer = await connected_client(service)
    client.encoding = "latin-1"
    client.echo = False
    client.raw = True
    client.terminal, client.width, client.height = "xterm-256color", 132, 43
    client.session["hp"] = 17
    client.username = "ann"
    client.write("Password: ", newline=False)
    state = json.loads(json.dumps(client.snapshot()))
    restored = hubbub.Client.restore(state, client.connection, client.server)
    assert restored is not client
    assert restored.id == client.id
    assert restored.address == client.address
    assert restored.server is client.server
    assert restored.encoding == "latin-1"
    assert restored.echo is False
    assert restored.raw is True
    assert (restored.terminal, restored.width, restored.height) == ("xterm-256color", 132, 43)
    assert restored.session == {"hp": 17}
    assert restored.username == "ann"
    assert restored.prompt_text == "Password: "
    again = restored.snapshot()
    for key in ("id", "encoding", "echo", "raw", "terminal", "width", "height", "session",
                "attributes", "prompt_text", "newline", "address", "server"):
        assert again[key] == state[key], key
    restored.session["hp"] = 1
    assert client.session == {"hp": 17}  # the restored session is its own dict
    await peer.close()


# --- flush, encoding, prompt ----------------------------------------------------------------


async def test_flush_on_a_disconnected_client_raises_disconnected(start: Start) -> None:
    """A loop that streams with ``await client.flush()`` ends when the peer goes away:
    flush raises ``hubbub.Disconnected`` once the client is gone."""
    service = await start(tcp_service())
    outcome: list[str] = []
    gone: list[hubbub.Client] = []

    @service.listen(events.Receive)
    async def stream(event: events.Receive) -> None:
        try:
            for i in range(100_000):
                event.client.write(f"tick {i}")
                await event.client.flush()
                await asyncio.sleep(0.001)
        except hubbub.Disconnected:
            outcome.append("stopped by Disconnected")

    service.listen(events.Disconnect, lambda e: gone.append(e.client))
    peer = await connect(service)
    await peer.send("go")
    await peer.expect("tick 3\r\n")
    await peer.close()
    await until(lambda: outcome and gone)
    assert outcome == ["stopped by Disconnected"]
    with pytest.raises(hubbub.Disconnected):
        await gone[0].flush()


async def test_unknown_encoding_raises_and_changes_nothing(start: Start) -> None:
    """``client.encoding = "klingon"`` raises LookupError before anything changes:
    the client keeps its encoding and its output is still encoded with it."""
    service = await start(tcp_service())
    errors: list[str] = []

    @service.listen(events.Receive)
    def switch(event: events.Receive) -> None:
        client = event.client
        client.encoding = "latin-1"
        key = client.connection.share_key
        try:
            client.encoding = event.data
        except LookupError as exc:
            errors.append(str(exc))
        assert client.connection.share_key == key
        client.write(f"{client.encoding} é")

    peer = await connect(service, encoding="latin-1")
    await peer.send("klingon")
    assert await peer.read_line() == "latin-1 é"
    assert len(errors) == 1 and "klingon" in errors[0]
    await peer.send_raw("café\r\n".encode("latin-1"))  # input still decoded as Latin-1
    assert await peer.read_line() == "latin-1 é"
    assert len(errors) == 2 and "café" in errors[1]
    await peer.close()


async def test_prompt_text_tracks_the_open_prompt(start: Start) -> None:
    """``prompt_text`` is the open line of the last write with newline=False (what
    follows its last line break) and is cleared by a normal write; it is what hubbub
    shows again after refusing an over-long line."""
    service = await start(tcp_service(max_line_length=16))
    seen: list[object] = []

    @service.listen(events.Connect)
    def ask(event: events.Connect):  # type: ignore[no-untyped-def]
        client = event.client
        seen.append(client.prompt_text)
        client.write("Name: ", newline=False)
        seen.append(client.prompt_text)
        client.write("Really,", "name? ", newline=False)
        seen.append(client.prompt_text)
        name = yield
        client.write(f"Hello {name}")
        seen.append(client.prompt_text)

    service.listen(events.Receive, lambda e: e.client.write(f"echo {e.data}"))
    peer = await connect(service)
    await peer.expect("Really,\r\nname? ")
    assert seen == [None, "Name: ", "name? "]
    await peer.send("x" * 40)
    refused = "Line too long (over 16 bytes); it was ignored.\r\n"
    assert await peer.expect("name? ") == refused + "name? "
    await peer.send("ann")
    assert await peer.read_line() == "Hello ann"
    assert seen[-1] is None
    await peer.send("y" * 40)  # no prompt is open now: only the refusal
    assert await peer.read_line() == "Line too long (over 16 bytes); it was ignored."
    await peer.send("z")  # and the next line is the echo: no prompt came in between
    assert await peer.read_line() == "echo z"
    await peer.close()
