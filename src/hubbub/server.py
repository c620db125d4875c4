"""A listener of the service, as handlers see it (``event.server``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .endpoints import Endpoint

if TYPE_CHECKING:
    from .transports import Listener

__all__ = ["Server"]


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
        #: The bound address: (host, port), with the real port when 0 was asked.
        self.address: tuple[Any, ...] | None = None
        #: The open listener while the service runs (the service's own).
        self.listener: Listener | None = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.name, self.url)
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<Server {self.name} address={self.address}>"
