"""TTYPE, option 24 (RFC 1091): the peer names its terminal when asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .codes import IAC, SB, SE, TTYPE
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["TerminalType", "Ttype"]

_IS: Final = 0
_SEND: Final = 1
MAX_NAME: Final = 64
_SEND_BYTES: Final = bytes((IAC, SB, TTYPE, _SEND, IAC, SE))


@dataclass(frozen=True, slots=True)
class TerminalType:
    """The peer's terminal name, reduced to printable ASCII (at most 64 characters)."""

    name: str


def clean_name(raw: bytes) -> str:
    """A peer-supplied name made safe to log and compare."""
    text = raw.decode("ascii", errors="replace")
    printable = "".join(ch for ch in text if " " <= ch <= "~")
    return printable.strip()[:MAX_NAME].rstrip()


class Ttype(Option):
    """Asked for at connect; once the peer agrees, ``SEND`` is asked once."""

    code = TTYPE
    name = "TTYPE"
    remote = True
    ask_remote = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if enabled and not local:
            proto.send(_SEND_BYTES)

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if not payload or payload[0] != _IS:
            proto.emit(ProtocolError("TTYPE subnegotiation is not IS <name>"))
            return
        name = clean_name(payload[1:])
        if not name:
            proto.emit(ProtocolError("TTYPE IS with an empty terminal name"))
            return
        proto.emit(TerminalType(name))
