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
        #: True when the supervisor restarts a worker that died (the state is
        #: its last checkpoint); False after a planned restart.
        self.crashed = bool(message.get("crashed", False))
        #: True for the supervisor's first worker: nothing was restarted.
        self.first = bool(message.get("first", False))
        self._listeners: list[dict[str, Any]] = list(message.get("listeners", ()))
        self._states: list[dict[str, Any]] = list(message.get("clients", ()))
        # Clients the supervisor holds with no saved state (they came after its
        # last checkpoint): served as new connections, under the same id.
        self._fresh: list[dict[str, Any]] = list(message.get("fresh", ()))
        count = sum(int(entry.get("sockets", 0)) for entry in self._listeners)
        carried = count + len(self._states)
        self._listener_sockets = sockets[:count]
        self._client_sockets = sockets[count:carried]
        self._fresh_sockets = sockets[carried:]
        storage.take_sessions(dict(message.get("sessions", {})))

    @classmethod
    def receive(cls, wants: dict[str, Any]) -> Incoming | None:
        """In a process a restart started: say it has loaded, take what is handed over.

        ``wants`` goes with "loaded": the listeners and settings a supervisor
        needs to open them (an old process handing over ignores it).
        """
        channel = inherited_channel()
        if channel is None:
            return None
        channel.send({"kind": "loaded", "pid": os.getpid(), **wants})
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
            fed = entry.get("fed")
            if server is not None and fed is not None:
                server.fed_address = tuple(fed) if isinstance(fed, list) else str(fed)
            elif server is not None:
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
        for sock in self._listener_sockets + self._client_sockets + self._fresh_sockets:
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
        for entry, sock in zip(self._fresh, self._fresh_sockets, strict=False):
            server = by_name.get(str(entry.get("server")))
            if server is None or server.listener is None:
                sock.close()
                continue
            peer = tuple(entry.get("peer") or ("?", 0))
            secure = bool(entry.get("secure"))
            if await server.listener.receive(sock, peer, str(entry.get("id")), secure):
                carried += 1
        self._states = []
        self._client_sockets = []
        self._fresh = []
        self._fresh_sockets = []
        return carried
