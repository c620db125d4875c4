"""``udp://``: datagrams, one ``events.Datagram`` each. No clients, no framing.

Input. Each datagram is one :class:`~hubbub.events.Datagram` (``server``,
``address``, ``data``: the datagram's bytes exactly), raised inline from the
socket's read callback: plain-function handlers run at once, with no task
per datagram. A datagram longer than ``max_datagram_size`` is dropped before
any event, counted (:attr:`DatagramListener.dropped_in`) and logged at a
bounded rate.

Floods. A listener handles at most :data:`DATAGRAMS_PER_TURN` datagrams per
turn of the event loop; past that it stops reading until the next turn, so
the service's other sockets and clients are served between every batch.
What a flood sends beyond that waits in the kernel's receive buffer and is
dropped there when the buffer is full: memory is bounded by the kernel, not
by the sender. This is hubbub's own reading, not asyncio's datagram
transports: the stdlib's reads one datagram per turn (under a flood it
loses nine in ten that a batch would have taken), uvloop's as many as its
poll delivers (32 a turn, measured), and uvloop's cannot be paused (it has
no ``pause_reading``).

Output. :meth:`DatagramListener.send_to` writes straight to the socket and
never queues in the process (both loops' datagram transports would keep
every datagram the kernel cannot take yet, without bound). A datagram the
kernel refuses (its send buffer is full, the network is unreachable…) is
dropped, counted (:attr:`DatagramListener.dropped_out`) and logged at a
bounded rate, as a router would drop it. ``send_to`` raises only for a
programming error: data that is not bytes, an address that is not an IP
address of the listener's family (names are not looked up: that would block
the loop), or a listener that is closed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any, Final, cast

from .. import events
from ..endpoints import Endpoint
from ..log_limit import LogLimit
from ..server import Server, format_address
from .base import Host
from .listener import bind_addresses

__all__ = [
    "BROADCAST",
    "DATAGRAMS_PER_TURN",
    "DatagramListener",
    "open_datagram_listener",
    "open_listener",
]

log = logging.getLogger("hubbub.transport")

#: Datagrams a listener handles in one turn of the event loop.
DATAGRAMS_PER_TURN: Final = 16
#: The largest datagram payload there is (IPv6's; IPv4's is 65507).
MAX_DATAGRAM: Final = 65527
#: Where ``broadcast()`` sends when no address is given (``<broadcast>``).
BROADCAST: Final = "255.255.255.255"

_new_event = object.__new__
_IP_FAMILIES: Final = (socket.AF_INET, socket.AF_INET6)


class DatagramListener:
    """A ``udp://`` listener: its sockets, its input as events, and sending.

    One per listener, whatever the number of sockets (one per address the
    host resolves to); nothing in it is per datagram.
    """

    def __init__(self, host: Host, server: Server, sockets: list[socket.socket]) -> None:
        self.host = host
        self.server = server
        self.sockets = sockets
        name = sockets[0].getsockname()
        #: The bound (host, port) of the first socket: ``server.address``.
        self.address: tuple[Any, ...] | str = tuple(name[:2]) if isinstance(name, tuple) else name
        #: Longest datagram delivered (``max_datagram_size``).
        self.limit = host.settings.max_datagram_size
        #: Datagrams dropped because they were longer than :attr:`limit`.
        self.dropped_in = 0
        #: Datagrams ``send_to``/``broadcast`` could not hand to the kernel.
        self.dropped_out = 0
        self.closed = False
        # Reading one byte more than the limit tells an oversize datagram apart.
        self._bufsize = min(self.limit, MAX_DATAGRAM) + 1
        self._trigger = host.dispatcher.trigger
        self._loop = asyncio.get_running_loop()
        self._turn = 0  # datagrams handled in this loop turn
        self._counting = False  # the end of this turn is scheduled
        self._paused = False
        self._logs: dict[str, LogLimit] = {}

    def start(self) -> None:
        for sock in self.sockets:
            self._loop.add_reader(sock.fileno(), self._readable, sock)

    # --- input ----------------------------------------------------------------------
    def _readable(self, sock: socket.socket) -> None:
        if not self._counting:
            self._counting = True
            self._loop.call_soon(self._next_turn)
        while self._turn < DATAGRAMS_PER_TURN:
            try:
                data, addr = sock.recvfrom(self._bufsize)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # Mostly ICMP "port unreachable" for an earlier send_to: nothing to act on.
                self._turn += 1
                self._log_limited("error", logging.DEBUG, "%s: %s", self.server.name, exc)
                continue
            self._turn += 1
            self.datagram_received(data, addr)
            if self.closed:
                return  # a handler stopped the service
        # This turn's share is used up: the rest waits in the kernel for the next.
        self._paused = True
        for each in self.sockets:
            self._loop.remove_reader(each.fileno())

    def _next_turn(self) -> None:
        self._turn = 0
        self._counting = False
        if self._paused and not self.closed:
            self._paused = False
            self.start()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Raise ``Datagram`` for one datagram, or drop it if it is too long."""
        if len(data) > self.limit:
            self.dropped_in += 1
            self._log_limited(
                "oversize",
                logging.WARNING,
                "%s: dropped a datagram from %s: over max_datagram_size (%d bytes); "
                "%d dropped so far",
                self.server.name,
                format_address(addr),
                self.limit,
                self.dropped_in,
            )
            return
        # Datagram(service=…, server=…, address=…, data=…) without the **kwargs round trip.
        event = _new_event(events.Datagram)
        event.service = cast(Any, self.host)
        event.server = self.server
        event.address = addr if type(addr) is not tuple or len(addr) == 2 else addr[:2]
        event.data = data
        self._trigger(event)

    # --- sending ---------------------------------------------------------------------------
    def send_to(self, data: bytes, address: Any) -> None:
        """Send ``data`` as one datagram to ``address``; dropped (counted, logged) if refused."""
        sock, target = self._route(data, address, "send_to")
        self._send(sock, data, target)

    def broadcast(self, data: bytes, port: int, address: str | None = None) -> None:
        """Send ``data`` with SO_BROADCAST to ``port`` on ``address`` (default: everyone)."""
        if address is None or address == "<broadcast>":
            address = BROADCAST
        sock, target = self._route(data, (address, port), "broadcast")
        if sock.family != socket.AF_INET:
            raise ValueError(f"broadcast(): {self.server.name} has no IPv4 socket to broadcast on")
        self._send(sock, data, target)

    def _route(self, data: bytes, address: Any, method: str) -> tuple[socket.socket, Any]:
        """The socket that can reach ``address``, and the address as it takes it."""
        if self.closed:
            raise RuntimeError(f"{method}(): {self.server.name} is closed (the service stopped)")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"{method}() sends bytes, not {type(data).__name__}")
        if isinstance(address, str):  # the path of a datagram socket file
            for sock in self.sockets:
                if sock.family == socket.AF_UNIX:
                    return sock, address
        elif isinstance(address, tuple | list) and len(address) >= 2:
            host = address[0]
            bare = host.partition("%")[0] if isinstance(host, str) else ""
            for sock in self.sockets:
                if sock.family in _IP_FAMILIES:
                    try:
                        socket.inet_pton(sock.family, bare)
                    except OSError:
                        continue
                    return sock, (host, address[1])
        raise ValueError(
            f"{method}(): {address!r} is not an (IP address, port) this listener can reach "
            f"({self.server.name} is bound to {format_address(self.address)}; "
            "host names are not looked up)"
        )

    def _send(self, sock: socket.socket, data: bytes, target: Any) -> None:
        try:
            sock.sendto(data, target)
        except OSError as exc:
            self.dropped_out += 1
            reason = "send buffer full" if isinstance(exc, BlockingIOError) else exc
            self._log_limited(
                "unsent",
                logging.WARNING,
                "%s: dropped a datagram of %d bytes to %s (%s); %d dropped so far",
                self.server.name,
                len(data),
                format_address(target),
                reason,
                self.dropped_out,
            )

    # --- the end ------------------------------------------------------------------------------
    def hand_over(self) -> None:
        """Stop reading; the sockets stay open for the process that takes over."""
        if self.closed:
            return
        self.closed = True
        for sock in self.sockets:
            if not self._paused:
                self._loop.remove_reader(sock.fileno())

    def take_back(self) -> None:
        """Read again after :meth:`hand_over` (the restart was called off)."""
        if self.closed:
            self.closed = False
            if not self._paused:
                self.start()

    async def carry(self, sock: socket.socket, state: dict[str, Any]) -> None:
        """A datagram listener has no clients to carry."""
        sock.close()

    async def receive(
        self, sock: socket.socket, peer: tuple[Any, ...], client_id: str, secure: bool
    ) -> bool:
        """A datagram listener has no clients to be handed."""
        sock.close()
        return False

    def close(self) -> None:
        """Close the sockets; ``send_to`` raises from now on."""
        if self.closed:
            return
        self.hand_over()
        for sock in self.sockets:
            sock.close()
        for kind, limit in self._logs.items():
            limit.summary(log, logging.INFO, "%s: %s", self.server.name, kind)

    def _log_limited(self, kind: str, level: int, message: str, *args: Any) -> None:
        limit = self._logs.get(kind)
        if limit is None:
            limit = self._logs[kind] = LogLimit()
        limit.log(log, level, message, *args)


async def open_datagram_listener(
    host: Host, server: Server, sockets: list[socket.socket]
) -> DatagramListener:
    """A reading :class:`DatagramListener` on bound, non-blocking datagram ``sockets``."""
    listener = DatagramListener(host, server, sockets)
    listener.start()
    return listener


def _allow_broadcast(sock: socket.socket) -> None:
    if sock.family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)


async def bind_datagram(endpoint: Endpoint) -> list[socket.socket]:
    """Datagram sockets bound to ``endpoint`` (every address its host resolves to)."""
    # No SO_REUSEADDR: two services on one UDP port would share its datagrams unnoticed.
    return await bind_addresses(endpoint, socket.SOCK_DGRAM, _allow_broadcast)


async def open_listener(host: Host, server: Server) -> DatagramListener:
    sockets = server.take_inherited()  # handed over by a restart
    if sockets is None:
        sockets = await bind_datagram(server.endpoint)
    return await open_datagram_listener(host, server, sockets)
