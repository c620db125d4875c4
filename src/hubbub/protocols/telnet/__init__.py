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
    MCCP1,
    MCCP2,
    MCCP3,
    MSDP,
    MSSP,
    NAWS,
    NEW_ENVIRON,
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
from .environ import Environ, NewEnviron
from .eor import Eor, prompt_mark
from .gmcp import Gmcp, GmcpMessage
from .mccp import Compress, Compressor, Mccp2, Mccp3
from .msdp import Msdp, MsdpMessage
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
    "MCCP1",
    "MCCP2",
    "MCCP3",
    "MSDP",
    "MSSP",
    "NAWS",
    "NEW_ENVIRON",
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
    "Compress",
    "Compressor",
    "Echo",
    "Environ",
    "Eor",
    "Gmcp",
    "GmcpMessage",
    "Mccp2",
    "Mccp3",
    "Msdp",
    "MsdpMessage",
    "Mssp",
    "Naws",
    "NewEnviron",
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


def default_options(*, binary: bool = True, mccp: bool = True) -> OptionSet:
    """The server's options: NAWS, TTYPE (with MTTS), ECHO, SGA, BINARY (asked for when
    ``binary``), NEW-ENVIRON, EOR, GMCP, MSDP, MSSP, CHARSET, and MCCP2 and MCCP3 when
    ``mccp``. The order is the order of the offers at connect."""
    options: list[Option] = [
        Naws(),
        Ttype(),
        Echo(),
        Sga(),
        Binary(ask=binary),
        NewEnviron(),
        Eor(),
        Gmcp(),
        Msdp(),
        Mssp(),
        Charset(),
    ]
    if mccp:
        options += [Mccp2(), Mccp3()]
    return OptionSet(options)
