"""Listening stream sockets with hubbub's own accept loop.

asyncio's ``create_server`` decides alone what happens when the process runs
out of file descriptors: the stdlib loop logs an error per failed accept
(tens of thousands a second) and may stop accepting for good, and uvloop
closes the new connections without a word. Accepting here instead lets
hubbub pause briefly, log once, and recover; and it lets a peer that is
refused anyway (the server is full or stopping) be told so and closed before
any transport, protocol object or telnet negotiation is made for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any, Final, cast

from ..server import Server
from .base import BaseConnection, Host
from .proxy import receive_prelude

__all__ = ["BACKLOG", "StreamListener", "open_tcp_listener"]

log = logging.getLogger("hubbub.transport")

#: The kernel's queue of connections not yet accepted.
BACKLOG: Final = 2048
#: Connections accepted per readiness callback, so a flood of connects
#: never holds up the clients already connected for long.
ACCEPTS_PER_TURN: Final = 64
#: How long accepting pauses when the process is out of file descriptors.
ACCEPT_PAUSE: Final = 0.5

_OUT_OF_RESOURCES: Final = frozenset(
    code
    for code in (
        getattr(errno, "EMFILE", None),
        getattr(errno, "ENFILE", None),
        getattr(errno, "ENOBUFS", None),
        getattr(errno, "ENOMEM", None),
    )
    if code is not None
)

Factory = Callable[[], BaseConnection]


class StreamListener:
    """One or more listening sockets (one per address a host name resolves to)."""

    def __init__(
        self, host: Host, server: Server, sockets: list[socket.socket], factory: Factory
    ) -> None:
        self.host = host
        self.server = server
        self.sockets = sockets
        self.factory = factory
        self.address: tuple[Any, ...] = tuple(sockets[0].getsockname()[:2])
        self._loop = asyncio.get_running_loop()
        self._starting: set[asyncio.Task[Any]] = set()
        self._starved = False  # out of descriptors: accepting is paused
        self._closed = False

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._accept, sock)

    def close(self) -> None:
        """Stop accepting and close the listening sockets (clients are not touched)."""
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())
            sock.close()

    # ---------------------------------------------------------------- accepting
    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._starve(sock, exc)
                    return
                if exc.errno in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                    continue  # the peer gave up before we got to it
                log.warning("accept on %s failed: %s", self.server.url, exc)
                return
            if self._starved:
                self._starved = False
                log.info("accepting on %s again", self.server.url)
            self._accepted(conn, address)

    def _accepted(self, conn: socket.socket, address: Any) -> None:
        conn.setblocking(False)
        peer = tuple(address[:2]) if isinstance(address, tuple) else (str(address), 0)
        refusal = self.host.admit(self.server, peer)
        if refusal is not None:
            # Told in one line and closed; nothing else is made for this peer.
            with contextlib.suppress(OSError):
                conn.send(refusal.encode("utf-8", "replace") + b"\r\n")
            conn.close()
            return
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self._loop.create_task(self._connect(conn))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _connect(self, conn: socket.socket) -> None:
        made: list[BaseConnection] = []
        prelude = None
        if self.server.endpoint.flag("proxy"):  # ?proxy=1: the PROXY header comes first
            prelude = await receive_prelude(self.host, self.server, conn)
            if prelude is None:
                return

        def make() -> BaseConnection:
            connection = self.factory()
            connection.prelude = prelude
            # It holds a place admit() reserved, until it becomes a client.
            connection.admitted = True
            made.append(connection)
            return connection

        try:
            # Every connection class is also an asyncio protocol (see tcp.py).
            protocol = cast(Callable[[], asyncio.Protocol], make)
            await self._loop.connect_accepted_socket(protocol, conn)
        except OSError as exc:  # the peer reset before the transport was made
            log.debug("connection on %s lost while being set up: %s", self.server.url, exc)
            conn.close()
            if not made or made[0].admitted:
                self.host.arrived(self.server)

    def _starve(self, sock: socket.socket, exc: OSError) -> None:
        """Out of descriptors: stop accepting for a moment, say so once, try again."""
        self._loop.remove_reader(sock.fileno())
        if not self._starved:
            self._starved = True
            log.warning(
                "cannot accept on %s: %s; pausing accepts for %.1f s at a time until "
                "descriptors are free (new connections wait in the backlog)",
                self.server.url,
                exc.strerror or exc,
                ACCEPT_PAUSE,
            )
        self._loop.call_later(ACCEPT_PAUSE, self._unstarve, sock)

    def _unstarve(self, sock: socket.socket) -> None:
        if not self._closed:
            self._loop.add_reader(sock.fileno(), self._accept, sock)
            self._accept(sock)


async def open_tcp_listener(host: Host, server: Server, factory: Factory) -> StreamListener:
    """Bind ``server.endpoint``'s host and port (every address it resolves to) and listen."""
    endpoint = server.endpoint
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        endpoint.host, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        port = endpoint.port
        for family, kind, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                # Every address of a name gets the port the first one was given.
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    listener = StreamListener(host, server, sockets, factory)
    listener.start()
    return listener
