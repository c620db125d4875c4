"""hubbub: an event-driven framework for services that hold long-lived text connections.

The public face is small: a :class:`Service` that listens, the :mod:`events`
it raises, the :class:`Client` objects it hands to handlers, and the
:class:`Handler` base class for compound handlers.
"""

from __future__ import annotations

from . import events
from .client import Client
from .errors import (
    Disconnected,
    Exists,
    HubbubError,
    ListenError,
    SettingsError,
    StoreError,
    TLSError,
    Unreachable,
)
from .events import Event
from .handler import Handler
from .server import Remote, Server
from .service import Service
from .settings import Settings
from .stores import Store, session
from .timers import Timer

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Disconnected",
    "Event",
    "Exists",
    "Handler",
    "HubbubError",
    "ListenError",
    "Remote",
    "Server",
    "Service",
    "Settings",
    "SettingsError",
    "Store",
    "StoreError",
    "TLSError",
    "Timer",
    "Unreachable",
    "__version__",
    "events",
    "session",
]
