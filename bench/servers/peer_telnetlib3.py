"""Peer: telnetlib3 5.0.1 line server (``create_server`` with a shell coroutine).

``line_mode=True`` keeps clients in NVT line mode (no WILL ECHO / WILL SGA), which
is what a line-oriented chat or MUD server wants; the shell loops on
``reader.readline()``.
"""

from __future__ import annotations

import asyncio

import telnetlib3
from _common import announce, parse_args, stream_lines

writers: set = set()


def reply(line: str) -> str:
    return line.rstrip("\r\n") + "\r\n"


async def serve(args) -> None:  # type: ignore[no-untyped-def]
    server = await telnetlib3.create_server(
        host=args.host,
        port=0,
        shell=lambda r, w: stream_lines(r, w, writers, args.mode, reply),
        line_mode=True,
        timeout=False,
    )
    announce(server.sockets[0].getsockname()[1])
    await server.wait_closed()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
