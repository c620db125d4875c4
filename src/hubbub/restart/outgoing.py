"""The old process's side of a restart: start the new one, hand over, step aside.

The order keeps every client served for as long as possible and loses no
input: the new process loads the application first, while this one still
serves. Only when it says it has loaded does this one run ``PreRestart``,
stop reading (unread input stays in the kernel), send what it holds, write
the stores, and pass the listening and client sockets with each client's
state. It lets go of them only once the new process says it has taken them
over; if anything fails before that, the restart is called off and every
client is served here again as if nothing had happened.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, Protocol

from .. import events
from ..stores import storage
from .channel import Channel, ChannelError
from .process import spawn
from .state import pending_of

if TYPE_CHECKING:
    from ..client import Client
    from ..server import Server
    from ..settings import Settings

__all__ = ["FLUSH_SECONDS", "Outgoing"]

log = logging.getLogger("hubbub.restart")

#: How long clients' output may take to reach the kernel before the handover.
FLUSH_SECONDS: Final = 2.0


class Restarting(Protocol):
    """What the old process's service offers a restart."""

    settings: Settings
    servers: list[Server]

    def trigger(self, event: Any) -> Any: ...


class Pausable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class Outgoing:
    """One restart, from the old process's side."""

    def __init__(
        self,
        service: Restarting,
        *,
        timers: Pausable,
        clients: Callable[[], list[Client]],
        started_at: float,
        handed_over: Callable[[int], None],
        successor: tuple[int, Channel] | None = None,
    ) -> None:
        self.service = service
        self.timers = timers
        self.clients = clients
        self.started_at = started_at
        self.handed_over = handed_over
        #: Under the supervisor: the channel it gave us, and who is behind it
        #: (the supervisor started the new process and speaks for it).
        self.successor = successor
        self.requested = time.time()

    async def run(self) -> bool:
        """Restart; True once the new process has every client (this one should exit)."""
        if self.successor is not None:
            pid, channel = self.successor
            try:
                return await self._run(pid, channel, lambda: None)
            finally:
                channel.close()
        log.info("restarting: starting a new process with the current code")
        try:
            process, channel = spawn(self.service.settings.restart_timeout)
        except OSError as exc:
            log.error("restart failed: cannot start a new process (%s); still serving", exc)
            return False
        done = False
        try:
            done = await self._run(process.pid, channel, lambda: _reap(process))
        finally:
            channel.close()
            if not done:  # it ends once it sees the channel closed; reaped meanwhile
                threading.Thread(target=_reap, args=(process,), daemon=True).start()
        return done

    async def _run(self, pid: int, channel: Channel, reap: Callable[[], str | None]) -> bool:
        service = self.service
        try:
            message, _ = await asyncio.to_thread(channel.receive)
        except ChannelError as exc:
            status = await asyncio.to_thread(reap)
            log.error(
                "restart failed: the new process did not load the application (%s); "
                "still serving with the running code",
                status or exc,
            )
            return False
        if message.get("kind") != "loaded":
            log.error(
                "restart failed: the new process could not load the application: %s; "
                "still serving with the running code",
                message.get("error", message),
            )
            return False
        log.info("the new process (pid %d) has loaded the application", pid)

        await self._pre_restart()
        paused = time.monotonic()
        self.timers.pause()
        listeners = [server.listener for server in service.servers if server.listener is not None]
        for listener in listeners:
            listener.hand_over()
        clients = self.clients()
        for client in clients:
            client.connection.hold()
        await self._drain(clients)
        try:
            storage.flush_now()
        except Exception as exc:
            return self._call_off(clients, f"the stores could not be written ({exc})")

        states: list[dict[str, Any]] = []
        fds: list[int] = []
        frozen: list[Client] = []
        for client in clients:
            connection = client.connection
            why = connection.why_not_carried()
            if why is not None:
                client.write(f"*** The server is restarting, and {why}. Please reconnect. ***")
                client.close()
                continue
            fd = connection.fileno()
            state = connection.freeze() if fd is not None else None
            if state is None or fd is None:
                continue
            state.update(pending_of(client))
            states.append(state)
            fds.append(fd)
            frozen.append(client)
        listed: list[dict[str, Any]] = []
        listener_fds: list[int] = []  # they go first, in the order listed
        for server in service.servers:
            if server.listener is not None:
                sockets = server.listener.sockets
                listed.append({"url": server.url, "name": server.name, "sockets": len(sockets)})
                listener_fds += [sock.fileno() for sock in sockets]
        manifest = {
            "kind": "handover",
            "started_at": self.started_at,
            "requested": self.requested,
            "listeners": listed,
            "clients": states,
            "sessions": storage.session_values(),
        }
        try:
            await asyncio.to_thread(channel.send, manifest, listener_fds + fds)
            reply, _ = await asyncio.to_thread(channel.receive)
        except ChannelError as exc:
            status = await asyncio.to_thread(reap)
            why = f"the new process failed while taking over ({status or exc})"
            return self._call_off(clients, why)
        if reply.get("kind") != "committed":
            return self._call_off(
                clients, f"the new process failed to start: {reply.get('error', reply)}"
            )
        for client in frozen:
            client.connection.hand_over()
        log.info(
            "handed %d client(s) and %d listener(s) to process %d; input was paused "
            "here for %.0f ms",
            len(frozen),
            len(listed),
            pid,
            (time.monotonic() - paused) * 1000,
        )
        self.handed_over(pid)
        return True

    async def _pre_restart(self) -> None:
        """``PreRestart``, waited for at most ``close_timeout`` (then the restart goes on)."""
        timeout = self.service.settings.close_timeout
        event = self.service.trigger(events.PreRestart(service=self.service))
        if not event.pending:
            return
        waiting = asyncio.ensure_future(event)
        done, _ = await asyncio.wait({waiting}, timeout=timeout)
        if not done:
            waiting.cancel()
            log.warning("PreRestart handlers did not finish in %.1fs; restarting anyway", timeout)

    async def _drain(self, clients: list[Client]) -> None:
        """Wait (briefly) until what clients were sent is with the kernel, which keeps it."""
        deadline = time.monotonic() + FLUSH_SECONDS
        while time.monotonic() < deadline:
            if all(client.connection.drained for client in clients):
                return
            await asyncio.sleep(0.005)
        behind = [client for client in clients if not client.connection.drained]
        log.warning(
            "%d client(s) did not take their output in %.1fs (not reading); "
            "what they had not taken is dropped at the restart",
            len(behind),
            FLUSH_SECONDS,
        )

    def _call_off(self, clients: list[Client], why: str) -> bool:
        """Serve everyone here again, as before the restart began."""
        log.error("restart called off: %s; still serving with the running code", why)
        for server in self.service.servers:
            if server.listener is not None:
                server.listener.take_back()
        for client in clients:
            client.connection.thaw()
        self.timers.resume()
        return False


def _reap(process: subprocess.Popen[bytes]) -> str | None:
    """End a new process that did not take over; how it ended, if it had."""
    try:
        code = process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
    if code < 0:
        try:
            return f"killed by signal {-code}"
        except ValueError:
            return f"exit status {code}"
    return f"exit status {code}" if code else None
