"""A raw asyncio server for outbound links to connect to, driven byte by byte by a test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
from typing import Any


class Peer:
    """One connection the remote accepted."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_until(self, marker: bytes, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(marker), timeout)

    async def read_exactly(self, n: int, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.reader.readexactly(n), timeout)

    async def read_to_end(self, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.reader.read(), timeout)

    def reset(self) -> None:
        """Close with an RST (SO_LINGER 0), as a crashing host or a firewall would."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.close()


class RawRemote:
    """``async with RawRemote() as remote``: a listener whose connections a test drives.

    ``greeting`` is sent to each peer at once; ``ssl`` makes it a TLS server;
    ``path`` a UNIX socket server.
    """

    def __init__(
        self,
        *,
        greeting: bytes = b"",
        ssl: ssl.SSLContext | None = None,
        path: str | None = None,
        port: int = 0,
    ) -> None:
        self.greeting = greeting
        self.ssl = ssl
        self.path = path
        self.port = port
        self.peers: list[Peer] = []
        self.accepted: asyncio.Queue[Peer] = asyncio.Queue()
        self.server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer)
        self.peers.append(peer)
        if self.greeting:
            writer.write(self.greeting)
        await self.accepted.put(peer)

    async def start(self) -> RawRemote:
        if self.path is not None:
            self.server = await asyncio.start_unix_server(self._handle, self.path, ssl=self.ssl)
        else:
            self.server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, ssl=self.ssl
            )
            self.port = self.server.sockets[0].getsockname()[1]
        return self

    def url(self, scheme: str = "tcp", query: str = "") -> str:
        where = self.path if self.path is not None else f"127.0.0.1:{self.port}"
        return f"{scheme}://{where}" + (f"?{query}" if query else "")

    async def next_peer(self, timeout: float = 5.0) -> Peer:
        return await asyncio.wait_for(self.accepted.get(), timeout)

    async def close(self) -> None:
        """Stop listening (the port then refuses) and drop every peer."""
        if self.server is not None:
            self.server.close()
            for peer in self.peers:
                with contextlib.suppress(Exception):
                    peer.writer.transport.abort()
            await self.server.wait_closed()
            self.server = None

    async def __aenter__(self) -> RawRemote:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


async def silent_listener() -> tuple[socket.socket, int]:
    """A socket that listens and never accepts: connects complete, nothing is ever said."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock, sock.getsockname()[1]


async def closed_port() -> int:
    """A port nothing listens on (connecting to it is refused)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    sock.close()
    return port
