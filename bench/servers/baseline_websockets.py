"""Baseline: the ``websockets`` package's own asyncio server (stdlib loop or uvloop).

What hubbub's ``ws://`` listener is measured against: the library's documented
server, ``websockets.asyncio.server.serve``, with one handler coroutine per
connection (``async for message in ws``) that echoes each text message, or sends it
to every connection with ``websockets.broadcast`` in broadcast mode. Compression is
off on both sides (the load generator offers none), as for hubbub.
"""

from __future__ import annotations

import asyncio
import contextlib

from _common import announce, new_loop, parse_args
from websockets.asyncio.server import ServerConnection, broadcast, serve

connections: set[ServerConnection] = set()


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def chat(ws: ServerConnection) -> None:
    connections.add(ws)
    try:
        async for message in ws:
            broadcast(connections, message)
    finally:
        connections.discard(ws)


async def main_async(args) -> None:  # type: ignore[no-untyped-def]
    handler = echo if args.mode == "echo" else chat
    async with serve(
        handler, args.host, 0, compression=None, max_size=8192, ping_interval=None
    ) as server:
        announce(next(iter(server.sockets)).getsockname()[1])
        await asyncio.Future()


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], loops=("asyncio", "uvloop"))
    loop = new_loop(args.loop)
    asyncio.set_event_loop(loop)
    with contextlib.suppress(KeyboardInterrupt):
        loop.run_until_complete(main_async(args))


if __name__ == "__main__":
    main()
