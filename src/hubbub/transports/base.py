"""What a transport needs from the service that owns it.

Transports import this, the protocols and the client; never the service.
"""

from __future__ import annotations

from typing import Protocol

from ..client import Client
from ..dispatch import Dispatcher
from ..settings import Settings

__all__ = ["Host"]


class Host(Protocol):
    """The service, as seen from a transport."""

    settings: Settings
    dispatcher: Dispatcher

    def accept(self, client: Client) -> bool:
        """Register a new client and raise ``Connect``; False turns it away (closed)."""

    def release(self, client: Client) -> None:
        """The connection is gone: forget the client and raise ``Disconnect``."""
