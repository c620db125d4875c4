"""CHARSET, option 42 (RFC 2066): agreeing on UTF-8 with the client.

We offer it (``WILL CHARSET``) at connect. Once the client agrees we send
``REQUEST ;UTF-8``; ``ACCEPTED UTF-8`` is a :class:`CharsetAccepted` record
(the transport switches ``client.encoding``), ``REJECTED`` leaves the
encoding as it was. A client may also send its own ``REQUEST``: we accept
UTF-8 if it is in the list, and reject anything else. Any other or
malformed subnegotiation is a :class:`ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .codes import CHARSET
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["ACCEPTED", "REJECTED", "REQUEST", "Charset", "CharsetAccepted"]

REQUEST: Final = 1
ACCEPTED: Final = 2
REJECTED: Final = 3
#: The one character set we ask for and accept.
WANTED: Final = "UTF-8"
_ALIASES: Final = frozenset({"utf-8", "utf8"})


@dataclass(frozen=True, slots=True)
class CharsetAccepted:
    """The client agreed to send and receive ``name`` (always UTF-8 here)."""

    name: str


class Charset(Option):
    """Offered at connect; asks for UTF-8 when agreed, accepts only UTF-8."""

    code = CHARSET
    name = "CHARSET"
    local = True
    ask_local = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if enabled and local:
            proto.send_subnegotiation(CHARSET, bytes([REQUEST]) + b";" + WANTED.encode())

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if not payload:
            proto.emit(ProtocolError("empty CHARSET subnegotiation"))
            return
        kind, rest = payload[0], payload[1:]
        if kind == ACCEPTED:
            name = rest.decode("ascii", "replace").strip()
            if name.lower() in _ALIASES:
                proto.emit(CharsetAccepted(WANTED))
            else:
                proto.emit(ProtocolError(f"CHARSET ACCEPTED {name[:40]!r}: not what was asked"))
        elif kind == REJECTED:
            return  # the encoding stays as it is
        elif kind == REQUEST:
            self._requested(proto, rest)
        else:
            proto.emit(ProtocolError(f"CHARSET subnegotiation of kind {kind} not supported"))

    def _requested(self, proto: TelnetProtocol, rest: bytes) -> None:
        if rest.startswith(b"[TTABLE]"):
            rest = rest[len(b"[TTABLE]") + 1 :]  # a version byte follows the tag
        if len(rest) < 2:
            proto.emit(ProtocolError("CHARSET REQUEST without a list"))
            proto.send_subnegotiation(CHARSET, bytes([REJECTED]))
            return
        separator, names = rest[:1], rest[1:]
        offered = {n.decode("ascii", "replace").strip().lower() for n in names.split(separator)}
        if offered & _ALIASES:
            proto.send_subnegotiation(CHARSET, bytes([ACCEPTED]) + WANTED.encode())
            proto.emit(CharsetAccepted(WANTED))
        else:
            proto.send_subnegotiation(CHARSET, bytes([REJECTED]))
