"""Transports: the asyncio glue between sockets and the service.

Each URL scheme is registered here, in :data:`SCHEMES`, with the module that
opens its listeners and the URL options it takes. The service opens every
listener through :func:`open_listener` and never names a concrete transport;
a new transport is a module with an ``open_listener(host, server)`` coroutine
and one entry in the table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..server import Server
    from .base import Host

__all__ = ["SCHEMES", "Listener", "Scheme", "open_listener"]


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


class Listener(Protocol):
    """An open listener, as the service keeps it."""

    address: tuple[Any, ...]

    def close(self) -> None:
        """Stop accepting (connected clients are not touched)."""


SCHEMES: dict[str, Scheme] = {
    "tcp": Scheme("tcp", "hubbub.transports.tcp", frozenset({"raw", "proxy"})),
    "telnet": Scheme("telnet", "hubbub.transports.telnet", frozenset({"proxy"})),
}

#: Schemes of the contract that are not served yet: a clear error, not "unknown".
PLANNED = frozenset({"telnets", "tls", "ws", "wss", "udp", "unix"})


async def open_listener(host: Host, server: Server) -> Listener:
    """Open ``server``'s listener with its scheme's transport."""
    scheme = SCHEMES[server.endpoint.scheme]
    module = importlib.import_module(scheme.module)
    listener: Listener = await module.open_listener(host, server)
    return listener
