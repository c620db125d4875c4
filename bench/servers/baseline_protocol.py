"""Baseline: bare ``asyncio.Protocol`` line server (stdlib loop or uvloop).

This is the floor hubbub is measured against: split on LF, strip CR, decode UTF-8,
hand each line (a ``str``) to a function, encode the reply plus CRLF and
``transport.write`` it. No framework, no events, no per-client objects beyond the
protocol instance itself.

With ``--joined`` the replies to the lines of one packet are collected and written
with one ``transport.write``, as hubbub does: the fair baseline when a packet holds
many lines (pipelined echo), where one write per line costs a ``send()`` per line.

``--transport tls`` serves the same protocol through ``create_server(ssl=...)``,
``--transport unix`` through ``create_unix_server``: the loop's own TLS and UNIX
socket transports under the same ``data_received``.
"""

from __future__ import annotations

import asyncio

from _common import create_server, parse_args, serve_asyncio

clients: set[asyncio.Transport] = set()


class LineProtocol(asyncio.Protocol):
    def __init__(self, on_line) -> None:  # type: ignore[no-untyped-def]
        self.on_line = on_line
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        clients.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        clients.discard(self.transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        *lines, self.buffer = data.split(b"\n")
        for raw in lines:
            self.on_line(self.transport, raw.rstrip(b"\r").decode("utf-8", "replace"))


class JoinedLineProtocol(LineProtocol):
    """One function call per line that returns its reply; one write per packet."""

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
        *lines, self.buffer = data.split(b"\n")
        if lines:
            replies = [self.on_line(raw.rstrip(b"\r").decode("utf-8", "replace")) for raw in lines]
            self.deliver(self.transport, b"".join(replies))

    def deliver(self, transport: asyncio.Transport, payload: bytes) -> None:
        transport.write(payload)


class JoinedBroadcastProtocol(JoinedLineProtocol):
    def deliver(self, transport: asyncio.Transport, payload: bytes) -> None:
        for other in clients:
            other.write(payload)


def echo(transport: asyncio.Transport, text: str) -> None:
    transport.write((text + "\r\n").encode())


def broadcast(_transport: asyncio.Transport, text: str) -> None:
    payload = (text + "\r\n").encode()
    for other in clients:
        other.write(payload)


def reply(text: str) -> bytes:
    """The reply to one line, for the joined servers (echo and broadcast alike)."""
    return (text + "\r\n").encode()


async def start(args) -> asyncio.Server:  # type: ignore[no-untyped-def]
    if args.joined:
        joined = JoinedLineProtocol if args.mode == "echo" else JoinedBroadcastProtocol
        return await create_server(args, lambda: joined(reply))
    handler = echo if args.mode == "echo" else broadcast
    return await create_server(args, lambda: LineProtocol(handler))


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        loops=("asyncio", "uvloop"),
        flags={"--joined": "write the replies to one packet's lines with one write"},
    )
    serve_asyncio(args, start)


if __name__ == "__main__":
    main()
