"""The event taxonomy.

Everything that happens in a service is an :class:`Event`. Handlers are bound
to event *classes*; binding to a base class catches its subclasses too, so the
tree below is part of the API: ``Service`` lifecycle events, ``Server``
listener events and ``Client`` connection events. Protocol-specific events
(telnet window size, terminal type) hang off their own base, :class:`Telnet`,
so a handler bound to :class:`Client` sees only ``Connect``, ``Receive`` and
``Disconnect`` whatever the transport.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .client import Client as Client_
    from .server import Remote as Remote_
    from .server import Server as Server_
    from .service import Service as Service_
    from .timers import Timer as Timer_

__all__ = [
    "Blocked",
    "Client",
    "Connect",
    "Connecting",
    "ConnectionError",
    "Data",
    "Datagram",
    "Disconnect",
    "Event",
    "HandlerError",
    "Idle",
    "ListenStart",
    "ListenStop",
    "Login",
    "Logout",
    "PostRestart",
    "PostStart",
    "PostStop",
    "PreRestart",
    "PreStart",
    "PreStop",
    "Receive",
    "Server",
    "Service",
    "Telnet",
    "TerminalType",
    "Tick",
    "Unreachable",
    "WindowSize",
]


class Event:
    """An event.

    Attributes come from the keyword arguments, so an event is a plain bag of
    data that handlers may read and amend for the handlers after them.
    Awaiting an event waits until its whole handler chain has finished; that
    is what :meth:`hubbub.Service.trigger` returns.
    """

    #: The attributes hubbub gives this event; a filter naming any other is refused.
    fields: ClassVar[tuple[str, ...]] = ()
    #: False for events that carry no input (a window size, a terminal name):
    #: they are handled at once, even while the client's input waits its turn.
    ordered: ClassVar[bool] = True

    #: Set by :meth:`stop`; later handlers are skipped.
    stopped: bool = False
    #: True while the handler chain is suspended or queued (set by the dispatcher).
    pending: bool = False
    _done: asyncio.Future[None] | None = None

    def __init__(self, **attrs: Any) -> None:
        self.__dict__.update(attrs)

    def stop(self) -> None:
        """Stop the event: no later handler receives it."""
        self.stopped = True

    def __await__(self) -> Generator[Any, None, Event]:
        if self.pending:
            done = self._done
            if done is None:
                done = self._done = asyncio.get_running_loop().create_future()
            yield from done.__await__()
        return self

    def settle(self) -> None:
        """The chain has ended: wake anyone awaiting the event (the dispatcher calls this)."""
        self.pending = False
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)

    @classmethod
    def all_fields(cls) -> frozenset[str]:
        """Every attribute hubbub gives this class of event, its bases' included."""
        found: set[str] = set()
        for klass in cls.__mro__:
            found.update(klass.__dict__.get("fields", ()))
        return frozenset(found)

    @classmethod
    def title(cls) -> str:
        """The first line of the class docstring, without reStructuredText markup."""
        doc = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        return _plain(doc)

    def __str__(self) -> str:
        doc = self.title()
        attrs = ", ".join(
            f"{key}={value!r}"
            for key, value in self.__dict__.items()
            if not key.startswith("_") and key not in ("stopped", "pending")
        )
        return f"{doc} ({attrs})" if attrs else doc

    def __repr__(self) -> str:
        return f"<{type(self).__qualname__} {self}>"


_ROLE = re.compile(r":[a-z]+:`~?([^`]*)`")


def _plain(text: str) -> str:
    """``:class:`Foo``` and ````bar```` as plain Foo and bar, for log lines."""
    return _ROLE.sub(r"\1", text).replace("``", "").replace("`", "")


# --- service lifecycle --------------------------------------------------------


class Service(Event):
    """Service event (service)."""

    fields: ClassVar[tuple[str, ...]] = ("service",)
    service: Service_


class PreStart(Service):
    """Service is starting: settings are final, nothing is listening yet."""


class PostStart(Service):
    """Service has started: every listener is open."""


class PreStop(Service):
    """Service is stopping: clients are still connected and writable."""


class PostStop(Service):
    """Service has stopped: every client and listener is closed."""


class PreRestart(Service):
    """Service is about to hand its clients to a new process."""


class PostRestart(Service):
    """Service was restarted and has taken its clients back (crashed)."""

    fields: ClassVar[tuple[str, ...]] = ("crashed",)
    #: True when the old process died and a supervisor restarted the service
    #: from its last checkpoint; False after a planned restart.
    crashed: bool = False


# --- listeners ----------------------------------------------------------------


class Server(Event):
    """Server event (server)."""

    fields: ClassVar[tuple[str, ...]] = ("service", "server")
    service: Service_
    server: Server_


class ListenStart(Server):
    """Server is listening."""


class ListenStop(Server):
    """Server is no longer listening."""


# --- clients --------------------------------------------------------------------


class Client(Event):
    """Client event (client, server)."""

    fields: ClassVar[tuple[str, ...]] = ("client", "server")
    client: Client_
    server: Server_


class Connect(Client):
    """Client has connected."""


class Receive(Client):
    """Client has sent a line (or, in raw mode, a chunk of bytes) as ``data``."""

    fields: ClassVar[tuple[str, ...]] = ("data",)
    data: Any  # str, or bytes in raw mode


class Disconnect(Client):
    """Client has disconnected."""


# --- telnet (not Client subclasses: only telnet connections raise them) -------


class Telnet(Event):
    """Telnet negotiation result (client, server).

    These carry no input, so they are handled as they arrive even while a
    handler of the same client waits for a line.
    """

    fields: ClassVar[tuple[str, ...]] = ("client", "server")
    ordered = False
    client: Client_
    server: Server_


class WindowSize(Telnet):
    """Client reported its window size (width, height)."""

    fields: ClassVar[tuple[str, ...]] = ("width", "height")
    width: int
    height: int


class TerminalType(Telnet):
    """Client reported its terminal type (terminal)."""

    fields: ClassVar[tuple[str, ...]] = ("terminal",)
    terminal: str


# --- datagrams (udp:// listeners carry no clients) ---------------------------------


class Datagram(Server):
    """A datagram arrived on a udp:// listener.

    ``data`` is the datagram exactly, as bytes (no decoding, no framing);
    ``address`` is the sender's (host, port), where ``event.server.send_to``
    can answer.
    """

    fields: ClassVar[tuple[str, ...]] = ("address", "data")
    address: tuple[Any, ...]
    data: bytes

    def __str__(self) -> str:
        # A datagram may be 64 KiB of anything: a log line shows its start only.
        data = self.__dict__.get("data", b"")
        shown = repr(data[:48]) + (f"… ({len(data)} bytes)" if len(data) > 48 else "")
        server = self.__dict__.get("server")
        name = getattr(server, "name", server)
        address = self.__dict__.get("address")
        return f"{self.title()} (server={name}, address={address}, data={shown})"


# --- outbound links ---------------------------------------------------------------


class Unreachable(Service):
    """An outbound link could not be opened (url, reason).

    Fired by :meth:`hubbub.Service.connect` before it raises
    :class:`hubbub.Unreachable`, and for each failed retry of a link opened
    with ``reconnect``. ``server`` is the link's :class:`hubbub.server.Remote`,
    so ``listen(events.Unreachable, handler, server="name")`` picks one link.
    """

    fields: ClassVar[tuple[str, ...]] = ("server", "url", "reason")
    server: Remote_
    url: str
    reason: str


# --- limits, blocking and errors ------------------------------------------------
# Connecting and Blocked are Server events: the peer is not a client (yet), so a
# handler bound to Client never sees one. HandlerError and ConnectionError hang
# off Event itself for the same reason. ``ConnectionError`` is the contract's
# name; inside this module it hides the builtin of that name (not used here).

#: Longest refusal reason sent to a peer, in characters; longer ones are cut.
MAX_REASON: int = 200
#: What a peer is told when a Connecting handler refuses it without a reason.
DEFAULT_REFUSAL = "Sorry, your connection was refused."

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\s]+")


def one_line(reason: object) -> str:
    """``reason`` as one printable line of at most :data:`MAX_REASON` characters."""
    text = _CONTROL.sub(" ", str(reason)).strip()
    if len(text) > MAX_REASON:
        text = text[: MAX_REASON - 3].rstrip() + "..."
    return text or DEFAULT_REFUSAL


class Connecting(Server):
    """A peer is connecting (client, server): call ``refuse(reason)`` to turn it away.

    Fires before ``Connect``. ``event.client`` already has its address and
    can be written to, but it is not in ``service.clients`` and cannot read
    input yet. After ``refuse()`` the rest of the chain is skipped; the peer
    gets the reason as one line and is closed, and ``Blocked`` fires.
    """

    fields: ClassVar[tuple[str, ...]] = ("client",)
    client: Client_
    #: Why the peer was refused (one line), or None while it is not.
    reason: str | None = None

    def refuse(self, reason: str = DEFAULT_REFUSAL) -> None:
        """Turn the peer away: it is told ``reason`` (made one line, at most 200 characters)."""
        self.reason = one_line(reason)
        self.stop()

    @property
    def refused(self) -> bool:
        return self.reason is not None


class Blocked(Server):
    """A peer was refused (address, server, reason)."""

    fields: ClassVar[tuple[str, ...]] = ("address", "reason")
    address: tuple[Any, ...]
    reason: str


class Data(Event):
    """Structured data from a client (client, server, package, data).

    From the browser client (a WebSocket JSON message ``{"data": [package,
    data]}``) and, on telnet, GMCP. ``package`` is a name such as
    "Char.Login"; ``data`` is any JSON value (None when the package came
    alone). Not a ``Client`` event (a handler bound to ``events.Client``
    sees only ``Connect``, ``Receive`` and ``Disconnect``), but handled in
    the client's order, between its lines.
    """

    fields: ClassVar[tuple[str, ...]] = ("client", "server", "package", "data")
    client: Client_
    server: Server_
    package: str
    data: Any


class Idle(Event):
    """A client sent nothing for ``idle_timeout`` seconds (client, server); it is closed next.

    Write a goodbye here if you like: it is sent before the close. Not a
    ``Client`` event (see ``Data``), handled in the client's order.
    """

    fields: ClassVar[tuple[str, ...]] = ("client", "server")
    client: Client_
    server: Server_


class HandlerError(Event):
    """A handler raised ``error`` while handling ``event``; it has been logged already.

    A handler of ``HandlerError`` that raises in turn is only logged, so an
    error can never set off another.
    """

    fields: ClassVar[tuple[str, ...]] = ("event", "handler", "error")
    event: Event
    handler: Any
    error: BaseException


class ConnectionError(Event):  # the contract's name (see above)
    """A client's connection failed (a reset, a failed TLS handshake); ``Disconnect`` follows.

    ``error`` is the exception the transport reported. A connection that
    ends cleanly (the peer closes, the service closes it) fires none. Not a
    ``Client`` event, so a handler bound to ``events.Client`` still sees
    only ``Connect``, ``Receive`` and ``Disconnect``; it is handled in the
    client's order, before its ``Disconnect``.
    """

    fields: ClassVar[tuple[str, ...]] = ("client", "server", "error")
    client: Client_
    server: Server_
    error: BaseException


class Tick(Event):
    """A timer fired (timer, service): the event its handler gets.

    Not a ``Service`` event, so handlers of the lifecycle never see ticks.
    ``timer`` is the :class:`~hubbub.timers.Timer` (``timer.cancel()`` from
    inside its own handler stops it).
    """

    fields: ClassVar[tuple[str, ...]] = ("timer", "service")
    timer: Timer_
    service: Service_


class Login(Event):
    """A client logged in to an account (client, server, account: its key).

    Raised by :mod:`hubbub.contrib.accounts`; not a ``Client`` event.
    """

    fields: ClassVar[tuple[str, ...]] = ("client", "server", "account")
    client: Client_
    server: Server_
    account: str


class Logout(Event):
    """A logged-in client left or was taken over (client, server, account, reason)."""

    fields: ClassVar[tuple[str, ...]] = ("client", "server", "account", "reason")
    client: Client_
    server: Server_
    account: str
    reason: str
