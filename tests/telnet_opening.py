"""What a telnet listener sends first, byte for byte: one place for every test."""

from __future__ import annotations

from hubbub.protocols.telnet import (
    BINARY,
    CHARSET,
    DO,
    EOR_OPT,
    GMCP,
    IAC,
    MCCP2,
    MCCP3,
    MSDP,
    MSSP,
    NAWS,
    NEW_ENVIRON,
    TTYPE,
    WILL,
)


def _neg(command: int, *options: int) -> bytes:
    return b"".join(bytes((IAC, command, option)) for option in options)


#: What the server asks of the client (DO), BINARY included (a UTF-8 service).
ASKED = _neg(DO, NAWS, TTYPE, BINARY, NEW_ENVIRON)
#: What the server offers to do (WILL), MCCP last.
OFFERED_PLAIN = _neg(WILL, EOR_OPT, GMCP, MSDP, MSSP, CHARSET)
OFFERED = OFFERED_PLAIN + _neg(WILL, MCCP2, MCCP3)
#: The whole opening of a UTF-8 telnet listener with the default settings.
OPENING = ASKED + OFFERED
#: An ASCII service does not ask for BINARY.
OPENING_ASCII = _neg(DO, NAWS, TTYPE, NEW_ENVIRON) + OFFERED
