"""The base every client-carrying transport is built on, and what it needs from the service.

:class:`BaseConnection` owns everything that is the same for every transport:

* the **line stage**: framing, decoding, line editing, refusing over-long lines,
  and the fairness rule (at most :data:`LINES_PER_TURN` lines, or
  :data:`TURN_SECONDS` of handler time, per client per event-loop turn);
* **output**: holding writes while input is handled (:class:`WriteBatch`),
  backpressure, and cutting off a client that does not take its output;
* **flow control**: pausing reads while the client's inbox is full, its
  backlog is being worked through, it sends more than ``max_lines_per_second``
  or it waits to be let in (``Connecting`` handlers still running);
* closing with a timeout, the client's state as data, and rate-limited logs.

A concrete transport implements a few hooks: :meth:`~BaseConnection.write_bytes`,
:meth:`~BaseConnection.buffered`, :meth:`~BaseConnection.pause_reading`,
:meth:`~BaseConnection.resume_reading`, :meth:`~BaseConnection.close_transport`,
:meth:`~BaseConnection.abort_transport`, :meth:`~BaseConnection.watch_drain`,
and, when its wire format is not plain encoded text,
:meth:`~BaseConnection.prepare` / :meth:`~BaseConnection.prepare_raw` with the
:attr:`~BaseConnection.share_key` under which a broadcast's prepared bytes can
be shared between clients. It calls :meth:`~BaseConnection.attach` when the
peer is there, :meth:`~BaseConnection.receive_bytes` (a stream) or
:meth:`~BaseConnection.receive_line` (a message transport) with input,
:meth:`~BaseConnection.writing_paused` / :meth:`~BaseConnection.writing_resumed`
as the wire fills and drains, and :meth:`~BaseConnection.lost` at the end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar, Final, Protocol

from .. import events
from ..client import Client
from ..dispatch import Dispatcher, Inbox
from ..errors import Disconnected, TLSError
from ..limits import TokenBucket
from ..log_limit import LogLimit
from ..protocols.editing import edit_line
from ..protocols.lines import TOO_LONG, LineBuffer, LineTooLong
from ..server import Server
from ..settings import Settings

__all__ = [
    "LINES_PER_TURN",
    "STALL_SECONDS",
    "TURN_SECONDS",
    "BaseConnection",
    "Host",
    "WriteBatch",
]

log = logging.getLogger("hubbub.transport")

#: Most lines of one client handled in one event-loop turn; the rest wait
#: for the next turn, so one client's burst never holds up the others.
LINES_PER_TURN: Final = 64
#: Most handler time one client's lines get in one turn, in seconds.
TURN_SECONDS: Final = 0.002
#: A client over ``max_output_buffer`` that takes no output for this long is cut off.
STALL_SECONDS: Final = 1.0
#: Output queued while a client is behind may reach this many times
#: ``max_output_buffer`` before the client is cut off, reading or not.
OUTPUT_CEILING: Final = 8

# Reasons to stop reading from a peer (bits of BaseConnection._paused).
PAUSED_BY_INBOX: Final = 1
PAUSED_BY_BACKLOG: Final = 2
PAUSED_BY_RATE: Final = 4
PAUSED_BY_GATE: Final = 8
PAUSED_BY_RESTART: Final = 16

#: Line tokens a rate-limited connection takes from its bucket at a time, so
#: the clock is read once per this many lines, not per line.
TOKENS_AHEAD: Final = 16
#: A rate-limited connection resumes once it may send this share of a second's lines.
RATE_RESUME: Final = 0.1


class WriteBatch:
    """Output held back while the service handles input, written once per turn.

    While ``depth`` is non-zero (input is being handled), connections keep
    what handlers write to them. The connection whose input it is (the
    ``source``) writes its own held output as soon as that input is done: a
    reply to its sender has nothing to share a write with, and waiting would
    cost a pass of the event loop. Every other connection that was written
    to registers here, and :meth:`flush` runs once at the end of the loop's
    current turn, so the packets of several senders that arrived together
    share it: a message broadcast to a thousand clients, or replies to fifty
    pipelining clients, cost one ``send()`` per client per turn.
    """

    __slots__ = ("depth", "dirty", "scheduled", "source")

    #: A connection holding this many writes sends them at once, batch or not,
    #: so a burst of messages never piles up in memory.
    max_held = 256

    def __init__(self) -> None:
        self.depth = 0
        self.dirty: list[BaseConnection] = []
        self.scheduled = False
        self.source: BaseConnection | None = None

    def schedule(self) -> None:
        """Write what other connections hold at the end of this loop turn."""
        if not self.scheduled:
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
    """The service, as a transport sees it."""

    settings: Settings
    dispatcher: Dispatcher
    batch: WriteBatch

    def admit(self, server: Server, address: tuple[Any, ...]) -> str | None:
        """Called before anything is set up for a new peer: None, or why it is refused."""

    def screen(self, server: Server, address: tuple[Any, ...]) -> str | None:
        """The address rules, for a peer whose address is known only after :meth:`admit`."""

    def arrived(self, server: Server) -> None:
        """A peer :meth:`admit` let in is about to become a client, or failed to."""

    def status(self) -> tuple[int, float]:
        """(clients connected now, when the service started as a Unix time): for MSSP."""

    def connected(self, client: Client) -> str | asyncio.Future[str | None] | None:
        """Register a new client and raise ``Connect``; or say why it is refused.

        A future means ``Connecting`` handlers are still deciding: the
        connection holds the peer's input until it resolves.
        """

    def adopted(
        self, client: Client, replacing: Client | None, state: dict[str, Any] | None = None
    ) -> None:
        """Register a carried client (no ``Connect``), in place of ``replacing`` if given;
        put back what a restart saved with it in ``state`` (input, a running chain)."""

    def disconnected(self, client: Client, reason: str, error: BaseException | None = None) -> None:
        """The connection is gone (``reason`` says how): forget the client, raise ``Disconnect``.

        With ``error`` (the connection failed), ``ConnectionError`` fires first.
        """


class _Chunk(bytes):
    """A raw-mode chunk waiting in a backlog (lines there are plain bytes)."""

    __slots__ = ()


class _Data(tuple[str, Any]):
    """Structured data (package, data) in line with the input around it."""

    __slots__ = ()


def _saved_item(item: Any) -> list[Any]:
    """A backlog item as JSON: bytes as Latin-1 text, so any byte survives."""
    if type(item) is _Data:
        return ["data", item[0], item[1]]
    if isinstance(item, LineTooLong):
        return ["too_long"]
    kind = "chunk" if type(item) is _Chunk else "line"
    return [kind, bytes(item).decode("latin-1")]


def _restored_item(saved: list[Any]) -> Any:
    kind = saved[0]
    if kind == "data":
        return _Data((str(saved[1]), saved[2]))
    if kind == "too_long":
        return TOO_LONG
    data = str(saved[1]).encode("latin-1")
    return _Chunk(data) if kind == "chunk" else data


# A framed line, the marker of one that was too long, or (in a backlog) a raw chunk.
Line = bytes | LineTooLong


class BaseConnection:
    """What every transport that carries a client shares (see the module docstring)."""

    #: The transport's name, as ``client.transport`` will give it.
    kind: ClassVar[str] = "stream"
    #: ``client.transport`` once the connection is encrypted ("" if it cannot be).
    secure_kind: ClassVar[str] = ""
    #: The line ending new clients get (None: the ``newline`` setting).
    newline: ClassVar[str | None] = None

    __slots__ = (
        "_backlog",
        "_backlog_at",
        "_close_timer",
        "_drain",
        "_editing",
        "_encoding",
        "_framer",
        "_heard",
        "_held",
        "_hidden",
        "_idle_timer",
        "_keepalive_timer",
        "_limit",
        "_line_rate",
        "_logs",
        "_out",
        "_out_size",
        "_paused",
        "_progress",
        "_rate_timer",
        "_raw",
        "_receive",
        "_silent",
        "_slow",
        "_stall_timer",
        "_tokens",
        "_wire_mark",
        "admitted",
        "batch",
        "carried",
        "client",
        "closing",
        "ended",
        "failure",
        "frozen",
        "given_id",
        "held_outside",
        "host",
        "hung_up",
        "inbox",
        "is_lost",
        "prelude",
        "secure",
        "send_wire",
        "server",
        "share_key",
    )

    def __init__(self, host: Host, server: Server) -> None:
        settings = host.settings
        self.host = host
        self.server = server
        self.batch = host.batch
        self.client: Client | None = None
        self.inbox: Inbox | None = None
        #: A saved client this connection takes on when it starts (see :meth:`carry`).
        self.carried: dict[str, Any] | None = None
        #: True while this connection holds a place the host's admit() reserved.
        self.admitted = False
        #: True once close() or abort() was called, or the peer went away.
        self.closing = False
        #: True once the peer is gone for good.
        self.is_lost = False
        #: True between :meth:`freeze` and :meth:`hand_over` (or :meth:`thaw`).
        self.frozen = False
        #: How the connection ended (for the log), once it is known.
        self.ended: str | None = None
        #: The exception the connection failed with (a reset, a TLS error), if it did.
        self.failure: BaseException | None = None
        #: True once this side ended the connection on purpose (:meth:`close`
        #: called before anything else ended it, or :meth:`abort`): an outbound
        #: link closed so is not reopened.
        self.hung_up = False
        #: True while the wire is encrypted (TLS); set before the client is made.
        self.secure = False
        #: True when the supervisor holds a copy of this socket (and, if
        #: ``secure``, terminates its TLS): it can cross a restart either way.
        self.held_outside = False
        #: The id the new client gets (the supervisor's), or None: a fresh one.
        self.given_id: str | None = None
        self._receive = host.dispatcher.receive
        self._framer = LineBuffer(settings.max_line_length)
        self._editing = settings.line_editing
        self._encoding = settings.encoding
        self._raw = server.endpoint.raw
        self._hidden = False
        self._limit = settings.max_output_buffer
        self._paused = 0
        self._backlog: list[Any] | None = None
        self._backlog_at = 0
        # Writes held while input is handled (see WriteBatch), or None.
        self._held: list[bytes] | None = None
        # Output queued by us while the wire is full, or None while it is not.
        self._out: deque[bytes] | None = None
        self._out_size = 0
        self._stall_timer: asyncio.TimerHandle | None = None
        self._wire_mark = 0
        self._progress = False
        self._drain: list[asyncio.Future[None]] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._logs: dict[str, LogLimit] | None = None
        # max_lines_per_second: a token bucket, and tokens taken from it ahead.
        # A link this service opened is a server it chose to talk to: no limit.
        rate = 0 if server.outbound else settings.max_lines_per_second
        self._line_rate: TokenBucket | None = None
        self._tokens = 0
        self._rate_timer: asyncio.TimerHandle | None = None
        if rate:
            burst = settings.lines_burst
            self._line_rate = TokenBucket(rate, burst, time.monotonic(), tokens=0.0)
            self._tokens = burst
        # keepalive and idle_timeout: timers started once the client is there.
        self._keepalive_timer: asyncio.TimerHandle | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._heard = False  # input arrived since the last idle check
        self._silent = 0  # idle checks in a row that found none
        # True when input takes the slower path: raw mode, a line rate limit, or
        # an idle timeout (which notes each packet there; the fast path never does).
        self._slow = self._raw or rate > 0 or settings.idle_timeout > 0
        #: The peer's real address when a PROXY protocol header gave one
        #: (read before the transport existed); None: the socket's own.
        self.prelude: tuple[Any, ...] | None = None
        #: Prepared output is shared between connections with equal keys.
        self.share_key: tuple[Any, ...] = (self.kind, self._encoding)
        #: Hands bytes to the wire with no checks (a transport may set it to its
        #: socket's own write); used for the reply to a packet, once per packet.
        self.send_wire: Callable[[bytes], None] = self.write_bytes

    # ================================================================= hooks
    def write_bytes(self, data: bytes) -> None:
        """Hand bytes to the wire (may call :meth:`writing_paused` before it returns)."""
        raise NotImplementedError

    def buffered(self) -> int:
        """Bytes handed to the wire that it has not sent yet."""
        raise NotImplementedError

    def pause_reading(self) -> None:
        raise NotImplementedError

    def resume_reading(self) -> None:
        raise NotImplementedError

    def close_transport(self) -> None:
        """Close after the wire has sent what it holds."""
        raise NotImplementedError

    def abort_transport(self) -> None:
        """Close at once."""
        raise NotImplementedError

    def watch_drain(self, on: bool) -> None:
        """While on, :meth:`writing_resumed` must be called only once the wire is empty."""
        raise NotImplementedError

    def prepare(self, text: str, prompt: bool = False) -> bytes:
        """Text as this transport's wire bytes (telnet escapes 0xFF, WebSocket frames…)."""
        return text.encode(self._encoding, "replace")

    def prepare_raw(self, data: bytes) -> bytes:
        """Application bytes as wire bytes."""
        return data

    @property
    def supports_data(self) -> bool:
        """Whether :meth:`send_data` reaches the peer (False unless a transport says so)."""
        return False

    def send_data(self, package: str, data: Any) -> None:
        """Structured data for the peer; a transport that cannot carry it drops it."""

    def hidden_line_ended(self) -> None:
        """A line was typed while input is hidden (telnet echoes its line ending)."""

    def describe(self, client: Client) -> None:
        """Set what the transport knows of a new client's terminal, before ``Connect``."""

    def opened(self) -> None:
        """The wire is there, the client not yet (telnet sends its proposals here)."""

    async def start_tls(self) -> None:
        """Upgrade to TLS in place (STARTTLS); transports that cannot raise TLSError."""
        raise TLSError(f"a {self.kind} connection cannot start TLS")

    def transport_state(self) -> dict[str, Any]:
        """State of the concrete transport to save with the client (options…)."""
        return {}

    def fileno(self) -> int | None:
        """The socket's descriptor, for a restart to hand over (None: there is none)."""
        return None

    def why_not_carried(self) -> str | None:
        """Why this connection cannot cross to a new process, or None when it can.

        A TLS session lives in a library object that cannot cross a process
        (the supervisor, which terminates TLS, is the way to keep those).
        """
        if self.secure and not self.held_outside:
            return "an encrypted (TLS) connection cannot cross a restart"
        return None

    def stream_ending(self) -> None:
        """A restart is about to hand the socket over: end what lives in a library
        object (telnet finishes its MCCP stream here)."""

    def stream_resumed(self) -> None:
        """The handover was called off, or this is the new process: start again what
        :meth:`stream_ending` ended (from the saved state, without renegotiating)."""

    def restore_transport_state(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`transport_state` gave."""

    @property
    def transport_name(self) -> str:
        """What the connection is now, as ``client.transport`` gives it."""
        return self.secure_kind if self.secure else self.kind

    # ============================================================ the client
    def carry(self, state: dict[str, Any]) -> None:
        """Start as the client saved in ``state`` instead of as a new one.

        Called before the wire is up (a socket handed over by a restart): the
        connection then takes the saved client back with :meth:`adopt`, sends
        no greeting and raises no ``Connect``.
        """
        self.carried = state

    def start(self, address: tuple[Any, ...]) -> None:
        """The wire is up: carry the saved client, or greet a new peer and attach it."""
        carried = self.carried
        if carried is not None:
            self.carried = None
            self.adopt(carried)
        else:
            self.opened()
            self.attach(address)
        if self.client is not None and not self.server.outbound:
            self._start_timers()

    # ------------------------------------------------------- keepalive and idle
    def keepalive_bytes(self) -> bytes:
        """What keeps an idle connection open (telnet: ``IAC NOP``); b"": no keepalive."""
        return b""

    def _start_timers(self) -> None:
        settings = self.host.settings
        loop = asyncio.get_running_loop()
        if settings.keepalive and self.keepalive_bytes():
            self._keepalive_timer = loop.call_later(settings.keepalive, self._keepalive)
        if settings.idle_timeout:
            self._idle_timer = loop.call_later(settings.idle_timeout / 2, self._idle_check)

    def _keepalive(self) -> None:
        self._keepalive_timer = None
        if self.closing:
            return
        self.write_bytes(self.keepalive_bytes())
        self._keepalive_timer = asyncio.get_running_loop().call_later(
            self.host.settings.keepalive, self._keepalive
        )

    def _idle_check(self) -> None:
        """Every idle_timeout / 2: two checks in a row without input make the client idle."""
        self._idle_timer = None
        client = self.client
        if self.closing or client is None:
            return
        if self._heard:
            self._heard = False
            self._silent = 0
        else:
            self._silent += 1
            if self._silent >= 2:
                timeout = self.host.settings.idle_timeout
                self.ended = f"idle for {timeout:g} s (idle_timeout)"
                self.host.dispatcher.trigger(events.Idle(client=client, server=client.server))
                self.close()
                return
        self._idle_timer = asyncio.get_running_loop().call_later(
            self.host.settings.idle_timeout / 2, self._idle_check
        )

    def attach(self, address: tuple[Any, ...]) -> Client | None:
        """The peer is there: make its client and raise ``Connect`` (None if refused)."""
        client = self.client
        if client is not None:  # given by resume(): an outbound link reopened
            self._rejoin(client, address)
            return self._join(client)
        settings = self.host.settings
        client = Client(
            self,
            self.server,
            address,
            encoding=self._encoding,
            newline=self.newline or settings.newline,
            raw=self._raw,
            transport=self.transport_name,
            secure=self.secure,
            client_id=self.given_id,
        )
        client.screen_reader = settings.screen_reader_default
        self.describe(client)
        return self._join(client)

    def resume(self, client: Client) -> None:
        """Carry ``client``, the same object, once the wire is up (an outbound link reopened).

        Unlike :meth:`carry` (a saved state, no ``Connect``), this is a new
        link for a party the application already knows: the client keeps its
        id and attributes, and ``Connect`` fires again.
        """
        self.client = client

    def _rejoin(self, client: Client, address: tuple[Any, ...]) -> None:
        client.connection = self
        client.transport = self.transport_name
        client.secure = self.secure
        client.address = address
        client.connected = True
        client.connected_at = time.time()
        self._encoding = client.encoding
        self._raw = client.raw
        self.share_key = (self.kind, self._encoding)

    def adopt(self, state: dict[str, Any]) -> Client:
        """Take on a client saved by :meth:`Client.snapshot`: no ``Connect``.

        The client keeps its id, its attributes, its negotiated options and
        its unfinished input line, and the service lists it from now on. If
        this connection already had a client, the saved one replaces it
        (the old one is forgotten without ``Disconnect``).
        """
        replacing = self.client
        client = Client.restore(state, self, self.server)
        saved = state.get("connection", {})
        self._framer.restore(saved.get("lines", {}))
        self._encoding = client.encoding
        self._raw = client.raw
        idle = self.host.settings.idle_timeout > 0
        self._slow = client.raw or self._line_rate is not None or idle
        self._hidden = not client.echo
        self.share_key = (self.kind, self._encoding)
        self.restore_transport_state(saved.get("transport", {}))  # (may set its own key)
        self.client = client
        inbox = client.inbox = Inbox(client)
        inbox.flow = self._inbox_flow
        self.inbox = inbox
        self.host.adopted(client, replacing, state)
        self.stream_resumed()
        backlog = saved.get("backlog")
        if backlog and not self.closing:
            # Lines this client sent before the restart, handled before anything new.
            self._backlog = [_restored_item(item) for item in backlog]
            self._backlog_at = 0
            self._continue()
        return client

    def _join(self, client: Client) -> Client | None:
        if self.admitted:
            self.admitted = False
            self.host.arrived(self.server)
        self.client = client
        inbox = client.inbox = Inbox(client)
        inbox.flow = self._inbox_flow
        self.inbox = inbox
        refusal = self.host.connected(client)
        if refusal is None:
            return client
        if not isinstance(refusal, str):  # Connecting handlers are still deciding
            self._backlog = []  # input is held (in order) until the peer is let in
            self._backlog_at = 0
            self._pause(PAUSED_BY_GATE)
            refusal.add_done_callback(lambda decision: self._decided(client, decision))
            return client
        client.connected = False
        self.client = None
        self.refuse(refusal)
        return None

    def _decided(self, client: Client, decision: asyncio.Future[str | None]) -> None:
        """The host decided about a peer that was waiting to be let in."""
        if self.client is not client or self.closing or decision.cancelled():
            return
        refusal = decision.result()
        if refusal is not None:
            client.connected = False
            self.client = None
            self.refuse(refusal)
            return
        if self._backlog:
            self._continue()  # what the peer sent meanwhile, after Connect
        else:
            self._backlog = None
        self._resume(PAUSED_BY_GATE)

    def refuse(self, reason: str) -> None:
        """Tell the peer why it is turned away, then close (a remote server is not told)."""
        if not self.server.outbound:
            self.write_bytes(self.prepare(reason + "\r\n"))
        self.close()

    def state_mark(self) -> tuple[Any, ...]:
        """A cheap value that changes whenever :meth:`snapshot` would (compared by the
        supervisor's checkpoints, which take a snapshot only then)."""
        backlog = self._backlog
        queued = (len(backlog), self._backlog_at) if backlog else None
        return (self._framer.mark(), queued, self.transport_mark())

    def transport_mark(self) -> Any:
        """The concrete transport's part of :meth:`state_mark` (None: its state is fixed)."""
        return None

    def snapshot(self) -> dict[str, Any]:
        """The connection's part of the client's state (see :meth:`Client.snapshot`).

        Input framed but not yet handled (a backlog) is part of it, so a
        restart loses no line a client sent.
        """
        state: dict[str, Any] = {
            "kind": self.kind,
            "lines": self._framer.snapshot(),
            "transport": self.transport_state(),
        }
        backlog = self._backlog
        if backlog:
            state["backlog"] = [_saved_item(item) for item in backlog[self._backlog_at :]]
        return state

    # ================================================================ restart
    def hold(self) -> None:
        """A restart is coming: stop reading (unread input stays in the kernel), stop the
        keepalive and idle timers, and send everything held or queued."""
        self._pause(PAUSED_BY_RESTART)
        for timer in (self._keepalive_timer, self._idle_timer):
            if timer is not None:
                timer.cancel()
        self._keepalive_timer = self._idle_timer = None
        if not self.closing:
            self.write_out()
            self.stream_ending()

    @property
    def drained(self) -> bool:
        """True when no output waits, here or in the transport."""
        return self.closing or (not self._held and self._out is None and not self.buffered())

    def freeze(self) -> dict[str, Any] | None:
        """The client's state for the next process; from now on nothing is read, handled
        or written here (None: no client, or it is already closing)."""
        client = self.client
        if client is None or self.closing:
            return None
        self.write_out()
        state = client.snapshot()
        self.closing = True
        self.frozen = True
        return state

    def thaw(self) -> None:
        """The restart was called off: serve the client again, as before :meth:`hold`."""
        if self.frozen:
            self.frozen = False
            self.closing = self.is_lost
        if self.closing or self.client is None:
            return
        self.stream_resumed()
        self._resume(PAUSED_BY_RESTART)
        if self._backlog:
            asyncio.get_running_loop().call_soon(self._continue)
        if not self.server.outbound:
            self._start_timers()

    def hand_over(self) -> None:
        """The next process has the socket: let go of it without ``Disconnect``.

        Closing a descriptor another process also holds sends nothing to the
        peer, so the client does not notice.
        """
        self.client = None
        self.closing = True
        if not self.is_lost:
            self.abort_transport()

    # ================================================================= input
    def receive_bytes(self, data: bytes) -> None:
        """Stream input (transport framing already removed): frame it into lines."""
        if self.closing:  # (a connection without a client is always closing)
            return
        if self._slow:
            self._heard = True
            if self._raw:
                self._receive_chunk(data)
                return
            lines = self._framer.receive_data(data)
            if not lines:
                return
            # max_lines_per_second: one line spends a token taken ahead (no
            # clock read); more lines at once are metered by _lines().
            if self._backlog is None and len(lines) == 1 and self._line_rate is not None:
                if self._tokens:
                    self._tokens -= 1
                elif not self._grant(1):
                    self._throttle(lines, 0)
                    return
        else:
            lines = self._framer.receive_data(data)
            if not lines:
                return
        if self._backlog is not None:
            self._backlog.extend(lines)
            return
        # What _batched() does, inline: this runs for every packet.
        batch = self.batch
        if not batch.depth:
            batch.source = self
        batch.depth += 1
        try:
            if len(lines) == 1:
                # One typed line per packet is what people send: _line(), inline.
                line = lines[0]
                if line is TOO_LONG:
                    self._too_long()
                else:
                    text = line.decode(self._encoding, "replace")  # type: ignore[union-attr]
                    if self._editing and not text.isprintable():
                        text = edit_line(text)
                    if self._hidden:
                        self.hidden_line_ended()
                    self._receive(self.inbox, text)  # type: ignore[arg-type]
            else:
                self._lines(lines, 0)
        finally:
            batch.depth -= 1
            if not batch.depth:
                batch.source = None
                held = self._held
                if held is not None:
                    self._held = None
                    if held:
                        out = held[0] if len(held) == 1 else b"".join(held)
                        if self._out is None and not self.closing:
                            # _put(), inline. A reset found by this write is
                            # reported by the transport before the next packet.
                            self.send_wire(out)
                        else:
                            self._put(out)
                if batch.dirty:
                    batch.schedule()

    def end_line(self) -> None:
        """The peer marked its unfinished line as a prompt (telnet GA/EOR): deliver it now."""
        if self._raw or self.closing or not self._framer.buffered:
            return
        self.receive_line(self._framer.take_partial())

    def receive_line(self, line: bytes) -> None:
        """One whole line from a message transport (no framing needed)."""
        if self.closing or self.client is None:
            return
        self._heard = True
        item = line if len(line) <= self._framer.max_line_length else TOO_LONG
        self._take(item, self._line)

    def _take(self, item: Any, deliver: Callable[[Any], None]) -> None:
        """One input item from a message transport: delivered now, or after what waits."""
        if self._backlog is not None:
            self._backlog.append(item)
        elif self._line_rate is None:
            self._batched(deliver, item)
        else:
            self._batched(self._lines, [item])

    def _receive_chunk(self, data: bytes) -> None:
        if self._backlog is not None:
            self._backlog.append(_Chunk(data))
            return
        self._batched(self._deliver_chunk, data)

    def receive_data(self, package: str, data: Any) -> None:
        """Structured data from the peer: ``Data``, in order with its lines and under the
        same flow control (a data message counts as a line for ``max_lines_per_second``)."""
        if self.closing or self.client is None:
            return
        self._heard = True
        self._take(_Data((package, data)), self._deliver_data)

    def _deliver_data(self, item: tuple[str, Any]) -> None:
        client = self.client
        if client is not None:
            package, data = item
            self.host.dispatcher.trigger(
                events.Data(client=client, server=client.server, package=package, data=data)
            )

    def _deliver_chunk(self, data: bytes) -> None:
        self._receive(self.inbox, bytes(data))  # type: ignore[arg-type]

    def _batched(self, handle: Callable[[Any], None], item: Any) -> None:
        """Run ``handle(item)`` as input handling: output is held until it is done.

        (:meth:`receive_bytes`, the path of every packet, does the same inline.)
        """
        batch = self.batch
        if not batch.depth:
            batch.source = self
        batch.depth += 1
        try:
            handle(item)
        finally:
            batch.depth -= 1
            if not batch.depth:
                batch.source = None
                self.uncork()
                if batch.dirty:
                    batch.schedule()

    def _line(self, line: Line) -> None:
        """Decode, edit and deliver one framed line."""
        if isinstance(line, LineTooLong):
            self._too_long()
            return
        text = line.decode(self._encoding, "replace")
        if self._editing and not text.isprintable():
            text = edit_line(text)
        if self._hidden:
            self.hidden_line_ended()
        self._receive(self.inbox, text)  # type: ignore[arg-type]

    def _lines(self, lines: list[Any], start: int = 0) -> None:
        """Deliver ``lines[start:]``, leaving what this turn has no room for as a backlog."""
        stop = start + LINES_PER_TURN
        n = len(lines)
        if self._line_rate is not None and start < n:
            stop = start + self._grant(min(n, stop) - start)
            if stop == start:
                self._throttle(lines, start)
                return
        deadline = time.perf_counter() + TURN_SECONDS
        i = start
        while i < n:
            if self.closing:
                return  # close() from a handler: later input is not acted on
            item = lines[i]
            i += 1
            if type(item) is _Chunk:
                self._deliver_chunk(item)
            elif type(item) is _Data:
                self._deliver_data(item)
            else:
                self._line(item)
            # The clock is read every 8 lines: cheap, and still within the budget.
            if i < n and (i >= stop or (not i & 7 and time.perf_counter() > deadline)):
                if self._line_rate is not None:
                    self._tokens += stop - i  # granted but not delivered this turn
                self._defer(lines, i)
                return

    def _defer(self, lines: list[Any], at: int) -> None:
        """Keep the rest for the next turn and stop reading until it is done."""
        self._backlog = lines
        self._backlog_at = at
        self._pause(PAUSED_BY_BACKLOG)
        asyncio.get_running_loop().call_soon(self._continue)

    def _continue(self) -> None:
        lines, at = self._backlog, self._backlog_at
        if lines is None or self.frozen:  # (frozen: the backlog is in the saved state)
            return
        self._backlog = None
        if self.closing or self.client is None:
            return
        self._batched(lambda start: self._lines(lines, start), at)
        if self._backlog is None:
            self._resume(PAUSED_BY_BACKLOG | PAUSED_BY_RATE)

    # ------------------------------------------------------- max_lines_per_second
    def _grant(self, want: int) -> int:
        """Spend up to ``want`` line tokens (taking more from the bucket if short)."""
        tokens = self._tokens
        if tokens < want:
            bucket = self._line_rate
            assert bucket is not None
            tokens += bucket.take(max(want - tokens, TOKENS_AHEAD), time.monotonic(), tokens)
        granted = want if want < tokens else tokens
        self._tokens = tokens - granted
        return granted

    def _throttle(self, lines: list[Any], at: int) -> None:
        """Over the line rate: keep the rest, stop reading, go on when tokens are back.

        Nothing is dropped: the sender is held back by TCP while reading is paused.
        """
        self._backlog = lines
        self._backlog_at = at
        self._pause(PAUSED_BY_RATE)
        if self._rate_timer is None:
            bucket = self._line_rate
            assert bucket is not None
            delay = bucket.wait(max(1.0, bucket.rate * RATE_RESUME), time.monotonic(), self._tokens)
            self._rate_timer = asyncio.get_running_loop().call_later(delay, self._unthrottle)
            self.log_limited(
                "rate",
                logging.INFO,
                "%r sends more than %g lines a second (max_lines_per_second); "
                "its input is slowed down",
                self.client,
                bucket.rate,
            )

    def _unthrottle(self) -> None:
        self._rate_timer = None
        self._continue()

    def _too_long(self) -> None:
        client = self.client
        assert client is not None
        limit = self._framer.max_line_length
        self.log_limited(
            "too_long", logging.WARNING, "%r sent a line over %d bytes; discarded", client, limit
        )
        if self.server.outbound:
            return  # a remote server would take the notice for a command
        prompt = client.prompt_text
        client.write(f"Line too long (over {limit} bytes); it was ignored.")
        if prompt is not None:
            client.prompt(prompt)  # the question still waits for its answer

    # --------------------------------------------------------- flow control
    def _pause(self, reason: int) -> None:
        was = self._paused
        self._paused = was | reason
        if not was and not self.closing:
            self.pause_reading()

    def _resume(self, reason: int) -> None:
        if not self._paused & reason:
            return
        self._paused &= ~reason
        if not self._paused and not self.closing:
            self.resume_reading()

    def _inbox_flow(self, reading: bool) -> None:
        """The inbox is full (False) or has room again (True)."""
        if reading:
            self._resume(PAUSED_BY_INBOX)
        else:
            self._pause(PAUSED_BY_INBOX)

    # ================================================================ output
    def send_text(self, text: str, prompt: bool = False) -> None:
        self.send_prepared(self.prepare(text, prompt))

    def send_raw(self, data: bytes) -> None:
        self.send_prepared(self.prepare_raw(data))

    def send_prepared(self, data: bytes) -> None:
        """Queue wire bytes: held while input is handled, else written now."""
        held = self._held
        if held is not None:  # output is being held: join it, keeping order
            held.append(data)
            if len(held) >= self.batch.max_held:
                self._held = None
                self._put(b"".join(held))
                self._held = []
        elif self.batch.depth and not self.closing:
            self._held = [data]
            if self.batch.source is not self:
                self.batch.dirty.append(self)
        else:
            self._put(data)

    def uncork(self) -> None:
        """Write out what a batch held back (one write for all of it)."""
        held = self._held
        self._held = None
        if held:
            self._put(held[0] if len(held) == 1 else b"".join(held))

    def _put(self, data: bytes) -> None:
        if self.closing:
            return
        out = self._out
        if out is None:
            self.write_bytes(data)
            return
        # The wire is full: queue here, where it can be counted and dropped.
        out.append(data)
        self._out_size += len(data)
        if self._out_size > self._limit * OUTPUT_CEILING:
            self._cut_off(
                f"{self._out_size + self.buffered()} bytes of output unsent, more than "
                f"{OUTPUT_CEILING} times max_output_buffer ({self._limit})"
            )

    def writing_paused(self) -> None:
        """The wire is full: queue output here and watch that the client takes it."""
        if self._out is None:
            self._out = deque()
            self._out_size = 0
        if self._stall_timer is None and not self.closing:
            self._wire_mark = self.buffered()
            self._progress = False
            self._stall_timer = asyncio.get_running_loop().call_later(
                STALL_SECONDS, self._check_stall
            )

    def writing_resumed(self) -> None:
        """The wire has room again: hand it what was queued."""
        self._progress = True
        out = self._out
        self._out = None
        if out:
            self._out_size = 0
            self.write_bytes(out[0] if len(out) == 1 else b"".join(out))
        if self._drain and self._out is None and not self.buffered():
            self._wake_drain()

    def _check_stall(self) -> None:
        """Cut off a client over the output limit that took nothing since the last check."""
        self._stall_timer = None
        if self.closing:
            return
        wire = self.buffered()
        unsent = wire + self._out_size
        if self._out is None and unsent <= self._limit:
            return  # caught up; a new pause starts a new watch
        if wire < self._wire_mark:
            self._progress = True
        if unsent > self._limit and not self._progress:
            self._cut_off(
                f"{unsent} bytes of output unsent (max_output_buffer {self._limit}) "
                f"and none taken for {STALL_SECONDS:g} s"
            )
            return
        self._wire_mark = wire
        self._progress = False
        self._stall_timer = asyncio.get_running_loop().call_later(STALL_SECONDS, self._check_stall)

    def _cut_off(self, why: str) -> None:
        """Drop what the client has not taken, tell it why if it can still hear, close.

        The client is released at once (``Disconnect`` runs now); the socket
        gets ``close_timeout`` to deliver the notice before it is aborted.
        """
        log.warning("%r is not reading: %s; disconnecting", self.client, why)
        self.ended = "cut off: it was not reading its output"
        self._out = None
        self._out_size = 0
        self._held = None
        if self.client is not None:
            self.client.connected = False
        if not self.server.outbound:  # (a remote server would take it for a command)
            self.write_bytes(
                self.prepare("\r\n*** Disconnected: output was not being read fast enough. ***\r\n")
            )
        self.close()
        self._release()

    def hold_output(self) -> None:
        """The wire is about to be replaced (STARTTLS): queue output until :meth:`release_output`.

        What was written before goes to the current wire first, in order.
        """
        self.write_out()
        self.writing_paused()

    @property
    def reading_paused(self) -> bool:
        """Whether input is held back now (flow control, a rate, a gate)."""
        return bool(self._paused)

    def write_out(self) -> None:
        """Hand the wire everything held and queued, at once (before the stream changes:
        STARTTLS, MCCP)."""
        self.uncork()
        out = self._out
        if out:
            self._out = None
            self._out_size = 0
            self.write_bytes(b"".join(out))

    def release_output(self) -> None:
        """The new wire is up: keep reads paused if they were, send what was queued."""
        if self._paused:
            self.pause_reading()
        if self._drain:
            self.watch_drain(True)
        self.writing_resumed()

    async def flush(self) -> None:
        """Wait until everything queued has been handed to the operating system."""
        self.uncork()
        if not self.is_lost and (self._out or self.buffered()):
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._drain is None:
                self._drain = []
                self.watch_drain(True)
            self._drain.append(waiter)
            await waiter
        else:
            await asyncio.sleep(0)  # a flush always lets the loop run
        if self.is_lost:
            raise Disconnected()

    def _wake_drain(self) -> None:
        waiters, self._drain = self._drain, None
        if not self.is_lost:
            self.watch_drain(False)
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    # ========================================================== modes
    def set_echo(self, enabled: bool) -> None:
        self._hidden = not enabled

    def set_raw(self, raw: bool) -> None:
        self._raw = raw
        self._slow = raw or self._line_rate is not None or self.host.settings.idle_timeout > 0
        if raw:
            partial = self._framer.take_partial()
            if partial:
                # Delivered after the running handler, before the next read.
                asyncio.get_running_loop().call_soon(self._receive_chunk, partial)

    def set_encoding(self, encoding: str) -> None:
        self._encoding = encoding
        self.share_key = (self.kind, encoding)

    # ========================================================== endings
    def close(self) -> None:
        """Send what is held and queued, then close; cut off after ``close_timeout``."""
        if self.closing or self.is_lost:
            return
        self.write_out()
        self.closing = True
        if self.ended is None:
            self.ended = "closed by the service"
            self.hung_up = True
        self.close_transport()
        # A peer that never reads must not hold the socket open forever.
        self._close_timer = asyncio.get_running_loop().call_later(
            self.host.settings.close_timeout, self._close_expired
        )

    def _close_expired(self) -> None:
        """The peer did not take its last output within ``close_timeout``: cut it off."""
        self._close_timer = None
        if self.is_lost:
            return
        log.warning(
            "%r did not take its last output (%d bytes) in %.1fs; cut off",
            self.client,
            self.buffered(),
            self.host.settings.close_timeout,
        )
        self.ended = "cut off: it did not take its last output"
        self.abort_transport()

    def abort(self) -> None:
        """Close at once, dropping anything not yet sent."""
        self._held = None
        self._out = None
        self.hung_up = True
        if not self.is_lost:
            self.closing = True
            self.abort_transport()

    def broken(self) -> None:
        """A write found the connection dead: the client is disconnected from now on.

        ``Disconnect`` follows when the transport reports the loss (on the
        loop's next turn); until then writes are dropped and ``flush()``
        raises :class:`hubbub.Disconnected`.
        """
        self.closing = True
        self.ended = "connection reset"
        self._held = None
        self._out = None
        if self.client is not None:
            self.client.connected = False

    def lost(self, exc: BaseException | None) -> None:
        """The connection is gone: release the client (``ConnectionError`` if it failed)."""
        if exc is not None and self.failure is None:
            self.failure = exc
        if self.ended is None:
            self.ended = "closed by the client" if exc is None else f"connection lost: {exc}"
        self.closing = True
        self.is_lost = True
        self._backlog = None
        self._held = None
        self._out = None
        for timer in (
            self._close_timer,
            self._stall_timer,
            self._keepalive_timer,
            self._idle_timer,
        ):
            if timer is not None:
                timer.cancel()
        self._close_timer = self._stall_timer = None
        self._keepalive_timer = self._idle_timer = None
        if self._rate_timer is not None:
            self._rate_timer.cancel()
            self._rate_timer = None
        if self._drain:
            self._wake_drain()
        self._release()

    def _release(self) -> None:
        """Hand the client back to the service, once (``Disconnect``)."""
        client = self.client
        if client is not None:
            self.client = None
            if self._logs:
                for kind, limit in self._logs.items():
                    limit.summary(log, logging.INFO, "%r: %s", client, kind)
            self.host.disconnected(client, self.ended or "closed", self.failure)

    # ========================================================== logging
    def log_limited(self, kind: str, level: int, message: str, *args: Any) -> None:
        """Log a line this peer can cause over and over, at a bounded rate."""
        if self._logs is None:
            self._logs = {}
        limit = self._logs.get(kind)
        if limit is None:
            limit = self._logs[kind] = LogLimit()
        limit.log(log, level, message, *args)
