"""Hot restart end to end: a real ``hubbub run`` process, real sockets, real SIGHUP.

Each test starts the application below in a subprocess, connects real
clients, restarts it (SIGHUP, ``hubbub restart``, or from a handler) and
checks what the contract promises: nobody is dropped, no input is lost or
doubled, state and new code are in effect, and a failed restart leaves the
old process serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from hubbub.protocols import telnet as t

from ..telnet_opening import OPENING
from ..transports.test_telnet_mud import START, inflated, mudlet
from .conftest import Line, Served

APP = """
import asyncio
import os

import hubbub
from hubbub import events

VERSION = "one"
STORE = "sqlite:///broken.db" if os.path.exists("fail") else "sqlite:///app.db"
service = hubbub.Service(storage=STORE, close_timeout=0.5, keepalive=0)


class Player(hubbub.Store):
    score: int = 0
    seen: int = hubbub.session(0)


@service.listen(events.Connect)
def hello(event):
    event.client.write(f"hello {os.getpid()} {VERSION}")
    event.client.count = 0
    event.client.widget = object()  # not a JSON value: left behind at a restart


@service.listen(events.Receive)
def command(event):
    client, text = event.client, event.data
    if text == "ask":
        return ask(event)
    if text == "restart":
        service.restart()
        service.restart()  # twice at once: one restart
        return
    if text == "facts":
        client.write(f"facts {client.terminal} {client.width}x{client.height} "
                     f"mtts={client.mtts} utf8={client.utf8}")
        return
    if text == "visit":
        player = Player.get_or_create("ann")
        player.score += 1
        player.seen += 1
        player.save()
        client.session["visits"] = client.session.get("visits", 0) + 1
        client.write(f"visit score={player.score} seen={player.seen} "
                     f"session={client.session['visits']}")
        return
    client.count += 1
    client.write(f"{os.getpid()} {VERSION} {client.count}: {text}")


def ask(event):
    event.client.write("name?")
    name = yield
    event.client.write(f"hi {name} from {os.getpid()}")


PRE = os.environ.get("APP_PRE_RESTART", "")


@service.listen(events.PreRestart)
async def pre(event):
    event.service.write_all("*** restarting ***")
    if PRE == "raise":
        raise RuntimeError("pre-restart boom")
    if PRE == "hang":
        await asyncio.sleep(3600)


@service.listen(events.PostRestart)
def post(event):
    event.service.write_all(f"*** back: {os.getpid()} {VERSION} crashed={event.crashed} ***")


if os.environ.get("APP_BEAT"):
    @service.every(0.1)
    def beat(event):
        event.service.write_all(f"*** beat {os.getpid()} ***")

if os.environ.get("APP_TICK"):
    ticks = 0

    @service.every(0.01)
    def tick(event):
        global ticks
        ticks += 1
        event.service.write_all(f"tick {os.getpid()} {ticks} " + "x" * 2000)
"""

TCP = ("--listen", "tcp://127.0.0.1:0")
Serve = Callable[..., Served]


def new_version(served: Served, version: str) -> None:
    source = served.app.read_text().replace('VERSION = "one"', f'VERSION = "{version}"')
    served.app.write_text(source)


def test_clients_state_input_and_new_code_cross(serve: Serve) -> None:
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    old = served.first
    client = Line(port)
    assert client.line() == f"hello {old} one"
    client.send(b"first\n")
    assert client.line() == f"{old} one 1: first"
    client.send(b"visit\n")
    assert client.line() == "visit score=1 seen=1 session=1"
    client.send(b"ask\n")
    assert client.line() == "name?"
    client.send(b"An")  # half a line, typed before the restart

    new_version(served, "two")
    new = served.restart()
    assert new != old
    client.send(b"nie\n")  # ...finished after it: one line
    seen = client.until("hi Annie")
    assert seen[0] == "*** restarting ***"  # PreRestart: clients still writable
    assert "name?" in seen  # the waiting handler asks again in the new process
    assert seen[-1] == f"hi Annie from {new}"
    assert f"*** back: {new} two crashed=False ***" in seen  # PostRestart
    client.send(b"second\n")
    assert client.line() == f"{new} two 2: second"  # state carried, new code running
    client.send(b"visit\n")
    # score from SQLite (flushed), seen is a session field, client.session carried
    assert client.line() == "visit score=2 seen=2 session=2"
    client.close()
    log = served.process.text
    assert "hello" not in "".join(client.buffer.decode())
    assert log.count("connected to") == 1  # no Connect for the carried client
    assert re.search(r"took over 1 client\(s\)", log)
    assert re.search(r"attribute\(s\) widget are not JSON values", log)


def test_pid_file_and_the_restart_command(serve: Serve) -> None:
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.line()
    result = restart_command(served.pid_file)
    assert result.returncode == 0, result.stderr
    new = served.pid
    took_over = f"hubbub: restarted: process {new} took over from {served.first}"
    assert result.stdout.strip() == took_over
    client.send(b"still\n")
    assert client.until("still")[-1] == f"{new} one 1: still"


def restart_command(pid_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hubbub", "restart", "--pid-file", str(pid_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_restart_command_without_a_live_process(tmp_path: Path) -> None:
    missing = restart_command(tmp_path / "none")
    assert missing.returncode == 2
    assert missing.stderr.startswith("hubbub: cannot read a pid from")
    (tmp_path / "stale").write_text("999999999\n")
    stale = restart_command(tmp_path / "stale")
    assert stale.returncode == 1
    assert "cannot signal process 999999999" in stale.stderr


def test_restart_from_a_handler_asked_twice_is_one_restart(serve: Serve) -> None:
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.line()
    client.send(b"restart\n")
    new = served.wait_pid(other_than=served.first)
    client.until("*** back")
    served.wait_log("already under way")
    time.sleep(0.3)
    assert served.pid == new
    assert served.process.text.count("starting a new process") == 1


def test_restart_while_clients_type(serve: Serve) -> None:
    """Twenty clients type lines one after another through the restart: every line is
    answered once, in order, by the old process or the new one."""
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    old = served.first
    done = threading.Event()
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def typist(n: int) -> None:
        try:
            client = Line(port)
            client.line()
            replies = results[n] = []
            i = 0
            while not done.is_set() or i < 5:
                i += 1
                client.send(f"{n}-{i}\n".encode())
                reply = client.line()
                while reply.startswith("***"):
                    reply = client.line()
                replies.append(reply)
            client.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=typist, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    new = served.restart()
    time.sleep(0.3)
    done.set()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    for n, replies in results.items():
        pids = [reply.split()[0] for reply in replies]
        assert pids[0] == str(old) and pids[-1] == str(new), replies[:3]
        texts = [reply.split(": ", 1)[1] for reply in replies]
        assert texts == [f"{n}-{i}" for i in range(1, len(texts) + 1)]
        counts = [int(reply.split()[2].rstrip(":")) for reply in replies]
        assert counts == list(range(1, len(counts) + 1))  # the counter crossed too


def test_restart_during_a_broadcast_cuts_no_line(serve: Serve) -> None:
    """A timer broadcasts 2 KB lines every 10 ms through the restart: every line arrives
    whole, and each process's numbers arrive without a gap or a repeat."""
    served = serve(APP, *TCP, APP_TICK="1")
    port = served.listening(1)["tcp://127.0.0.1:0"]
    clients = [Line(port) for _ in range(5)]
    time.sleep(0.3)
    new = served.restart()
    time.sleep(0.3)
    tick = re.compile(r"tick (\d+) (\d+) x{2000}")
    for client in clients:
        # Everything up to the new process's 20th tick after it took over.
        lines = client.until(f"tick {new} 20 ")
        by_pid: dict[str, list[int]] = {}
        for line in lines:
            if line.startswith(("hello", "***")):
                continue
            found = tick.fullmatch(line)
            assert found, line[:80]
            by_pid.setdefault(found.group(1), []).append(int(found.group(2)))
        assert set(by_pid) == {str(served.first), str(new)}
        for numbers in by_pid.values():
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        client.close()


@pytest.mark.parametrize("how", ["raise", "hang"])
def test_a_pre_restart_handler_that_fails_does_not_stop_the_restart(serve: Serve, how: str) -> None:
    served = serve(APP, *TCP, APP_PRE_RESTART=how)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.line()
    started = time.monotonic()
    new = served.restart()
    assert time.monotonic() - started < 5  # close_timeout (0.5 s) bounds a hang
    client.send(b"after\n")
    assert client.until("after")[-1] == f"{new} one 1: after"
    log = served.process.text
    if how == "raise":
        assert "pre-restart boom" in log
    else:
        assert "PreRestart handlers did not finish in 0.5s; restarting anyway" in log


def test_a_version_that_does_not_import_leaves_the_old_one_serving(serve: Serve) -> None:
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.line()
    good = served.app.read_text()
    served.app.write_text(good + "\ndef broken(:\n")
    os.kill(served.first, signal.SIGHUP)
    served.wait_log(
        r"restart failed: the new process could not load the application: "
        r"SyntaxError: invalid syntax \(.*app\.py, line \d+\); still serving"
    )
    client.send(b"still\n")
    assert client.line() == f"{served.first} one 1: still"
    served.app.write_text(good)  # fixed: the next restart goes through
    time.sleep(0.1)
    new = served.restart()
    client.send(b"later\n")
    assert client.until("later")[-1] == f"{new} one 2: later"


def test_a_version_that_fails_to_start_leaves_the_old_one_serving(serve: Serve) -> None:
    """The new process loads and gets the sockets, then cannot start (its store file is
    corrupt): it gives them back and the old process serves on with the clients it paused."""
    served = serve(APP, *TCP)
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.line()
    client.send(b"ask\n")
    assert client.line() == "name?"
    (served.directory / "broken.db").write_bytes(b"this is not a database" * 100)
    (served.directory / "fail").write_text("")
    os.kill(served.first, signal.SIGHUP)
    served.wait_log("restart called off: the new process failed to start: StoreError")
    client.send(b"Bo\n")  # the old process still waits for the answer
    assert client.until("hi Bo")[-1] == f"hi Bo from {served.first}"
    client.send(b"more\n")
    assert client.line() == f"{served.first} one 1: more"
    new_client = Line(port)  # the listener accepts again
    assert new_client.line() == f"hello {served.first} one"
    (served.directory / "fail").unlink()
    time.sleep(0.1)
    new = served.restart()
    client.send(b"then\n")
    assert client.until("then")[-1] == f"{new} one 2: then"


async def test_telnet_options_and_mccp2_cross_without_renegotiating(serve: Serve) -> None:
    """A Mudlet-like client with MCCP2 on: the old process ends the compressed stream,
    the new one starts it again with ``IAC SB 86 IAC SE`` alone; window size, terminal
    facts and MTTS are the same; nothing is negotiated again."""
    served = serve(APP, "--listen", "telnet://127.0.0.1:0")
    port = served.listening(1)["telnet://127.0.0.1:0"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await asyncio.wait_for(reader.readexactly(len(OPENING)), 5) == OPENING
    inflate = await mudlet(reader, writer)
    writer.write(b"facts\r\n")
    before = await inflated(reader, inflate, b"facts ")
    before += await inflated(reader, inflate, b"\r\n") if not before.endswith(b"\r\n") else b""
    facts = before[before.index(b"facts ") :].split(b"\r\n")[0]
    assert facts.startswith(b"facts MUDLET 120x40 mtts=2831")

    new = await asyncio.to_thread(served.restart)
    tail = b""  # the rest of the old stream, to its end (Z_FINISH)
    while not inflate.eof:
        tail += inflate.decompress(await asyncio.wait_for(reader.read(65536), 5))
    assert b"*** restarting ***" in tail
    after = inflate.unused_data
    while START not in after:
        after += await asyncio.wait_for(reader.read(65536), 5)
    plain, _, compressed = after.partition(START)
    assert bytes([t.IAC, t.WILL]) not in plain and bytes([t.IAC, t.DO]) not in plain
    again = zlib.decompressobj()
    writer.write(b"facts\r\n")
    out = again.decompress(compressed)
    while b"facts " not in out or not out.rstrip(b"\r\n").endswith(facts[-10:]):
        out += again.decompress(await asyncio.wait_for(reader.read(65536), 5))
    assert facts in out.split(b"\r\n")  # the same facts, from the new process
    assert f"*** back: {new} one crashed=False ***".encode() in out
    writer.close()


async def test_websocket_clients_cross_with_their_compression(serve: Serve) -> None:
    """A browser-like client (permessage-deflate on) keeps its connection: the new
    process goes on with the same frames, compressed and plain, and answers pings."""
    from websockets.asyncio.client import connect

    served = serve(APP, "--listen", "ws://127.0.0.1:0/play")
    port = served.listening(1)["ws://127.0.0.1:0/play"]
    async with connect(f"ws://127.0.0.1:{port}/play") as ws:
        assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
        assert await ws.recv() == f"hello {served.first} one"
        await ws.send("ask")
        assert await ws.recv() == "name?"
        new = await asyncio.to_thread(served.restart)
        assert await ws.recv() == "*** restarting ***"
        assert await ws.recv() == "name?"  # asked again by the new process
        assert await ws.recv() == f"*** back: {new} one crashed=False ***"
        await ws.send("Ws")
        assert await ws.recv() == f"hi Ws from {new}"
        long = "y" * 500  # compressed both ways
        await ws.send(long)
        assert await ws.recv() == f"{new} one 1: {long}"
        await asyncio.wait_for(await ws.ping(), 5)


def test_tls_clients_are_told_and_closed_plain_ones_cross(serve: Serve) -> None:
    """Without the supervisor a TLS session cannot cross: those clients are told why
    and closed; the plain client on the other listener is carried."""
    import ssl

    from ..tls_certs import shared

    certs = shared()
    served = serve(
        APP, *TCP, "--listen", f"tls://127.0.0.1:0?cert={certs.cert}&key={certs.key}"
    )
    ports = served.listening(2)
    plain = Line(ports["tcp://127.0.0.1:0"])
    plain.line()
    tls_port = next(port for url, port in ports.items() if url.startswith("tls"))
    raw = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
    secure = certs.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    encrypted = Line.__new__(Line)
    encrypted.sock, encrypted.buffer = secure, b""
    assert encrypted.line() == f"hello {served.first} one"
    new = served.restart()
    told = encrypted.until("Please reconnect")
    assert told[-1] == (
        "*** The server is restarting, and an encrypted (TLS) connection cannot cross "
        "a restart. Please reconnect. ***"
    )
    with contextlib.suppress(ssl.SSLError, OSError):
        assert encrypted.rest() == b""
    plain.send(b"here\n")
    assert plain.until("here")[-1] == f"{new} one 1: here"


def test_reload_on_save_restarts_and_a_broken_save_changes_nothing(serve: Serve) -> None:
    """``--reload``: saving the app hot-restarts it (the client stays); saving a
    version with a syntax error is reported and the running one keeps serving."""
    served = serve(APP, *TCP, "--reload")
    port = served.listening(1)["tcp://127.0.0.1:0"]
    served.wait_log("reloading on changes to")
    client = Line(port)
    client.line()
    (served.directory / "app.db").write_bytes(b"")  # not code: ignored
    new_version(served, "two")
    new = served.wait_pid(other_than=served.first)
    served.wait_log("reloading on changes to")  # the new process watches too
    client.send(b"one\n")
    assert client.until(": one")[-1] == f"{new} two 1: one"
    good = served.app.read_text()
    served.app.write_text(good + "\ndef broken(:\n")
    served.wait_log("could not load the application: SyntaxError")
    client.send(b"two\n")
    assert client.until(": two")[-1] == f"{new} two 2: two"
    served.app.write_text(good.replace('VERSION = "two"', 'VERSION = "three"'))
    newer = served.wait_pid(other_than=new)
    client.send(b"three\n")
    assert client.until(": three")[-1] == f"{newer} three 3: three"
    assert served.process.text.count("changed: app.py; restarting") == 3


def test_a_called_off_restart_keeps_the_timers_running(serve: Serve) -> None:
    """Timers pause while a restart is under way; when it is called off they go on."""
    served = serve(APP, *TCP, APP_BEAT="1")
    port = served.listening(1)["tcp://127.0.0.1:0"]
    client = Line(port)
    client.until("*** beat")
    (served.directory / "broken.db").write_bytes(b"this is not a database" * 100)
    (served.directory / "fail").write_text("")
    os.kill(served.first, signal.SIGHUP)
    served.wait_log("restart called off")
    client.until("*** restarting ***")  # (PreRestart ran before the call-off)
    for _ in range(3):
        assert client.until("*** beat")[-1] == f"*** beat {served.first} ***"


def test_tintin_keeps_its_session_with_compression_both_ways(
    serve: Serve, tmp_path: Path
) -> None:
    """TinTin++ (a real client on a pseudo-terminal) compresses its input (MCCP3) and
    takes compressed output (MCCP2). Across two restarts it stays connected, and a
    line typed half before and half after one arrives whole."""
    from ..transports.test_telnet_clients import TINTIN, Terminal, require

    require("TinTin++ (tt++)", TINTIN is not None)
    served = serve(APP, "--listen", "telnet://127.0.0.1:0")
    port = served.listening(1)["telnet://127.0.0.1:0"]
    script = tmp_path / "session.tin"
    script.write_text("#config {debug telnet} on\n" f"#session x 127.0.0.1 {port}\n")
    assert TINTIN is not None
    terminal = Terminal([TINTIN, "-G", str(script)], tmp_path)

    def shown(text: str) -> None:
        deadline = time.monotonic() + 10
        while text.encode() not in terminal.output:
            assert time.monotonic() < deadline, terminal.output[-1500:]
            time.sleep(0.05)
            terminal.read()

    try:
        shown("MCCP3 INITIALIZED")
        os.write(terminal.master, b"before\r")
        shown(f"{served.first} one 1: before")
        os.write(terminal.master, b"half way th")
        new = served.restart()
        os.write(terminal.master, b"rough\r")
        shown(f"{new} one 2: half way through")
        newer = served.restart()
        os.write(terminal.master, b"again\r")
        shown(f"{newer} one 3: again")
        assert b"SESSION 'x' DIED" not in terminal.output
    finally:
        terminal.close()
