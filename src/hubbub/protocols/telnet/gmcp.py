"""GMCP, option 201: structured data as ``Package.Name <json>`` in subnegotiations.

The Generic MUD Communication Protocol carries what the browser client
carries as ``{"data": [package, data]}``: the same ``client.send_data`` /
``events.Data`` on a telnet connection. We offer it (``WILL GMCP``) at
connect; a client that wants it answers ``DO``.

Each ``IAC SB GMCP <payload> IAC SE`` is a package name, then optionally a
space and one JSON value. A message whose JSON does not parse, or whose
package name is not dotted words, is a :class:`ProtocolError` (logged,
ignored). ``Core.Supports.Set``/``Add``/``Remove`` also keep the list of
modules the client says it supports in the protocol's ``state`` (plain data,
so it survives a restart): :func:`supports`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codes import GMCP
from .option import Option
from .records import ProtocolError

if TYPE_CHECKING:
    from .protocol import TelnetProtocol

__all__ = ["Gmcp", "GmcpMessage", "encode", "supports"]

#: A package name: dotted words ("Char.Vitals", "IRE.Rift.Change", "Core.Supports.Set").
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")

#: Where the supported modules live in ``TelnetProtocol.state``.
STATE_KEY = "gmcp_supports"


@dataclass(frozen=True, slots=True)
class GmcpMessage:
    """One GMCP message from the peer: ``package`` ("Core.Hello"), ``data`` (JSON, or None).

    ``at`` is where it came, in bytes of the application data returned by the
    same ``receive_data`` call, so it can be delivered between the right lines.
    """

    package: str
    data: Any
    at: int = 0


def encode(package: str, data: Any = None) -> bytes:
    """The subnegotiation payload for ``package`` and ``data`` (no data: the name alone).

    Raises ``TypeError``/``ValueError`` if ``data`` is not JSON.
    """
    if data is None:
        return package.encode("utf-8")
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return f"{package} {text}".encode()


def supports(proto: TelnetProtocol) -> list[str]:
    """The modules the peer listed with ``Core.Supports.*`` ("Char 1", "Room 1"…)."""
    return list(proto.state.get(STATE_KEY, ()))


class Gmcp(Option):
    """Offered at connect (WILL); each message from the peer is a :class:`GmcpMessage`."""

    code = GMCP
    name = "GMCP"
    local = True
    ask_local = True

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace")
        package, _, body = text.rstrip().partition(" ")
        if not _PACKAGE.fullmatch(package):
            proto.emit(ProtocolError(f"GMCP message without a package name: {text[:60]!r}"))
            return
        data: Any = None
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                proto.emit(ProtocolError(f"GMCP {package}: data is not JSON: {body[:60]!r}"))
                return
        lowered = package.lower()
        if lowered.startswith("core.supports."):
            self._supports(proto, lowered[len("core.supports.") :], data)
        proto.emit(GmcpMessage(package, data, proto.position()))

    def _supports(self, proto: TelnetProtocol, how: str, data: Any) -> None:
        if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
            return
        current: list[str] = list(proto.state.get(STATE_KEY, ()))
        names = {item.split(" ")[0].lower() for item in data}
        if how == "set":
            current = list(data)
        elif how == "add":
            current = [m for m in current if m.split(" ")[0].lower() not in names] + data
        elif how == "remove":
            current = [m for m in current if m.split(" ")[0].lower() not in names]
        proto.state[STATE_KEY] = current[:256]  # a client cannot grow it without bound
