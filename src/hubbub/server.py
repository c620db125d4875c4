"""A listener of the service, as handlers see it (``event.server``)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from .endpoints import Endpoint

if TYPE_CHECKING:
    from .outbound import Backoff
    from .transports import Listener

__all__ = ["Remote", "Server", "format_address"]


def format_address(address: tuple[Any, ...] | str | None) -> str:
    """``host:port``, or a socket path: an address as log lines show it."""
    if address is None:
        return "?"
    if isinstance(address, str):
        return address
    host, port = (*address, "?", "?")[:2]
    return f"{host}:{port}"


class Server:
    """One listening endpoint.

    ``name`` is the ``?name=`` of its URL, or the URL itself. A server
    compares equal to its name or URL string, so ``listen(..., server="web")``
    filters work before the listener exists.
    """

    #: False for a listener; True for a :class:`Remote` (an outbound link).
    outbound = False

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.url = endpoint.url
        #: The bound address: (host, port), with the real port when 0 was asked;
        #: the socket path (a str) for ``unix://``.
        self.address: tuple[Any, ...] | str | None = None
        #: The open listener while the service runs (the service's own).
        self.listener: Listener | None = None
        #: Listening sockets an earlier process handed over at a restart: the
        #: listener takes these instead of binding (see :meth:`take_inherited`).
        self.inherited: list[socket.socket] | None = None
        #: Under the supervisor, for a listener whose clients speak TLS: the
        #: address the supervisor accepts on (it hands each client in); None
        #: for a listener this process accepts on itself.
        self.fed_address: tuple[Any, ...] | str | None = None

    def take_inherited(self) -> list[socket.socket] | None:
        """The sockets a restart handed over for this listener, once (None: bind anew)."""
        sockets, self.inherited = self.inherited, None
        return sockets

    # --- datagrams (udp:// listeners) ---------------------------------------------

    def send_to(self, data: bytes, address: tuple[Any, ...]) -> None:
        """Send one datagram to ``address`` (host, port) from this ``udp://`` listener."""
        self._datagrams("send_to").send_to(data, address)

    def broadcast(self, data: bytes, port: int, address: str | None = None) -> None:
        """Send one datagram with SO_BROADCAST to ``port`` (``<broadcast>`` unless ``address``)."""
        self._datagrams("broadcast").broadcast(data, port, address)

    def _datagrams(self, method: str) -> Any:
        listener = self.listener
        if listener is not None and hasattr(listener, method):
            return listener
        kind = self.endpoint.scheme
        if listener is not None or kind != "udp":
            raise TypeError(
                f"{method}() sends datagrams, which only udp:// listeners do; "
                f"{self.name} is a {kind}:// listener"
            )
        raise RuntimeError(f"{method}(): {self.name} is not listening (the service is not running)")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.name, self.url)
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<Server {self.name} address={self.address}>"


class Remote(Server):
    """The far end of an outbound link (:meth:`hubbub.Service.connect`).

    It stands where a listener stands for accepted clients: it is the link's
    ``client.server``, and its ``name`` (the URL unless one was given) works
    in ``listen(..., server="name")`` filters. ``address`` is the remote's
    (host, port), or its socket path for ``unix://``; no listener is ever open.
    """

    outbound = True

    def __init__(
        self, endpoint: Endpoint, *, timeout: float = 10.0, reconnect: Backoff | None = None
    ) -> None:
        super().__init__(endpoint)
        self.address = (endpoint.path,) if endpoint.path else (endpoint.host, endpoint.port)
        #: Seconds an attempt to connect may take, TLS handshake included.
        self.timeout = timeout
        #: How a lost link is retried, or None: it is not.
        self.reconnect = reconnect

    def __repr__(self) -> str:
        return f"<Remote {self.name}>"
