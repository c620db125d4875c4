"""earwax_server's API on hubbub: change the import, keep the application.

An application written for earwax_server::

    from hubbub.compat.earwax import Server   # was: from earwax_server import Server

    s = Server()

    @s.event
    def on_data(ctx, data):
        ctx.send_string(data.decode().strip().upper())

    s.run(1234)

runs unchanged on a :class:`hubbub.Service` and hubbub's event loop. What
earwax_server does is kept: ``on_data`` gets each line as the bytes that
arrived, line ending (``\\n`` or ``\\r\\n``) included, and an unfinished last
line before ``on_disconnect``; handlers are run newest first and
``EVENT_HANDLED`` stops the rest; ``send_string`` / ``send_bytes`` add
``\\r\\n``; a context's logger is named ``host:port`` and the default handlers
log what they always logged. What hubbub adds: output never blocks, a line
over ``max_line_length`` bytes is refused instead of growing memory, a
handler that raises is logged and the connection stays up, and the whole
service is there to grow into (``server.service``, ``ctx.client``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, Final, TypeVar, overload

from .. import events
from ..client import Client
from ..log_limit import LogLimit
from ..service import Service

__all__ = [
    "EVENT_HANDLED",
    "EVENT_UNHANDLED",
    "ConnectionContext",
    "EventNameError",
    "Server",
]

log = logging.getLogger("hubbub.compat.earwax")

#: Return this from a handler to stop the handlers after it.
EVENT_HANDLED: Final = True
#: What a handler returns (None) to let the next one run.
EVENT_UNHANDLED: Final = None

EventHandler = Callable[..., bool | None]
F = TypeVar("F", bound=Callable[..., Any])

#: The events every server has (``register_event_type`` adds more).
STANDARD_EVENTS: Final = ("on_block", "on_connect", "on_disconnect", "on_data")


class EventNameError(Exception):
    """An event name is not registered (or, to ``register_event_type``, already is)."""


class _ContextLogger(logging.Logger):
    """A connection's logger, outside logging's registry.

    ``logging.getLogger(name)`` keeps every logger it makes for the life of
    the process; one per ``host:port`` would grow without end on a server
    that sees many connections. This one is forgotten with its context, and
    asks its parent's level afresh each time (nothing would clear a cache).
    """

    def isEnabledFor(self, level: int) -> bool:
        if self.disabled or self.manager.disable >= level:
            return False
        return level >= self.getEffectiveLevel()


def context_logger(name: str) -> logging.Logger:
    """A logger named ``name`` whose records go where the root logger's go."""
    logger = _ContextLogger(name)
    logger.parent = logging.getLogger()
    return logger


class ConnectionContext:
    """One connection, as earwax handlers see it: ``ctx`` in ``on_data(ctx, data)``.

    ``client`` is the hubbub :class:`~hubbub.Client` behind it, for code
    that wants more than earwax offered. There is no ``socket``: hubbub owns
    it (``send_raw`` writes bytes as they are).
    """

    __slots__ = (
        "_closed",
        "_discarding",
        "_partial",
        "address",
        "client",
        "hostname",
        "logger",
        "port",
    )

    def __init__(self, client: Client) -> None:
        self.client = client
        self.address: tuple[Any, ...] = tuple(client.address)
        #: The peer's host (its address as text).
        self.hostname: str = str(self.address[0]) if self.address else ""
        #: The peer's port.
        self.port: int = int(self.address[1]) if len(self.address) > 1 else 0
        #: Named ``hostname:port``; it logs through the root logger's handlers.
        self.logger: logging.Logger = context_logger(f"{self.hostname}:{self.port}")
        self._partial = b""  # an unfinished line, at most max_line_length bytes
        self._discarding = False  # inside a line that was too long
        self._closed = False

    @property
    def socket(self) -> Any:
        raise AttributeError(
            "hubbub owns the socket: use ctx.send_raw(data) to write bytes, "
            "ctx.disconnect() to close, or ctx.client for everything else"
        )

    def send_string(self, string: str) -> None:
        """Send ``string`` encoded as UTF-8, followed by ``\\r\\n``."""
        self.client.write_raw((string + "\r\n").encode())

    def send_bytes(self, buf: bytes, encoding: str | None = None) -> None:
        """Send already-encoded ``buf`` followed by ``\\r\\n`` in ``encoding``.

        ``encoding`` defaults to Python's default encoding (UTF-8).
        """
        terminator = "\r\n".encode(encoding or sys.getdefaultencoding())
        self.client.write_raw(bytes(buf) + terminator)

    def send_raw(self, data: bytes) -> None:
        """Send ``data`` as it is."""
        self.client.write_raw(data)

    def disconnect(self) -> None:
        """Close the connection once what was sent has gone; ``on_disconnect`` follows.

        Input that arrives after this is not delivered.
        """
        self._closed = True
        self.client.close()

    def take_lines(self, data: bytes, limit: int) -> tuple[list[bytes], int]:
        """Split input into whole lines, each ending with ``\\n``, as earwax read them.

        Returns the lines and how many lines were refused for being longer
        than ``limit`` bytes (line ending not counted). An unfinished line is
        kept for the next call, but never more than ``limit`` bytes of it.
        """
        lines: list[bytes] = []
        refused = 0
        buffer = self._partial + data if self._partial else data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False  # the refused line ends here
            else:
                size = end - start
                if size and buffer[end - 1] == 0x0D:
                    size -= 1
                if size > limit:
                    refused += 1
                else:
                    lines.append(buffer[start : end + 1])
            start = end + 1
        rest = buffer[start:]
        if self._discarding:
            rest = b""
        elif len(rest) > limit + 1:  # (room for the \r of a \r\n still to come)
            rest = b""
            self._discarding = True
            refused += 1
        self._partial = rest
        return lines, refused

    def take_partial(self) -> bytes:
        """The unfinished line, handed over once (at disconnect, as earwax did)."""
        partial, self._partial = self._partial, b""
        return b"" if self._discarding else partial

    def __repr__(self) -> str:
        return f"<ConnectionContext {self.hostname}:{self.port}>"


class Server:
    """An earwax-style server: handlers by event name, run newest first.

    ``Server(**settings)`` takes any hubbub setting; ``service`` is the
    :class:`hubbub.Service` underneath. ``connections`` lists the contexts
    that have connected (after their ``on_connect``) and not yet left.
    Subclass and override :meth:`can_connect` to turn peers away.
    """

    def __init__(self, **settings: Any) -> None:
        #: The connected contexts, in the order they arrived.
        self.connections: list[ConnectionContext] = []
        #: The hubbub service this server runs on.
        self.service = Service(**settings)
        self._events: dict[str, list[EventHandler]] = {}
        self._contexts: dict[Client, ConnectionContext] = {}
        self._failures: dict[str, LogLimit] = {}
        self._too_long = LogLimit()
        for handler in (self.on_block, self.on_connect, self.on_disconnect, self.on_data):
            self.register_event_type(handler.__name__)
            self.event(handler)
        self.service.listen(events.Connect, self._connected)
        self.service.listen(events.Receive, self._received)
        self.service.listen(events.Disconnect, self._disconnected)

    # --- events ---------------------------------------------------------------

    def register_event_type(self, name: str) -> str:
        """Add an event type that handlers can be bound to; returns ``name``.

        Raises :class:`EventNameError` if ``name`` is already registered.
        """
        if name in self._events:
            raise EventNameError(f"event type {name!r} is already registered")
        self._events[name] = []
        return name

    def dispatch_event(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Call ``name``'s handlers, newest first, until one returns ``EVENT_HANDLED``.

        Raises :class:`EventNameError` if ``name`` is not registered. An
        exception from a handler propagates to the caller (the later
        handlers do not run).
        """
        handlers = self._events.get(name)
        if handlers is None:
            raise EventNameError(f"{name!r} is not a registered event type")
        for handler in tuple(handlers):
            if handler(*args, **kwargs) is EVENT_HANDLED:
                break

    @overload
    def event(self, value: str) -> Callable[[F], F]: ...

    @overload
    def event(self, value: F) -> F: ...

    def event(self, value: Any) -> Any:
        """Bind a handler, in front of those bound before it.

        ``@server.event`` takes the event name from the function's name;
        ``@server.event("on_data")`` names it. Raises
        :class:`EventNameError` for an event type that is not registered.
        """
        if isinstance(value, str):
            name = value

            def bind(handler: F) -> F:
                return self._bind(name, handler)

            return bind
        return self._bind(value.__name__, value)

    def _bind(self, name: str, handler: F) -> F:
        handlers = self._events.get(name)
        if handlers is None:
            raise EventNameError(f"{name!r} is not a registered event type")
        handlers.insert(0, handler)
        return handler

    def can_connect(self, ctx: ConnectionContext) -> bool:
        """True to let ``ctx`` in; False to turn it away (``on_block`` runs, then it is closed).

        Override it in a subclass. Runs before ``on_connect``; the context
        can already be sent to (a reason, say).
        """
        return True

    # --- the default handlers (the oldest, so they run last) --------------------

    def on_block(self, ctx: ConnectionContext) -> None:
        """A peer :meth:`can_connect` turned away (it is closed after this)."""
        ctx.logger.info("Connection blocked.")

    def on_connect(self, ctx: ConnectionContext) -> None:
        """A peer was let in."""
        ctx.logger.info("Connection established.")

    def on_disconnect(self, ctx: ConnectionContext) -> None:
        """A connection ended (either side closed it)."""
        ctx.logger.info("Disconnected.")

    def on_data(self, ctx: ConnectionContext, data: bytes) -> None:
        """A line arrived, as bytes, line ending included."""

    # --- running ----------------------------------------------------------------

    def run(self, port: int, host: str = "", **settings: Any) -> None:
        """Listen on ``host`` (all interfaces if empty) and ``port``; blocking.

        Ctrl-C (SIGINT) or SIGTERM stops the server cleanly: every
        connection is closed and gets its ``on_disconnect``. Keyword
        arguments are hubbub settings; a ``HUBBUB_LISTEN`` environment
        variable (or config file) overrides where it listens.
        """
        self.service.run(listen=[listen_url(host, port)], **settings)

    # --- hubbub's events, told as earwax's ------------------------------------

    def _connected(self, event: events.Connect) -> None:
        client = event.client
        client.raw = True  # earwax handlers get bytes as they came
        ctx = ConnectionContext(client)
        if not self.can_connect(ctx):
            event.stop()  # nothing else hears of a blocked peer
            self._dispatch("on_block", ctx)
            ctx.disconnect()
            return
        self._contexts[client] = ctx
        self._dispatch("on_connect", ctx)
        self.connections.append(ctx)

    def _received(self, event: events.Receive) -> None:
        ctx = self._contexts.get(event.client)
        if ctx is None or ctx._closed:
            return
        data = event.data
        if isinstance(data, str):  # someone set client.raw back to False
            data = data.encode(event.client.encoding) + b"\r\n"
        limit = self.service.settings.max_line_length
        lines, refused = ctx.take_lines(data, limit)
        for line in lines:
            if ctx._closed:
                break  # disconnect() from a handler: later input is not acted on
            self._dispatch("on_data", ctx, line)
        if refused and not ctx._closed:
            self._too_long.log(
                log, logging.WARNING, "%r sent a line over %d bytes; discarded", ctx, limit
            )
            for _ in range(refused):
                ctx.client.write(f"Line too long (over {limit} bytes); it was ignored.")

    def _disconnected(self, event: events.Disconnect) -> None:
        ctx = self._contexts.pop(event.client, None)
        if ctx is None:
            return  # blocked: it never connected, as far as earwax handlers know
        partial = ctx.take_partial()
        if partial:
            self._dispatch("on_data", ctx, partial)
        if ctx in self.connections:
            self.connections.remove(ctx)
        self._dispatch("on_disconnect", ctx)

    def _dispatch(self, name: str, *args: Any) -> None:
        """Dispatch one of the standard events: a handler that raises is logged, not fatal."""
        try:
            self.dispatch_event(name, *args)
        except Exception:
            limit = self._failures.get(name)
            if limit is None:
                limit = self._failures[name] = LogLimit()
            limit.log(log, logging.ERROR, "%s handler failed on %r", name, args[0], exc_info=True)

    def __repr__(self) -> str:
        return f"<earwax Server on {self.service!r}>"


def listen_url(host: str, port: int) -> str:
    """The hubbub listener URL for earwax's ``run(port, host)``."""
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int, not {type(port).__name__}")
    host = host or "0.0.0.0"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"tcp://{host}:{port}?raw=1"
