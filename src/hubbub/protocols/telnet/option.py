"""The shape of a telnet option handler, and the set of them a listener uses.

Each option (NAWS, TTYPE, ECHO…) is a small class in its own module. An
option object keeps no per-connection state: one instance serves every
connection of a listener, and whatever a connection must remember lives in
the protocol's plain-data ``state`` dict, so it can be saved and restored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["Option", "OptionSet"]


class Option:
    """How one option is negotiated, and what its subnegotiations mean.

    ``local`` options are ones we perform (the peer sends DO); ``remote``
    options are ones the peer performs (it sends WILL). ``ask_local`` and
    ``ask_remote`` make the server propose them when a connection opens.
    """

    code: ClassVar[int]
    name: ClassVar[str]
    local: bool = False
    remote: bool = False
    ask_local: bool = False
    ask_remote: bool = False

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        """Negotiation switched our side (``local``) or the peer's side on or off."""

    def refused(self, proto: TelnetProtocol, local: bool) -> None:
        """The peer refused our request to switch our side (``local``) or its side on."""

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        """A complete ``IAC SB <code> payload IAC SE`` arrived (0xFF already unescaped)."""

    def terminal_known(self, proto: TelnetProtocol) -> None:
        """The TTYPE cycle is over (or TTYPE was refused): what waits for it may start."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} option {self.code}>"


class OptionSet:
    """The options a listener supports, indexed for the parser.

    Built once per listener and shared by its connections; option codes not
    in the set are refused (DONT / WONT) whatever the peer offers.

    ``prompts`` is for the client role (a link hubbub opens to a server):
    ``IAC GA`` and ``IAC EOR`` from the peer then end its prompt, reported as
    :class:`~hubbub.protocols.telnet.records.Prompt` records.
    """

    __slots__ = ("by_code", "defaults", "opening", "prompts")

    def __init__(self, options: Iterable[Option], *, prompts: bool = False) -> None:
        self.prompts = prompts
        self.by_code: dict[int, Option] = {}
        for option in options:
            if option.code in self.by_code:
                raise ValueError(f"telnet option {option.code} is listed twice")
            self.by_code[option.code] = option
        # Per code, the "wanted" bits the Q-method tables start from.
        self.defaults = [0] * 256
        for code, option in self.by_code.items():
            self.defaults[code] = (LOCAL_WANTED if option.local else 0) | (
                REMOTE_WANTED if option.remote else 0
            )
        self.opening = tuple(
            (code, option.ask_local, option.ask_remote)
            for code, option in self.by_code.items()
            if option.ask_local or option.ask_remote
        )

    def get(self, code: int) -> Option | None:
        return self.by_code.get(code)


# Bits of one option's packed negotiation state (see protocol.py).
LOCAL_WANTED = 1 << 6
REMOTE_WANTED = 1 << 7
