"""A subprocess whose output is read line by line, for tests that drive one."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
TIMEOUT = 15.0  # safety net only


class Watched:
    """Runs ``args``; one stream (``watch``) is read line by line, the other kept whole."""

    def __init__(
        self, args: list[str], *, cwd: Path, env: dict[str, str], watch: str = "stderr"
    ) -> None:
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []  # the watched stream, line endings removed
        self.rest = ""  # the other stream, read once the process ends
        self._queue: queue.Queue[str | None] = queue.Queue()
        watched, other = (
            (self.proc.stderr, self.proc.stdout)
            if watch == "stderr"
            else (self.proc.stdout, self.proc.stderr)
        )
        self._threads = [
            threading.Thread(target=self._read_lines, args=(watched,), daemon=True),
            threading.Thread(target=self._read_rest, args=(other,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_lines(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            line = line.rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def _read_rest(self, stream: object) -> None:
        self.rest = stream.read()  # type: ignore[attr-defined]

    def wait_for(self, match: Callable[[str], T | None], what: str) -> T:
        """The first result of ``match`` on a new line; fails on exit or timeout."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {what} in {self.lines}") from None
            if line is None:
                raise AssertionError(f"exited before {what}: {self.lines} {self.rest}")
            found = match(line)
            if found:
                return found

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def finish(self) -> int:
        """Wait for the process to end by itself; its exit status."""
        code = self.proc.wait(TIMEOUT)
        for thread in self._threads:
            thread.join(TIMEOUT)
        return code

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.finish()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
