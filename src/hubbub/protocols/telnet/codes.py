"""Telnet command bytes (RFC 854, RFC 885) and the option codes hubbub knows by name."""

from __future__ import annotations

from typing import Final

# --- commands -----------------------------------------------------------------
IAC: Final = 255
DONT: Final = 254
DO: Final = 253
WONT: Final = 252
WILL: Final = 251
SB: Final = 250
GA: Final = 249
EL: Final = 248
EC: Final = 247
AYT: Final = 246
AO: Final = 245
IP: Final = 244
BRK: Final = 243
DM: Final = 242
NOP: Final = 241
SE: Final = 240
EOR: Final = 239

# --- options ----------------------------------------------------------------------
BINARY: Final = 0
ECHO: Final = 1
SGA: Final = 3
TTYPE: Final = 24
EOR_OPT: Final = 25
NAWS: Final = 31
LINEMODE: Final = 34
NEW_ENVIRON: Final = 39
CHARSET: Final = 42
MSDP: Final = 69
MSSP: Final = 70
MCCP1: Final = 85
MCCP2: Final = 86
MCCP3: Final = 87
GMCP: Final = 201

OPTION_NAMES: Final = {
    BINARY: "BINARY",
    ECHO: "ECHO",
    SGA: "SGA",
    TTYPE: "TTYPE",
    EOR_OPT: "EOR",
    NAWS: "NAWS",
    LINEMODE: "LINEMODE",
    NEW_ENVIRON: "NEW-ENVIRON",
    CHARSET: "CHARSET",
    MSDP: "MSDP",
    MSSP: "MSSP",
    MCCP1: "MCCP1",
    MCCP2: "MCCP2",
    MCCP3: "MCCP3",
    GMCP: "GMCP",
}

COMMAND_NAMES: Final = {
    DONT: "DONT",
    DO: "DO",
    WONT: "WONT",
    WILL: "WILL",
    SB: "SB",
    GA: "GA",
    EL: "EL",
    EC: "EC",
    AYT: "AYT",
    AO: "AO",
    IP: "IP",
    BRK: "BRK",
    DM: "DM",
    NOP: "NOP",
    SE: "SE",
    EOR: "EOR",
}

_IAC_BYTE: Final = b"\xff"
_IAC_IAC: Final = b"\xff\xff"


def escape(data: bytes) -> bytes:
    """Double every 0xFF so application bytes are never read as a telnet command.

    This is the only place hubbub escapes telnet output; a broadcast calls it
    once per encoding and shares the result.
    """
    if IAC not in data:  # an int test: a plain memchr, no bytes-in-bytes search
        return data
    return data.replace(_IAC_BYTE, _IAC_IAC)
