"""BINARY, option 0 (RFC 856): eight-bit data.

Without it the stock ``telnet`` client strips the eighth bit of what the user
types, so UTF-8 turns into its own commands (0x83 becomes ^C, sent as
``IAC IP``; 0x9D becomes ^], its escape key). hubbub therefore asks the
client to send binary (``DO BINARY``) whenever the service's encoding is not
plain ASCII.

The other direction is agreed when the client asks for it but not proposed:
told ``WILL BINARY``, the same client switches its terminal's output
processing off, and every line the user types is then echoed as a bare line
feed, so each reply starts where the typed line ended. Eight-bit output
reaches every client we know of without it.
"""

from __future__ import annotations

from .codes import BINARY
from .option import Option

__all__ = ["Binary"]


class Binary(Option):
    code = BINARY
    name = "BINARY"
    local = True
    remote = True

    def __init__(self, *, ask: bool = True) -> None:
        self.ask_remote = ask
