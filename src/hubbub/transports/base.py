"""What a transport needs from the service that owns it.

Transports import this, the protocols and the client; never the service.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from ..client import Client
from ..dispatch import Dispatcher
from ..settings import Settings

__all__ = ["Host", "WriteBatch"]


class Uncorkable(Protocol):
    def uncork(self) -> None:
        """Write out what was held back during the batch."""


class WriteBatch:
    """Output held back while the service handles input, written once per turn.

    While ``depth`` is non-zero (a packet of input is being handled),
    connections keep what handlers write to them and register here. When the
    packet is done, :meth:`flush` is scheduled for the end of the event loop's
    current turn, so the packets of several senders that arrived together
    share it: a message broadcast to a thousand clients, or fifty pipelined
    replies, cost one ``send()`` per client per turn instead of one per
    message. Until then, anything else written to a holding connection joins
    what it holds, so order is kept.
    """

    __slots__ = ("depth", "dirty", "scheduled")

    #: A connection holding this many writes sends them at once, batch or not,
    #: so a burst of messages never piles up in memory.
    max_held = 256

    def __init__(self) -> None:
        self.depth = 0
        self.dirty: list[Uncorkable] = []
        self.scheduled = False

    def done(self, source: Uncorkable) -> None:
        """``source`` has handled a packet: write what is held, now or at the turn's end.

        When the only output held is ``source``'s own (a reply to its sender),
        there is nothing to share a write with, and waiting for the end of the
        turn would cost an extra pass of the event loop: write it now.
        """
        dirty = self.dirty
        if not dirty or self.scheduled:
            return
        if len(dirty) == 1 and dirty[0] is source:
            self.dirty = []
            source.uncork()
            return
        self.scheduled = True
        asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.scheduled = False
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
