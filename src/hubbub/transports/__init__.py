"""Transports: the asyncio glue between sockets and the service.

Each URL scheme is registered here, in :data:`SCHEMES`, with the module that
opens its listeners and the URL options it takes. The service opens every
listener through :func:`open_listener` and never names a concrete transport;
a new transport is a module with an ``open_listener(host, server)`` coroutine
and one entry in the table.
"""

from __future__ import annotations

import importlib
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..endpoints import Endpoint
    from ..server import Server
    from .base import Host

__all__ = ["SCHEMES", "Listener", "Scheme", "bind", "open_listener"]


@dataclass(frozen=True)
class Scheme:
    """One URL scheme hubbub can listen on."""

    name: str
    #: Module with ``async def open_listener(host, server) -> Listener``.
    module: str
    #: URL query options it takes (``name`` is taken by every scheme).
    options: frozenset[str] = frozenset()
    #: True when the URL names a filesystem path instead of host and port.
    path: bool = False
    #: False for a scheme whose listener carries no clients (udp://: datagrams).
    clients: bool = True
    #: True when the URL may end in an HTTP path (ws://host:port/play).
    http: bool = False


class Listener(Protocol):
    """An open listener, as the service keeps it."""

    #: (host, port), or the socket path of a path scheme.
    address: tuple[Any, ...] | str
    #: The listening sockets (what a restart hands to the next process).
    sockets: list[socket.socket]

    def close(self) -> None:
        """Stop accepting (connected clients are not touched)."""

    def hand_over(self) -> None:
        """Stop accepting but leave the sockets (and a socket file) for the next process."""

    def take_back(self) -> None:
        """Accept again after :meth:`hand_over` (a restart that was called off)."""

    def carry(self, sock: socket.socket, state: dict[str, Any]) -> Awaitable[None]:
        """Serve a client a restart handed over on ``sock``, with its saved ``state``."""

    def receive(
        self, sock: socket.socket, peer: tuple[Any, ...], client_id: str, secure: bool
    ) -> Awaitable[bool]:
        """Serve a new client the supervisor accepted as ``client_id`` (False: not served)."""


SCHEMES: dict[str, Scheme] = {
    "tcp": Scheme(
        "tcp", "hubbub.transports.tcp", frozenset({"raw", "tls", "cert", "key", "proxy"})
    ),
    "telnet": Scheme(
        "telnet", "hubbub.transports.telnet", frozenset({"tls", "cert", "key", "proxy"})
    ),
    # TLS is a layer under tcp and telnet (see tls.py): the same modules serve it.
    "tls": Scheme("tls", "hubbub.transports.tcp", frozenset({"raw", "cert", "key", "proxy"})),
    "telnets": Scheme("telnets", "hubbub.transports.telnet", frozenset({"cert", "key", "proxy"})),
    "unix": Scheme("unix", "hubbub.transports.unix", frozenset({"raw"}), path=True),
    "udp": Scheme("udp", "hubbub.transports.udp", clients=False),
    "ws": Scheme(
        "ws",
        "hubbub.transports.websocket",
        frozenset({"page", "tls", "cert", "key", "proxy"}),
        http=True,
    ),
    "wss": Scheme(
        "wss", "hubbub.transports.websocket", frozenset({"page", "cert", "key", "proxy"}), http=True
    ),
}


async def open_listener(host: Host, server: Server) -> Listener:
    """Open ``server``'s listener with its scheme's transport."""
    scheme = SCHEMES[server.endpoint.scheme]
    module = importlib.import_module(scheme.module)
    listener: Listener = await module.open_listener(host, server)
    return listener


async def bind(endpoint: Endpoint) -> list[socket.socket]:
    """The sockets ``endpoint``'s listener listens on, bound but not yet served.

    What the supervisor opens for its worker and keeps: the listener in the
    worker then takes them as a restart's inherited sockets.
    """
    scheme = SCHEMES[endpoint.scheme]
    if scheme.path:
        from .unix import bind_unix

        return [bind_unix(endpoint.path)]
    if not scheme.clients:
        from .udp import bind_datagram

        return await bind_datagram(endpoint)
    from .listener import bind_stream

    return await bind_stream(endpoint)
