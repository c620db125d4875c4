"""A listener of the service, as handlers see it (``event.server``)."""

from __future__ import annotations

import asyncio
from typing import Any

from .endpoints import Endpoint

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
        self.address: tuple[Any, ...] | None = None
        self._handle: asyncio.AbstractServer | None = None

    @property
    def listening(self) -> bool:
        return self._handle is not None

    def _opened(self, handle: asyncio.AbstractServer) -> None:
        self._handle = handle
        sockets = getattr(handle, "sockets", None) or ()
        if sockets:
            self.address = tuple(sockets[0].getsockname()[:2])

    def _close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other in (self.name, self.url)
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        return f"<Server {self.name} address={self.address}>"
