"""Baseline: ``asyncio.start_server`` streams line server (stdlib loop or uvloop).

The way most asyncio tutorials write a line server: one coroutine per client
looping on ``reader.readline()``, ``writer.write()`` then ``await writer.drain()``.
"""

from __future__ import annotations

import asyncio

from _common import parse_args, serve_asyncio, stream_lines

writers: set[asyncio.StreamWriter] = set()


def reply(raw: bytes) -> bytes:
    return (raw.rstrip(b"\r\n").decode("utf-8", "replace") + "\r\n").encode()


async def start(args) -> asyncio.Server:  # type: ignore[no-untyped-def]
    return await asyncio.start_server(
        lambda r, w: stream_lines(r, w, writers, args.mode, reply), args.host, 0
    )


def main() -> None:
    serve_asyncio(parse_args(__doc__.splitlines()[0], loops=("asyncio", "uvloop")), start)


if __name__ == "__main__":
    main()
