"""A listener of the service, as handlers see it (``event.server``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .endpoints import Endpoint

if TYPE_CHECKING:
    from .transports import Listener

__all__ = ["Server", "format_address"]


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

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name = endpoint.name
        self.url = endpoint.url
        #: The bound address: (host, port), with the real port when 0 was asked;
        #: the socket path (a str) for ``unix://``.
        self.address: tuple[Any, ...] | str | None = None
        #: The open listener while the service runs (the service's own).
        self.listener: Listener | None = None

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
