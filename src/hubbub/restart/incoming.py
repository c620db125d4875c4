"""The new process's side of a restart: take over what the old process hands on.

The new process has loaded the application when it gets here (a file that
does not import never reaches it, and the old process keeps serving). It
says so, receives the listening and client sockets with the clients'
state, opens its listeners on the sockets it was given, and only then
tells the old process it has taken over. If it fails before that, the old
process serves on.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..stores import storage
from .channel import Channel
from .process import inherited_channel

if TYPE_CHECKING:
    from ..server import Server

__all__ = ["Incoming"]

log = logging.getLogger("hubbub.restart")


class Incoming:
    """What the old process handed over, until it is all taken."""

    def __init__(self, channel: Channel, message: dict[str, Any], sockets: list[socket.socket]):
        self.channel = channel
        self.started_at = float(message.get("started_at", time.time()))
        #: When the restart was asked for (the old process's clock, a Unix time).
        self.requested = float(message.get("requested", time.time()))
        self._listeners: list[dict[str, Any]] = list(message.get("listeners", ()))
        self._states: list[dict[str, Any]] = list(message.get("clients", ()))
        count = sum(int(entry.get("sockets", 0)) for entry in self._listeners)
        self._listener_sockets = sockets[:count]
        self._client_sockets = sockets[count:]
        storage.take_sessions(dict(message.get("sessions", {})))

    @classmethod
    def receive(cls) -> Incoming | None:
        """In a process a restart started: say it has loaded, take what is handed over."""
        channel = inherited_channel()
        if channel is None:
            return None
        channel.send({"kind": "loaded", "pid": os.getpid()})
        message, sockets = channel.receive()
        if message.get("kind") != "handover":
            channel.close()
            raise RuntimeError(f"unexpected handover message {message.get('kind')!r}")
        return cls(channel, message, sockets)

    def assign(self, servers: list[Server]) -> None:
        """Give each listener still configured its old sockets; close the others'."""
        by_url = {server.url: server for server in servers}
        at = 0
        for entry in self._listeners:
            count = int(entry.get("sockets", 0))
            sockets = self._listener_sockets[at : at + count]
            at += count
            server = by_url.get(str(entry.get("url")))
            if server is not None:
                server.inherited = sockets
            else:
                log.info("%s is no longer in the listen setting: closed", entry.get("url"))
                for sock in sockets:
                    sock.close()

    def commit(self) -> None:
        """Tell the old process the listeners are open here: it lets go of everything."""
        self.channel.send({"kind": "committed"})
        self.channel.close()

    def fail(self, error: BaseException) -> None:
        """Starting failed: the old process serves on; our copies are closed."""
        with contextlib.suppress(Exception):
            self.channel.send({"kind": "failed", "error": f"{type(error).__name__}: {error}"})
        self.channel.close()
        for sock in self._listener_sockets + self._client_sockets:
            sock.close()

    async def carry(self, servers: list[Server]) -> int:
        """Serve every handed-over client on its listener; how many were carried."""
        by_name = {server.name: server for server in servers}
        carried = 0
        for state, sock in zip(self._states, self._client_sockets, strict=False):
            server = by_name.get(str(state.get("server")))
            if server is None or server.listener is None:
                log.warning(
                    "client %s was on %s, which is no longer listening; told and closed",
                    state.get("id"),
                    state.get("server"),
                )
                with contextlib.suppress(OSError):
                    sock.setblocking(False)
                    sock.send(b"*** The server was restarted without this port. ***\r\n")
                sock.close()
                continue
            try:
                await server.listener.carry(sock, state)
            except Exception:
                log.exception("client %s could not be carried; closed", state.get("id"))
                sock.close()
                continue
            carried += 1
        self._states = []
        self._client_sockets = []
        return carried
