"""Peer: earwax-server 0.1.2 line server (gevent StreamServer underneath).

Uses earwax's ``Server`` with an ``on_data`` event handler; ``ctx.send_string``
appends CRLF. ``Server.run`` only takes a fixed port, so we build the gevent
``StreamServer`` exactly as ``run`` does, but start it first to learn the
ephemeral port.
"""

from __future__ import annotations

from _common import announce, parse_args
from earwax_server import ConnectionContext, Server
from gevent.server import StreamServer


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    server = Server()

    if args.mode == "echo":

        @server.event
        def on_data(ctx: ConnectionContext, data: bytes) -> None:
            ctx.send_string(data.decode("utf-8", "replace").rstrip("\r\n"))

    else:

        @server.event
        def on_data(ctx: ConnectionContext, data: bytes) -> None:
            text = data.decode("utf-8", "replace").rstrip("\r\n")
            for other in list(server.connections):
                other.send_string(text)

    server.stream_server = StreamServer((args.host, 0), handle=server.handle)
    server.stream_server.start()
    announce(server.stream_server.server_port)
    server.stream_server.serve_forever()


if __name__ == "__main__":
    main()
