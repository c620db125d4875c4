"""Opening links outward: a URL in, a connected :class:`BaseConnection` out.

The other side of :mod:`.listener`. An outbound link is carried by the same
connection classes as an accepted client (:class:`.tcp.StreamConnection`,
:class:`.telnet.TelnetConnection` with the client-role telnet options), so
everything the base does for a client (framing, fairness, output limits)
holds for it too. Which schemes can be dialled, and which URL options each
takes, is this module's own table, :data:`OUTBOUND`: the listeners' table
(:data:`hubbub.transports.SCHEMES`) is not involved.

TLS verifies the server against the system's certificate authorities and
the host name of the URL, unless the URL says ``?ca=PATH`` (trust that PEM
bundle instead) or ``?verify=0`` (no verification at all: encrypted, not
authenticated).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from ..endpoints import Endpoint
from ..errors import Unreachable
from ..protocols import telnet
from .base import BaseConnection, Host
from .tcp import StreamConnection
from .telnet import TelnetConnection
from .unix import UnixConnection

if TYPE_CHECKING:
    from ..client import Client
    from ..server import Remote
    from .websocket import WebSocketLink

__all__ = ["OUTBOUND", "Dialable", "open_connection", "parse_target", "tls_context"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Dialable:
    """One scheme hubbub can connect out with."""

    #: True: telnet negotiation (client role); False: plain lines.
    telnet: bool = False
    #: True: TLS over the stream.
    tls: bool = False
    #: True: the URL names a UNIX socket path instead of host and port.
    path: bool = False
    #: URL query options it takes (``name`` is taken by every scheme).
    options: frozenset[str] = frozenset()
    #: True: WebSocket (the URL may have a path).
    websocket: bool = False


_TLS_OPTIONS = frozenset({"ca", "verify"})

#: The schemes :func:`open_connection` can dial, and their options.
OUTBOUND: dict[str, Dialable] = {
    "tcp": Dialable(options=frozenset({"raw"})),
    "telnet": Dialable(telnet=True),
    "tls": Dialable(tls=True, options=_TLS_OPTIONS | {"raw"}),
    "telnets": Dialable(telnet=True, tls=True, options=_TLS_OPTIONS),
    "unix": Dialable(path=True, options=frozenset({"raw"})),
    "ws": Dialable(websocket=True, options=frozenset({"raw"})),
    "wss": Dialable(websocket=True, tls=True, options=_TLS_OPTIONS | {"raw"}),
}


def parse_target(url: str, name: str | None = None) -> Endpoint:
    """Parse an outbound URL; ValueError names the URL and what is wrong with it."""

    def bad(why: str) -> ValueError:
        return ValueError(f"bad connect URL {url!r}: {why}")

    if not isinstance(url, str) or "://" not in url:
        raise bad("no scheme (e.g. telnet://example.org:4000)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise bad(str(exc)) from None
    scheme = parts.scheme.lower()
    dialable = OUTBOUND.get(scheme)
    if dialable is None:
        raise bad(f"unknown scheme (use {', '.join(sorted(OUTBOUND))})")
    host = parts.hostname or ""
    path = ""
    if dialable.path:
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise bad(f"no path (e.g. {scheme}:///run/app.sock)")
        host, port = path, 0
    else:
        if not host:
            raise bad(f"no host (e.g. {scheme}://example.org:4000)")
        if not port:
            raise bad("no port (a link needs the port to connect to)")
        if parts.path not in ("", "/") and not dialable.websocket:
            raise bad(f"unexpected path {parts.path!r}")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key != "name" and key not in dialable.options:
            raise bad(f"unknown option {key!r}")
        if key in options:
            raise bad(f"option {key!r} given twice")
        options[key] = value
    for key in ("raw", "verify"):
        if key in options and options[key].lower() not in _TRUE | _FALSE:
            raise bad(f"{key}={options[key]!r} is not 1 or 0")
    if "ca" in options and not options["ca"]:
        raise bad("ca= needs the path of a PEM file")
    given = options.pop("name", None)
    if given == "":
        raise bad("name= needs a value")
    return Endpoint(
        url=url,
        scheme=scheme,
        host=host,
        port=port or 0,
        raw=options.get("raw", "0").lower() in _TRUE,
        name=name or given or url,
        path=path,
        options=MappingProxyType(options),
        resource=(parts.path or "/") if dialable.websocket else "",
    )


def tls_context(endpoint: Endpoint) -> ssl.SSLContext:
    """The client-side TLS context for ``endpoint`` (see the module docstring)."""
    ca = endpoint.options.get("ca")
    try:
        context = ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ValueError(
            f"bad connect URL {endpoint.url!r}: cannot load ca={ca}: {reason}"
        ) from None
    if not endpoint.flag("verify", True):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException, endpoint: Endpoint, timeout: float) -> str:
    """Why a connection attempt failed, in the words an operator would use."""
    if isinstance(exc, TimeoutError):  # ours, or the kernel's ETIMEDOUT
        return f"timed out after {timeout:g}s"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted: {exc.verify_message or exc.reason}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS handshake failed: {exc.reason or exc}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {endpoint.host!r}: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, FileNotFoundError):
        return "no such socket"
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
        return text[:1].lower() + text[1:]
    return str(exc) or type(exc).__name__


def websocket_link(host: Host, remote: Remote) -> BaseConnection:
    """A WebSocket link's connection (checked for the ``web`` extra beforehand)."""
    from . import websocket

    endpoint = remote.endpoint
    name = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    url = f"{endpoint.scheme}://{name}:{endpoint.port}{endpoint.resource}"
    return websocket.WebSocketLink(host, remote, url)


def unreachable(endpoint: Endpoint, reason: str) -> Unreachable:
    """The error for ``endpoint`` with ``reason`` (the path stands for the host on unix://)."""
    return Unreachable(endpoint.host, None if endpoint.path else endpoint.port, reason)


async def open_connection(
    host: Host, remote: Remote, timeout: float, client: Client | None = None
) -> BaseConnection:
    """Connect to ``remote`` within ``timeout`` seconds (TLS handshake included).

    The connection is up and its client attached when this returns: that
    ``Connect`` has been raised (unless the host refused the client; then
    ``connection.client`` is None and the link is closing). With ``client``,
    that same object is carried on the new link (a reconnect). Failure raises
    :class:`hubbub.Unreachable` with the reason in words.
    """
    endpoint = remote.endpoint
    dialable = OUTBOUND[endpoint.scheme]
    made: list[BaseConnection] = []
    options = telnet.client_options() if dialable.telnet else None

    def make() -> BaseConnection:
        connection: BaseConnection
        if dialable.websocket:
            connection = websocket_link(host, remote)
        elif options is not None:
            connection = TelnetConnection(host, remote, options)
        elif dialable.path:
            connection = UnixConnection(host, remote)
        else:
            connection = StreamConnection(host, remote)
        # Known before the wire is up, so the client's transport says tls/telnets.
        connection.secure = dialable.tls
        if client is not None:
            connection.resume(client)
        made.append(connection)
        return connection

    if dialable.websocket:
        from . import websocket

        if not websocket.available():
            raise unreachable(endpoint, f"ws:// and wss:// {websocket.MISSING}")
    # Every connection class is also an asyncio protocol (see tcp.py).
    factory = cast(Callable[[], asyncio.Protocol], make)
    loop = asyncio.get_running_loop()
    try:
        # Made for each attempt, so a retry sees a CA bundle that was updated meanwhile.
        context = tls_context(endpoint) if dialable.tls else None
    except ValueError as exc:
        raise unreachable(endpoint, str(exc)) from None
    try:
        async with asyncio.timeout(timeout):
            if dialable.path:
                await loop.create_unix_connection(factory, endpoint.path)
            elif context is not None:
                await loop.create_connection(
                    factory,
                    endpoint.host,
                    endpoint.port,
                    ssl=context,
                    server_hostname=endpoint.host,
                    ssl_handshake_timeout=timeout,
                )
            else:
                await loop.create_connection(factory, endpoint.host, endpoint.port)
            if dialable.websocket:
                await cast("WebSocketLink", made[-1]).handshake
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        if made and dialable.websocket:
            made[-1].abort_transport()
        raise unreachable(endpoint, _reason(exc, endpoint, timeout)) from None
    return made[-1]
