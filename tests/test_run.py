"""Tests for ``Service.run()``: lifecycle order and graceful stop, in a real subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubbub.testing import TestClient

from .subprocesses import Watched

TIMEOUT = 15.0  # safety net only

APP = """
import sys

import hubbub
from hubbub import events

service = hubbub.Service(listen=[sys.argv[1]], close_timeout=5)

MARKED = (
    events.PreStart,
    events.ListenStart,
    events.PostStart,
    events.PreStop,
    events.Disconnect,
    events.ListenStop,
    events.PostStop,
)


def marker(name):
    def handler(event):
        print(name, flush=True)

    return handler


for cls in MARKED:
    service.listen(cls, marker(cls.__name__))


@service.listen(events.PostStart)
def ready(event):
    host, port = service.servers[0].address
    print(f"PORT {port}", flush=True)


@service.listen(events.Connect)
def greet(event):
    print("Connect", flush=True)
    event.client.write("hello")


@service.listen(events.Receive)
def echo(event):
    event.client.write(event.data)


@service.listen(events.PreStop)
def going_down(event):
    service.write_all("server going down")


service.run()
print("run returned", flush=True)
"""

ORDER = ["PreStart", "ListenStart", "PostStart", "PreStop", "Disconnect", "ListenStop", "PostStop"]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}


class App(Watched):
    """The app script running in a subprocess; stdout is collected line by line."""

    def __init__(self, script: Path, url: str) -> None:
        super().__init__(
            [sys.executable, str(script), url], cwd=script.parent, env=clean_env(), watch="stdout"
        )

    @property
    def stdout(self) -> list[str]:
        return self.lines

    @property
    def stderr(self) -> str:
        return self.rest

    def wait_for_line(self, prefix: str) -> str:
        return self.wait_for(lambda line: line if line.startswith(prefix) else None, repr(prefix))


@pytest.fixture
def app_script(tmp_path: Path) -> Path:
    script = tmp_path / "app.py"
    script.write_text(APP, encoding="utf-8")
    return script


@pytest.fixture
def start_app(app_script: Path) -> Iterator[Callable[[str], App]]:
    started: list[App] = []

    def start(url: str) -> App:
        app = App(app_script, url)
        started.append(app)
        return app

    yield start
    for app in started:
        app.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_stop_on_signal(start_app: Callable[[str], App], sig: signal.Signals) -> None:
    app: App = start_app("tcp://127.0.0.1:0")
    port = int(app.wait_for_line("PORT ").split()[1])
    with TestClient(("127.0.0.1", port), timeout=TIMEOUT) as client:
        assert client.read_line() == "hello"
        client.send("ping")
        assert client.read_line() == "ping"
        app.wait_for_line("Connect")
        app.proc.send_signal(sig)
        # The PreStop handler's broadcast arrives, then the server closes.
        assert client.read_line() == "server going down"
        assert client.closed()
        assert client.pending == ""
    assert app.finish() == 0, app.stderr
    markers = [line for line in app.stdout if line in ORDER]
    assert markers == ORDER
    assert app.stdout[-1] == "run returned"
    assert "Connect" in app.stdout
    assert app.stdout.index("Connect") < app.stdout.index("PreStop")
    assert "Traceback" not in app.stderr
    assert f"received {sig.name}" in app.stderr
    assert "stopped" in app.stderr


def test_stop_without_clients(start_app: Callable[[str], App]) -> None:
    app: App = start_app("telnet://127.0.0.1:0")
    app.wait_for_line("PORT ")
    app.proc.send_signal(signal.SIGTERM)
    assert app.finish() == 0, app.stderr
    markers = [line for line in app.stdout if line in ORDER]
    assert markers == [m for m in ORDER if m != "Disconnect"]
    assert "Traceback" not in app.stderr


def test_port_in_use(app_script: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        url = f"tcp://127.0.0.1:{busy.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, str(app_script), url],
            cwd=app_script.parent,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubbub: ")
    assert f"cannot listen on {url}: address already in use" in lines[0]
    out = result.stdout.split()
    assert "PreStart" in out
    assert "PostStart" not in out
    assert "run returned" not in result.stdout


STUCK_APP = """
import asyncio
import sys

import hubbub
from hubbub import events

service = hubbub.Service(listen=[sys.argv[1]], close_timeout=30)


@service.listen(events.PostStart)
def ready(event):
    host, port = service.servers[0].address
    print(f"PORT {port}", flush=True)


@service.listen(events.Connect)
def greet(event):
    event.client.write("hello")


@service.listen(events.PreStop)
async def never_finishes(event):
    service.write_all("stopping soon")
    print("PreStop waiting", flush=True)
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("PreStop cancelled", flush=True)
        raise


@service.listen(events.Disconnect)
def gone(event):
    print("Disconnect", flush=True)


@service.listen(events.PostStop)
def stopped(event):
    print("PostStop", flush=True)


service.run()
print("run returned", flush=True)
"""


def test_second_signal_abandons_a_stuck_prestop(tmp_path: Path) -> None:
    """A PreStop handler that never finishes holds the first SIGINT's graceful stop
    (the process stays up, the client stays connected); a second SIGINT stops at
    once: the handler is cancelled, the client is disconnected, the stop still runs
    Disconnect and PostStop, and the log says what was abandoned.

    Latency guarantee: the process ends within 10 s of the second signal, while
    close_timeout is 30 s, so it did not simply wait the timeout out."""
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_APP, encoding="utf-8")
    app = App(script, "tcp://127.0.0.1:0")
    try:
        port = int(app.wait_for_line("PORT ").split()[1])
        with TestClient(("127.0.0.1", port), timeout=TIMEOUT) as client:
            assert client.read_line() == "hello"
            app.proc.send_signal(signal.SIGINT)
            app.wait_for_line("PreStop waiting")
            assert client.read_line() == "stopping soon"
            # The first signal waits for the handler: still running, still connected.
            assert not client.closed(timeout=0.3)
            assert app.proc.poll() is None
            app.proc.send_signal(signal.SIGINT)
            assert app.proc.wait(timeout=10) == 0
            assert client.closed(timeout=2)
        assert app.finish() == 0
        assert "PreStop cancelled" in app.stdout
        assert app.stdout.index("PreStop cancelled") < app.stdout.index("Disconnect")
        assert app.stdout[-3:] == ["Disconnect", "PostStop", "run returned"]
        stderr = app.stderr
        assert "Traceback" not in stderr
        first = [line for line in stderr.splitlines() if "received SIGINT;" in line]
        assert len(first) == 1 and "send it again to stop at once" in first[0]
        assert "received SIGINT again: stopping now, abandoning PreStop handlers" in stderr
        assert "did not finish" not in stderr  # forced, not timed out
    finally:
        app.kill()


def test_first_signal_log_line_says_how_to_stop_at_once(
    start_app: Callable[[str], App],
) -> None:
    """The first signal's log line tells the operator that a second one forces the stop."""
    app: App = start_app("tcp://127.0.0.1:0")
    app.wait_for_line("PORT ")
    assert app.stop(signal.SIGINT) == 0
    lines = [line for line in app.stderr.splitlines() if "received SIGINT" in line]
    assert len(lines) == 1
    assert "stopping (send it again to stop at once)" in lines[0]
    assert "again:" not in app.stderr
