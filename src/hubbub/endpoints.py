"""Listener URLs: ``telnet://host:port``, ``tcp://host:port?raw=1``.

Parsed and checked once, when settings are applied, so a typo is reported
before anything starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

__all__ = ["SCHEMES", "Endpoint", "parse_url"]

#: Schemes served today.
SCHEMES = frozenset({"telnet", "tcp"})
_PLANNED = frozenset({"telnets", "tls", "ws", "wss", "udp", "unix"})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Endpoint:
    """One place to listen."""

    url: str
    scheme: str
    host: str
    port: int
    raw: bool = False
    name: str = ""


def parse_url(url: str) -> Endpoint:
    """Parse a listener URL; ValueError names the URL and what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad listen URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme in _PLANNED:
        raise ValueError(f"bad listen URL {url!r}: scheme {scheme}:// is not supported yet")
    if scheme not in SCHEMES:
        raise ValueError(
            f"bad listen URL {url!r}: unknown scheme (use {', '.join(sorted(SCHEMES))})"
        )
    if not parts.hostname:
        raise ValueError(f"bad listen URL {url!r}: no host (e.g. {scheme}://127.0.0.1:9000)")
    if port is None:
        raise ValueError(f"bad listen URL {url!r}: no port (use :0 for any free port)")
    if parts.path not in ("", "/"):
        raise ValueError(f"bad listen URL {url!r}: unexpected path {parts.path!r}")
    raw = False
    name = url
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "raw":
            if value.lower() in _TRUE:
                raw = True
            elif value.lower() not in _FALSE:
                raise ValueError(f"bad listen URL {url!r}: raw={value!r} is not 1 or 0")
        elif key == "name" and value:
            name = value
        else:
            raise ValueError(f"bad listen URL {url!r}: unknown option {key!r}")
    if raw and scheme != "tcp":
        raise ValueError(f"bad listen URL {url!r}: raw=1 is for tcp:// only")
    return Endpoint(url=url, scheme=scheme, host=parts.hostname, port=port, raw=raw, name=name)
