"""``telnet://`` (and ``telnets://``): lines over TCP with telnet negotiation.

The sans-IO :class:`~hubbub.protocols.telnet.TelnetProtocol` does the
protocol; this module feeds it, escapes output, and turns what it reports
into application events through one table, :data:`RECORD_EVENTS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from .. import events
from ..client import Client
from ..protocols import telnet
from ..protocols.telnet import gmcp, mccp, msdp, mssp
from ..server import Server
from ..terminal import learn_environ, learn_terminal_types
from .base import Host
from .listener import StreamListener, open_tcp_listener
from .tcp import StreamConnection

__all__ = ["RECORD_EVENTS", "TelnetConnection", "open_listener"]

log = logging.getLogger("hubbub.transport")


def _window_size(client: Client, record: Any) -> events.Event:
    client.width, client.height = record.width, record.height
    return events.WindowSize(
        client=client, server=client.server, width=record.width, height=record.height
    )


def _terminal_type(client: Client, record: Any) -> events.Event:
    learn_terminal_types(client, record.names, record.mtts)
    return events.TerminalType(client=client, server=client.server, terminal=record.name)


#: Pieces of compressed input (MCCP3) handed on per loop turn, at most.
MORE_PER_TURN = 16

#: What a telnet keepalive is: a no-operation command every client ignores.
KEEPALIVE = bytes((telnet.IAC, telnet.NOP))

#: GMCP Core.Hello keys (any case) and the environ names they fill.
HELLO_KEYS = {"client": "CLIENT_NAME", "version": "CLIENT_VERSION"}


def _gmcp_facts(client: Client, proto: telnet.TelnetProtocol, record: Any) -> None:
    """What a GMCP message says about the client itself (Core.Hello, Core.Supports)."""
    package = record.package.lower()
    if package.startswith("core.supports."):
        client.gmcp_supports = gmcp.supports(proto)
    elif package == "core.hello" and isinstance(record.data, dict):
        for key, value in record.data.items():
            name = HELLO_KEYS.get(str(key).lower())
            if name is not None and isinstance(value, str | int | float):
                client.environ[name] = str(value)[:64]


#: What each protocol record does: update the client's facts, make its event.
RECORD_EVENTS: dict[type, Callable[[Client, Any], events.Event]] = {
    telnet.WindowSize: _window_size,
    telnet.TerminalType: _terminal_type,
}


class TelnetConnection(StreamConnection):
    """One client speaking telnet."""

    kind = "telnet"
    secure_kind = "telnets"

    __slots__ = ("_deflate", "telnet")

    def __init__(self, host: Host, server: Server, options: telnet.OptionSet) -> None:
        super().__init__(host, server)
        # A GMCP message may be as long as a line.
        self.telnet = telnet.TelnetProtocol(
            options, max_subnegotiation=max(1024, host.settings.max_line_length)
        )
        self._deflate: telnet.Compressor | None = None  # MCCP2's stream, while on

    def opened(self) -> None:
        self.telnet.start()
        assert self.transport is not None
        self.transport.write(self.telnet.data_to_send())

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        proto = self.telnet
        data = proto.receive_data(data)
        if proto.pending:
            self._hand_on(data)
        elif data:
            self.receive_bytes(data)  # (the common case, without a call more)
        if proto.more:  # compressed input (MCCP3) is handed on in pieces
            super().pause_reading()
            asyncio.get_running_loop().call_soon(self._more_input)

    def _hand_on(self, data: bytes) -> None:
        """Application data and what the protocol reported with it, in their order."""
        if self.telnet.pending:
            marks = self._protocol_output()
            if marks:
                self._marked(data, marks)
                return
        if data:
            self.receive_bytes(data)

    def _more_input(self) -> None:
        """The next pieces of compressed input, while nothing holds input back.

        The socket stays paused until the last piece is handed on, so a
        decompression bomb costs one piece of memory at a time and its
        over-long line is refused by the line framer like any other.
        """
        proto = self.telnet
        for _ in range(MORE_PER_TURN):
            if self.closing or self.reading_paused or not proto.more:
                break
            self._hand_on(proto.receive_data(b""))
        if self.closing or self.reading_paused:
            return  # resume_reading() carries on
        if proto.more:
            asyncio.get_running_loop().call_soon(self._more_input)
        else:
            super().resume_reading()

    def resume_reading(self) -> None:
        if self.telnet.more:
            asyncio.get_running_loop().call_soon(self._more_input)
        else:
            super().resume_reading()

    def _marked(self, data: bytes, marks: list[tuple[int, Callable[[], object]]]) -> None:
        """Data with records that keep their place in it: the lines before each one are
        delivered first (a prompt's end, client role; a GMCP message between lines)."""
        start = 0
        for at, act in marks:
            if at > start:
                self.receive_bytes(data[start:at])
                start = at
            act()
        if start < len(data):
            self.receive_bytes(data[start:])

    def _protocol_output(self) -> list[tuple[int, Callable[[], object]]] | None:
        """Act on the records the protocol produced, and send its replies.

        Returns the records that must wait for their place among the lines
        (where a prompt ended, where a GMCP message came), if any.
        """
        proto = self.telnet
        records = proto.events_received()
        reply = proto.data_to_send()
        if reply:
            self.send_prepared(reply)
        client = self.client
        if client is None:
            return None
        trigger = self.host.dispatcher.trigger
        marks: list[tuple[int, Callable[[], object]]] | None = None
        for record in records:
            make = RECORD_EVENTS.get(type(record))
            if type(record) is telnet.GmcpMessage:
                if marks is None:
                    marks = []
                _gmcp_facts(client, proto, record)
                marks.append((record.at, partial(self.receive_data, record.package, record.data)))
            elif make is not None:
                log.debug("%r telnet: %s", client, record)
                trigger(make(client, record))
            elif type(record) is telnet.Prompt:
                if marks is None:
                    marks = []
                marks.append((record.at, self.end_line))
            elif type(record) is telnet.MsdpMessage:
                if marks is None:
                    marks = []
                marks.append((record.at, partial(self.receive_data, "MSDP", record.variables)))
            elif type(record) is telnet.Environ:
                log.debug("%r telnet: %s", client, record)
                learn_environ(client, record.variables)
            elif type(record) is telnet.Compress:
                self._compress(record.on)
            elif type(record) is telnet.CharsetAccepted:
                log.debug("%r telnet: %s", client, record)
                client.encoding = "utf-8"  # the only set we ask for or accept
            elif (
                type(record) is telnet.OptionChanged
                and record.option == telnet.MSSP
                and record.local
                and record.enabled
            ):
                self._send_mssp()
            elif isinstance(record, telnet.ProtocolError) and record.fatal:
                log.warning("%r telnet: %s; disconnecting", client, record.message)
                self.ended = f"telnet protocol error: {record.message}"
                self.close()
            elif isinstance(record, telnet.ProtocolError):
                self.log_limited(
                    "telnet", logging.INFO, "%r telnet protocol error: %s", client, record.message
                )
            else:
                log.debug("%r telnet: %s", client, record)
        return marks

    # --- output --------------------------------------------------------------------
    def send_text(self, text: str, prompt: bool = False) -> None:
        # prepare(), inline: this runs for every write.
        data = text.encode(self._encoding, "replace")
        if 255 in data:  # an int: ``b"\xff" in data`` is far slower (see lines.py)
            data = telnet.escape(data)
        if prompt:
            data += telnet.prompt_mark(self.telnet, self.host.settings.prompt_mark)
        if self._held is None and self.batch.source is self:
            self._held = [data]  # the sender's first reply: held until its packet is done
        else:
            self.send_prepared(data)

    def prepare(self, text: str, prompt: bool = False) -> bytes:
        data = telnet.escape(text.encode(self._encoding, "replace"))
        if prompt:
            data += telnet.prompt_mark(self.telnet, self.host.settings.prompt_mark)
        return data

    def prepare_raw(self, data: bytes) -> bytes:
        return telnet.escape(data)

    def keepalive_bytes(self) -> bytes:
        return KEEPALIVE

    def _send_mssp(self) -> None:
        """A crawler agreed to MSSP: the settings' table with NAME, PLAYERS, UPTIME live."""
        players, started = self.host.status()
        table: dict[str, Any] = {"NAME": "hubbub"}
        table.update(self.host.settings.mssp)
        table.update(PLAYERS=players, UPTIME=int(started))
        self.telnet.send_subnegotiation(telnet.MSSP, mssp.encode(table))
        self.send_prepared(self.telnet.data_to_send())

    # --- compression (MCCP2) ---------------------------------------------------------------
    def write_bytes(self, data: bytes) -> None:
        deflate = self._deflate
        if deflate is not None:
            data = deflate.compress(data)  # one sync flush per write: per turn
        super().write_bytes(data)

    def _compress(self, on: bool) -> None:
        """Start or end MCCP2 at this point of the output stream."""
        if on == (self._deflate is not None) or self.closing:
            return
        self.write_out()  # what was written before goes out as it was meant to
        if on:
            super().write_bytes(mccp.START)  # in one write, uncompressed
            self._deflate = telnet.Compressor()
            self.send_wire = self.write_bytes
        else:
            deflate, self._deflate = self._deflate, None
            assert deflate is not None
            super().write_bytes(deflate.finish())
            if self.transport is not None:
                self.send_wire = self.transport.write

    # --- a restart ------------------------------------------------------------------------
    def stream_ending(self) -> None:
        """MCCP2 is finished (``Z_FINISH``) before a handover; the option stays agreed.

        A stream continued after a crash is not finished (its checksum cannot
        be right): the next process continues it too.
        """
        if self._deflate is not None and not self._deflate.continuing:
            self._compress(False)

    def stream_resumed(self) -> None:
        """MCCP2 that was on starts again with ``IAC SB 86 IAC SE`` alone (no new WILL)."""
        if self.telnet.state.get(mccp.STATE_KEY) == "on" and self._deflate is None:
            self._compress(True)

    # --- structured data (GMCP, MSDP) ------------------------------------------------------
    @property
    def supports_data(self) -> bool:
        proto = self.telnet
        return proto.local_enabled(telnet.GMCP) or proto.local_enabled(telnet.MSDP)

    def send_data(self, package: str, data: Any) -> None:
        """GMCP if agreed; the ``MSDP`` package goes as MSDP if that is agreed (else as
        GMCP, "MSDP over GMCP"). Nothing is sent to a client that agreed to neither."""
        proto = self.telnet
        if package == "MSDP" and proto.local_enabled(telnet.MSDP):
            proto.send_subnegotiation(telnet.MSDP, msdp.encode(data))
        elif proto.local_enabled(telnet.GMCP):
            proto.send_subnegotiation(telnet.GMCP, gmcp.encode(package, data))
        else:
            return
        self.send_prepared(proto.data_to_send())

    # --- modes -----------------------------------------------------------------------
    def set_echo(self, enabled: bool) -> None:
        super().set_echo(enabled)
        if self.server.outbound:
            return  # a client role proposes nothing (see protocols/telnet/client.py)
        # We "will echo" and then never do: the client stops echoing locally.
        self.telnet.request_local(telnet.ECHO, not enabled)
        if self.telnet.pending:
            self._protocol_output()

    def hidden_line_ended(self) -> None:
        # Only a client that agreed to let us echo left the line ending to us.
        if self.telnet.local_enabled(telnet.ECHO):
            self.send_prepared(b"\r\n")

    # --- state -------------------------------------------------------------------------
    def transport_mark(self) -> Any:
        return (self.telnet.changes, self._deflate is not None)

    def transport_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"telnet": self.telnet.snapshot()}
        if self._deflate is not None:
            # Saved mid-stream: a checkpoint (a planned restart ends the stream
            # first). If it is used, the process that saved it died mid-stream.
            state["deflating"] = True
        return state

    def restore_transport_state(self, saved: dict[str, Any]) -> None:
        self.telnet.restore(saved.get("telnet", {}))
        if saved.get("deflating"):
            # The client still decompresses the stream the dead process began.
            self._deflate = telnet.Compressor(continuing=True)
            self.send_wire = self.write_bytes


def options_for(host: Host) -> telnet.OptionSet:
    """The listener's telnet options: BINARY both ways unless the encoding is ASCII."""
    encoding = host.settings.encoding.lower().replace("_", "-")
    ascii_only = encoding in ("ascii", "us-ascii", "646")
    return telnet.default_options(binary=not ascii_only, mccp=host.settings.mccp)


async def open_listener(host: Host, server: Server) -> StreamListener:
    options = options_for(host)
    return await open_tcp_listener(host, server, lambda: TelnetConnection(host, server, options))
