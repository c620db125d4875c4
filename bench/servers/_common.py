"""Helpers shared by the benchmark server scripts (kept dependency-free: the peer
scripts import this from the peers venv, which does not have hubbub installed)."""

from __future__ import annotations

import argparse
import resource
import ssl
import sys


def parse_args(
    description: str,
    loops: tuple[str, ...] = ("asyncio",),
    flags: dict[str, str] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
) -> argparse.Namespace:
    """The options every server script takes; ``flags`` adds a script's own
    on/off switches (``{"--name": "help"}``), ``choices`` its own options with a
    fixed set of values, the first the default (``{"--name": ("a", "b")}``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--mode", choices=("echo", "broadcast"), default="echo")
    parser.add_argument("--loop", choices=loops, default=loops[0])
    parser.add_argument("--proto", choices=("tcp", "telnet"), default="tcp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--transport",
        choices=("tcp", "tls", "unix", "ws"),
        default="tcp",
        help="tls: --cert and --key required; unix: --path required",
    )
    parser.add_argument("--path", default="", help="UNIX socket path (--transport unix)")
    parser.add_argument("--cert", default="", help="PEM certificate (--transport tls)")
    parser.add_argument("--key", default="", help="PEM private key (--transport tls)")
    for flag, help_text in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=help_text)
    for option, values in (choices or {}).items():
        parser.add_argument(option, choices=values, default=values[0])
    args = parser.parse_args()
    if args.transport == "unix" and not args.path:
        parser.error("--transport unix needs --path")
    if args.transport == "tls" and not (args.cert and args.key):
        parser.error("--transport tls needs --cert and --key")
    raise_nofile()
    return args


def raise_nofile() -> None:
    """Lift the soft open-files limit to the hard limit (10k idle clients need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def announce(address: int | str) -> None:
    """Tell the runner where we listen: a TCP port, or a UNIX socket's path."""
    word = "PORT" if isinstance(address, int) else "PATH"
    sys.stdout.write(f"{word} {address}\n")
    sys.stdout.flush()


def server_tls_context(args: argparse.Namespace) -> ssl.SSLContext:
    """The bare servers' TLS context: the certificate and key, every other setting
    (protocol versions, ciphers) left at the ``ssl`` module's defaults, as hubbub's."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    return context


async def create_server(args: argparse.Namespace, factory):  # type: ignore[no-untyped-def]
    """``loop.create_server`` on ``args.host`` (with ``ssl=`` for ``--transport tls``)
    or ``loop.create_unix_server`` on ``args.path``: the same protocol on each."""
    import asyncio

    loop = asyncio.get_running_loop()
    if args.transport == "unix":
        return await loop.create_unix_server(factory, args.path)
    tls = server_tls_context(args) if args.transport == "tls" else None
    return await loop.create_server(factory, args.host, 0, ssl=tls)


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
    its port (or UNIX path) is announced once it is listening.
    """

    async def serve() -> None:
        server = await start(args)
        name = server.sockets[0].getsockname()
        announce(name if isinstance(name, str) else name[1])
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
