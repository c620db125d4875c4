"""END-OF-RECORD, option 25 (RFC 885): prompts marked with ``IAC EOR``.

A MUD client cannot tell a prompt ("HP 10> ") from a line that is still
arriving, because a prompt has no line end. The server marks where it ends:
with ``IAC EOR`` once the client agreed to this option (Mudlet, TinTin++,
MUSHclient do), else with ``IAC GA`` (go ahead) unless go-aheads were
suppressed (SGA). We offer it (``WILL EOR``) at connect; :func:`prompt_mark`
picks the mark for a connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from .codes import EOR, EOR_OPT, GA, IAC, SGA
from .option import Option

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["MARKS", "Eor", "prompt_mark"]

#: The ``prompt_mark`` setting's values.
MARKS: Final = ("auto", "eor", "ga", "none")

_EOR: Final = bytes((IAC, EOR))
_GA: Final = bytes((IAC, GA))


class Eor(Option):
    """Offered at connect; agreed when the client answers ``DO EOR``."""

    code = EOR_OPT
    name = "EOR"
    local = True
    ask_local = True


def prompt_mark(proto: TelnetProtocol, how: str = "auto") -> bytes:
    """The bytes that end a prompt on this connection.

    ``auto``: ``IAC EOR`` if the client agreed to EOR, else ``IAC GA`` unless
    SGA was agreed (either way). ``eor``: ``IAC EOR`` if agreed, else nothing.
    ``ga``: always ``IAC GA``. ``none``: nothing.
    """
    if how == "none":
        return b""
    if how == "ga":
        return _GA
    if proto.local_enabled(EOR_OPT):
        return _EOR
    if how == "eor" or proto.local_enabled(SGA) or proto.remote_enabled(SGA):
        return b""
    return _GA
