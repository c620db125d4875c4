"""MSSP, option 70: the MUD Server Status Protocol, for MUD crawlers and listings.

A crawler connects, sees ``IAC WILL MSSP``, answers ``DO MSSP`` and reads one
subnegotiation of variables: ``MSSP_VAR name MSSP_VAL value`` pairs (a
variable with several values repeats ``MSSP_VAL``). We offer it at connect;
:func:`encode` builds the payload, and the transport sends it when the
option is agreed, with the live values (NAME, PLAYERS, UPTIME) filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from .codes import MSSP
from .option import Option

__all__ = ["MSSP_VAL", "MSSP_VAR", "Mssp", "encode"]

MSSP_VAR: Final = 1
MSSP_VAL: Final = 2


class Mssp(Option):
    """Offered at connect (WILL); the table goes out once the crawler agrees."""

    code = MSSP
    name = "MSSP"
    local = True
    ask_local = True


def encode(variables: Mapping[str, str | int | list[str | int]]) -> bytes:
    """The subnegotiation payload for ``variables`` (names upper-cased, in order given).

    Values are sent as text: integers in decimal (UPTIME is a whole Unix
    time, as crawlers expect), a list as several values. Bytes 0-2 and 255
    cannot appear in a name or value and are dropped from them.
    """
    out = bytearray()
    for name, value in variables.items():
        out.append(MSSP_VAR)
        out += _clean(name.upper())
        for item in value if isinstance(value, list) else [value]:
            out.append(MSSP_VAL)
            out += _clean(str(item))
    return bytes(out)


def _clean(text: str) -> bytes:
    data = text.encode("utf-8", "replace")
    return data.translate(None, b"\x00\x01\x02\xff")
