"""The worker's side of ``hubbub run --supervise``.

The supervisor keeps a copy of every client socket, so that when this
process dies it can hand them all to a new one. For that it must hear of
each client that arrives here (with a copy of its socket) and each that
leaves (it then closes its copy: only then does the peer see the close),
and it needs each client's state: every ``checkpoint_interval`` this
process sends the states that changed since the last checkpoint, a slice of
clients per loop turn so that no turn is long, then the list of clients
alive. The supervisor in turn hands in the clients it accepted on TLS
listeners, and the channel to the next worker when a restart is planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import socket
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..stores import storage
from .channel import Channel
from .link import Link
from .state import pending_mark, pending_of

if TYPE_CHECKING:
    from ..client import Client
    from ..server import Server

__all__ = ["SUPERVISOR_ENV", "Supervised", "supervisor_socket"]

log = logging.getLogger("hubbub.supervisor")

#: Names the descriptor of the link to the supervisor in a worker's environment.
SUPERVISOR_ENV: Final = "_HUBBUB_SUPERVISOR_FD"
#: Clients whose state is taken per loop turn at a checkpoint.
CHUNK: Final = 100


def supervisor_socket() -> socket.socket | None:
    """In a worker the supervisor started: its end of the link (once; else None)."""
    value = os.environ.pop(SUPERVISOR_ENV, None)
    if value is None:
        return None
    try:
        return socket.socket(fileno=int(value))
    except (ValueError, OSError) as exc:
        raise RuntimeError(f"{SUPERVISOR_ENV}={value!r} names no usable socket: {exc}") from None


class Supervised:
    """The link to the supervisor, and the checkpoints sent over it."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        interval: float,
        timeout: float,
        clients: Callable[[], list[Client]],
        servers: Callable[[], list[Server]],
        restart_into: Callable[[int, Channel], None],
        orphaned: Callable[[], object],
    ) -> None:
        self.interval = interval
        self.timeout = timeout
        self._clients = clients
        self._servers = servers
        self._restart_into = restart_into
        self._orphaned = orphaned
        self._loop = asyncio.get_running_loop()
        self._link = Link(sock, self._loop, self._received, self._lost)
        self._given: set[str] = set()  # ids of clients the supervisor handed in
        # Per client, at the last state sent: a copy of its app_state(), and its marks.
        self._seen: dict[str, tuple[Any, Any]] = {}
        self._timer: asyncio.TimerHandle | None = None
        #: Checkpoints taken, and the CPU time they took here (seconds).
        self.checkpoints = 0
        self.checkpoint_cpu = 0.0
        self._costs: deque[float] = deque(maxlen=256)  # of the last checkpoints, each
        self._cost = 0.0  # of the checkpoint under way
        self._tasks: set[asyncio.Task[Any]] = set()
        self._alive = True

    def start(self) -> None:
        self._link.start()
        self._timer = self._loop.call_later(self.interval, self._checkpoint)

    def close(self) -> None:
        """This process is done (stopped, or handed over): send what is queued and let go."""
        self._alive = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.checkpoints:
            # The median leaves out the first ones, which snapshot every new client.
            log.info(
                "%d checkpoint(s) took %.1f ms of CPU here in all (median %.3f ms)",
                self.checkpoints,
                self.checkpoint_cpu * 1000,
                statistics.median(self._costs) * 1000,
            )
        self._link.close()

    # --- what this process tells the supervisor ------------------------------------
    def register(self, client: Client) -> None:
        """``client`` is in: the supervisor keeps a copy of its socket (it has one already
        for a client it handed in)."""
        entry = {
            "kind": "client",
            "id": client.id,
            "server": client.server.name,
            "peer": list(client.address),
            "secure": client.secure,
        }
        if client.id in self._given:
            self._given.discard(client.id)
            self._link.send(entry)
            return
        fd = client.connection.fileno()
        if fd is not None:
            self._link.send(entry, [fd])

    def gone(self, client_id: str) -> None:
        """The client left: the supervisor closes its copy (the peer sees the close then)."""
        self._given.discard(client_id)
        self._seen.pop(client_id, None)
        self._link.send({"kind": "gone", "id": client_id})

    def ask_restart(self) -> None:
        """A planned restart: the supervisor starts the next worker and gives us a channel."""
        self._link.send({"kind": "restart"})

    def stopping(self) -> None:
        """The service is stopping on purpose: the supervisor stops too, not restarts it."""
        self._link.send({"kind": "stopping"})

    # --- checkpoints ---------------------------------------------------------------
    def _checkpoint(self) -> None:
        self._timer = None
        self._step(self._clients(), 0)

    def _step(self, clients: list[Client], at: int) -> None:
        """Send the state of each client in this slice that changed.

        Taking a snapshot costs far more than telling whether one would
        differ: the connection's :meth:`state_mark`, the input waiting for
        handlers and the attributes the application changes
        (:meth:`~hubbub.Client.app_state`, compared with a copy) are checked
        first, so an idle client, or one whose lines change nothing kept,
        costs a comparison.
        """
        began = time.thread_time()
        finished = False
        try:
            finished = self._slice(clients, at)
        finally:
            spent = time.thread_time() - began
            self.checkpoint_cpu += spent
            self._cost += spent
        if finished:
            self.checkpoints += 1
            self._costs.append(self._cost)
            self._cost = 0.0

    def _slice(self, clients: list[Client], at: int) -> bool:
        """One slice of a checkpoint; True when it was the last."""
        changed: dict[str, Any] = {}
        seen = self._seen
        for client in clients[at : at + CHUNK]:
            if not client.connected:
                continue
            view = client.app_state()
            marks = (client.connection.state_mark(), pending_mark(client))
            client_id = client.id
            last = seen.get(client_id)
            same_view = last is not None and _equal(last[0], view)
            if same_view and last is not None and last[1] == marks:
                continue
            try:
                state = client.snapshot()
                state.update(pending_of(client))
            except Exception:
                log.exception("the state of %r could not be taken for the checkpoint", client)
                continue
            copied = last[0] if same_view and last is not None else _copy(view)
            seen[client_id] = (copied, marks)
            changed[client_id] = state
        if changed:
            self._link.send({"kind": "states", "clients": changed})
        if at + CHUNK < len(clients):
            self._loop.call_soon(self._step, clients, at + CHUNK)
            return False
        ids = [client.id for client in clients if client.connected]
        if len(seen) > len(ids):
            alive = set(ids)
            for gone in [key for key in seen if key not in alive]:
                del seen[gone]
        self._link.send({"kind": "checkpoint", "ids": ids, "sessions": storage.session_values()})
        if self._alive:
            self._timer = self._loop.call_later(self.interval, self._checkpoint)
        return True

    # --- what the supervisor tells this process ------------------------------------
    def _received(self, message: dict[str, Any], sockets: list[socket.socket]) -> None:
        kind = message.get("kind")
        if kind == "client" and sockets:
            task = self._loop.create_task(self._take(message, sockets[0]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        elif kind == "restart" and sockets:
            channel = Channel(sockets[0], self.timeout)
            self._restart_into(int(message.get("pid", 0)), channel)
        else:
            log.warning("unexpected message from the supervisor: %r", kind)
            for sock in sockets:
                sock.close()

    async def _take(self, message: dict[str, Any], sock: socket.socket) -> None:
        """Serve a client the supervisor accepted (on a TLS listener, or after a crash)."""
        client_id = str(message.get("id"))
        name = str(message.get("server"))
        server = next((s for s in self._servers() if s.name == name), None)
        listener = server.listener if server is not None else None
        if listener is None:
            sock.close()
            self.gone(client_id)
            return
        peer = tuple(message.get("peer") or ("?", 0))
        self._given.add(client_id)
        if not await listener.receive(sock, peer, client_id, bool(message.get("secure"))):
            self.gone(client_id)

    def _lost(self) -> None:
        if self._alive:
            self._alive = False
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            log.error(
                "the supervisor is gone: stopping (nothing would recover this process "
                "after a crash, and a new supervisor must be free to listen)"
            )
            self._orphaned()
        with contextlib.suppress(Exception):
            self._link.close()


class _Unknown:
    """Stands for application state that cannot be copied: never equal to anything."""

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


def _copy(view: tuple[Any, ...]) -> Any:
    """A copy of ``view`` to compare later ones with (attributes may be changed in place)."""
    try:
        return copy.deepcopy(view)
    except Exception:  # a live object (a socket, a lock): compare as changed every time
        return _Unknown()


def _equal(saved: Any, view: tuple[Any, ...]) -> bool:
    try:
        return bool(saved == view)
    except Exception:  # an attribute whose == raises (arrays): treat as changed
        return False
