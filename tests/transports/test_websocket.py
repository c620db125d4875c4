"""ws:// and wss:// (transports/websocket.py) over real sockets, with the websockets
package's own client as the peer and raw sockets for what a client should never send."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import hubbub
from hubbub import events
from hubbub.transports import websocket

from ..conftest import Start, until
from ..tls_certs import shared


class App:
    """A ws:// service that greets with a prompt, echoes lines and answers data."""

    def __init__(self, url: str = "ws://127.0.0.1:0", **settings: Any) -> None:
        settings.setdefault("max_lines_per_second", 0)
        self.service = hubbub.Service(listen=[url], **settings)
        self.lines: list[str] = []
        self.data: list[tuple[str, Any]] = []
        self.clients: list[hubbub.Client] = []
        self.errors: list[events.ConnectionError] = []
        service = self.service
        service.listen(events.Connect, self.greet)
        service.listen(events.Receive, self.receive)
        service.listen(events.Data, self.got_data)

    def greet(self, event: events.Connect) -> None:
        self.clients.append(event.client)
        event.client.write("Welcome.")
        event.client.write("Name: ", newline=False)

    def receive(self, event: events.Receive) -> None:
        self.lines.append(event.data)
        if event.data == "secret":
            event.client.echo = False
        event.client.write(f"echo: {event.data}")

    def got_data(self, event: events.Data) -> None:
        self.data.append((event.package, event.data))
        event.client.send_data("Echo", {"package": event.package, "data": event.data})

    def url(self, path: str = "/", scheme: str = "ws") -> str:
        address = self.service.servers[0].address
        assert isinstance(address, tuple)
        return f"{scheme}://127.0.0.1:{address[1]}{path}"

    @property
    def port(self) -> int:
        address = self.service.servers[0].address
        assert isinstance(address, tuple)
        return int(address[1])


async def greeted(url: str, **kwargs: Any) -> ClientConnection:
    ws = await connect(url, **kwargs)
    assert await ws.recv() == "Welcome."
    assert json.loads(await ws.recv()) == {"prompt": "Name: "}
    return ws


async def http(port: int, request: bytes) -> bytes:
    """Send ``request`` on a fresh socket; everything the server answers before closing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def upgrade(path: str = "/", **headers: str) -> bytes:
    lines = [
        f"GET {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A masked client frame, built by hand (what a broken client might send)."""
    mask = b"\x01\x02\x03\x04"
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


async def raw_ws(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw socket that has done the handshake and read the greeting."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(upgrade())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def close_code(data: bytes) -> int | None:
    """The code of the first close frame (opcode 8) in server output, if any."""
    i = 0
    while i + 2 <= len(data):
        opcode, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            n = struct.unpack("!H", data[i : i + 2])[0]
            i += 2
        elif n == 127:
            n = struct.unpack("!Q", data[i : i + 8])[0]
            i += 8
        if opcode == 8:
            return int(struct.unpack("!H", data[i : i + 2])[0]) if n >= 2 else None
        i += n
    return None


# ============================================================ lines and messages


async def test_connect_after_handshake_lines_and_prompts(start: Start) -> None:
    """Connect fires after the handshake; each message is a line (several with
    newlines); one write is one message; an open line is a flagged prompt."""
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        [client] = app.clients
        assert (client.transport, client.secure, client.address[0]) == ("ws", False, "127.0.0.1")
        assert client.supports_data
        await ws.send("look")
        assert await ws.recv() == "echo: look"
        await ws.send("north\nsouth\r\n")
        assert [await ws.recv(), await ws.recv()] == ["echo: north", "echo: south"]
        client.write("one", "two")
        assert await ws.recv() == "one\ntwo"
        client.write("line\nand a prompt> ", newline=False)
        assert await ws.recv() == "line"
        assert json.loads(await ws.recv()) == {"prompt": "and a prompt> "}
        client.prompt("HP 10> ")
        assert json.loads(await ws.recv()) == {"prompt": "HP 10> "}
    await until(lambda: not app.service.clients)
    assert app.lines == ["look", "north", "south"]


async def test_text_that_looks_like_a_control_message_stays_text(start: Start) -> None:
    """Output starting with a brace is wrapped, so a player cannot forge data for
    another; the browser sends such input wrapped the same way."""
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        app.clients[0].write('{"data": ["Char.Vitals", {"hp": 0}]}')
        assert json.loads(await ws.recv()) == {"text": '{"data": ["Char.Vitals", {"hp": 0}]}'}
        await ws.send(json.dumps({"text": "{grin}"}))
        assert await ws.recv() == "echo: {grin}"
    assert app.lines == ["{grin}"]


async def test_structured_data_both_ways(start: Start) -> None:
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        await ws.send(json.dumps({"data": ["Char.Login", {"name": "ana"}]}))
        assert json.loads(await ws.recv()) == {
            "data": ["Echo", {"package": "Char.Login", "data": {"name": "ana"}}]
        }
        await ws.send(json.dumps({"data": ["Core.Ping"]}))
        assert json.loads(await ws.recv())["data"][1] == {"package": "Core.Ping", "data": None}
        await ws.send("after")
        assert await ws.recv() == "echo: after"
    assert app.data == [("Char.Login", {"name": "ana"}), ("Core.Ping", None)]


async def test_send_data_is_dropped_where_not_supported(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    await start(service)
    address = service.servers[0].address
    assert isinstance(address, tuple)
    reader, writer = await asyncio.open_connection("127.0.0.1", address[1])
    await until(lambda: clients)
    assert not clients[0].supports_data
    clients[0].send_data("Char.Vitals", {"hp": 3})
    clients[0].write("plain")
    assert await reader.readline() == b"plain\r\n"
    with pytest.raises(TypeError):
        clients[0].send_data("", 1)
    writer.close()


async def test_echo_off_and_screen_reader(start: Start) -> None:
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        await ws.send("secret")
        assert json.loads(await ws.recv()) == {"echo": False}
        assert await ws.recv() == "echo: secret"
        app.clients[0].echo = True
        assert json.loads(await ws.recv()) == {"echo": True}
        await ws.send(json.dumps({"screen_reader": True}))
        await until(lambda: app.clients[0].screen_reader)
        assert app.clients[0].snapshot()["screen_reader"] is True


async def test_path_from_the_url(start: Start) -> None:
    app = App("ws://127.0.0.1:0/play")
    await start(app.service)
    async with await greeted(app.url("/play")):
        pass
    with pytest.raises(InvalidStatus) as failed:
        await connect(app.url("/other"))
    assert failed.value.response.status_code == 404


async def test_compression_when_offered(start: Start) -> None:
    """permessage-deflate without context takeover; short messages go uncompressed."""
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        [extension] = ws.protocol.extensions
        assert extension.name == "permessage-deflate"
        assert extension.local_no_context_takeover and extension.remote_no_context_takeover
        long = "all work and no play " * 40
        await ws.send(long)
        assert await ws.recv() == f"echo: {long}"
    async with await greeted(app.url(), compression=None) as plain:
        assert plain.protocol.extensions == []
        await plain.send(long)
        assert await plain.recv() == f"echo: {long}"


async def test_a_broadcast_is_framed_once_per_extensions(start: Start) -> None:
    """Clients with the same extensions share one prepared frame."""
    app = App()
    await start(app.service)
    sockets = [await greeted(app.url()) for _ in range(3)] + [
        await greeted(app.url(), compression=None)
    ]
    await until(lambda: len(app.service.clients) == 4)
    keys = {client.connection.share_key for client in app.service.clients}
    assert len(keys) == 2
    app.service.write_all("to everyone " * 20)
    for ws in sockets:
        assert await ws.recv() == "to everyone " * 20
        await ws.close()


async def test_wss(start: Start) -> None:
    app = App("wss://127.0.0.1:0", **shared().settings())
    await start(app.service)
    async with await greeted(
        app.url(scheme="wss"), ssl=shared().client_context(), server_hostname="localhost"
    ) as ws:
        await ws.send("hi")
        assert await ws.recv() == "echo: hi"
        assert (app.clients[0].transport, app.clients[0].secure) == ("wss", True)


# ============================================================ the page


async def test_plain_get_serves_the_page(start: Start) -> None:
    app = App("ws://127.0.0.1:0/play?name=Moria")
    await start(app.service)
    answer = await http(app.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Type: text/html; charset=utf-8" in head
    assert b"Content-Security-Policy:" in head
    assert b'data-ws-path="/play"' in body
    assert b"<title>Moria</title>" in body
    again = await http(app.port, b"GET /play HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert again.partition(b"\r\n\r\n")[2] == body
    missing = await http(app.port, b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert missing.startswith(b"HTTP/1.1 404")
    assert not app.service.clients


async def test_page_off_and_own_page(start: Start, tmp_path: Any) -> None:
    off = App("ws://127.0.0.1:0?page=0")
    await start(off.service)
    answer = await http(off.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 426")
    page = tmp_path / "game.html"
    page.write_text("<p>{{HUBBUB_TITLE}} at {{HUBBUB_WS_PATH}}</p>")
    own = App("ws://127.0.0.1:0/ws", ws_page=str(page))
    await start(own.service)
    answer = await http(own.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.endswith(b"<p>hubbub at /ws</p>")


async def test_missing_page_file_is_a_start_error(tmp_path: Any) -> None:
    service = hubbub.Service(listen=["ws://127.0.0.1:0"], ws_page=str(tmp_path / "none.html"))
    with pytest.raises(hubbub.ListenError, match="cannot read the ws_page file"):
        await service.start()


# ============================================================ bad input


async def test_bad_requests_get_an_http_answer_and_close(start: Start) -> None:
    """Garbage, a bad handshake and a non-GET close that connection only."""
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as bystander:
        assert await http(app.port, b"\x16\x03\x01garbage\r\n\r\n") == b""
        bad = await http(app.port, upgrade().replace(b"Sec-WebSocket-Key", b"X-Key"))
        assert bad.startswith(b"HTTP/1.1 400")
        post = await http(app.port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        assert post == b"" or post.startswith(b"HTTP/1.1 405")
        await bystander.send("still here")
        assert await bystander.recv() == "echo: still here"
    assert len(app.clients) == 1


async def test_cross_origin_refused(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    await start(app.service)
    with pytest.raises(InvalidStatus) as failed:
        await connect(app.url(), origin="https://evil.example")  # type: ignore[arg-type]
    assert failed.value.response.status_code == 403
    assert "origin 'https://evil.example' not allowed" in caplog.text
    # The page's own origin (this host and port) is let in.
    async with await greeted(app.url(), origin=f"http://127.0.0.1:{app.port}"):  # type: ignore[arg-type]
        pass
    allowed = App(origins=["https://game.example"])
    await start(allowed.service)
    async with await greeted(allowed.url(), origin="https://game.example"):  # type: ignore[arg-type]
        pass
    assert len(app.clients) == 1


@pytest.mark.parametrize(
    ("send", "code", "logged"),
    [
        (frame(0x2, b"\x00\x01binary"), 1003, "sent a binary message"),
        (frame(0x1, b"caf\xc3"), 1007, "sent invalid UTF-8"),
        (frame(0x1, b"a" * 600, fin=False) + frame(0x0, b"b" * 600), 1009, None),
    ],
    ids=["binary", "bad-utf8", "fragments-over-limit"],
)
async def test_bad_frames_close_that_client_only(
    start: Start, caplog: pytest.LogCaptureFixture, send: bytes, code: int, logged: str | None
) -> None:
    app = App(max_line_length=1000)
    await start(app.service)
    async with await greeted(app.url()) as bystander:
        reader, writer = await raw_ws(app.port)
        writer.write(send)
        data = await asyncio.wait_for(reader.read(), 5)
        assert close_code(data) == code
        if logged:
            assert logged in caplog.text
        await bystander.send("fine")
        assert await bystander.recv() == "echo: fine"
        writer.close()
    await until(lambda: len(app.service.clients) == 0)


async def test_malformed_json_is_logged_once_and_ignored(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    await start(app.service)
    async with await greeted(app.url()) as ws:
        for bad in ["{not json", '{"data": "x"}', '{"data": [1, 2]}', '{"what": 1}', "{}"] * 20:
            await ws.send(bad)
        await ws.send("after")
        assert await ws.recv() == "echo: after"
    lines = [r for r in caplog.records if "bad JSON message" in r.getMessage()]
    assert 1 <= len(lines) <= 10  # the first ones, then counted
    assert app.data == [] and app.lines == ["after"]


async def test_a_client_that_never_answers_pings_is_closed(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(ws_ping_interval=0.2)
    await start(app.service)
    async with await greeted(app.url()) as answering:
        _, writer = await raw_ws(app.port)  # reads nothing: never answers
        await until(lambda: len(app.clients) == 2)
        silent = app.clients[1]
        await until(lambda: not silent.connected, timeout=3)
        assert "answered no ping" in caplog.text
        await asyncio.sleep(0.5)  # the websockets client answers its pings
        await answering.send("alive")
        assert await answering.recv() == "echo: alive"
        writer.close()


async def test_silent_peer_closed_after_the_handshake_time(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(websocket, "HANDSHAKE_SECONDS", 0.2)
    app = App()
    await start(app.service)
    reader, writer = await asyncio.open_connection("127.0.0.1", app.port)
    assert await asyncio.wait_for(reader.read(), 3) == b""
    writer.close()


async def test_a_flood_of_small_messages_is_paced_not_dropped(start: Start) -> None:
    """max_lines_per_second applies to messages (and data) as to lines."""
    app = App(max_lines_per_second=100, lines_burst=20)
    await start(app.service)
    async with await greeted(app.url()) as ws:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for i in range(60):
            await ws.send(f"m{i}")
        await ws.send(json.dumps({"data": ["Last", 1]}))
        replies = [await ws.recv() for _ in range(61)]
        took = loop.time() - began
    assert replies[:60] == [f"echo: m{i}" for i in range(60)]
    assert json.loads(replies[60])["data"][1]["package"] == "Last"
    assert took >= 0.25  # 40 past the burst at 100/s (unpaced it takes ~0.01 s)


async def test_reset_mid_message(start: Start) -> None:
    app = App()
    await start(app.service)
    disconnects: list[str] = []
    app.service.listen(events.Disconnect, lambda e: disconnects.append(e.client.id))
    _, writer = await raw_ws(app.port)
    await until(lambda: app.clients)
    writer.write(frame(0x1, b"half", fin=False))
    await writer.drain()
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    await until(lambda: disconnects)
    assert app.lines == []


async def test_close_from_the_service_sends_a_close_frame(start: Start) -> None:
    app = App()
    await start(app.service)
    ws = await greeted(app.url())
    app.clients[0].write("bye")
    app.clients[0].close()
    assert await ws.recv() == "bye"
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def test_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(websocket, "ServerProtocol", None)
    service = hubbub.Service(listen=["ws://127.0.0.1:0"])
    with pytest.raises(hubbub.ListenError, match=r"pip install 'hubbub\[web\]'"):
        asyncio.run(service.start())
    logging.getLogger("hubbub").handlers.clear()


async def test_a_client_that_never_reads_is_cut_off(start: Start) -> None:
    app = App(max_output_buffer=64 * 1024)
    await start(app.service)
    disconnects: list[str] = []
    app.service.listen(events.Disconnect, lambda e: disconnects.append(e.client.id))
    async with await greeted(app.url()) as reading:
        _, writer = await raw_ws(app.port)
        writer.transport.pause_reading()  # type: ignore[attr-defined]  # never reads again
        await until(lambda: len(app.clients) == 2)
        stuck = app.clients[1]
        for i in range(64_000):  # 64 MB at most; the cut-off comes long before
            if not stuck.connected:
                break
            stuck.write("z" * 1000)
            if i % 64 == 0:
                await asyncio.sleep(0)
        await until(lambda: disconnects == [stuck.id], timeout=10)
        app.clients[0].write("you are fine")
        assert await reading.recv() == "you are fine"
        writer.close()


async def test_burst_of_connections(start: Start) -> None:
    app = App(connection_rate=0, max_connections_per_ip=0)
    await start(app.service)
    sockets = await asyncio.gather(*(greeted(app.url()) for _ in range(60)))
    for i, ws in enumerate(sockets):
        await ws.send(f"n{i}")
    assert [await ws.recv() for ws in sockets] == [f"echo: n{i}" for i in range(60)]
    await asyncio.gather(*(ws.close() for ws in sockets))
    await until(lambda: not app.service.clients)


async def test_stop_closes_every_browser_cleanly(start: Start) -> None:
    app = App()
    service = await start(app.service)
    ws = await greeted(app.url())
    await service.stop()
    with pytest.raises(ConnectionClosed) as closed:
        await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code in (1000, 1001)


# ============================================================ links outward


async def test_a_link_to_a_websocket_server(start: Start) -> None:
    """service.connect("ws://…/path") speaks the same messages, masked, as a client:
    Connect after the handshake, prompts arrive as lines, data both ways."""
    far = App("ws://127.0.0.1:0/game")
    await start(far.service)
    near = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    heard: list[str] = []
    got: list[tuple[str, Any]] = []
    connects: list[hubbub.Client] = []
    near.listen(events.Connect, lambda e: connects.append(e.client))
    near.listen(events.Receive, lambda e: heard.append(e.data))
    near.listen(events.Data, lambda e: got.append((e.package, e.data)))
    await start(near)
    link = await near.connect(far.url("/game"), name="far")
    assert connects == [link] and (link.transport, link.server.name) == ("ws", "far")
    assert link in near.outbound and link.supports_data
    await until(lambda: heard == ["Welcome.", "Name: "])
    link.write("ana")
    await until(lambda: heard[-1:] == ["echo: ana"])
    link.send_data("Core.Hello", {"client": "hubbub"})
    await until(lambda: got)
    assert got == [("Echo", {"package": "Core.Hello", "data": {"client": "hubbub"}})]
    assert far.lines == ["ana"] and far.data == [("Core.Hello", {"client": "hubbub"})]
    link.close()
    await until(lambda: not far.service.clients)


async def test_a_link_over_wss_and_failures(start: Start, tmp_path: Any) -> None:
    far = App("wss://127.0.0.1:0", **shared().settings())
    await start(far.service)
    near = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"]))
    ca = tmp_path / "ca.pem"
    shared().ca.cert_pem.write_to_path(str(ca))
    link = await near.connect(f"wss://localhost:{far.port}/?ca={ca}")
    assert (link.transport, link.secure) == ("wss", True)
    link.write("hi")
    await until(lambda: far.lines == ["hi"])
    with pytest.raises(hubbub.Unreachable, match="404"):
        await near.connect(f"wss://localhost:{far.port}/nowhere?ca={ca}")
    with pytest.raises(hubbub.Unreachable, match="certificate"):
        await near.connect(f"wss://localhost:{far.port}/")
    plain = App()
    await start(plain.service)
    with pytest.raises(hubbub.Unreachable, match=r"timed out|refused|reset|closed"):
        await near.connect(f"ws://127.0.0.1:{far.port}/", timeout=1)


async def test_ws_and_wss_on_one_port(start: Start) -> None:
    """?tls=auto: a browser on https:// and one on http:// share the listener."""
    app = App("ws://127.0.0.1:0?tls=auto", **shared().settings())
    await start(app.service)
    async with (
        await greeted(
            app.url(scheme="wss"), ssl=shared().client_context(), server_hostname="localhost"
        ) as secure,
        await greeted(app.url()) as plain,
    ):
        await secure.send("a")
        await plain.send("b")
        assert (await secure.recv(), await plain.recv()) == ("echo: a", "echo: b")
    assert [(c.transport, c.secure) for c in app.clients] == [("wss", True), ("ws", False)]


async def test_a_refused_browser_gets_an_http_answer(start: Start) -> None:
    """Turned away at accept (deny, per-IP rate): a 503 with the reason, not a bare line."""
    app = App(deny=["127.0.0.0/8"])
    await start(app.service)
    answer = await http(app.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 503 ")
    assert answer.endswith(b"Sorry, connections from your address are not accepted.\n")
    handshake = await http(app.port, upgrade())
    assert handshake.startswith(b"HTTP/1.1 503 ")
    assert not app.clients


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["text", "data", "prompt", "echo", "screen_reader", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=8,
)
_messages = st.lists(
    st.text(max_size=40)
    | st.builds(lambda s: "{" + s, st.text(max_size=20))
    | _json.map(json.dumps),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=_messages)
async def test_any_text_messages_leave_the_connection_working(messages: list[str]) -> None:
    """Whatever text a client sends (lines, braces, any JSON), the connection stays up
    and the next line is answered; nothing raises inside hubbub."""
    app = App()
    failures: list[events.HandlerError] = []
    app.service.listen(events.HandlerError, failures.append)
    await app.service.start()
    try:
        async with await greeted(app.url()) as ws:
            for message in messages:
                await ws.send(message)
            await ws.send("sentinel")
            while (reply := await asyncio.wait_for(ws.recv(), 5)) != "echo: sentinel":
                assert isinstance(reply, str)
        assert failures == []
    finally:
        await app.service.stop()
