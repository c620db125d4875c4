"""NEW-ENVIRON, option 39 (RFC 1572), as MUD clients use it (MNES).

We ask ``DO NEW-ENVIRON`` at connect. Once the client agrees we ask for the
variables of the MUD New-Environ Standard (CLIENT_NAME, CLIENT_VERSION,
CHARSET, MTTS, TERMINAL_TYPE, IPADDRESS) and Mudlet's ``SCREEN_READER``,
split into small requests: some clients read subnegotiations into a
256-byte buffer. The answer (``IS``) and any later update (``INFO``: Mudlet
sends one when the player switches its screen-reader option) become an
:class:`Environ` record of the variables that changed.

Names and values are reduced to printable text, blanks around them
stripped (64 and 256 characters at most). A variable sent without a value,
or with an empty one (telnetlib3 answers so for what it does not know), is
left out. A malformed payload is a :class:`ProtocolError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .codes import NEW_ENVIRON
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["ASKED", "Environ", "NewEnviron", "requests"]

IS: Final = 0
SEND: Final = 1
INFO: Final = 2
VAR: Final = 0
VALUE: Final = 1
ESC: Final = 2
USERVAR: Final = 3

#: What we ask for: MNES's variables, then Mudlet's user variable.
ASKED: Final = (
    (VAR, "CLIENT_NAME"),
    (VAR, "CLIENT_VERSION"),
    (VAR, "CHARSET"),
    (VAR, "MTTS"),
    (VAR, "TERMINAL_TYPE"),
    (VAR, "IPADDRESS"),
    (USERVAR, "SCREEN_READER"),
)
#: Largest request payload we send (clients with 256-byte buffers must fit it).
MAX_REQUEST: Final = 64
MAX_NAME: Final = 64
MAX_VALUE: Final = 256


@dataclass(frozen=True, slots=True)
class Environ:
    """Variables the client sent: ``update`` is False for its answer (IS), True for INFO."""

    variables: dict[str, str] = field(default_factory=dict)
    update: bool = False


def requests(asked: Iterable[tuple[int, str]], limit: int = MAX_REQUEST) -> list[bytes]:
    """``SEND`` payloads asking for ``asked``, each at most ``limit`` bytes."""
    payloads: list[bytes] = []
    current = bytearray((SEND,))
    for kind, name in asked:
        item = bytes((kind,)) + name.encode("ascii")
        if len(current) > 1 and len(current) + len(item) > limit:
            payloads.append(bytes(current))
            current = bytearray((SEND,))
        current += item
    if len(current) > 1:
        payloads.append(bytes(current))
    return payloads


def _text(raw: bytearray, limit: int) -> str:
    text = raw.decode("utf-8", "replace")
    return "".join(ch for ch in text if ch.isprintable()).strip()[:limit]


def parse(payload: bytes) -> dict[str, str] | str:
    """The variables in an IS/INFO list (after its first byte), or what is wrong with it."""
    variables: dict[str, str] = {}
    name: bytearray | None = None
    value: bytearray | None = None
    current: bytearray | None = None
    escaped = False

    def done() -> None:
        if name is not None and value is not None:
            key, text = _text(name, MAX_NAME), _text(value, MAX_VALUE)
            if key and text:
                variables[key] = text

    for byte in payload:
        if escaped:
            escaped = False
        elif byte == ESC:
            if current is None:
                return "ESC before any variable"
            escaped = True
            continue
        elif byte in (VAR, USERVAR):
            done()
            name, value = bytearray(), None
            current = name
            continue
        elif byte == VALUE:
            if name is None:
                return "VALUE before any variable"
            value = bytearray()
            current = value
            continue
        if current is None:
            return "text before any variable"
        current.append(byte)
    if escaped:
        return "ESC at the end"
    done()
    return variables


class NewEnviron(Option):
    """Asked for at connect; once agreed, the variables above are requested."""

    code = NEW_ENVIRON
    name = "NEW-ENVIRON"
    remote = True
    ask_remote = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        if enabled and not local:
            for payload in requests(ASKED):
                proto.send_subnegotiation(NEW_ENVIRON, payload)

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        if not payload:
            proto.emit(ProtocolError("empty NEW-ENVIRON subnegotiation"))
            return
        kind = payload[0]
        if kind == SEND:
            return  # a client asking about us: we have nothing to tell
        if kind not in (IS, INFO):
            proto.emit(ProtocolError(f"NEW-ENVIRON subnegotiation of kind {kind}"))
            return
        variables = parse(payload[1:])
        if isinstance(variables, str):
            proto.emit(ProtocolError(f"NEW-ENVIRON {variables}; ignored"))
            return
        if variables:
            proto.emit(Environ(variables, update=kind == INFO))
