"""``hubbub run --supervise``: a small process that outlives its worker.

The supervisor runs no application code. It starts the worker (the same
command line), opens the listeners the worker asks for and keeps them, and
keeps a copy of every client socket. The worker tells it of each client
that comes and goes and sends a checkpoint of their state every
``checkpoint_interval``. When the worker dies (a crash, ``kill -9``, the OOM
killer), the supervisor starts a new one and hands it every listener and
every client with the last checkpoint, as a restart would: nobody is
disconnected. A worker that crashes :data:`CRASHES` times in
:data:`CRASH_WINDOW` seconds is not started again: the clients are told,
and the supervisor stops.

TLS sessions cannot cross a process, so the supervisor terminates TLS for
listeners whose clients begin in TLS (``tls://``, ``telnets://``, ``wss://``,
``?tls=auto``) and relays plain text to the worker over a socket pair
(:mod:`.pipe`). It is in the data path of those clients only.

A planned restart (SIGHUP to the supervisor, or ``service.restart()`` in the
worker) starts the next worker, and once it has loaded, the supervisor
gives the running worker a channel on which it hands over as in a hot
restart without a supervisor; the supervisor relays, opening any new
listener on the way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from collections import deque
from collections.abc import Coroutine
from functools import partial
from typing import Any, Final

from ..client import new_id
from ..endpoints import parse_url
from ..errors import ListenError
from ..log_limit import LogLimit
from ..transports import bind
from ..transports.listener import ACCEPTS_PER_TURN, OUT_OF_RESOURCES, accept_one
from ..transports.sniff import sniff
from ..transports.tls import server_context
from .channel import Channel, ChannelError
from .link import Link
from .pipe import Pipe
from .process import HANDOVER_ENV, remove_pid_file, write_pid_file
from .supervised import SUPERVISOR_ENV

__all__ = ["CRASHES", "CRASH_WINDOW", "Supervisor"]

log = logging.getLogger("hubbub.supervisor")

#: A worker dying this many times within :data:`CRASH_WINDOW` seconds ends it all.
CRASHES: Final = 5
CRASH_WINDOW: Final = 60.0
#: How long a starting worker may take to load the application.
LOAD_TIMEOUT: Final = 60.0
#: A client handed to a worker that has not said it took it, after this many
#: seconds and absent from its checkpoint, is given up (its socket closed).
UNCLAIMED: Final = 30.0
GIVE_UP_MESSAGE: Final = (
    b"\r\n*** The server has stopped: it crashed repeatedly. Please try again later. ***\r\n"
)


class _Failed(Exception):
    """A worker could not be started or could not take over."""


class Held:
    """A client the supervisor keeps a socket of."""

    __slots__ = (
        "acked",
        "given",
        "id",
        "peer",
        "pipe",
        "secure",
        "server",
        "since",
        "sock",
        "state",
    )

    def __init__(
        self,
        client_id: str,
        server: str,
        peer: list[Any],
        secure: bool,
        sock: socket.socket,
        pipe: Pipe | None = None,
    ) -> None:
        self.id = client_id
        self.server = server
        self.peer = peer
        self.secure = secure
        #: What the worker holds a copy of: the client's socket, or for a TLS
        #: client the worker's end of its socket pair.
        self.sock = sock
        self.pipe = pipe
        #: True once a worker said the client is in.
        self.acked = False
        #: The pid of the worker it was last handed to (0: none yet).
        self.given = 0
        self.since = time.monotonic()
        #: The client's state at the last checkpoint (None: none yet).
        self.state: dict[str, Any] | None = None

    def entry(self) -> dict[str, Any]:
        return {"id": self.id, "server": self.server, "peer": self.peer, "secure": self.secure}

    def close(self) -> None:
        """The client is gone: the peer (or the TLS relay) sees the close now."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


class Opened:
    """A listener the supervisor holds open."""

    def __init__(self, url: str, name: str, sockets: list[socket.socket]) -> None:
        self.url = url
        self.name = name
        self.sockets = sockets
        #: The TLS terms when the supervisor accepts here (else the worker does).
        self.tls: dict[str, Any] | None = None
        self.context: ssl.SSLContext | None = None
        sockname = sockets[0].getsockname() if sockets else None
        self.address: Any = list(sockname[:2]) if isinstance(sockname, tuple) else sockname

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for sock in self.sockets:
            if self.tls is not None:
                loop.remove_reader(sock.fileno())
            sock.close()


class Worker:
    """One worker process, as the supervisor sees it."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pid = process.pid
        self.link: Link | None = None
        #: True once it said it is stopping on purpose (then it is not restarted).
        self.stopping = False
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def kill(self) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()


class Supervisor:
    """The supervising process: see the module docstring."""

    def __init__(self, command: list[str], cwd: str) -> None:
        self.command = command
        self.cwd = cwd
        self.held: dict[str, Held] = {}
        self.opened: dict[str, Opened] = {}
        self.current: Worker | None = None
        self.sessions: dict[str, Any] = {}
        self.started_at = time.time()
        self.crashes: deque[float] = deque()
        self.pid_file = ""
        self.close_timeout = 5.0
        self.restart_timeout = 30.0
        self._busy: asyncio.Task[Any] | None = None
        self._restart_wanted = False
        self._stopping = False
        self._done: asyncio.Future[int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._handshakes = LogLimit(burst=5)

    # --- running -------------------------------------------------------------------
    def run(self) -> int:
        """Supervise until stopped; the exit status."""
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("hubbub").setLevel(logging.INFO)
        return asyncio.run(self._main())

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self.restart)
        log.info("supervisor (pid %d) starting the worker", os.getpid())
        self._begin(self._first())
        try:
            return await self._done
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self.current is not None:
                self.current.kill()
            for held in list(self.held.values()):
                held.close()
            self.held.clear()
            for opened in self.opened.values():
                opened.close()
            if self.pid_file:
                remove_pid_file(self.pid_file)
            log.info("supervisor stopped")

    def _finish(self, code: int) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(code)

    def _begin(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` (a start or a restart); one at a time."""
        self._busy = asyncio.get_running_loop().create_task(work)
        self._busy.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        self._busy = None
        if not task.cancelled() and task.exception() is not None:
            log.error("supervisor error", exc_info=task.exception())
            self._finish(1)
            return
        if self._stopping:
            return
        current = self.current
        if current is not None and not current.exited.done():
            for held in list(self.held.values()):
                if not held.acked and not held.given:
                    self._hand_in(held)  # accepted while a worker was being started
        if current is not None and current.exited.done():
            self._begin(self._recover())  # it died while we were busy
        elif self._restart_wanted and current is not None:
            self._restart_wanted = False
            self._begin(self._planned())

    # --- signals -------------------------------------------------------------------
    def restart(self) -> None:
        """A planned restart (SIGHUP, or the worker asked): the next worker takes over."""
        if self._stopping:
            return
        if self._busy is not None:
            log.info("a restart is already under way; this request joins it")
            return
        if self.current is None:
            return
        log.info("restarting the worker (process %d)", self.current.pid)
        self._begin(self._planned())

    def stop(self, sig: signal.Signals) -> None:
        """SIGTERM/SIGINT: stop the worker gracefully (a second signal: at once), then exit."""
        worker = self.current
        if self._stopping:
            log.warning("received %s again: stopping now", sig.name)
            if worker is not None:
                worker.kill()
            self._finish(0)
            return
        self._stopping = True
        log.info("received %s; stopping the worker", sig.name)
        if self._busy is not None:
            self._busy.cancel()
        if worker is None or worker.exited.done():
            self._finish(0)
            return
        with contextlib.suppress(ProcessLookupError):
            worker.process.send_signal(signal.SIGTERM)
        grace = self.close_timeout * 4 + 5
        asyncio.get_running_loop().call_later(grace, self._stop_overdue, worker, grace)

    def _stop_overdue(self, worker: Worker, grace: float) -> None:
        if not worker.exited.done():
            log.warning("the worker did not stop in %.0f s; killing it", grace)
            worker.kill()
        self._finish(0)

    # --- starting workers ----------------------------------------------------------
    async def _spawn(self) -> tuple[Worker, Channel]:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        link_ours, link_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            env = dict(os.environ)
            env[HANDOVER_ENV] = str(theirs.fileno())
            env[SUPERVISOR_ENV] = str(link_theirs.fileno())
            process = await asyncio.create_subprocess_exec(
                *self.command,
                pass_fds=(theirs.fileno(), link_theirs.fileno()),
                env=env,
                cwd=self.cwd,
                start_new_session=True,  # a terminal's ^C reaches the supervisor only
            )
        except BaseException:
            ours.close()
            link_ours.close()
            raise
        finally:
            theirs.close()
            link_theirs.close()
        worker = Worker(process)
        worker.link = Link(
            link_ours, loop, partial(self._from_worker, worker), partial(self._link_lost, worker)
        )
        worker.link.start()
        task = loop.create_task(self._watch(worker))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return worker, Channel(ours, LOAD_TIMEOUT)

    async def _watch(self, worker: Worker) -> None:
        code = await worker.process.wait()
        worker.exited.set_result(code)
        if worker is not self.current:
            return  # a worker that handed over, or one that never took over
        if self._stopping or worker.stopping:
            log.info("the worker stopped (%s)", _status(code))
            self._finish(0 if self._stopping or code == 0 else 1)
            return
        log.error("the worker (process %d) died: %s", worker.pid, _status(code))
        if self._busy is None:
            self._begin(self._recover())

    async def _first(self) -> None:
        worker, channel = await self._spawn()
        try:
            await self._take_over(worker, channel, None, crashed=False, first=True)
        except _Failed as exc:
            log.error("the worker could not start: %s; stopping", exc)
            worker.kill()
            self._finish(2)
        finally:
            channel.close()

    async def _recover(self) -> None:
        """Start a new worker with the last checkpoint; give up after too many crashes."""
        requested = time.time()
        while not self._stopping:
            self.current = None
            now = time.monotonic()
            self.crashes.append(now)
            while self.crashes and self.crashes[0] < now - CRASH_WINDOW:
                self.crashes.popleft()
            if len(self.crashes) >= CRASHES:
                self._give_up()
                return
            if len(self.crashes) > 2:  # the first two come back at once
                await asyncio.sleep(min(0.5 * 2 ** (len(self.crashes) - 3), 5.0))
            worker, channel = await self._spawn()
            try:
                await self._take_over(worker, channel, None, crashed=True, requested=requested)
                return
            except _Failed as exc:
                log.error("a new worker could not take over: %s", exc)
                worker.kill()
            finally:
                channel.close()

    async def _planned(self) -> None:
        old = self.current
        assert old is not None and old.link is not None
        worker, channel = await self._spawn()
        try:
            loaded = await self._loaded(channel)
        except _Failed as exc:
            log.error("restart failed: %s; the running worker serves on", exc)
            worker.kill()
            channel.close()
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        old.link.send({"kind": "restart", "pid": worker.pid}, [theirs.fileno()])
        theirs.close()
        relay = Channel(ours, self.restart_timeout + self.close_timeout + 5)
        try:
            try:
                await asyncio.to_thread(relay.send, {"kind": "loaded", "pid": worker.pid})
                handed, sockets = await asyncio.to_thread(relay.receive)
            except ChannelError as exc:
                await asyncio.wait({old.exited}, timeout=1.0)
                if old.exited.done():  # it died: the new worker starts from the checkpoint
                    log.error("the worker died during the restart; recovering")
                    self.crashes.append(time.monotonic())
                    await self._take_over(worker, channel, loaded, crashed=True)
                    return
                raise _Failed(f"the running worker did not hand over ({exc})") from None
            carried = self._handed(handed, sockets)
            try:
                await self._take_over(worker, channel, loaded, crashed=False, carried=carried)
            except _Failed as exc:
                with contextlib.suppress(ChannelError):
                    relay.send({"kind": "failed", "error": str(exc)})
                raise
            with contextlib.suppress(ChannelError):
                relay.send({"kind": "committed"})
        except _Failed as exc:
            log.error("restart failed: %s", exc)
            worker.kill()
        finally:
            relay.close()
            channel.close()

    def _handed(self, message: dict[str, Any], sockets: list[socket.socket]) -> set[str]:
        """What the running worker handed over: take its clients' states; their ids."""
        if message.get("kind") != "handover":
            for sock in sockets:
                sock.close()
            raise _Failed(f"the running worker sent {message.get('kind')!r}")
        count = sum(int(entry.get("sockets", 0)) for entry in message.get("listeners", ()))
        for sock in sockets[:count]:
            sock.close()  # we hold these listeners already
        carried: set[str] = set()
        states = list(message.get("clients", ()))
        for state, sock in zip(states, sockets[count:], strict=False):
            client_id = str(state.get("id"))
            held = self.held.get(client_id)
            if held is None:  # its registration is still on the way: take this copy
                held = self.held[client_id] = Held(
                    client_id, str(state.get("server")), [], False, sock
                )
                held.acked = True
            else:
                sock.close()
            held.state = state
            carried.add(client_id)
        for sock in sockets[count + len(states) :]:
            sock.close()
        self.sessions = dict(message.get("sessions", {}))
        return carried

    async def _loaded(self, channel: Channel) -> dict[str, Any]:
        try:
            message, _ = await asyncio.to_thread(channel.receive)
        except ChannelError as exc:
            raise _Failed(f"the worker did not load the application ({exc})") from None
        if message.get("kind") != "loaded":
            raise _Failed(f"the worker could not load the application: {message.get('error')}")
        return message

    async def _take_over(
        self,
        worker: Worker,
        channel: Channel,
        loaded: dict[str, Any] | None,
        *,
        crashed: bool,
        first: bool = False,
        carried: set[str] | None = None,
        requested: float | None = None,
    ) -> None:
        """Give ``worker`` the listeners and clients; it serves from now on."""
        if loaded is None:
            loaded = await self._loaded(channel)
        self._configure(loaded)
        try:
            await self._open(list(loaded.get("listeners", ())))
        except (OSError, ListenError) as exc:
            with contextlib.suppress(ChannelError):
                channel.send({"kind": "failed", "error": str(exc)})
            raise _Failed(str(exc)) from None
        manifest, fds = self._manifest(crashed, first, carried, requested)
        try:
            await asyncio.to_thread(channel.send, manifest, fds)
            channel.settimeout(self.restart_timeout)
            reply, _ = await asyncio.to_thread(channel.receive)
        except ChannelError as exc:
            raise _Failed(f"the worker failed while taking over ({exc})") from None
        if reply.get("kind") != "committed":
            raise _Failed(f"the worker failed to start: {reply.get('error', reply)}")
        old, self.current = self.current, worker
        if old is not None and old is not worker:
            log.info("worker %d handed over to worker %d", old.pid, worker.pid)
        else:
            log.info(
                "worker %d serves %d client(s)%s",
                worker.pid,
                len(self.held),
                " after the crash" if crashed else "",
            )
        if self.pid_file:
            write_pid_file(self.pid_file)  # rewritten: `hubbub restart` sees it is done
        now = time.monotonic()
        for held in self.held.values():
            if held.given != worker.pid and not held.acked:
                held.given, held.since = worker.pid, now

    def _configure(self, loaded: dict[str, Any]) -> None:
        self.pid_file = str(loaded.get("pid_file") or self.pid_file)
        self.close_timeout = float(loaded.get("close_timeout", self.close_timeout))
        self.restart_timeout = float(loaded.get("restart_timeout", self.restart_timeout))

    async def _open(self, wanted: list[dict[str, Any]]) -> None:
        """Open the listeners asked for that are not open; close those no longer asked for."""
        urls = {str(entry.get("url")) for entry in wanted}
        for url in [url for url in self.opened if url not in urls]:
            log.info("%s is no longer in the listen setting: closed", url)
            self.opened.pop(url).close()
        for entry in wanted:
            url = str(entry.get("url"))
            if url in self.opened:
                continue
            tls = entry.get("tls")
            context = server_context(tls["cert"], tls["key"]) if tls else None
            opened = Opened(url, str(entry.get("name")), await bind(parse_url(url)))
            if tls:
                opened.tls, opened.context = tls, context
                loop = asyncio.get_running_loop()
                for sock in opened.sockets:
                    loop.add_reader(sock.fileno(), self._accept, opened, sock)
            self.opened[url] = opened
            log.info("listening on %s for the worker", url)

    def _manifest(
        self,
        crashed: bool,
        first: bool,
        carried: set[str] | None,
        requested: float | None,
    ) -> tuple[dict[str, Any], list[int]]:
        listeners: list[dict[str, Any]] = []
        fds: list[int] = []
        for opened in self.opened.values():
            entry: dict[str, Any] = {"url": opened.url, "name": opened.name}
            if opened.tls is not None:
                entry.update(sockets=0, fed=opened.address)
            else:
                entry["sockets"] = len(opened.sockets)
                fds += [sock.fileno() for sock in opened.sockets]
            listeners.append(entry)
        states: list[dict[str, Any]] = []
        fresh: list[dict[str, Any]] = []
        client_fds: list[int] = []
        fresh_fds: list[int] = []
        for held in list(self.held.values()):
            if carried is not None and held.id not in carried and held.acked:
                self.held.pop(held.id).close()  # the worker closed it as it handed over
                continue
            if held.state is not None and (carried is None or held.id in carried):
                states.append(held.state)
                client_fds.append(held.sock.fileno())
            else:
                fresh.append(held.entry())
                fresh_fds.append(held.sock.fileno())
                held.given = 0
        manifest = {
            "kind": "handover",
            "started_at": self.started_at,
            "requested": requested or time.time(),
            "crashed": crashed,
            "first": first,
            "listeners": listeners,
            "clients": states,
            "fresh": fresh,
            "sessions": self.sessions,
        }
        return manifest, fds + client_fds + fresh_fds

    def _give_up(self) -> None:
        log.error(
            "the worker crashed %d times in %.0f s; telling the %d client(s) and stopping",
            len(self.crashes),
            CRASH_WINDOW,
            len(self.held),
        )
        for held in self.held.values():
            if held.pipe is not None:
                held.pipe.say(GIVE_UP_MESSAGE)
            else:
                with contextlib.suppress(OSError):
                    held.sock.setblocking(False)
                    held.sock.send(GIVE_UP_MESSAGE)
        # A moment for the relays to send the message before everything closes.
        asyncio.get_running_loop().call_later(0.2, self._finish, 3)

    # --- the worker's messages -----------------------------------------------------
    def _from_worker(
        self, worker: Worker, message: dict[str, Any], sockets: list[socket.socket]
    ) -> None:
        kind = message.get("kind")
        if kind == "client":
            client_id = str(message.get("id"))
            held = self.held.get(client_id)
            if held is None and sockets:
                held = self.held[client_id] = Held(
                    client_id,
                    str(message.get("server")),
                    list(message.get("peer") or []),
                    bool(message.get("secure")),
                    sockets.pop(0),
                )
            if held is not None:
                held.acked = True
        elif kind == "gone":
            held = self.held.pop(str(message.get("id")), None)
            if held is not None:
                held.close()
        elif kind == "states":
            for client_id, state in dict(message.get("clients", {})).items():
                held = self.held.get(client_id)
                if held is not None and isinstance(state, dict):
                    held.state = state
        elif kind == "checkpoint":
            if worker is self.current and self._busy is None:
                self._collect(set(message.get("ids", ())))
                self.sessions = dict(message.get("sessions", {}))
        elif kind == "restart":
            if self._busy is not None:
                self._restart_wanted = True
            else:
                self.restart()
        elif kind == "stopping":
            worker.stopping = True
        for sock in sockets:
            sock.close()

    def _collect(self, alive: set[str]) -> None:
        """Close the copies of clients the worker no longer has (a missed "gone")."""
        now = time.monotonic()
        for held in list(self.held.values()):
            if held.id in alive:
                continue
            if held.acked or now - held.since > UNCLAIMED:
                self.held.pop(held.id).close()

    def _link_lost(self, worker: Worker) -> None:
        if worker.link is not None:
            worker.link.close()

    def _hand_in(self, held: Held) -> None:
        """A client accepted here goes to the worker (or waits for the next one)."""
        self.held[held.id] = held
        worker = self.current
        if worker is not None and worker.link is not None and self._busy is None:
            held.since = time.monotonic()
            held.given = worker.pid
            worker.link.send({"kind": "client", **held.entry()}, [held.sock.fileno()])
        # Otherwise the next worker gets it with the rest (as a fresh client).

    # --- TLS listeners -------------------------------------------------------------
    def _accept(self, opened: Opened, sock: socket.socket) -> None:
        for _ in range(ACCEPTS_PER_TURN):
            try:
                accepted = accept_one(sock)
            except OSError as exc:
                if exc.errno in OUT_OF_RESOURCES:
                    loop = asyncio.get_running_loop()
                    loop.remove_reader(sock.fileno())
                    loop.call_later(0.5, loop.add_reader, sock.fileno(), self._accept, opened, sock)
                    log.warning("cannot accept on %s: %s; pausing", opened.url, exc)
                return
            if accepted is None:
                return
            conn, address = accepted
            task = asyncio.get_running_loop().create_task(self._terminate(opened, conn, address))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _terminate(self, opened: Opened, conn: socket.socket, address: Any) -> None:
        """Sniff (``?tls=auto``), do the handshake, relay: then hand the client in."""
        conn.setblocking(False)
        if conn.family in (socket.AF_INET, socket.AF_INET6):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = list(address[:2]) if isinstance(address, tuple) else [str(address), 0]
        tls = opened.tls
        assert tls is not None and opened.context is not None
        try:
            secure = tls["mode"] != "auto" or await sniff(conn, float(tls["sniff_timeout"]))
        except OSError:
            conn.close()
            return
        if not secure:
            self._hand_in(Held(new_id(), opened.name, peer, False, conn))
            return
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pipe = Pipe()
        try:
            await loop.connect_accepted_socket(lambda: pipe.worker, ours)
            await loop.connect_accepted_socket(
                lambda: pipe.client,
                conn,
                ssl=opened.context,
                ssl_handshake_timeout=float(tls["handshake_timeout"]),
            )
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            self._handshakes.log(
                log,
                logging.INFO,
                "TLS handshake from %s:%s on %s failed: %s",
                *peer[:2],
                opened.url,
                exc,
            )
            pipe.end()
            theirs.close()
            conn.close()
            return
        pipe.joined()
        self._hand_in(Held(new_id(), opened.name, peer, True, theirs, pipe))


def _status(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
