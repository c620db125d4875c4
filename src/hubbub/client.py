"""The client: what a service knows about one remote party, kept as plain data.

A :class:`Client` is state (id, address, encoding, echo, terminal facts, the
attributes an application sets) plus a runtime link: the ``connection`` that
carries it and the ``inbox`` that orders its input. The state can be saved
with :meth:`Client.snapshot` and put back on a new connection object, even in
another process, with :meth:`Client.restore`; the link is owned by the
transport and the dispatcher and never leaves the process.

Transports implement the small :class:`Connection` interface below; the
client never needs to know which transport it has.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from .groups import check_group_name

if TYPE_CHECKING:
    from .groups import GroupIndex
    from .server import Server

__all__ = ["Client", "Connection", "InputQueue", "compose"]

log = logging.getLogger("hubbub.client")

Input = str | bytes


class Connection(Protocol):
    """What a transport offers the client it carries (see ``transports/base.py``)."""

    #: Connections with equal keys put the same text on the wire as the same
    #: bytes, so a broadcast prepares it once per key.
    share_key: tuple[Any, ...]

    @property
    def supports_data(self) -> bool:
        """True when :meth:`send_data` reaches the peer (WebSocket; telnet with GMCP)."""

    def prepare(self, text: str, prompt: bool = False) -> bytes:
        """Text as this connection's wire bytes (encoded, escaped, framed)."""

    def send_prepared(self, data: bytes) -> None:
        """Queue bytes made by :meth:`prepare` (of this or an equal-keyed connection)."""

    def send_text(self, text: str, prompt: bool = False) -> None:
        """Queue text for the peer; ``prompt`` marks text that waits for an answer."""

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are (a transport may still escape them, as telnet does)."""

    def send_data(self, package: str, data: Any) -> None:
        """Queue structured data (dropped where :attr:`supports_data` is False)."""

    def close(self) -> None:
        """Send what is queued, then close; a peer that will not take it is cut off."""

    def abort(self) -> None:
        """Close at once, dropping queued output."""

    def flush(self) -> Awaitable[None]:
        """Wait until queued output has been handed to the operating system."""

    def set_echo(self, enabled: bool) -> None:
        """Ask the peer to show (True) or hide (False) what the user types."""

    def set_raw(self, raw: bool) -> None:
        """Switch between line framing and raw chunks."""

    def set_encoding(self, encoding: str) -> None:
        """The client's text encoding changed."""

    def snapshot(self) -> dict[str, Any]:
        """The transport's own state (negotiated options, a partial line) as JSON data."""

    def state_mark(self) -> tuple[Any, ...]:
        """A cheap value that changes whenever :meth:`snapshot` would."""

    def start_tls(self) -> Awaitable[None]:
        """Upgrade the connection to TLS in place (STARTTLS)."""

    # A restart (see hubbub.restart): hold, then freeze and hand over, or thaw.
    @property
    def drained(self) -> bool:
        """True when no output waits to be handed to the operating system."""

    def hold(self) -> None:
        """Stop reading and send what is held: a restart is coming."""

    def why_not_carried(self) -> str | None:
        """Why this connection cannot cross to a new process (None: it can)."""

    def fileno(self) -> int | None:
        """The socket's descriptor, to hand over (None: there is none)."""

    def freeze(self) -> dict[str, Any] | None:
        """The client's state for the next process; nothing more happens here after it."""

    def thaw(self) -> None:
        """The restart was called off: serve the client again."""

    def hand_over(self) -> None:
        """The next process has the socket: let go of it without ``Disconnect``."""


class InputQueue(Protocol):
    """What the dispatcher's per-client inbox offers :meth:`Client.read`."""

    def read(self) -> Awaitable[Input]:
        """The next line (or raw chunk) from the client."""


# Ids are a random per-process prefix and a counter: unique without a system
# call per connection, and never reused by a later process.
_ID_PREFIX = secrets.token_hex(4)
_ID_COUNTER = itertools.count(1)


def new_id() -> str:
    """A fresh client id: 16 hex characters, unique across processes."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"


def compose(lines: tuple[str, ...], newline: str, end: bool) -> str:
    """Lines as one text: joined by ``newline``, ended by it when ``end``.

    A ``\\n`` inside a line becomes ``newline`` too, so multi-line strings look
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


# The state a snapshot carries, with each field's value for a new client.
STATE_DEFAULTS: dict[str, Any] = {
    "encoding": "utf-8",
    "newline": "\r\n",
    "raw": False,
    "echo": True,
    "terminal": None,
    "terminal_types": [],
    "mtts": 0,
    "utf8": False,
    "width": None,
    "height": None,
    "prompt_text": None,
    "transport": "tcp",
    "secure": False,
    "screen_reader": False,
    "colors": 0,
    "gmcp_supports": [],
    "environ": {},
}


class Client:
    """A connected party. Set any attribute you like on it (``client.username``).

    Attributes of your own are part of the client's state: they are saved
    with it (a hot restart carries them) when they are JSON values.
    """

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_echo",
        "_encoding",
        "_groups",
        "_raw",
        "_session",
        "_unsaved",
        "address",
        "colors",
        "connected",
        "connected_at",
        "connection",
        "environ",
        "gmcp_supports",
        "group_index",
        "height",
        "id",
        "inbox",
        "mtts",
        "newline",
        "prompt_text",
        "screen_reader",
        "secure",
        "server",
        "terminal",
        "terminal_types",
        "transport",
        "utf8",
        "width",
    )

    def __init__(
        self,
        connection: Connection,
        server: Server,
        address: tuple[Any, ...],
        *,
        encoding: str = "utf-8",
        newline: str = "\r\n",
        raw: bool = False,
        client_id: str | None = None,
        transport: str = "tcp",
        secure: bool = False,
    ) -> None:
        self.id: str = client_id or new_id()
        self.address = address
        self.server = server
        #: The transport carrying this client (hubbub's own: do not replace it).
        self.connection = connection
        #: The dispatcher's queue of this client's input (hubbub's own).
        self.inbox: Any = None
        self.connected = True
        #: When the client connected (``time.time()``); kept across restarts.
        self.connected_at = time.time()
        self._encoding = encoding
        self.newline = newline
        self._raw = raw
        self._echo = True
        #: The terminal's name: the first TTYPE answer (telnet), else None.
        self.terminal: str | None = None
        #: Every name of the TTYPE/MTTS cycle, in order ("MUDLET", "ANSI-TRUECOLOR", "MTTS 2831").
        self.terminal_types: list[str] = []
        #: The MTTS bitvector the client sent (``MTTS n``; NEW-ENVIRON's MTTS too): 0 if none.
        self.mtts = 0
        #: True when the client says it handles UTF-8 (MTTS bit 4, NEW-ENVIRON CHARSET,
        #: an agreed CHARSET negotiation; always for WebSocket).
        self.utf8 = False
        self.width: int | None = None
        self.height: int | None = None
        #: The last text written without a newline (a prompt still waiting for
        #: an answer), or None; hubbub shows it again after refusing a line.
        self.prompt_text: str | None = None
        self._session: dict[str, Any] | None = None
        self._groups: set[str] | None = None
        self._unsaved: tuple[str, ...] = ()  # attributes last warned about
        #: The service's group index while the service lists this client (hubbub's own).
        self.group_index: GroupIndex | None = None
        #: What the connection is now: tcp, tls, telnet, telnets, unix, ws, wss
        #: (hubbub's own; STARTTLS turns tcp into tls and telnet into telnets).
        self.transport = transport
        #: True while the connection is encrypted (TLS); hubbub's own.
        self.secure = secure
        #: True when the player uses a screen reader (the browser client's
        #: toggle says so; an application may set it too).
        self.screen_reader = False
        #: Colours the client can show: 0 (unknown: none), 16, 256 or 16_777_216
        #: (any RGB). WebSocket clients start at 16_777_216; telnet ones learn it
        #: from their terminal type. :func:`hubbub.ansi.render` follows it.
        self.colors = 0
        #: What the client says about itself: CLIENT_NAME, CLIENT_VERSION… (from
        #: GMCP Core.Hello now; NEW-ENVIRON will fill it too).
        self.environ: dict[str, str] = {}
        #: The GMCP modules the client listed (``Core.Supports.*``), e.g. "Char 1".
        self.gmcp_supports: list[str] = []

    if TYPE_CHECKING:
        # Applications set their own attributes on clients (client.username);
        # these tell type checkers so, without changing anything at run time.
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    # --- output -------------------------------------------------------------

    def write(self, *lines: str, newline: bool = True) -> None:
        """Send lines, each followed by the connection's newline.

        With ``newline=False`` the last line is left open (a prompt). A
        ``\\n`` inside a line is sent as the connection's newline too.
        Writes to a disconnected client are dropped.
        """
        if self.connected:
            if newline:
                if len(lines) == 1:
                    # One plain line: compose() without the call. (A type check
                    # would cost more than the rest; TypeError says it instead.)
                    text = lines[0]
                    try:
                        text = (
                            compose(lines, self.newline, True)
                            if "\n" in text
                            else (text + self.newline)
                        )
                    except TypeError:
                        compose(lines, self.newline, True)  # raises, naming the type
                        raise
                else:
                    text = compose(lines, self.newline, True)
                if self.prompt_text is not None:
                    self.prompt_text = None
            else:
                text = compose(lines, self.newline, False)
                # The open line is the prompt: what follows the last line break.
                self.prompt_text = text.rpartition(self.newline)[2]
            self.connection.send_text(text)

    def prompt(self, *lines: str) -> None:
        """Send a prompt: the lines, the last left open, marked as a prompt.

        On telnet the mark is ``IAC EOR`` when the client agreed to EOR, else
        ``IAC GA`` (the ``prompt_mark`` setting chooses); on WebSocket the
        browser gets a prompt message; on tcp it is the text alone. Like
        ``write(..., newline=False)``, hubbub shows it again after refusing
        a line.
        """
        if self.connected:
            text = compose(lines, self.newline, False)
            self.prompt_text = text.rpartition(self.newline)[2]
            self.connection.send_text(text, True)

    def send_data(self, package: str, data: Any = None) -> None:
        """Send structured data (``package`` such as "Char.Vitals", ``data`` any JSON value).

        On WebSocket it is a JSON message ``{"data": [package, data]}``; on
        telnet it will be GMCP. Where :attr:`supports_data` is False it is
        dropped, so a game may send it to every client. Raises ``TypeError``
        if ``data`` is not JSON.
        """
        if not isinstance(package, str) or not package:
            raise TypeError(f"package must be a non-empty str, not {package!r}")
        if self.connected and self.connection.supports_data:
            self.connection.send_data(package, data)

    @property
    def supports_data(self) -> bool:
        """Whether :meth:`send_data` reaches this client (WebSocket: always)."""
        return self.connected and self.connection.supports_data

    def write_raw(self, data: bytes) -> None:
        """Send bytes as they are (telnet still escapes 0xFF)."""
        if self.connected:
            self.connection.send_raw(bytes(data))

    async def flush(self) -> None:
        """Wait until everything written so far has left the process.

        Raises :class:`hubbub.Disconnected` if the client is gone, so a loop
        that streams output with ``await client.flush()`` ends when the peer
        does.
        """
        if not self.connected:
            from .errors import Disconnected

            raise Disconnected()
        await self.connection.flush()

    def close(self) -> None:
        """Flush pending output, then disconnect (``Disconnect`` follows).

        On an outbound link waiting to be reopened, it stops the retrying.
        """
        if self.connected or self.server.outbound:
            self.connection.close()

    # --- input --------------------------------------------------------------

    def read(self) -> Awaitable[Input]:
        """The next line (a bytes chunk in raw mode) from this client.

        While a handler reads, that input raises no ``Receive``. Raises
        :class:`hubbub.Disconnected` if the client goes away first.
        """
        inbox: InputQueue = self.inbox
        return inbox.read()

    async def start_tls(self) -> None:
        """Encrypt this client's connection from now on (STARTTLS), in place.

        Call it after telling the client to begin its handshake: output
        written before the call goes out in plain, later output encrypted.
        The same client (id, handlers, partial input) carries on, now with
        ``secure`` True and ``transport`` "tls" or "telnets". Raises
        :class:`hubbub.TLSError` if the client is already secure or its
        transport or listener cannot do TLS (the client is left as it was),
        and :class:`hubbub.Disconnected` if the client is gone or its
        handshake failed (the connection is then closed).
        """
        if not self.connected:
            from .errors import Disconnected

            raise Disconnected()
        await self.connection.start_tls()

    # --- modes --------------------------------------------------------------

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
                self.connection.set_raw(value)

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
                self.connection.set_echo(value)

    @property
    def encoding(self) -> str:
        """Text encoding of this client's input and output (default: the setting)."""
        return self._encoding

    @encoding.setter
    def encoding(self, value: str) -> None:
        if value != self._encoding:
            "".encode(value)  # LookupError for an unknown codec, before anything changes
            self._encoding = value
            if self.connected:
                self.connection.set_encoding(value)

    @property
    def connected_for(self) -> float:
        """Seconds since the client connected."""
        return max(0.0, time.time() - self.connected_at)

    @property
    def session(self) -> dict[str, Any]:
        """A dict of JSON values kept with the client's state (carried by a restart)."""
        if self._session is None:
            self._session = {}
        return self._session

    # --- groups -------------------------------------------------------------

    @property
    def groups(self) -> frozenset[str]:
        """The names of the groups this client is in (see :meth:`join`)."""
        return frozenset(self._groups) if self._groups else frozenset()

    def join(self, group: str) -> bool:
        """Put this client in ``group`` (a non-empty str); False if it was already in it.

        ``service.write_to(group, ...)`` reaches it from now on. Membership is
        part of the client's state: a restart carries it.
        """
        group = check_group_name(group)
        groups = self._groups
        if groups is None:
            groups = self._groups = set()
        elif group in groups:
            return False
        groups.add(group)
        if self.group_index is not None:
            self.group_index.add(self, group)
        return True

    def leave(self, group: str) -> bool:
        """Take this client out of ``group``; False if it was not in it.

        A client leaves every group when it disconnects (``groups`` still
        names them in ``Disconnect`` handlers).
        """
        group = check_group_name(group)
        groups = self._groups
        if not groups or group not in groups:
            return False
        groups.discard(group)
        if self.group_index is not None:
            self.group_index.discard(self, group)
        return True

    # --- state as data ------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything hubbub keeps about this client, as JSON-able data.

        Application attributes that are not JSON values are left out, with
        one warning naming them.
        """
        state: dict[str, Any] = {
            "id": self.id,
            "address": list(self.address),
            "server": self.server.name,
            "connected_at": self.connected_at,
            "encoding": self._encoding,
            "newline": self.newline,
            "raw": self._raw,
            "echo": self._echo,
            "terminal": self.terminal,
            "terminal_types": list(self.terminal_types),
            "mtts": self.mtts,
            "utf8": self.utf8,
            "width": self.width,
            "height": self.height,
            "prompt_text": self.prompt_text,
            "transport": self.transport,
            "secure": self.secure,
            "screen_reader": self.screen_reader,
            "colors": self.colors,
            "gmcp_supports": list(self.gmcp_supports),
            "environ": dict(self.environ),
            "session": dict(self._session or {}),
            "groups": sorted(self._groups) if self._groups else [],
        }
        attributes: dict[str, Any] = {}
        dropped: list[str] = []
        for name, value in vars(self).items():
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                dropped.append(name)
            else:
                attributes[name] = value
        unsaved = tuple(sorted(dropped))
        if unsaved and unsaved != self._unsaved:
            log.warning(
                "%r: attribute(s) %s are not JSON values and were left out of its state",
                self,
                ", ".join(unsaved),
            )
        self._unsaved = unsaved
        state["attributes"] = attributes
        state["connection"] = self.connection.snapshot()
        return state

    def app_state(self) -> tuple[Any, ...]:
        """What application code changes about this client, for a cheap comparison.

        Its own attributes, session fields, groups, echo, prompt, encoding and
        line ending: the supervisor's checkpoint compares this with a copy
        from the last one and takes a :meth:`snapshot` only when it differs
        (or input arrived). The values are the live ones, not copies.
        """
        return (
            self.__dict__,
            self._session,
            self._groups,
            self._echo,
            self.prompt_text,
            self._encoding,
            self.newline,
            self.screen_reader,
            self.colors,
        )

    @classmethod
    def restore(cls, state: dict[str, Any], connection: Connection, server: Server) -> Client:
        """A client with the state :meth:`snapshot` gave, carried by ``connection``.

        The connection's own state (``state["connection"]``) is for the
        transport to take back; this sets the client's.
        """
        client = cls(
            connection,
            server,
            tuple(state["address"]),
            encoding=state.get("encoding", STATE_DEFAULTS["encoding"]),
            newline=state.get("newline", STATE_DEFAULTS["newline"]),
            raw=bool(state.get("raw", False)),
            client_id=state["id"],
            transport=str(state.get("transport", STATE_DEFAULTS["transport"])),
            secure=bool(state.get("secure", False)),
        )
        client._echo = bool(state.get("echo", True))
        client.connected_at = float(state.get("connected_at", client.connected_at))
        client.terminal = state.get("terminal")
        client.terminal_types = [str(name) for name in state.get("terminal_types", ())]
        client.mtts = int(state.get("mtts", 0))
        client.utf8 = bool(state.get("utf8", False))
        client.width = state.get("width")
        client.height = state.get("height")
        client.prompt_text = state.get("prompt_text")
        client.screen_reader = bool(state.get("screen_reader", False))
        client.colors = int(state.get("colors", 0))
        client.gmcp_supports = [str(m) for m in state.get("gmcp_supports", ())]
        client.environ = {str(k): str(v) for k, v in dict(state.get("environ", {})).items()}
        session = state.get("session")
        client._session = dict(session) if session else None
        groups = state.get("groups")
        if groups:
            client._groups = {check_group_name(group) for group in groups}
        for name, value in state.get("attributes", {}).items():
            setattr(client, name, value)
        return client

    def __repr__(self) -> str:
        host = self.address[0] if self.address else "?"
        port = self.address[1] if len(self.address) > 1 else "?"
        return f"<Client {self.id} {host}:{port}>"
