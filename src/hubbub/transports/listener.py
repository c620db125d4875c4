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

from ..endpoints import Endpoint
from ..server import Server
from .base import BaseConnection, Host
from .proxy import receive_prelude
from .tls import ListenerTLS, listener_tls

__all__ = [
    "ACCEPTS_PER_TURN",
    "BACKLOG",
    "OUT_OF_RESOURCES",
    "StreamListener",
    "accept_one",
    "bind_addresses",
    "bind_stream",
    "open_tcp_listener",
]

log = logging.getLogger("hubbub.transport")

#: The kernel's queue of connections not yet accepted.
BACKLOG: Final = 2048
#: Connections accepted per readiness callback, so a flood of connects
#: never holds up the clients already connected for long.
ACCEPTS_PER_TURN: Final = 64
#: How long accepting pauses when the process is out of file descriptors.
ACCEPT_PAUSE: Final = 0.5

#: accept() errors that mean the process is out of descriptors or memory.
OUT_OF_RESOURCES: Final = frozenset(
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
    """One or more listening sockets (one per address a host name resolves to).

    The accept loop is the same for every stream socket; what differs by
    family (how a peer's address reads, what closing leaves behind) is in
    :meth:`peer` and :meth:`close`, which a subclass may extend.
    """

    def __init__(
        self,
        host: Host,
        server: Server,
        sockets: list[socket.socket],
        factory: Factory,
        address: tuple[Any, ...] | str | None = None,
    ) -> None:
        self.host = host
        self.server = server
        self.sockets = sockets
        self.factory = factory
        #: What this listener does with TLS (tls.py), or None when it has none.
        self.tls: ListenerTLS | None = None
        #: A refusal as the bytes a turned-away peer is sent before the close
        #: (a line by default; an HTTP answer on ws://, see websocket.py).
        self.refusal: Callable[[str], bytes] = refusal_line
        #: What ``server.address`` says: (host, port) by default.
        self.address: tuple[Any, ...] | str = (
            tuple(sockets[0].getsockname()[:2]) if address is None else address
        )
        self._loop = asyncio.get_running_loop()
        self._starting: set[asyncio.Task[Any]] = set()
        self._starved = False  # out of descriptors: accepting is paused
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

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

    def hand_over(self) -> None:
        """Stop accepting; the sockets stay open for the process that takes over."""
        if self._closed:
            return
        self._closed = True
        for sock in self.sockets:
            self._loop.remove_reader(sock.fileno())

    def take_back(self) -> None:
        """Accept again after :meth:`hand_over` (the restart was called off)."""
        if self._closed:
            self._closed = False
            self.start()

    async def carry(self, sock: socket.socket, state: dict[str, Any]) -> None:
        """Serve a client handed over by a restart on ``sock``, with its saved ``state``.

        The connection takes the client back without ``Connect`` (see
        :meth:`BaseConnection.carry`) before this returns; no admission rule
        or rate counts it.
        """
        sock.setblocking(False)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self.factory()
        connection.carry(state)
        protocol = cast(Callable[[], asyncio.Protocol], lambda: connection)
        await self._loop.connect_accepted_socket(protocol, sock)

    async def receive(
        self, sock: socket.socket, peer: tuple[Any, ...], client_id: str, secure: bool
    ) -> bool:
        """Serve a new client the supervisor accepted (and, if ``secure``, decrypts).

        The supervisor keeps a copy of ``sock``; the client gets ``client_id``,
        which the supervisor knows it by. Admission rules apply as to any new
        peer. False when it was turned away or lost before it was served.
        """
        sock.setblocking(False)
        refusal = self.host.admit(self.server, peer)
        if refusal is not None:
            with contextlib.suppress(OSError):
                sock.send(self.refusal(refusal))
            sock.close()
            return False
        made: list[BaseConnection] = []

        def make() -> BaseConnection:
            connection = self.factory()
            connection.admitted = True
            connection.secure = secure
            connection.held_outside = True
            connection.given_id = client_id
            connection.prelude = peer  # the socket pair of a TLS client has no peer
            made.append(connection)
            return connection

        try:
            protocol = cast(Callable[[], asyncio.Protocol], make)
            await self._loop.connect_accepted_socket(protocol, sock)
        except OSError as exc:
            log.debug("connection on %s lost while being set up: %s", self.server.url, exc)
            sock.close()
            if not made or made[0].admitted:
                self.host.arrived(self.server)
            return False
        return True

    def peer(self, address: Any) -> tuple[Any, ...]:
        """A peer's address as ``client.address`` gives it: (host, port)."""
        return tuple(address[:2]) if isinstance(address, tuple) else (str(address), 0)

    # ---------------------------------------------------------------- accepting
    def _accept(self, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                accepted = accept_one(sock)
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    self._starve(sock, exc)
                    return
                log.warning("accept on %s failed: %s", self.server.url, exc)
                return
            if accepted is None:
                return
            conn, address = accepted
            if self._starved:
                self._starved = False
                log.info("accepting on %s again", self.server.url)
            self._accepted(conn, address)

    def _accepted(self, conn: socket.socket, address: Any) -> None:
        conn.setblocking(False)
        peer = self.peer(address)
        refusal = self.host.admit(self.server, peer)
        if refusal is not None:
            # Told in one line and closed; nothing else is made for this peer.
            with contextlib.suppress(OSError):
                conn.send(self.refusal(refusal))
            conn.close()
            return
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = self._loop.create_task(self._connect(conn, peer))
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    async def _connect(self, conn: socket.socket, peer: tuple[Any, ...]) -> None:
        made: list[BaseConnection] = []
        tls = self.tls
        secure = False
        prelude = None
        if self.server.endpoint.flag("proxy"):  # ?proxy=1: the PROXY header comes first
            header = await receive_prelude(self.host, self.server, conn, self.refusal)
            if header is None:
                return
            prelude = header.source

        def make() -> BaseConnection:
            connection = self.factory()
            connection.prelude = prelude
            # It holds a place admit() reserved, until it becomes a client.
            connection.admitted = True
            connection.secure = secure
            made.append(connection)
            return connection

        try:
            secure = tls is not None and await tls.wanted(conn)  # handshake, sniff, or plain
            # Every connection class is also an asyncio protocol (see tcp.py).
            protocol = cast(Callable[[], asyncio.Protocol], make)
            await self._loop.connect_accepted_socket(
                protocol, conn, **(tls.handshake if tls is not None and secure else {})
            )
        except OSError as exc:  # the peer reset, or its TLS handshake failed
            if tls is not None and secure:
                tls.failed(peer, exc)
            else:
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


def accept_one(sock: socket.socket) -> tuple[socket.socket, Any] | None:
    """The next connection waiting on ``sock`` (None: none is); OSError for real failures.

    A peer that gave up before it was accepted is skipped.
    """
    while True:
        try:
            return sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            if exc.errno not in (errno.ECONNABORTED, errno.EPROTO, errno.EPERM):
                raise


def refusal_line(reason: str) -> bytes:
    """A refusal as one line of text: what a person on telnet or nc reads."""
    return reason.encode("utf-8", "replace") + b"\r\n"


async def bind_addresses(
    endpoint: Endpoint, kind: int, prepare: Callable[[socket.socket], None]
) -> list[socket.socket]:
    """Non-blocking sockets of ``kind`` bound to every address ``endpoint``'s host resolves to.

    ``prepare`` sets options on each before it is bound. With port 0, every
    address gets the port the first one was given.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(endpoint.host, endpoint.port, type=kind, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    seen: set[Any] = set()
    try:
        for family, type_, proto, _, address in infos:
            if address in seen:
                continue
            seen.add(address)
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setblocking(False)
            prepare(sock)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if endpoint.port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _reuse_address(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)


async def bind_stream(endpoint: Endpoint) -> list[socket.socket]:
    """Listening stream sockets on ``endpoint``'s host and port (every address it resolves to)."""
    sockets = await bind_addresses(endpoint, socket.SOCK_STREAM, _reuse_address)
    try:
        for sock in sockets:
            sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def open_tcp_listener(host: Host, server: Server, factory: Factory) -> StreamListener:
    """Bind ``server.endpoint``'s host and port (every address it resolves to) and listen.

    Under the supervisor, a listener whose clients speak TLS is *fed*: the
    supervisor accepts on it and terminates TLS, and hands each client in
    (see :meth:`StreamListener.receive`); this process holds no socket of it.
    """
    tls = listener_tls(host, server)  # a certificate problem stops the start here
    if server.fed_address is not None:
        fed = StreamListener(host, server, [], factory, address=server.fed_address)
        fed.tls = tls
        return fed
    sockets = server.take_inherited()  # handed over by a restart: already listening
    if sockets is None:
        sockets = await bind_stream(server.endpoint)
    else:
        for sock in sockets:
            sock.listen(BACKLOG)
    listener = StreamListener(host, server, sockets, factory)
    listener.tls = tls
    listener.start()
    return listener
