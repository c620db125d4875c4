"""Peer: Mara 2.1.1 line server (``TextServer``, asyncio streams underneath).

Mara logs every event at INFO by default (to stdout); the runner starts this
script with ``LOGLEVEL=WARNING`` as a Mara user would in production, otherwise the
logging dominates the profile. ``TextServer`` splits on CRLF only.
"""

from __future__ import annotations

import asyncio

from _common import announce, parse_args
from mara import App, events
from mara.servers.socket import TextServer
from mara.status import Status


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    app = App()
    server = app.add_server(TextServer(host=args.host, port=0))

    # Mara 2.1.1's server events (ListenStart, ...) skip Event.__init__, so a handler
    # bound to ListenStart crashes the trigger; wait for the listener from PostStart.
    @app.on(events.PostStart)
    async def started(event: events.PostStart) -> None:
        async def wait_listening() -> None:
            while server.status != Status.RUNNING:
                await asyncio.sleep(0.01)
            announce(server.server.sockets[0].getsockname()[1])

        app.create_task(wait_listening())

    if args.mode == "echo":

        @app.on(events.Receive)
        async def echo(event: events.Receive) -> None:
            event.connection.write(event.data)

    else:

        @app.on(events.Receive)
        async def broadcast(event: events.Receive) -> None:
            for connection in server.connections:
                connection.write(event.data)

    app.run()


if __name__ == "__main__":
    main()
