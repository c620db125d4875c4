"""The client: one remote party, as plain data plus a handle on its connection.

A :class:`Client` holds what a game or chat server keeps about a connection
(id, address, encoding, any attributes the application sets) apart from the
transport carrying it. Transports implement the small :class:`Connection`
interface, which is all a client needs to write, close or change mode; that
split is what lets WebSocket, TLS or a hot restart carry the same client.
"""

from __future__ import annotations

import itertools
import secrets
from typing import TYPE_CHECKING, Any, Protocol

from .dispatch import Inbox, Input

if TYPE_CHECKING:
    from .server import Server

__all__ = ["Client", "Connection", "compose"]


class Connection(Protocol):
    """What a transport offers a client."""

    #: True when :meth:`send` doubles 0xFF bytes (telnet); see :meth:`send_escaped`.
    escapes_iac: bool

    def send(self, data: bytes) -> None:
        """Queue bytes for the peer; never blocks."""

    def send_escaped(self, data: bytes) -> None:
        """Queue bytes that are already escaped for this transport (a broadcast
        escapes once for everyone)."""

    def close(self) -> None:
        """Flush what is queued, then close."""

    def abort(self) -> None:
        """Close at once, dropping queued output."""

    async def flush(self) -> None:
        """Wait until queued output has been handed to the OS."""

    def set_echo(self, enabled: bool) -> None:
        """Ask the peer to echo typed input locally (False hides it)."""

    def set_raw(self, raw: bool) -> None:
        """Switch between line framing and raw chunks."""


# Ids are a random per-process prefix and a counter: unique without a system
# call per connection, and never reused by a later process.
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def _new_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def compose(lines: tuple[str, ...], newline: str, end: bool) -> str:
    """Lines as one text: joined by ``newline``, ended by it when ``end``.

    A ``\n`` inside a line becomes ``newline`` too, so multi-line strings look
    right on every client.
    """
    try:
        if len(lines) == 1:
            text = lines[0]
            if "\n" in text:
                text = text.replace("\r\n", "\n").replace("\n", newline)
            return text + newline if end else text
        text = newline.join(
            line.replace("\r\n", "\n").replace("\n", newline) if "\n" in line else line
            for line in lines
        )
    except TypeError:
        bad = next((line for line in lines if not isinstance(line, str)), None)
        raise TypeError(
            f"lines must be str, not {type(bad).__name__}; use write_raw() for bytes"
        ) from None
    return text + newline if end and lines else text


class Client:
    """A connected party. Set any attribute you like on it (``client.username``)."""

    # Class-level defaults keep an idle client's own __dict__ small.
    connected: bool = True
    terminal: str | None = None
    width: int | None = None
    height: int | None = None
    _echo = True
    _raw = False

    def __init__(
        self,
        connection: Connection,
        server: Server,
        address: tuple[Any, ...],
        *,
        encoding: str = "utf-8",
        newline: str = "\r\n",
        client_id: str | None = None,
    ) -> None:
        self.id: str = client_id or _new_id()
        self.address = address
        self.server = server
        self.encoding = encoding
        self._conn = connection
        self._newline = newline
        self._inbox = Inbox(self)

    # --- output -------------------------------------------------------------

    def write(self, *lines: str, newline: bool = True) -> None:
        """Send lines, each followed by the connection's newline.

        With ``newline=False`` the last line is left open (for prompts). A
        ``\\n`` inside a line is sent as the connection's newline too.
        Writes to a disconnected client are dropped.
        """
        if self.connected:
            text = compose(lines, self._newline, newline)
            self._conn.send(text.encode(self.encoding, "replace"))

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (telnet still escapes 0xFF)."""
        if self.connected:
            self._conn.send(bytes(data))

    async def flush(self) -> None:
        """Wait until everything written so far has left the process."""
        if self.connected:
            await self._conn.flush()

    def close(self) -> None:
        """Flush pending output, then disconnect (``Disconnect`` follows)."""
        if self.connected:
            self._conn.close()

    # --- input --------------------------------------------------------------

    async def read(self) -> Input:
        """The next line (a bytes chunk in raw mode) from this client.

        While a handler reads, that input raises no ``Receive``. Raises
        :class:`hubbub.Disconnected` if the client goes away first.
        """
        return await self._inbox.read()

    @property
    def raw(self) -> bool:
        """True: input arrives as bytes chunks as received, with no line framing."""
        return self._raw

    @raw.setter
    def raw(self, value: bool) -> None:
        value = bool(value)
        if value != self._raw:
            self._raw = value
            if self.connected:
                self._conn.set_raw(value)

    @property
    def echo(self) -> bool:
        """False hides what the user types (telnet), e.g. for a password prompt."""
        return self._echo

    @echo.setter
    def echo(self, value: bool) -> None:
        value = bool(value)
        if value != self._echo:
            self._echo = value
            if self.connected:
                self._conn.set_echo(value)

    def __repr__(self) -> str:
        host = self.address[0] if self.address else "?"
        port = self.address[1] if len(self.address) > 1 else "?"
        return f"<Client {self.id} {host}:{port}>"
