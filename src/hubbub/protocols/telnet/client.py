"""The client role: how hubbub answers a server when it connects out to one.

An outbound ``telnet://`` or ``telnets://`` link (``service.connect``) runs the
same :class:`~hubbub.protocols.telnet.TelnetProtocol` as a listener, with the
options below. They make a quiet, polite client: it proposes nothing, agrees to
what a server usually asks of a client, and refuses everything else (the
Q method of RFC 1143 makes sure no refusal loops):

* ``DO NAWS`` is answered ``WILL NAWS`` and one ``SB NAWS`` giving an 80x24
  window (a program has no window; 80x24 is what servers format for);
* ``DO TTYPE`` is answered ``WILL TTYPE``, and every ``SB TTYPE SEND`` with
  ``SB TTYPE IS hubbub``: the same name each time, which ends a server's
  MTTS cycle at its second request;
* ``WILL ECHO`` and ``WILL SGA`` are accepted (``DO``): the server echoes and
  sends no go-aheads, which is how MUDs talk to their clients anyway;
* anything else is refused with ``DONT`` / ``WONT``.

A server's prompt is text with no line end, followed by ``IAC GA`` or
``IAC EOR``; in this role those report a :class:`~.records.Prompt` where they
arrived, so the transport can hand the prompt on as a line of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .codes import ECHO, NAWS, SGA, TTYPE
from .option import Option, OptionSet
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = [
    "AcceptEcho",
    "AcceptSga",
    "ReportTerminalType",
    "ReportWindowSize",
    "client_options",
]

_IS: Final = 0
_SEND: Final = 1


class ReportWindowSize(Option):
    """NAWS, our side: agreed when asked, then the window size is sent once."""

    code = NAWS
    name = "NAWS"
    local = True

    def __init__(self, width: int = 80, height: int = 24) -> None:
        if not (0 <= width <= 0xFFFF and 0 <= height <= 0xFFFF):
            raise ValueError(f"window size {width}x{height} does not fit NAWS (0..65535)")
        self.payload = width.to_bytes(2, "big") + height.to_bytes(2, "big")

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if local and enabled:
            proto.send_subnegotiation(NAWS, self.payload)


class ReportTerminalType(Option):
    """TTYPE, our side: agreed when asked; each ``SEND`` is answered with our name."""

    code = TTYPE
    name = "TTYPE"
    local = True

    def __init__(self, terminal: str = "hubbub") -> None:
        self.answer = bytes((_IS,)) + terminal.encode("ascii")

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if payload[:1] != bytes((_SEND,)):
            proto.emit(ProtocolError("TTYPE subnegotiation is not SEND"))
            return
        if proto.local_enabled(TTYPE):  # a SEND before we agreed gets no answer
            proto.send_subnegotiation(TTYPE, self.answer)


class AcceptEcho(Option):
    """ECHO, the server's side: it may echo what we send (we never echo anything)."""

    code = ECHO
    name = "ECHO"
    remote = True


class AcceptSga(Option):
    """SUPPRESS-GO-AHEAD, the server's side only."""

    code = SGA
    name = "SGA"
    remote = True


def client_options(*, width: int = 80, height: int = 24, terminal: str = "hubbub") -> OptionSet:
    """The options of an outbound link: see the module docstring."""
    return OptionSet(
        [ReportWindowSize(width, height), ReportTerminalType(terminal), AcceptEcho(), AcceptSga()],
        prompts=True,
    )
