"""Peer: circuits 3.2.5 line server (TCPServer + Line protocol, EPoll poller).

Written the way circuits' own examples compose an application: a Component that
registers a ``TCPServer`` and the ``Line`` protocol component, and handles the
``line`` events that ``Line`` fires. ``EPoll`` replaces the default ``select``
poller, which cannot watch more than 1024 sockets.
"""

from __future__ import annotations

from collections import defaultdict

from _common import announce, parse_args
from circuits import Component, handler
from circuits.core.pollers import EPoll
from circuits.net.events import write
from circuits.net.sockets import TCPServer
from circuits.protocols.line import Line


class LineServer(Component):
    def init(self, host: str, mode: str) -> None:
        self.mode = mode
        self.clients: set = set()
        self.buffers: defaultdict = defaultdict(bytes)
        EPoll().register(self)
        self.server = TCPServer((host, 0)).register(self)
        Line(
            getBuffer=self.buffers.__getitem__,
            updateBuffer=self.buffers.__setitem__,
        ).register(self)

    def ready(self, server, bind) -> None:  # type: ignore[no-untyped-def]
        announce(bind[1])

    def connect(self, sock, host, port) -> None:  # type: ignore[no-untyped-def]
        self.clients.add(sock)

    def disconnect(self, sock) -> None:  # type: ignore[no-untyped-def]
        self.clients.discard(sock)
        self.buffers.pop(sock, None)

    @handler("line")
    def on_line(self, sock, raw: bytes) -> None:  # type: ignore[no-untyped-def]
        text = raw.decode("utf-8", "replace")
        payload = (text + "\r\n").encode()
        if self.mode == "echo":
            self.fire(write(sock, payload))
        else:
            for client in self.clients:
                self.fire(write(client, payload))


def main() -> None:
    args = parse_args(__doc__.splitlines()[0])
    LineServer(args.host, args.mode).run()


if __name__ == "__main__":
    main()
