"""Helpers shared by the benchmark server scripts (kept dependency-free: the peer
scripts import this from the peers venv, which does not have hubbub installed)."""

from __future__ import annotations

import argparse
import resource
import sys


def parse_args(
    description: str,
    loops: tuple[str, ...] = ("asyncio",),
    flags: dict[str, str] | None = None,
) -> argparse.Namespace:
    """The options every server script takes; ``flags`` adds a script's own
    on/off switches (``{"--name": "help"}``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mode", choices=("echo", "broadcast"), default="echo")
    parser.add_argument("--loop", choices=loops, default=loops[0])
    parser.add_argument("--proto", choices=("tcp", "telnet"), default="tcp")
    parser.add_argument("--host", default="127.0.0.1")
    for flag, help_text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=help_text)
    args = parser.parse_args()
    raise_nofile()
    return args


def raise_nofile() -> None:
    """Lift the soft open-files limit to the hard limit (10k idle clients need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(port: int) -> None:
    """Tell the runner which port we are bound to."""
    sys.stdout.write(f"PORT {port}\n")
    sys.stdout.flush()


def new_loop(kind: str):  # type: ignore[no-untyped-def]
    """Return a fresh event loop of the requested kind (``asyncio`` or ``uvloop``)."""
    import asyncio

    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def serve_asyncio(args: argparse.Namespace, start) -> None:  # type: ignore[no-untyped-def]
    """Serve forever on a fresh loop of kind ``args.loop``.

    ``start(args)`` is a coroutine function returning a started ``asyncio.Server``;
    its port is announced once it is listening.
    """

    async def serve() -> None:
        server = await start(args)
        announce(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    loop = new_loop(args.loop)
    try:
        loop.run_until_complete(serve())
    finally:
        loop.close()


async def stream_lines(reader, writer, writers: set, mode: str, reply) -> None:  # type: ignore[no-untyped-def]
    """Per-client loop of a streams-style line server (asyncio streams, telnetlib3).

    Reads with ``readline()`` until EOF; ``reply(line)`` turns a line into the payload,
    which is written to the sender (``echo``) or to every writer in ``writers``
    (``broadcast``), followed by ``await writer.drain()``.
    """
    import asyncio

    writers.add(writer)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            payload = reply(line)
            if mode == "echo":
                writer.write(payload)
            else:
                for other in writers:
                    other.write(payload)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writers.discard(writer)
        writer.close()
