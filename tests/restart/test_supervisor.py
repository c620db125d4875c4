"""``hubbub run --supervise`` end to end: real processes, real ``kill -9``, real sockets.

The worker is killed as the kernel would kill it, and the tests check what
the contract promises: every client stays connected and is served by the
next worker with its last checkpoint, ``PostRestart`` says it crashed, TLS
clients (whose sessions live in the supervisor) survive too, a planned
restart still loses nothing, a worker that keeps crashing makes the
supervisor tell everyone and stop, and SIGTERM stops everything gracefully.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ..tls_certs import shared
from ..transports.test_telnet_mud import START, inflated, mudlet
from .conftest import TIMEOUT, Line, Served

APP = """
import asyncio
import os

import hubbub
from hubbub import events

service = hubbub.Service(storage="memory://", close_timeout=0.5, keepalive=0)


@service.listen(events.Connect)
def hello(event):
    event.client.count = 0
    event.client.write(f"hello {os.getpid()}")


@service.listen(events.Receive)
def command(event):
    client, text = event.client, event.data
    if text == "quit":
        client.write("bye")
        client.close()
        return
    if text == "die":
        os.kill(os.getpid(), 9)
    if text == "restart":
        service.restart()
        return
    if text == "ask":
        return ask(event)
    client.count += 1
    client.write(f"{os.getpid()} {client.count}: {text}")


def ask(event):
    event.client.write("name?")
    name = yield
    event.client.write(f"hi {name} from {os.getpid()}")


@service.listen(events.PreRestart)
async def pre(event):
    await asyncio.sleep(float(os.environ.get("APP_PRE_RESTART", "0")))


@service.listen(events.PostStart)
def started(event):
    if os.path.exists("crash-at-start"):
        os.kill(os.getpid(), 9)


@service.listen(events.PostRestart)
def post(event):
    event.service.write_all(f"*** back: {os.getpid()} crashed={event.crashed} ***")


@service.listen(events.PreStop)
def stopping(event):
    event.service.write_all("*** stopping ***")
"""

Serve = Callable[..., Served]
SUPERVISE = ("--supervise",)
FAST = {"HUBBUB_CHECKPOINT_INTERVAL": "0.2"}


def worker_of(supervisor: int) -> int:
    """The supervisor's worker (its one child), once it has one."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
            if children:
                return int(children[-1])
        time.sleep(0.02)
    raise AssertionError("the supervisor has no worker")


def kill_worker(served: Served) -> int:
    worker = worker_of(served.pid)
    os.kill(worker, signal.SIGKILL)
    return worker


def new_worker(served: Served, old: int) -> int:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        worker = worker_of(served.pid)
        if worker != old:
            return worker
        time.sleep(0.02)
    raise AssertionError("no new worker")


def encrypted(port: int) -> Line:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    line = Line.__new__(Line)
    line.sock = shared().client_context().wrap_socket(raw, server_hostname="127.0.0.1")
    line.buffer = b""
    return line


@pytest.fixture
def supervised(serve: Serve) -> Callable[..., Served]:
    def start(*listen: str, **env: str) -> Served:
        args = [arg for url in listen or ("tcp://127.0.0.1:0",) for arg in ("--listen", url)]
        served = serve(APP, *args, *SUPERVISE, **{**FAST, **env})
        served.listening(len(listen) or 1)
        return served

    yield start
    for pid in _workers_left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


_workers_left: list[int] = []


def test_kill_9_of_the_worker_drops_nobody_and_keeps_their_state(
    supervised: Callable[..., Served],
) -> None:
    served = supervised()
    first = worker_of(served.pid)
    _workers_left.append(first)
    ann, bob = Line(served.port()), Line(served.port())
    assert ann.line() == bob.line() == f"hello {first}"
    for word in ("one", "two"):
        ann.send(f"{word}\n".encode())
        ann.until(word)
    bob.send(b"ask\n")
    assert bob.line() == "name?"
    bob.send(b"half a li")  # a partial line, in the kernel when the worker dies
    time.sleep(0.6)  # at least one checkpoint after the last line
    kill_worker(served)
    second = new_worker(served, first)
    _workers_left.append(second)
    assert ann.line() == f"*** back: {second} crashed=True ***"
    # Bob's chain was waiting for his answer: it asks again in the new worker.
    assert bob.until("crashed=True") == ["name?", f"*** back: {second} crashed=True ***"]
    bob.send(b"ne\n")
    assert bob.line() == f"hi half a line from {second}"
    ann.send(b"three\n")
    assert ann.line() == f"{second} 3: three"  # the count came from the checkpoint
    newcomer = Line(served.port())
    assert newcomer.line() == f"hello {second}"


def test_a_client_that_leaves_is_closed_for_its_peer_and_the_supervisor(
    supervised: Callable[..., Served],
) -> None:
    """The supervisor holds a copy of every socket: when the worker closes a client
    the peer must still see the close, and the supervisor must let go of it."""
    served = supervised()
    _workers_left.append(worker_of(served.pid))
    fds = Path(f"/proc/{served.pid}/fd")
    Line(served.port()).close()  # one connection first: the supervisor's own sockets settle
    time.sleep(0.5)
    baseline = len(list(fds.iterdir()))
    clients = [Line(served.port()) for _ in range(30)]
    for client in clients:
        client.line()
    for client in clients[:15]:
        client.send(b"quit\n")
        assert client.line() == "bye"
        assert client.rest() == b""  # EOF: the peer sees the close
    for client in clients[15:]:
        client.close()  # the peer leaves
    deadline = time.monotonic() + 5
    while len(list(fds.iterdir())) > baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(list(fds.iterdir())) <= baseline


def test_tls_clients_survive_a_crash_and_a_planned_restart(
    supervised: Callable[..., Served],
) -> None:
    certs = shared()
    served = supervised(
        f"tls://127.0.0.1:0?cert={certs.cert}&key={certs.key}",
        f"tcp://127.0.0.1:0?tls=auto&cert={certs.cert}&key={certs.key}",
    )
    first = worker_of(served.pid)
    _workers_left.append(first)
    secure = encrypted(served.port("tls"))
    sniffed = encrypted(served.port("tcp"))
    plain = Line(served.port("tcp"))
    for client in (secure, sniffed, plain):
        assert client.line() == f"hello {first}"
    secure.send(b"one\n")
    assert secure.line() == f"{first} 1: one"
    time.sleep(0.5)
    kill_worker(served)
    second = new_worker(served, first)
    _workers_left.append(second)
    for client in (secure, sniffed, plain):
        assert client.line() == f"*** back: {second} crashed=True ***"
    secure.send(b"two\n")
    assert secure.line() == f"{second} 2: two"
    # A planned restart (SIGHUP to the supervisor) carries them too, losing nothing.
    os.kill(served.pid, signal.SIGHUP)
    third = new_worker(served, second)
    _workers_left.append(third)
    for client in (secure, sniffed, plain):
        assert client.line() == f"*** back: {third} crashed=False ***"
    sniffed.send(b"three\n")
    assert sniffed.line() == f"{third} 1: three"
    secure.send(b"quit\n")
    assert secure.line() == "bye"
    with contextlib.suppress(ssl.SSLError, OSError):
        assert secure.rest() == b""


def test_planned_restarts_the_restart_command_and_the_pid_file(
    supervised: Callable[..., Served], tmp_path: Path
) -> None:
    served = supervised()
    first = worker_of(served.pid)
    _workers_left.append(first)
    client = Line(served.port())
    client.line()
    client.send(b"x\n")
    client.line()
    done = subprocess.run(
        [sys.executable, "-m", "hubbub", "restart", "--pid-file", str(served.pid_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert f"the supervisor (process {served.pid}) has a new worker" in done.stdout
    second = new_worker(served, first)
    _workers_left.append(second)
    assert client.line() == f"*** back: {second} crashed=False ***"
    client.send(b"y\n")
    assert client.line() == f"{second} 2: y"
    # From a handler: the worker asks the supervisor.
    client.send(b"restart\n")
    third = new_worker(served, second)
    _workers_left.append(third)
    assert client.line() == f"*** back: {third} crashed=False ***"
    assert served.pid_file.read_text().strip() == str(served.pid)


def test_the_worker_killed_during_a_planned_restart(supervised: Callable[..., Served]) -> None:
    """The old worker dies while its PreRestart handler runs: the new one takes over
    from the last checkpoint instead."""
    served = supervised(APP_PRE_RESTART="3")
    first = worker_of(served.pid)
    _workers_left.append(first)
    client = Line(served.port())
    client.line()
    client.send(b"a\n")
    client.line()
    time.sleep(0.5)
    os.kill(served.pid, signal.SIGHUP)
    served.wait_log("has loaded the application")
    os.kill(first, signal.SIGKILL)
    second = new_worker(served, first)
    _workers_left.append(second)
    assert client.line() == f"*** back: {second} crashed=True ***"
    client.send(b"b\n")
    assert client.line() == f"{second} 2: b"


def test_a_worker_crashing_five_times_a_minute_makes_the_supervisor_stop(
    supervised: Callable[..., Served],
) -> None:
    served = supervised()
    first = worker_of(served.pid)
    _workers_left.append(first)
    supervisor = served.pid
    clients = [Line(served.port()) for _ in range(3)]
    for client in clients:
        client.line()
    time.sleep(0.5)  # registered with the supervisor, and checkpointed
    (served.directory / "crash-at-start").write_text("")
    kill_worker(served)
    for client in clients:
        rest = client.rest().decode()
        assert "The server has stopped: it crashed repeatedly" in rest, served.process.text
    served.wait_log("crashed 5 times in 60 s; telling the 3 client")
    assert served.process.finish() == 3
    assert not Path(f"/proc/{supervisor}").exists() or _zombie(supervisor)
    assert not served.pid_file.exists()


def _zombie(pid: int) -> bool:
    with contextlib.suppress(OSError):
        return " Z " in Path(f"/proc/{pid}/stat").read_text()
    return True


def test_sigterm_to_the_supervisor_stops_everything_gracefully(
    supervised: Callable[..., Served],
) -> None:
    served = supervised()
    worker = worker_of(served.pid)
    _workers_left.append(worker)
    client = Line(served.port())
    client.line()
    os.kill(served.pid, signal.SIGTERM)
    assert client.line() == "*** stopping ***"
    assert client.rest() == b""
    assert served.process.finish() == 0
    assert not Path(f"/proc/{worker}").exists() or _zombie(worker)
    served.wait_log("supervisor stopped")
    assert not served.pid_file.exists()


async def test_an_mccp2_stream_continues_after_a_crash(supervised: Callable[..., Served]) -> None:
    """The dead worker's compressed stream cannot be ended; the next one continues it,
    and the client's decompressor reads on without a new start."""
    served = supervised("telnet://127.0.0.1:0")
    first = worker_of(served.pid)
    _workers_left.append(first)
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port())
    inflate = await mudlet(reader, writer)  # like Mudlet, until compression is on
    writer.write(b"one\r\n")
    await inflated(reader, inflate, b"1: one")
    await asyncio.sleep(0.5)
    kill_worker(served)
    second = new_worker(served, first)
    _workers_left.append(second)
    text = await inflated(reader, inflate, b"crashed=True")
    writer.write(b"two\r\n")
    text += await inflated(reader, inflate, f"{second} 2: two".encode())
    assert START not in text  # no second start inside the stream
    assert not inflate.unused_data
    writer.close()


def test_a_worker_whose_supervisor_dies_stops_gracefully(
    supervised: Callable[..., Served],
) -> None:
    """Nothing would recover it after a crash, and a new supervisor must be free to
    listen: the orphaned worker stops as if told to (clients get PreStop's word)."""
    served = supervised()
    worker = worker_of(served.pid)
    _workers_left.append(worker)
    client = Line(served.port())
    client.line()
    os.kill(served.pid, signal.SIGKILL)
    assert client.line() == "*** stopping ***"
    assert client.rest() == b""
    deadline = time.monotonic() + TIMEOUT
    while Path(f"/proc/{worker}").exists() and not _zombie(worker):
        assert time.monotonic() < deadline, "the orphaned worker did not stop"
        time.sleep(0.05)
