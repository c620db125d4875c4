"""``?proxy=1``: read the PROXY protocol header on an accepted socket, before any transport.

Behind a load balancer (HAProxy, nginx's stream module, AWS NLB…) every
connection comes from the balancer; the header it sends first says who the
client is. :func:`receive_prelude` reads that header with
:func:`hubbub.protocols.proxy.parse_header`, taking no byte past it, and
applies the address rules to the real address (:meth:`Host.screen`). What
follows the header is left in the socket, so TLS can come after it.

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
from collections.abc import Callable
from typing import Final

from ..log_limit import LogLimit
from ..protocols.proxy import ProxyError, ProxyHeader, parse_header
from ..server import Server, format_address
from .base import Host

__all__ = ["receive_prelude"]

log = logging.getLogger("hubbub.transport")

#: Bytes asked of the socket per read while the header is incomplete.
READ_SIZE: Final = 4096
#: Reads at most spent on what a rejected peer already sent, before closing.
DRAIN_READS: Final = 16

_bad_headers: weakref.WeakKeyDictionary[Server, LogLimit] = weakref.WeakKeyDictionary()


async def receive_prelude(
    host: Host,
    server: Server,
    conn: socket.socket,
    refusal: Callable[[str], bytes],
) -> ProxyHeader | None:
    """The header, read off ``conn``; None once ``conn`` was closed instead.

    Only the header's own bytes are taken from the socket: what follows it
    stays there for the transport (a TLS ClientHello, the first line).
    ``refusal`` makes the bytes a peer the address rules turn away is sent
    (the listener's own format: a line, or an HTTP answer on ws://). ``conn`` holds a place
    :meth:`Host.admit` reserved; when this returns
    None the place is given back (:meth:`Host.arrived`).
    """
    try:
        header = await _read_header(conn, host.settings.proxy_timeout)
    except (ProxyError, TimeoutError, OSError) as exc:
        _log_bad_header(server, conn, exc)
        _give_up(host, server, conn)
        return None
    except BaseException:
        _give_up(host, server, conn)
        raise
    if header.source is None:
        return header
    reason = host.screen(server, header.source)
    if reason is not None:
        # The balancer passes it on to the person it came from.
        with contextlib.suppress(OSError):
            conn.send(refusal(reason))
        _give_up(host, server, conn)
        return None
    return header


async def _read_header(conn: socket.socket, timeout: float) -> ProxyHeader:
    """Peek, then take exactly the header: bytes after it are left in the socket."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                seen = conn.recv(READ_SIZE, socket.MSG_PEEK)
            except (BlockingIOError, InterruptedError):
                await _readable(loop, conn)
                continue
            if not seen:
                raise ProxyError("the connection closed before the header was complete")
            header = parse_header(data + seen)
            if header is not None:
                _take(conn, header.length - len(data))
                return header
            # Incomplete: everything peeked is header, so take it all and wait.
            data += _take(conn, len(seen))
            await _readable(loop, conn)


def _take(conn: socket.socket, size: int) -> bytes:
    """Read ``size`` bytes that a peek showed are already in the socket."""
    taken = b""
    while len(taken) < size:
        taken += conn.recv(size - len(taken))
    return taken


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
    # Bytes left unread would make close() send a reset: read off what is there.
    with contextlib.suppress(OSError):
        for _ in range(DRAIN_READS):
            if not conn.recv(READ_SIZE):
                break
    conn.close()
    host.arrived(server)


def _log_bad_header(server: Server, conn: socket.socket, exc: BaseException) -> None:
    if isinstance(exc, TimeoutError):
        why = "no complete header in time (proxy_timeout)"
    else:
        why = str(exc) or type(exc).__name__
    try:
        peer = format_address(conn.getpeername())
    except OSError:
        peer = "?"
    limit = _bad_headers.get(server)
    if limit is None:
        limit = _bad_headers[server] = LogLimit()
    limit.log(
        log, logging.INFO, "bad PROXY header from %s on %s: %s; closed", peer, server.url, why
    )
