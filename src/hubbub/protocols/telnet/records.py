"""What the telnet machine reports that is not tied to one option."""

from __future__ import annotations

from dataclasses import dataclass

from .codes import COMMAND_NAMES, OPTION_NAMES

__all__ = ["Command", "OptionChanged", "Prompt", "ProtocolError"]


@dataclass(frozen=True, slots=True)
class OptionChanged:
    """An option was switched on or off: ``local`` is our side, else the peer's."""

    option: int
    local: bool
    enabled: bool

    def __str__(self) -> str:
        name = OPTION_NAMES.get(self.option, f"option {self.option}")
        side = "ours" if self.local else "the client's"
        return f"{name} ({side}) {'on' if self.enabled else 'off'}"


@dataclass(frozen=True, slots=True)
class Command:
    """``IAC <command>`` other than negotiation: NOP, IP, BRK, GA, DM… or unknown."""

    command: int

    def __str__(self) -> str:
        return f"IAC {COMMAND_NAMES.get(self.command, self.command)}"


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Malformed input that was dropped; for the operator's log, never the application.

    ``fatal``: the stream cannot be read past it (a broken compressed stream);
    the transport closes the connection.
    """

    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Prompt:
    """The peer ended a prompt (``IAC GA`` or ``IAC EOR``); client role only.

    ``at`` is where, counted in bytes of the application data returned by the
    same :meth:`~hubbub.protocols.telnet.TelnetProtocol.receive_data` call: the
    unfinished line up to there is the prompt.
    """

    at: int
