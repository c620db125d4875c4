"""MCCP2 (option 86) and MCCP3 (option 87): zlib compression of the telnet stream.

**MCCP2** compresses what we send. We offer it (``WILL MCCP2``) at connect;
once the client agrees *and* its TTYPE cycle is over (Mudlet misreads a
cycle answer that arrives after compression began), the option emits
:class:`Compress` ``(True)``: the transport sends ``IAC SB 86 IAC SE`` in
one write and passes everything after it through a :class:`Compressor`,
with a sync flush per write so the client can show each turn's output at
once. ``DONT MCCP2`` later is :class:`Compress` ``(False)``: the stream is
finished (``Z_FINISH``) and output goes on uncompressed. MCCP version 1
(option 85) is never offered or agreed: it has no clean end.

**MCCP3** is the other way: we offer ``WILL MCCP3``; a client that agreed
sends ``IAC SB 87 IAC SE`` and compresses everything after it, which
:class:`~.protocol.TelnetProtocol` decompresses before parsing, at most
:data:`INFLATE_CHUNK` bytes at a time (a decompression bomb is read in
bounded pieces, and its over-long line refused by the line framer).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .codes import IAC, MCCP2, MCCP3, SB, SE
from .option import Option
from .records import ProtocolError
from .ttype import cycle_over

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["INFLATE_CHUNK", "START", "WINDOW", "Compress", "Compressor", "Mccp2", "Mccp3"]

#: What starts the compressed stream: sent uncompressed, in one write.
START: Final = bytes((IAC, SB, MCCP2, IAC, SE))
#: Decompressed input is handed on in pieces of at most this many bytes.
INFLATE_CHUNK: Final = 64 * 1024
#: How far back a deflate stream may refer (32 KiB): what a decompressor taking
#: a client's MCCP3 stream over must be given (see TelnetProtocol.restore).
WINDOW: Final = 32 * 1024
#: Where MCCP2's progress lives in ``TelnetProtocol.state``: "waiting" or "on".
STATE_KEY: Final = "mccp2"
# A 4 KiB window and a small hash table: about 20 KiB of zlib state per client
# instead of 256 KiB, at little cost in ratio for text a few lines at a time.
_WBITS: Final = 12
_MEM_LEVEL: Final = 5


@dataclass(frozen=True, slots=True)
class Compress:
    """Start (True) or end (False) compressing output from here on (MCCP2)."""

    on: bool


class Compressor:
    """One client's MCCP2 output stream (zlib framing, as the protocol requires).

    ``continuing`` picks up a stream another process began and could not end
    (it died: see ``docs/restart.md``). Every write ended on a sync flush, so
    the client's decompressor waits at a block boundary, and raw deflate
    blocks that refer to nothing before them continue its stream. Only the
    checksum at the end cannot be right, so such a stream is not ended at a
    planned restart but continued again.
    """

    __slots__ = ("_z", "continuing")

    def __init__(self, level: int = 6, *, continuing: bool = False) -> None:
        wbits = -_WBITS if continuing else _WBITS
        self._z = zlib.compressobj(level, zlib.DEFLATED, wbits, _MEM_LEVEL)
        self.continuing = continuing

    def compress(self, data: bytes) -> bytes:
        """``data`` compressed and flushed, so the client can decompress all of it now."""
        z = self._z
        return z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        """The end of the stream; what follows it is uncompressed."""
        end = self._z.flush(zlib.Z_FINISH)
        # A continued stream's checksum is unknown: four bytes stand in for it, so
        # the client's framing holds though its check fails.
        return end + bytes(4) if self.continuing else end


class Mccp2(Option):
    """Offered at connect; compression starts once agreed and the TTYPE cycle is over."""

    code = MCCP2
    name = "MCCP2"
    local = True
    ask_local = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if not local:
            return
        if enabled:
            if cycle_over(proto):
                self._start(proto)
            else:
                proto.state[STATE_KEY] = "waiting"
        elif proto.state.pop(STATE_KEY, None) == "on":
            proto.emit(Compress(False))

    def terminal_known(self, proto: TelnetProtocol) -> None:
        if proto.state.get(STATE_KEY) == "waiting" and proto.local_enabled(MCCP2):
            self._start(proto)

    def _start(self, proto: TelnetProtocol) -> None:
        proto.state[STATE_KEY] = "on"
        proto.emit(Compress(True))


class Mccp3(Option):
    """Offered at connect; the client's ``IAC SB 87 IAC SE`` starts compressed input."""

    code = MCCP3
    name = "MCCP3"
    local = True
    ask_local = True

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if payload:
            proto.emit(ProtocolError("MCCP3 start with a payload; ignored"))
        elif not proto.local_enabled(MCCP3):
            proto.emit(ProtocolError("MCCP3 start without agreement; ignored"))
        else:
            proto.start_decompressing()
