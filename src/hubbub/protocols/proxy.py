"""The PROXY protocol header (HAProxy's, versions 1 and 2), sans-IO.

A load balancer that forwards TCP connections puts one header in front of
the client's bytes saying who the client really is. :func:`parse_header`
takes the bytes received so far and returns the header once it is whole,
None while more are needed, or raises :class:`ProxyError` for anything that
is not a valid header. Both versions are recognised from their first bytes.

The header is bounded: a version 1 line is at most 107 bytes with its CRLF
(the specification's own limit); a version 2 header at most
:data:`V2_MAX_LENGTH` bytes after its 16-byte preamble (addresses and TLVs;
the TLVs are skipped).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Final

__all__ = [
    "V1_MAX_LENGTH",
    "V2_MAX_LENGTH",
    "V2_SIGNATURE",
    "ProxyError",
    "ProxyHeader",
    "parse_header",
]

#: Longest version 1 header, CRLF included.
V1_MAX_LENGTH: Final = 107
#: Longest version 2 address-and-TLV block accepted (after the 16-byte preamble).
V2_MAX_LENGTH: Final = 2048
#: The 12 bytes every version 2 header starts with.
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"

_V1_PREFIX: Final = b"PROXY "
# Address bytes a version 2 header needs per family: INET, INET6, UNIX.
_V2_ADDRESS_SIZE: Final = {1: 12, 2: 36, 3: 216}


class ProxyError(ValueError):
    """The bytes are not a valid PROXY protocol header (the message says why)."""


@dataclass(frozen=True)
class ProxyHeader:
    """A complete header."""

    version: int
    #: Bytes the header took; what follows is the client's own data.
    length: int
    #: The client's (host, port), or None when the header carries none
    #: (version 2 LOCAL, e.g. a health check; v1 UNKNOWN; a family without
    #: IP addresses): the connection's own address stands.
    source: tuple[str, int] | None = None
    #: The address the client connected to, when given.
    destination: tuple[str, int] | None = None


def parse_header(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``; None if incomplete; :class:`ProxyError` if bad."""
    if data[:1] == b"\r":
        head = data[: len(V2_SIGNATURE)]
        if V2_SIGNATURE.startswith(head):
            return None if len(head) < len(V2_SIGNATURE) else _parse_v2(data)
    elif _V1_PREFIX.startswith(data[: len(_V1_PREFIX)]):
        return None if len(data) < len(_V1_PREFIX) else _parse_v1(data)
    raise ProxyError(f"not a PROXY protocol header (starts {bytes(data[:16])!r})")


# --- version 1: one text line ----------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH or b"\n" in data[:V1_MAX_LENGTH]:
            raise ProxyError(f"version 1 header without CRLF in its first {V1_MAX_LENGTH} bytes")
        return None
    fields = data[len(_V1_PREFIX) : end].split(b" ")
    length = end + 2
    if fields[0] == b"UNKNOWN":
        return ProxyHeader(version=1, length=length)
    if fields[0] not in (b"TCP4", b"TCP6") or len(fields) != 5:
        raise ProxyError(f"bad version 1 header {bytes(data[:end])!r}")
    family = 4 if fields[0] == b"TCP4" else 6
    source = (_v1_address(fields[1], family), _v1_port(fields[3]))
    destination = (_v1_address(fields[2], family), _v1_port(fields[4]))
    return ProxyHeader(version=1, length=length, source=source, destination=destination)


def _v1_address(field: bytes, family: int) -> str:
    try:
        address = ipaddress.ip_address(field.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProxyError(f"bad address {field!r} in version 1 header") from None
    if address.version != family:
        raise ProxyError(f"address {field!r} is not IPv{family}")
    return str(address)


def _v1_port(field: bytes) -> int:
    if not field.isdigit() or len(field) > 5 or int(field) > 65535:
        raise ProxyError(f"bad port {field!r} in version 1 header")
    return int(field)


# --- version 2: binary --------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < 16:
        return None
    version_command, family_protocol, size = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyError(f"version 2 signature with version {version_command >> 4}")
    command = version_command & 0x0F
    if command > 1:
        raise ProxyError(f"version 2 header with unknown command {command}")
    if size > V2_MAX_LENGTH:
        raise ProxyError(f"version 2 header of {size} bytes (more than {V2_MAX_LENGTH})")
    family = family_protocol >> 4
    needed = _V2_ADDRESS_SIZE.get(family, 0)
    if command == 1 and family > 3:
        raise ProxyError(f"version 2 header with unknown address family {family}")
    if command == 1 and size < needed:
        raise ProxyError(
            f"version 2 header length {size} is too short for its addresses ({needed} bytes)"
        )
    length = 16 + size
    if len(data) < length:
        return None
    if command == 0 or family not in (1, 2):
        # LOCAL (the proxy's own connection, e.g. a health check), or no IP addresses.
        return ProxyHeader(version=2, length=length)
    if family == 1:
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", data, 16)
    else:
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", data, 16)
    return ProxyHeader(
        version=2,
        length=length,
        source=(str(ipaddress.ip_address(src)), sport),
        destination=(str(ipaddress.ip_address(dst)), dport),
    )
