"""Exceptions that hubbub raises for its users to catch."""

from __future__ import annotations

__all__ = [
    "Disconnected",
    "HubbubError",
    "ListenError",
    "SettingsError",
    "TLSError",
    "Unreachable",
]


class HubbubError(Exception):
    """Base class of hubbub's own errors."""


class Disconnected(HubbubError):
    """The client went away while a handler was waiting for its input."""

    def __init__(self, message: str = "client disconnected") -> None:
        super().__init__(message)


class SettingsError(HubbubError, ValueError):
    """A setting has an unknown name or a bad value; the message names it."""


class ListenError(HubbubError, OSError):
    """A listener could not be opened (bad URL, port in use, …)."""


class TLSError(HubbubError):
    """TLS cannot be started on this client (already secure, or no way to); it is unchanged."""


class Unreachable(HubbubError, ConnectionError):
    """An outbound link (:meth:`hubbub.Service.connect`) could not be opened.

    ``host`` and ``port`` say where it was going (``host`` is the socket's
    path and ``port`` None for ``unix://``); ``reason`` says why, in words
    ("connection refused", "timed out after 10s", …).
    """

    def __init__(self, host: str, port: int | None, reason: str) -> None:
        where = host if port is None else f"{host}:{port}"
        super().__init__(f"cannot reach {where}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class Exists(HubbubError, KeyError):
    """``Store.create(key)`` found a record with that key already."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a record with that key exists"


class StoreError(HubbubError):
    """The storage cannot be used: a file that is locked, read-only or not a database,
    a URL that names no backend. The message names the file or URL."""
