"""TTYPE, option 24 (RFC 1091), with the MUD Terminal Type Standard (MTTS) cycle.

Once the peer agrees (``WILL TTYPE``) we ask ``SEND`` and keep asking: MUD
clients answer a different name each time, e.g. Mudlet ``MUDLET``,
``ANSI-TRUECOLOR``, ``MTTS 2831`` then the first again; TinTin++ and
MUSHclient repeat their last answer forever. The cycle stops when an answer
repeats one already seen, or after 4 requests, and is reported once as a
:class:`TerminalType` with every name and the MTTS bitvector (``MTTS n``,
also ``MTTS64`` without the space). Options that must wait for the cycle
(MCCP2: Mudlet breaks if compression starts during it) are told through
:meth:`~.option.Option.terminal_known`, also when the peer refuses TTYPE.

The cycle's progress lives in the protocol's plain-data ``state``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .codes import IAC, SB, SE, TTYPE
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["MAX_REQUESTS", "MTTS", "TerminalType", "Ttype", "cycle_over"]

_IS: Final = 0
_SEND: Final = 1
MAX_NAME: Final = 64
#: Requests in one cycle at most (the MTTS standard's advice).
MAX_REQUESTS: Final = 4
_SEND_BYTES: Final = bytes((IAC, SB, TTYPE, _SEND, IAC, SE))
_MTTS_NAME: Final = re.compile(r"MTTS ?(\d{1,9})", re.IGNORECASE)

#: Where the cycle keeps its progress in ``TelnetProtocol.state``.
STATE_KEY: Final = "ttype"


class MTTS:
    """Bits of the MTTS bitvector (the MUD Terminal Type Standard)."""

    ANSI: Final = 1
    VT100: Final = 2
    UTF8: Final = 4
    COLORS_256: Final = 8
    MOUSE: Final = 16
    OSC_COLOR_PALETTE: Final = 32
    SCREEN_READER: Final = 64
    PROXY: Final = 128
    TRUECOLOR: Final = 256
    MNES: Final = 512
    MSLP: Final = 1024
    SSL: Final = 2048


@dataclass(frozen=True, slots=True)
class TerminalType:
    """The cycle ended: ``name`` is the first answer, ``names`` all distinct answers in
    order, ``mtts`` the bitvector an ``MTTS n`` answer gave (None: none did).

    Names are reduced to printable ASCII, at most 64 characters each.
    """

    name: str
    names: tuple[str, ...] = ()
    mtts: int | None = None


def clean_name(raw: bytes) -> str:
    """A peer-supplied name made safe to log and compare."""
    text = raw.decode("ascii", errors="replace")
    printable = "".join(ch for ch in text if " " <= ch <= "~")
    return printable.strip()[:MAX_NAME].rstrip()


def mtts_of(name: str) -> int | None:
    """The bitvector in an ``MTTS n`` (or ``MTTS64``) answer, else None."""
    match = _MTTS_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def cycle_over(proto: TelnetProtocol) -> bool:
    """Whether nothing more will come of TTYPE on this connection (for now)."""
    if proto.options.get(TTYPE) is None:
        return True
    progress: dict[str, Any] = proto.state.get(STATE_KEY, {})
    return bool(progress.get("done"))


class Ttype(Option):
    """Asked for at connect; once agreed, ``SEND`` until the answers repeat."""

    code = TTYPE
    name = "TTYPE"
    remote = True
    ask_remote = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if local:
            return
        if enabled:
            proto.state[STATE_KEY] = {"names": [], "asked": 1, "done": False}
            proto.send(_SEND_BYTES)
        elif not cycle_over(proto):
            self._finish(proto)

    def refused(self, proto: TelnetProtocol, local: bool) -> None:
        if not local and not cycle_over(proto):
            self._finish(proto)

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if not payload or payload[0] != _IS:
            proto.emit(ProtocolError("TTYPE subnegotiation is not IS <name>"))
            return
        progress: dict[str, Any] | None = proto.state.get(STATE_KEY)
        if progress is None or progress["done"]:
            return  # an answer nobody asked for (or a late one): nothing to learn
        name = clean_name(payload[1:])
        if not name:
            proto.emit(ProtocolError("TTYPE IS with an empty terminal name"))
            self._finish(proto)
            return
        names: list[str] = progress["names"]
        if name in names:
            self._finish(proto)
            return
        names.append(name)
        if progress["asked"] >= MAX_REQUESTS:
            self._finish(proto)
            return
        progress["asked"] += 1
        proto.send(_SEND_BYTES)

    def _finish(self, proto: TelnetProtocol) -> None:
        progress: dict[str, Any] = proto.state.setdefault(STATE_KEY, {"names": [], "asked": 0})
        progress["done"] = True
        names = tuple(progress["names"])
        if names:
            mtts = next((m for m in map(mtts_of, names) if m is not None), None)
            proto.emit(TerminalType(names[0], names, mtts))
        for option in proto.options.by_code.values():
            option.terminal_known(proto)
