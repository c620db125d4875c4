"""``?proxy=1``: read the PROXY protocol header on an accepted socket, before any transport.

Behind a load balancer (HAProxy, nginx's stream module, AWS NLB…) every
connection comes from the balancer; the header it sends first says who the
client is. :func:`receive_prelude` reads that header with
:func:`hubbub.protocols.proxy.parse_header`, applies the address rules to the
real address (:meth:`Host.screen`), and returns what the connection starts
with: the client's address and any bytes that came in with the header.

A bad header, one not complete within ``proxy_timeout`` seconds, or a peer
that leaves first, closes that connection only: nothing is sent (the peer is
the balancer, not a person), and an INFO line is logged at a bounded rate
per listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import weakref
from typing import Any, Final

from ..log_limit import LogLimit
from ..protocols.proxy import ProxyError, ProxyHeader, parse_header
from ..server import Server
from .base import Host

__all__ = ["Prelude", "receive_prelude"]

log = logging.getLogger("hubbub.transport")

#: Bytes asked of the socket per read while the header is incomplete.
READ_SIZE: Final = 4096

#: The peer's address (None: the socket's own) and bytes read after the header.
Prelude = tuple[tuple[Any, ...] | None, bytes]

_bad_headers: weakref.WeakKeyDictionary[Server, LogLimit] = weakref.WeakKeyDictionary()


async def receive_prelude(host: Host, server: Server, conn: socket.socket) -> Prelude | None:
    """The header's address and the bytes after it; None once ``conn`` was closed instead.

    ``conn`` holds a place :meth:`Host.admit` reserved; when this returns
    None the place is given back (:meth:`Host.arrived`).
    """
    try:
        header, rest = await _read_header(conn, host.settings.proxy_timeout)
    except (ProxyError, TimeoutError, OSError) as exc:
        _log_bad_header(server, conn, exc)
        _give_up(host, server, conn)
        return None
    except BaseException:
        _give_up(host, server, conn)
        raise
    if header.source is None:
        return None, rest
    refusal = host.screen(server, header.source)
    if refusal is not None:
        # The balancer passes the line on to the person it came from.
        with contextlib.suppress(OSError):
            conn.send(refusal.encode("utf-8", "replace") + b"\r\n")
        _give_up(host, server, conn)
        return None
    return header.source, rest


async def _read_header(conn: socket.socket, timeout: float) -> tuple[ProxyHeader, bytes]:
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = conn.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                await _readable(loop, conn)
                continue
            if not chunk:
                raise ProxyError("the connection closed before the header was complete")
            data += chunk
            header = parse_header(data)
            if header is not None:
                return header, data[header.length :]


async def _readable(loop: asyncio.AbstractEventLoop, conn: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    fd = conn.fileno()
    loop.add_reader(fd, _wake, ready)
    try:
        await ready
    finally:
        loop.remove_reader(fd)


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


def _give_up(host: Host, server: Server, conn: socket.socket) -> None:
    conn.close()
    host.arrived(server)


def _log_bad_header(server: Server, conn: socket.socket, exc: BaseException) -> None:
    if isinstance(exc, TimeoutError):
        why = "no complete header in time (proxy_timeout)"
    else:
        why = str(exc) or type(exc).__name__
    try:
        peer: Any = conn.getpeername()
    except OSError:
        peer = "?"
    limit = _bad_headers.get(server)
    if limit is None:
        limit = _bad_headers[server] = LogLimit()
    limit.log(
        log, logging.INFO, "bad PROXY header from %s on %s: %s; closed", peer, server.url, why
    )
