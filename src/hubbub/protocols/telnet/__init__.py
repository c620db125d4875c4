"""Telnet, sans-IO: the protocol machine and one module per option.

``TelnetProtocol`` strips commands and runs RFC 1143 negotiation; what each
option means lives in its own module (``naws``, ``ttype``, ``echo``…), and a
listener chooses its options with an :class:`OptionSet`.
"""

from __future__ import annotations

from .binary import Binary
from .charset import Charset, CharsetAccepted
from .client import client_options
from .codes import (
    AO,
    AYT,
    BINARY,
    BRK,
    CHARSET,
    DM,
    DO,
    DONT,
    EC,
    ECHO,
    EL,
    EOR,
    EOR_OPT,
    GA,
    GMCP,
    IAC,
    IP,
    LINEMODE,
    MCCP2,
    MSSP,
    NAWS,
    NOP,
    SB,
    SE,
    SGA,
    TTYPE,
    WILL,
    WONT,
    escape,
)
from .echo import Echo
from .eor import Eor, prompt_mark
from .gmcp import Gmcp, GmcpMessage
from .mssp import Mssp
from .naws import Naws, WindowSize
from .option import Option, OptionSet
from .protocol import Command, OptionChanged, Prompt, ProtocolError, Record, TelnetProtocol
from .sga import Sga
from .ttype import TerminalType, Ttype

__all__ = [
    "AO",
    "AYT",
    "BINARY",
    "BRK",
    "CHARSET",
    "DM",
    "DO",
    "DONT",
    "EC",
    "ECHO",
    "EL",
    "EOR",
    "EOR_OPT",
    "GA",
    "GMCP",
    "IAC",
    "IP",
    "LINEMODE",
    "MCCP2",
    "MSSP",
    "NAWS",
    "NOP",
    "SB",
    "SE",
    "SGA",
    "TTYPE",
    "WILL",
    "WONT",
    "Binary",
    "Charset",
    "CharsetAccepted",
    "Command",
    "Echo",
    "Eor",
    "Gmcp",
    "GmcpMessage",
    "Mssp",
    "Naws",
    "Option",
    "OptionChanged",
    "OptionSet",
    "Prompt",
    "ProtocolError",
    "Record",
    "Sga",
    "TelnetProtocol",
    "TerminalType",
    "Ttype",
    "WindowSize",
    "client_options",
    "default_options",
    "escape",
    "prompt_mark",
]


def default_options(*, binary: bool = True) -> OptionSet:
    """The server's options: NAWS, TTYPE, ECHO, SGA, BINARY (asked for when ``binary``),
    EOR, GMCP, MSSP and CHARSET."""
    return OptionSet(
        [Naws(), Ttype(), Echo(), Sga(), Binary(ask=binary), Eor(), Gmcp(), Mssp(), Charset()]
    )
