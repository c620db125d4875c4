"""Listener URLs: ``telnet://host:port``, ``tcp://host:port?raw=1``.

Parsed and checked once, when settings are applied, so a typo is reported
before anything starts. Which schemes exist, and which options each takes,
is the transports' table (:data:`hubbub.transports.SCHEMES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

from .transports import SCHEMES

__all__ = ["Endpoint", "parse_url"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class Endpoint:
    """One place to listen: a host and port, or a path, with per-listener options."""

    url: str
    scheme: str
    host: str
    port: int
    raw: bool = False
    name: str = ""
    path: str = ""
    options: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: The HTTP path of a ws:// or wss:// URL (default "/"); "" for other schemes.
    resource: str = ""

    def flag(self, key: str, default: bool = False) -> bool:
        """A yes/no option of the URL (``?raw=1``)."""
        value = self.options.get(key)
        return default if value is None else value.lower() in _TRUE


def parse_url(url: str) -> Endpoint:
    """Parse a listener URL; ValueError names the URL and what is wrong with it."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"bad listen URL {url!r}: {exc}") from None
    if "://" not in url:
        raise ValueError(
            f"bad listen URL {url!r}: no scheme (e.g. telnet://{url or '127.0.0.1:9000'})"
        )
    scheme_name = parts.scheme.lower()
    scheme = SCHEMES.get(scheme_name)
    if scheme is None:
        raise ValueError(
            f"bad listen URL {url!r}: unknown scheme (use {', '.join(sorted(SCHEMES))})"
        )
    host = parts.hostname or ""
    path = resource = ""
    if scheme.path:
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ValueError(f"bad listen URL {url!r}: no path (e.g. {scheme_name}:///run/x.sock)")
        if not path.startswith("/") or path.endswith("/"):
            raise ValueError(
                f"bad listen URL {url!r}: the path must be absolute and name a file "
                f"(three slashes: {scheme_name}:///run/x.sock)"
            )
        port = 0
    else:
        if not host:
            raise ValueError(
                f"bad listen URL {url!r}: no host (e.g. {scheme_name}://127.0.0.1:9000)"
            )
        if port is None:
            raise ValueError(f"bad listen URL {url!r}: no port (use :0 for any free port)")
        if scheme.http:
            resource = parts.path or "/"
        elif parts.path not in ("", "/"):
            raise ValueError(f"bad listen URL {url!r}: unexpected path {parts.path!r}")
    name = url
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "name":
            if not value:
                raise ValueError(f"bad listen URL {url!r}: name= needs a value")
            if name != url:
                raise ValueError(f"bad listen URL {url!r}: option 'name' given twice")
            name = value
        elif key in scheme.options:
            if key in options:
                raise ValueError(f"bad listen URL {url!r}: option {key!r} given twice")
            options[key] = value
        else:
            raise ValueError(f"bad listen URL {url!r}: unknown option {key!r}")
    proxy = options.get("proxy", "0").lower()
    if proxy not in _TRUE and proxy not in _FALSE:
        raise ValueError(f"bad listen URL {url!r}: proxy={options['proxy']!r} is not 1 or 0")
    raw = False
    if "raw" in options:
        value = options["raw"].lower()
        if value in _TRUE:
            raw = True
        elif value not in _FALSE:
            raise ValueError(f"bad listen URL {url!r}: raw={options['raw']!r} is not 1 or 0")
    if options.get("tls", "off").lower() not in ("auto", "off"):
        raise ValueError(f"bad listen URL {url!r}: tls={options['tls']!r} is not auto or off")
    if "" in (options.get("cert"), options.get("key")):
        raise ValueError(f"bad listen URL {url!r}: cert= and key= need a file's path")
    return Endpoint(
        url=url,
        scheme=scheme_name,
        host=host,
        port=port or 0,
        raw=raw,
        name=name,
        path=path,
        options=MappingProxyType(options),
        resource=resource,
    )
