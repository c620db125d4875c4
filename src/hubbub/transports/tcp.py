"""``tcp://`` (and ``tls://``): lines (or raw chunks) over a TCP socket.

Thin asyncio glue over :class:`~hubbub.transports.base.BaseConnection`: one
protocol callback per read, no task per connection and none per line.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from ..server import Server
from . import tls
from .base import BaseConnection, Host
from .listener import StreamListener, open_tcp_listener

__all__ = ["StreamConnection", "open_listener"]


class StreamConnection(BaseConnection, asyncio.Protocol):
    """One client on a stream socket."""

    kind = "tcp"
    secure_kind = "tls"

    __slots__ = ("transport",)

    def __init__(self, host: Host, server: Server) -> None:
        super().__init__(host, server)
        self.transport: asyncio.Transport | None = None

    # --- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.send_wire = self.transport.write
        address = self.peer(transport.get_extra_info("peername"))
        prelude, self.prelude = self.prelude, None
        self.start(prelude or address)  # prelude: the address a PROXY header gave

    def peer(self, peername: Any) -> tuple[Any, ...]:
        """The peer's address as ``client.address`` gives it: (host, port)."""
        return tuple(peername[:2]) if isinstance(peername, tuple) else (str(peername or "?"), 0)

    # asyncio calls the line stage directly: one call less per packet.
    data_received = BaseConnection.receive_bytes

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost(exc)

    def pause_writing(self) -> None:
        self.writing_paused()

    def resume_writing(self) -> None:
        self.writing_resumed()

    async def start_tls(self) -> None:
        await tls.start_tls(self)

    # --- hooks of BaseConnection ---------------------------------------------------
    def send_text(self, text: str, prompt: bool = False) -> None:
        # prepare(), inline: this runs for every write.
        data = text.encode(self._encoding, "replace")
        if self._held is None and self.batch.source is self:
            self._held = [data]  # the sender's first reply: held until its packet is done
        else:
            self.send_prepared(data)

    def write_bytes(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.is_lost:
            return
        transport.write(data)
        if transport.is_closing() and not self.closing:
            self.broken()  # the write failed: the peer reset the connection

    def fileno(self) -> int | None:
        transport = self.transport
        if transport is None or self.is_lost:
            return None
        sock = transport.get_extra_info("socket")
        return None if sock is None else int(sock.fileno())

    def buffered(self) -> int:
        transport = self.transport
        return 0 if transport is None or self.is_lost else transport.get_write_buffer_size()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.is_lost:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.is_lost:
            self.transport.resume_reading()

    def close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort_transport(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def watch_drain(self, on: bool) -> None:
        if self.transport is None:
            return
        if on:
            # With both marks at 0 the transport pauses us now and resumes us
            # only once its buffer is empty: a drain signal without polling.
            self.transport.set_write_buffer_limits(high=0, low=0)
        else:
            self.transport.set_write_buffer_limits()


async def open_listener(host: Host, server: Server) -> StreamListener:
    return await open_tcp_listener(host, server, lambda: StreamConnection(host, server))
