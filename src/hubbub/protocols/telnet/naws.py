"""NAWS, option 31 (RFC 1073): the peer reports its window size, and again on every resize."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .codes import NAWS
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["Naws", "WindowSize"]


@dataclass(frozen=True, slots=True)
class WindowSize:
    """The peer's window is ``width`` columns by ``height`` rows (0: unknown)."""

    width: int
    height: int


class Naws(Option):
    """Asked for at connect; each ``SB NAWS`` of four bytes is a :class:`WindowSize`."""

    code = NAWS
    name = "NAWS"
    remote = True
    ask_remote = True

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if len(payload) != 4:
            proto.emit(ProtocolError(f"NAWS payload of {len(payload)} bytes (expected 4)"))
            return
        proto.emit(WindowSize((payload[0] << 8) | payload[1], (payload[2] << 8) | payload[3]))
