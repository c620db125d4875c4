"""Tests for ``Service.run()``: lifecycle order and graceful stop, in a real subprocess."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubbub.testing import TestClient

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


class App:
    """The app script running in a subprocess; stdout is collected line by line."""

    def __init__(self, script: Path, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(script), url],
            cwd=script.parent,
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr = ""
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout.append(line.rstrip("\n"))
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def wait_for(self, prefix: str) -> str:
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} in {self.stdout}") from None
            if line is None:
                raise AssertionError(f"exited before {prefix!r}: {self.stdout} {self.stderr}")
            if line.startswith(prefix):
                return line

    def finish(self) -> int:
        code = self.proc.wait(TIMEOUT)
        for thread in self._threads:
            thread.join(TIMEOUT)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)


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
    port = int(app.wait_for("PORT ").split()[1])
    with TestClient(("127.0.0.1", port), timeout=TIMEOUT) as client:
        assert client.read_line() == "hello"
        client.send("ping")
        assert client.read_line() == "ping"
        app.wait_for("Connect")
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
    app.wait_for("PORT ")
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
