"""MSDP, option 69: the MUD Server Data Protocol, structured data without JSON.

The other way (with GMCP) a telnet client carries ``client.send_data`` /
``events.Data``: here the package is always ``"MSDP"`` and the data a dict
of variables. We offer it (``WILL MSDP``) at connect.

A payload is ``VAR name VAL value`` pairs; a value is text, a table
(``TABLE_OPEN`` pairs ``TABLE_CLOSE``: a dict) or an array (``ARRAY_OPEN``
values ``ARRAY_CLOSE``: a list); a variable with several ``VAL`` is a list
too. The client's commands (``LIST``, ``REPORT``, ``SEND``, ``UNREPORT``,
``RESET``) are variables like any other and go to the application as they
are: ``{"REPORT": ["HEALTH", "MANA"]}``. Unbalanced tables, stray bytes
and nesting deeper than 16 are a :class:`ProtocolError`; the message is
dropped whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .codes import MSDP
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["Msdp", "MsdpMessage", "decode", "encode"]

VAR: Final = 1
VAL: Final = 2
TABLE_OPEN: Final = 3
TABLE_CLOSE: Final = 4
ARRAY_OPEN: Final = 5
ARRAY_CLOSE: Final = 6
_MARKS: Final = bytes(range(7))
#: Tables and arrays nest at most this deep.
MAX_DEPTH: Final = 16


@dataclass(frozen=True, slots=True)
class MsdpMessage:
    """Variables from the peer; ``at`` places it among the lines (as for GMCP)."""

    variables: dict[str, Any]
    at: int = 0


class MsdpError(ValueError):
    """A payload that is not MSDP."""


class _Reader:
    __slots__ = ("data", "i")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.i = 0

    def peek(self) -> int | None:
        return self.data[self.i] if self.i < len(self.data) else None

    def text(self) -> str:
        start = self.i
        data = self.data
        while self.i < len(data) and data[self.i] > ARRAY_CLOSE:
            self.i += 1
        return data[start : self.i].decode("utf-8", "replace")

    def pairs(self, depth: int, closing: int | None) -> dict[str, Any]:
        """``VAR name VAL value…`` up to ``closing`` (None: the end)."""
        table: dict[str, Any] = {}
        while True:
            mark = self.peek()
            if mark == closing:
                if closing is not None:
                    self.i += 1
                return table
            if mark != VAR:
                raise MsdpError("expected VAR" if mark is not None else "a table is not closed")
            self.i += 1
            name = self.text()
            values = []
            while self.peek() == VAL:
                self.i += 1
                values.append(self.value(depth))
            if not values:
                raise MsdpError(f"VAR {name[:30]!r} without VAL")
            table[name] = values[0] if len(values) == 1 else values

    def value(self, depth: int) -> Any:
        mark = self.peek()
        if mark in (TABLE_OPEN, ARRAY_OPEN):
            if depth >= MAX_DEPTH:
                raise MsdpError(f"nested deeper than {MAX_DEPTH}")
            self.i += 1
            if mark == TABLE_OPEN:
                return self.pairs(depth + 1, TABLE_CLOSE)
            items = []
            while self.peek() == VAL:
                self.i += 1
                items.append(self.value(depth + 1))
            if self.peek() != ARRAY_CLOSE:
                raise MsdpError("an array is not closed")
            self.i += 1
            return items
        return self.text()


def decode(payload: bytes) -> dict[str, Any]:
    """The variables in a payload; raises :class:`MsdpError` if it is malformed."""
    return _Reader(payload).pairs(0, None)


def _text(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bool):
        value = int(value)
    return str(value).encode("utf-8").translate(None, _MARKS)


def _value(value: Any, out: bytearray, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"MSDP data nested deeper than {MAX_DEPTH}")
    if isinstance(value, dict):
        out.append(TABLE_OPEN)
        _pairs(value, out, depth + 1)
        out.append(TABLE_CLOSE)
    elif isinstance(value, list | tuple):
        out.append(ARRAY_OPEN)
        for item in value:
            out.append(VAL)
            _value(item, out, depth + 1)
        out.append(ARRAY_CLOSE)
    else:
        out += _text(value)


def _pairs(table: dict[Any, Any], out: bytearray, depth: int) -> None:
    for name, value in table.items():
        out.append(VAR)
        out += _text(name)
        out.append(VAL)
        _value(value, out, depth)


def encode(variables: dict[str, Any]) -> bytes:
    """The payload for ``variables``: dicts become tables, lists arrays, the rest text.

    Raises ``TypeError`` unless ``variables`` is a dict (MSDP has names at its top).
    """
    if not isinstance(variables, dict):
        raise TypeError(f"MSDP data is a dict of variables, not {type(variables).__name__}")
    out = bytearray()
    _pairs(variables, out, 0)
    return bytes(out)


class Msdp(Option):
    """Offered at connect (WILL); each message from the peer is an :class:`MsdpMessage`."""

    code = MSDP
    name = "MSDP"
    local = True
    ask_local = True

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        try:
            variables = decode(payload)
        except (MsdpError, RecursionError) as error:
            proto.emit(ProtocolError(f"MSDP message dropped: {error}"))
            return
        if variables:
            proto.emit(MsdpMessage(variables, proto.position()))
