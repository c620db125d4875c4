"""TLS and plain on one port: look at a new socket's first bytes before anything reads them.

A TLS client speaks first, and its first record is a handshake: byte 0x16,
then the major version 0x03. A plain client either types something else or,
like the stock ``telnet`` and MUD clients, waits for the server to speak.
So: wait until the socket is readable or ``tls_sniff_timeout`` passes, then
*peek* (``MSG_PEEK``) at what is there. Nothing is consumed, so whichever
transport is then made reads the bytes from the start. The socket is not
read at all until it is readable, and a silent peer costs one timer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Final

__all__ = ["looks_like_tls", "sniff"]

#: A TLS record of type "handshake" (a ClientHello is the first one).
HANDSHAKE: Final = 0x16
#: The record's major protocol version (SSL 3.0 and every TLS version).
MAJOR_VERSION: Final = 0x03
#: Bytes peeked at: the record type and the major version.
PEEK: Final = 2


def looks_like_tls(head: bytes) -> bool:
    """True when ``head`` (a connection's first bytes) opens a TLS handshake.

    One byte is enough when it is all that has come: 0x16 (^V) is not what a
    person or a telnet client sends first.
    """
    if not head or head[0] != HANDSHAKE:
        return False
    return len(head) < 2 or head[1] == MAJOR_VERSION


def _peek(sock: socket.socket) -> bytes | None:
    """The first bytes waiting on ``sock`` (b"" at end of file), or None if none yet."""
    try:
        return sock.recv(PEEK, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return None


async def sniff(sock: socket.socket, timeout: float) -> bool:
    """Wait up to ``timeout`` for ``sock``'s first bytes; True if they open a TLS handshake.

    Raises OSError if the peer resets meanwhile.
    """
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    fd = sock.fileno()
    loop.add_reader(fd, wake)
    timer = loop.call_later(timeout, wake)
    try:
        await ready
    finally:
        timer.cancel()
        loop.remove_reader(fd)
    head = _peek(sock)
    return head is not None and looks_like_tls(head)
