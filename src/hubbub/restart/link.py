"""A lasting channel between the supervisor and its worker, usable from an event loop.

The handover :class:`~.channel.Channel` blocks, which suits a restart that
has nothing else to do. The supervisor and its worker talk all the time
(clients registered and gone, checkpoints, TLS clients handed in) and both
have a loop to keep running, so here a thread writes what the loop queued
and another reads, handing each message to the loop. Descriptors to send
are duplicated when queued: by the time the writer sends one, the loop may
have closed the original and reused its number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import socket
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .channel import Channel, ChannelError

__all__ = ["Link"]

log = logging.getLogger("hubbub.supervisor")

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
        self.channel = Channel(sock)
        self._loop = loop
        self._received = received
        self._lost = lost
        self._queue: queue.SimpleQueue[tuple[dict[str, Any], list[int]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="hubbub-link-read", daemon=True)
        self._writer = threading.Thread(target=self._write, name="hubbub-link-write", daemon=True)

    def start(self) -> None:
        self._reader.start()
        self._writer.start()

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        """Queue ``message`` with copies of ``fds``; never blocks."""
        if self._closed:
            return
        copies: list[int] = []
        for fd in fds:
            try:
                copies.append(os.dup(fd))
            except OSError:
                for copy in copies:
                    os.close(copy)
                return  # the socket is gone already: nothing to register
        self._queue.put((message, copies))

    def close(self) -> None:
        """Send what is queued, then stop (the reader ends when the socket closes)."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    def _write(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            message, fds = item
            try:
                self.channel.send(message, fds)
            except ChannelError:
                self._drop_queued(fds)
                break
            finally:
                for fd in fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
        with contextlib.suppress(OSError):
            self.channel.sock.shutdown(socket.SHUT_WR)

    def _drop_queued(self, fds: list[int]) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                for fd in item[1]:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _read(self) -> None:
        while True:
            try:
                message, sockets = self.channel.receive()
            except (ChannelError, OSError, ValueError):
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
