"""The supervisor's TLS termination: a TLS client on one side, the worker on the other.

A TLS session lives in an SSL object, which cannot cross a process, so under
the supervisor it lives in the supervisor: the worker gets one end of a
socket pair and reads plain text from it, and the supervisor relays between
the pair's other end and the client's encrypted socket. The worker's end is
a socket like any other: it crosses a restart and survives a crash, while
the session here never moves. Flow control goes through both ways: a side
that cannot write pauses reading on the other.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Pipe"]


class _Side(asyncio.Protocol):
    """One end of the relay."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.transport: asyncio.Transport | None = None
        self.other: _Side | None = None
        self.early: list[bytes] = []  # what came before the other side was there

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        other = self.other
        if other is None or other.transport is None:
            self.early.append(data)
        elif not other.transport.is_closing():
            other.transport.write(data)

    def eof_received(self) -> bool:
        self.pipe.end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.pipe.end()

    def pause_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.other is not None and self.other.transport is not None:
            self.other.transport.resume_reading()


class Pipe:
    """Relays one TLS client's bytes to and from the worker's end of a socket pair."""

    def __init__(self) -> None:
        self.client = _Side(self)  # the encrypted socket
        self.worker = _Side(self)  # our end of the pair
        self.client.other = self.worker
        self.worker.other = self.client
        self.ended = False

    def joined(self) -> None:
        """Both sides are up: pass on what came early."""
        for side in (self.client, self.worker):
            early, side.early = side.early, []
            for data in early:
                side.data_received(data)

    def say(self, text: bytes) -> None:
        """Write ``text`` to the client (encrypted), e.g. why the service stops."""
        transport = self.client.transport
        if transport is not None and not transport.is_closing():
            transport.write(text)

    def end(self) -> None:
        """One side ended: close both, each after what it still has to send."""
        if self.ended:
            return
        self.ended = True
        for side in (self.client, self.worker):
            transport: Any = side.transport
            if transport is not None and not transport.is_closing():
                transport.close()
