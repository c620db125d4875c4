"""A lasting channel between the supervisor and its worker, usable from an event loop.

The handover :class:`~.channel.Channel` blocks, which suits a restart that
has nothing else to do. The supervisor and its worker talk all the time
(clients registered and gone, checkpoints, TLS clients handed in) and both
have a loop to keep running. Messages are sent from the loop without
blocking (what the socket does not take waits for it to be writable), in
the channel's framing; a thread reads, handing each message to the loop.
Sending from the loop, not from a thread, matters: a writer thread made
the worker pay for every checkpoint twice over in GIL hand-offs.
Descriptors to send are duplicated when queued: by the time they go out,
the loop may have closed the originals and reused their numbers.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Final

from .channel import Channel, ChannelError, frames

__all__ = ["Link"]

log = logging.getLogger("hubbub.supervisor")

#: Bytes queued for a peer that does not read before the link is given up.
MAX_QUEUED: Final = 256 * 1024 * 1024

Received = Callable[[dict[str, Any], list[socket.socket]], None]


class Link:
    """Messages both ways over ``sock``; ``received`` and ``lost`` run on ``loop``."""

    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        received: Received,
        lost: Callable[[], None],
    ) -> None:
        # The reader blocks in its thread (a timeout makes Python poll, so the
        # descriptor may be non-blocking); the loop writes on a second socket
        # object over the same connection.
        sock.settimeout(3600.0)
        self.channel = Channel(sock, 3600.0)
        self._out_sock = sock.dup()
        self._out_sock.setblocking(False)
        self._loop = loop
        self._received = received
        self._lost = lost
        self._out: deque[tuple[bytes, list[int]]] = deque()
        self._queued = 0
        self._waiting = False  # for the socket to be writable
        self._closing = False
        self._broken = False
        self._reader = threading.Thread(target=self._read, name="hubbub-link", daemon=True)

    def start(self) -> None:
        self._reader.start()

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        """Send ``message`` with copies of ``fds``; never blocks."""
        if self._closing or self._broken:
            return
        copies: list[int] = []
        for fd in fds:
            try:
                copies.append(os.dup(fd))
            except OSError:
                for copy in copies:
                    os.close(copy)
                return  # the socket is gone already: nothing to send it with
        for frame in frames(message, copies):
            self._out.append(frame)
            self._queued += len(frame[0])
        if self._queued > MAX_QUEUED:
            log.error("the other process takes nothing: %d bytes queued; giving up", self._queued)
            self._give_up()
            return
        if not self._waiting:
            self._flush()

    def close(self) -> None:
        """Send what is queued (waiting briefly if it must), then let go of the link."""
        if self._closing:
            return
        self._closing = True
        if self._waiting:
            self._loop.remove_writer(self._out_sock.fileno())
            self._waiting = False
        if self._out and not self._broken:
            with contextlib.suppress(OSError):
                self._out_sock.setblocking(True)
                self._out_sock.settimeout(1.0)
                self._flush()
        self._give_up()

    def _flush(self) -> None:
        out = self._out
        sock = self._out_sock
        while out:
            data, fds = out[0]
            try:
                if fds:
                    rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
                    sent = sock.sendmsg([data], rights)
                else:
                    sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                if not self._waiting and not self._closing:
                    self._waiting = True
                    self._loop.add_writer(sock.fileno(), self._writable)
                return
            except OSError:
                self._give_up()
                return
            for fd in fds:  # (they went with the first byte sent)
                os.close(fd)
            self._queued -= sent
            if sent < len(data):
                out[0] = (data[sent:], [])
            else:
                out.popleft()

    def _writable(self) -> None:
        self._loop.remove_writer(self._out_sock.fileno())
        self._waiting = False
        self._flush()

    def _give_up(self) -> None:
        """Drop what is queued and shut the sending side: the peer sees the end."""
        self._broken = True
        if self._waiting:
            self._loop.remove_writer(self._out_sock.fileno())
            self._waiting = False
        while self._out:
            for fd in self._out.popleft()[1]:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._queued = 0
        with contextlib.suppress(OSError):
            self._out_sock.shutdown(socket.SHUT_WR)
        self._out_sock.close()

    def _read(self) -> None:
        while True:
            try:
                message, sockets = self.channel.receive()
            except ChannelError as exc:
                if "in time" in str(exc):
                    continue  # an hour without a word: still there
                break
            except (OSError, ValueError):
                break
            if not self._deliver(message, sockets):
                return
        self._deliver(None, [])

    def _deliver(self, message: dict[str, Any] | None, sockets: list[socket.socket]) -> bool:
        try:
            if message is None:
                self._loop.call_soon_threadsafe(self._lost)
            else:
                self._loop.call_soon_threadsafe(self._received, message, sockets)
        except RuntimeError:  # the loop is closed: nobody to tell
            for sock in sockets:
                sock.close()
            return False
        return True
