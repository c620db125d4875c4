"""The handover channel: JSON messages and socket descriptors over a UNIX socket.

A restart passes listening and client sockets to a new process with
``SCM_RIGHTS``. Each message is a 4-byte length, that many bytes of JSON,
then the descriptors it announces in batches of :data:`FDS_PER_BATCH`, each
batch riding on one marker byte (the kernel keeps a batch with its byte).
The calls block, with a timeout: the old process runs them in a thread, the
new one while it starts and has nothing else to do.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Sequence
from typing import Any, Final

__all__ = ["Channel", "ChannelError", "frames"]

_HEADER: Final = struct.Struct("!II")  # JSON length, descriptor count
#: Descriptors per ``sendmsg`` (Linux accepts at most 253 in one message).
FDS_PER_BATCH: Final = 200
#: The largest message taken: a few KiB per client, for many thousands.
MAX_MESSAGE: Final = 256 * 1024 * 1024


def frames(message: dict[str, Any], fds: Sequence[int] = ()) -> list[tuple[bytes, list[int]]]:
    """``message`` as what goes on the wire: the header and JSON, then one marker
    byte per batch of descriptors (each to be sent with its batch)."""
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8")
    out: list[tuple[bytes, list[int]]] = [(_HEADER.pack(len(payload), len(fds)) + payload, [])]
    for start in range(0, len(fds), FDS_PER_BATCH):
        out.append((b"F", list(fds[start : start + FDS_PER_BATCH])))
    return out


class ChannelError(Exception):
    """The other process went away, sent garbage, or took too long."""


class Channel:
    """One end of the handover socket."""

    def __init__(self, sock: socket.socket, timeout: float | None = None) -> None:
        self.sock = sock
        sock.setblocking(True)
        sock.settimeout(timeout)

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        """Send ``message`` and the descriptors ``fds`` (the receiver gets copies)."""
        try:
            for data, batch in frames(message, fds):
                if batch:
                    socket.send_fds(self.sock, [data], batch)
                else:
                    self.sock.sendall(data)
        except OSError as exc:
            raise ChannelError(f"sending to the other process failed: {exc}") from None

    def receive(self) -> tuple[dict[str, Any], list[socket.socket]]:
        """The next message and the sockets that came with it."""
        size, count = _HEADER.unpack(self._exactly(_HEADER.size))
        if size > MAX_MESSAGE:
            raise ChannelError(f"a handover message of {size} bytes is too large")
        try:
            message = json.loads(self._exactly(size))
        except ValueError:
            raise ChannelError("the handover message is not JSON") from None
        if not isinstance(message, dict):
            raise ChannelError("the handover message is not a JSON object")
        received: list[int] = []
        try:
            while len(received) < count:
                want = min(FDS_PER_BATCH, count - len(received))
                data, fds, flags, _ = socket.recv_fds(self.sock, 1, want)
                received.extend(fds)
                if not data:
                    raise ChannelError("the other process went away during the handover")
                if flags & socket.MSG_CTRUNC:
                    raise ChannelError("descriptors were lost (MSG_CTRUNC): too many open files?")
        except BaseException as exc:
            for fd in received:
                socket.close(fd)
            if isinstance(exc, OSError):
                raise ChannelError(f"receiving descriptors failed: {exc}") from None
            raise
        return message, [socket.socket(fileno=fd) for fd in received]

    def _exactly(self, size: int) -> bytes:
        chunks: list[bytes] = []
        left = size
        try:
            while left:
                chunk = self.sock.recv(min(left, 1 << 20))
                if not chunk:
                    raise ChannelError("the other process went away")
                chunks.append(chunk)
                left -= len(chunk)
        except TimeoutError:
            raise ChannelError("the other process did not answer in time") from None
        except OSError as exc:
            raise ChannelError(f"reading from the other process failed: {exc}") from None
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()
