"""What a transport needs from the service that owns it.

Transports import this, the protocols and the client; never the service.
"""

from __future__ import annotations

from typing import Protocol

from ..client import Client
from ..dispatch import Dispatcher
from ..settings import Settings

__all__ = ["Host", "WriteBatch"]


class Uncorkable(Protocol):
    def uncork(self) -> None:
        """Write out what was held back during the batch."""


class WriteBatch:
    """Output held back while the service handles one packet of input.

    While ``depth`` is non-zero, connections keep what handlers write to them
    and register here; :meth:`flush` then gives each one a single write. A
    line broadcast to a thousand clients, or fifty pipelined replies, cost one
    ``send()`` per client per packet instead of one per message.
    """

    __slots__ = ("depth", "dirty")

    #: A connection holding this many writes sends them at once, batch or not,
    #: so a burst of messages never piles up in memory.
    max_held = 256

    def __init__(self) -> None:
        self.depth = 0
        self.dirty: list[Uncorkable] = []

    def flush(self) -> None:
        dirty = self.dirty
        if dirty:
            self.dirty = []
            for connection in dirty:
                connection.uncork()


class Host(Protocol):
    """The service, as seen from a transport."""

    settings: Settings
    dispatcher: Dispatcher
    batch: WriteBatch

    def accept(self, client: Client) -> bool:
        """Register a new client and raise ``Connect``; False turns it away (closed)."""

    def release(self, client: Client) -> None:
        """The connection is gone: forget the client and raise ``Disconnect``."""
