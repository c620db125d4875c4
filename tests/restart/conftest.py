"""A service run as a real ``hubbub run`` subprocess, restarted with real signals."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ..subprocesses import Watched

LISTENING = re.compile(r"listening on (\S+) \((.+):(\d+)\)")
TIMEOUT = 15.0


class Served:
    """``python -m hubbub run app.py --pid-file pid`` in a directory of its own."""

    def __init__(self, directory: Path, source: str, *args: str, **env: str) -> None:
        self.directory = directory
        self.app = directory / "app.py"
        self.app.write_text(source)
        self.pid_file = directory / "pid"
        environ = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        environ.update(env)
        self.process = Watched(
            [
                sys.executable,
                "-m",
                "hubbub",
                "run",
                "app.py",
                "--pid-file",
                str(self.pid_file),
                *args,
            ],
            cwd=directory,
            env=environ,
        )
        self.ports: dict[str, int] = {}
        self.first = self.wait_pid()

    def listening(self, count: int) -> dict[str, int]:
        """Wait for ``count`` listening lines: {url: port}."""
        while len(self.ports) < count:
            found = self.process.wait_for(LISTENING.search, "listening line")
            self.ports[found.group(1)] = int(found.group(3))
        return self.ports

    def port(self, scheme: str = "") -> int:
        return next(port for url, port in self.ports.items() if url.startswith(scheme))

    def wait_pid(self, other_than: int | None = None) -> int:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                pid = int(self.pid_file.read_text())
                if pid != other_than:
                    return pid
            time.sleep(0.02)
        raise AssertionError(f"the pid file never named a new process: {self.process.text}")

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text())

    def restart(self) -> int:
        """SIGHUP the live process; the pid of the one that took over."""
        old = self.pid
        os.kill(old, signal.SIGHUP)
        return self.wait_pid(other_than=old)

    def wait_log(self, pattern: str) -> str:
        found = self.process.wait_for(re.compile(pattern).search, repr(pattern))
        return found.group(0)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.kill()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(source: str, *args: str, **env: str) -> Served:
        served = Served(tmp_path, source, *args, **env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


class Line:
    """A blocking line client on a real socket (what ``nc`` does)."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed; unread: {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def until(self, fragment: str) -> list[str]:
        """Lines up to and including the first that contains ``fragment``."""
        seen = []
        while True:
            line = self.line()
            seen.append(line)
            if fragment in line:
                return seen

    def rest(self) -> bytes:
        """Everything until the server closes."""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                data, self.buffer = self.buffer, b""
                return data
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()
