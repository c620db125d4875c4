"""TCP transports: ``tcp://`` (plain socket) and ``telnet://``.

Thin asyncio glue: a protocol callback per read, the sans-IO framers doing
the parsing, the dispatcher called directly. There is no task per
connection and none per line.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

from .. import events
from ..client import Client
from ..protocols import telnet
from ..protocols.lines import TOO_LONG, LineBuffer
from ..server import Server
from .base import Host

__all__ = ["StreamConnection", "TelnetConnection", "open_listener"]

log = logging.getLogger("hubbub.transport")

BACKLOG = 2048


class StreamConnection(asyncio.Protocol):
    """One client on a plain TCP socket (``tcp://``)."""

    __slots__ = (
        "_batch",
        "_close_timeout",
        "_close_timer",
        "_closing",
        "_corked",
        "_drain",
        "_feed",
        "_host",
        "_limit",
        "_lines",
        "_paused",
        "_raw",
        "_server",
        "_transport",
        "_warned_long",
        "client",
    )

    def __init__(self, host: Host, server: Server) -> None:
        settings = host.settings
        self._host = host
        self._server = server
        self._lines = LineBuffer(settings.max_line_length)
        self._limit = settings.max_output_buffer
        self._close_timeout = settings.close_timeout
        self._feed = host.dispatcher.feed
        self._batch = host.batch
        self._raw = server.endpoint.raw
        self._transport: asyncio.Transport | None = None
        self._closing = False
        self._paused = False
        self._drain: list[asyncio.Future[None]] | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        # Output held back while the service handles a packet (see WriteBatch).
        self._corked: list[bytes] | None = None
        self._warned_long = False
        self.client: Client | None = None

    # --- asyncio callbacks ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._transport = transport
        self._opened(transport)
        settings = self._host.settings
        client = Client(
            self,
            self._server,
            tuple(transport.get_extra_info("peername") or ("?", 0)),
            encoding=settings.encoding,
            newline=settings.newline,
        )
        client._raw = self._raw
        client._inbox.flow = self._flow
        self.client = client
        if not self._host.accept(client):
            self.client = None

    def _opened(self, transport: asyncio.Transport) -> None:
        """Transport-specific greeting, before ``Connect`` runs."""

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client is None or self._closing:
            return
        batch = self._batch
        batch.depth += 1
        try:
            if self._raw:
                self._feed(client, data)
                return
            feed = self._feed
            for line in self._lines.feed(data):
                if self._closing:
                    break  # close() from a handler: later input is not acted on
                if line is TOO_LONG:
                    self._too_long(client)
                else:
                    if not client._echo:
                        self._hidden_line_ended()
                    # Framed before any switch to raw: still a line. The
                    # encoding is read per line so a handler can change it.
                    feed(client, line.decode(client.encoding, "replace"))  # type: ignore[union-attr]
        finally:
            batch.depth -= 1
            if not batch.depth:
                batch.done(self)

    def eof_received(self) -> bool | None:
        # A half-closed peer is finished with us; close our side too.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._wake_drain()
        client = self.client
        if client is not None:
            self.client = None
            self._host.release(client)

    def pause_writing(self) -> None:
        self._paused = True
        self._check_buffer()

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drain()

    # --- Connection interface (used by Client) ---------------------------------

    def _write(self, data: bytes) -> None:
        """Queue bytes as they are (no transport-level escaping)."""
        corked = self._corked
        if corked is not None:  # output is being held: join it, keeping order
            corked.append(data)
            if len(corked) >= self._batch.max_held:
                self._corked = None
                self._put(b"".join(corked))
                self._corked = []
        elif self._batch.depth and not self._closing:
            self._corked = [data]
            self._batch.dirty.append(self)
        else:
            self._put(data)

    send = _write
    send_escaped = _write
    escapes_iac = False

    def _put(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        transport.write(data)
        if self._paused:
            self._check_buffer()

    def uncork(self) -> None:
        """Write out what a batch held back (one write for all of it)."""
        corked = self._corked
        self._corked = None
        if corked:
            self._put(corked[0] if len(corked) == 1 else b"".join(corked))

    def close(self) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        self.uncork()
        self._closing = True
        transport.close()
        # A peer that never reads must not hold the socket open forever.
        self._close_timer = asyncio.get_running_loop().call_later(
            self._close_timeout, transport.abort
        )

    def abort(self) -> None:
        self._corked = None
        if self._transport is not None:
            self._closing = True
            self._transport.abort()

    async def flush(self) -> None:
        self.uncork()
        transport = self._transport
        if transport is None or transport.get_write_buffer_size() == 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._drain is None:
            self._drain = []
        self._drain.append(waiter)
        # With both marks at 0 asyncio pauses us now and resumes us only once
        # the buffer is empty: a drain notification without polling.
        transport.set_write_buffer_limits(high=0, low=0)
        await waiter

    def set_echo(self, enabled: bool) -> None:
        """Plain TCP has no way to ask the peer to stop echoing."""

    def _hidden_line_ended(self) -> None:
        """A line was typed while echo is off (nothing to do without telnet)."""

    def set_raw(self, raw: bool) -> None:
        self._raw = raw
        if raw:
            partial = self._lines.take_partial()
            client = self.client
            if partial and client is not None:
                # Deliver after the running handler, before the next read.
                asyncio.get_running_loop().call_soon(self._feed, client, partial)

    # --- helpers ----------------------------------------------------------------

    def _flow(self, reading: bool) -> None:
        """Stop reading while the client's queue is full; TCP then holds the sender back."""
        transport = self._transport
        if transport is None or self._closing:
            return
        if reading:
            transport.resume_reading()
        else:
            transport.pause_reading()

    def _check_buffer(self) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        size = transport.get_write_buffer_size()
        if size > self._limit:
            log.warning(
                "%r is not reading: %d bytes of output unsent (limit %d); disconnecting",
                self.client,
                size,
                self._limit,
            )
            self.abort()

    def _wake_drain(self) -> None:
        if not self._drain:
            return
        waiters, self._drain = self._drain, None
        if self._transport is not None and not self._closing:
            self._transport.set_write_buffer_limits()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _too_long(self, client: Client) -> None:
        limit = self._lines.max_line_length
        level = logging.DEBUG if self._warned_long else logging.WARNING
        self._warned_long = True
        log.log(level, "%r sent a line over %d bytes; discarded", client, limit)
        client.write(f"Line too long (over {limit} bytes); it was ignored.")


class TelnetConnection(StreamConnection):
    """One client speaking telnet (``telnet://``): negotiation is handled here."""

    __slots__ = ("_telnet",)

    escapes_iac = True

    def __init__(self, host: Host, server: Server) -> None:
        super().__init__(host, server)
        self._telnet = telnet.TelnetProtocol()

    def _opened(self, transport: asyncio.Transport) -> None:
        self._telnet.initiate()
        transport.write(self._telnet.data_to_send())

    def data_received(self, data: bytes) -> None:
        if self.client is None or self._closing:
            return
        proto = self._telnet
        data = proto.receive_data(data)
        if proto.events:
            self._telnet_events(proto.events)
            proto.events = []
        reply = proto.data_to_send()
        if reply:
            self._write(reply)
        if data:
            super().data_received(data)

    def send(self, data: bytes) -> None:
        if b"\xff" in data:
            data = data.replace(b"\xff", b"\xff\xff")
        self._write(data)

    def set_echo(self, enabled: bool) -> None:
        # We "will echo" and then never do: the peer stops echoing locally.
        self._telnet.request_local(telnet.ECHO, not enabled)
        self._telnet.events.clear()
        reply = self._telnet.data_to_send()
        if reply:
            self._write(reply)

    def _hidden_line_ended(self) -> None:
        # While we "will echo", echoing is ours: the typed characters stay
        # hidden, but the line ending is echoed so output starts on a new line.
        self._write(b"\r\n")

    def _telnet_events(self, found: list[telnet.TelnetEvent]) -> None:
        client = self.client
        assert client is not None
        trigger = self._host.dispatcher.trigger
        for item in found:
            if isinstance(item, telnet.WindowSize):
                client.width, client.height = item.width, item.height
                trigger(
                    events.WindowSize(
                        client=client, server=client.server, width=item.width, height=item.height
                    )
                )
            elif isinstance(item, telnet.TerminalType):
                client.terminal = item.name
                trigger(
                    events.TerminalType(client=client, server=client.server, terminal=item.name)
                )
            elif isinstance(item, telnet.ProtocolError):
                log.info("%r telnet protocol error: %s", client, item.message)
            elif isinstance(item, telnet.Command) and item.command == telnet.AYT:
                self.send(b"\r\n[Yes]\r\n")
            else:
                log.debug("%r telnet: %s", client, item)


async def open_listener(host: Host, server: Server) -> asyncio.AbstractServer:
    """Start listening on ``server.endpoint``; the address is filled in on the server."""
    endpoint = server.endpoint
    protocol: Any = TelnetConnection if endpoint.scheme == "telnet" else StreamConnection
    handle = await asyncio.get_running_loop().create_server(
        lambda: protocol(host, server),
        endpoint.host,
        endpoint.port,
        backlog=BACKLOG,
        reuse_address=True,
    )
    server._opened(handle)
    return handle
