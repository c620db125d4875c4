"""SUPPRESS-GO-AHEAD, option 3 (RFC 858): agreed both ways when the client asks.

Not proposed by the server: common clients (the stock ``telnet`` among them)
answer a ``WILL SGA`` by leaving their line-by-line mode.
"""

from __future__ import annotations

from .codes import SGA
from .option import Option

__all__ = ["Sga"]


class Sga(Option):
    code = SGA
    name = "SGA"
    local = True
    remote = True
