"""The service: settings, listeners, clients and handlers, and their lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar, overload

from . import events
from .admission import Admission, Decision
from .client import Client, compose
from .dispatch import Dispatcher
from .endpoints import parse_url
from .errors import ListenError, SettingsError
from .fd_limit import connection_capacity
from .groups import GroupIndex
from .outbound import Backoff, Outbound
from .restart import Incoming, Outgoing
from .restart.channel import Channel
from .restart.process import remove_pid_file, write_pid_file
from .restart.state import resume
from .restart.supervised import Supervised, supervisor_socket
from .server import Server, format_address
from .settings import Settings
from .stores import storage
from .timers import Timer, Timers, check_seconds, unix_time
from .transports import open_listener
from .transports.base import WriteBatch
from .transports.tls import terminated

__all__ = ["ClientSet", "Service", "loading_app"]

log = logging.getLogger("hubbub.service")

E = TypeVar("E", bound=events.Event)
H = TypeVar("H")

FULL_MESSAGE = "Sorry, the server is full. Please try again later."
STOPPING_MESSAGE = "Sorry, the server is shutting down."

# Targets ``hubbub run`` is importing right now (see loading_app).
_loading: list[str] = []


def _duration(seconds: float) -> str:
    """12s, 4m05s, 3h02m: how long a client stayed, for the log."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


@contextlib.contextmanager
def loading_app(target: str) -> Iterator[None]:
    """Mark that ``hubbub run`` is importing ``target``.

    A file that calls ``service.run()`` without the ``__main__`` guard would
    otherwise run its service while being imported, then again for the CLI.
    """
    _loading.append(target)
    try:
        yield
    finally:
        _loading.pop()


class ClientSet:
    """The connected clients: iterate, ``len()``, ``in``, or look one up by id."""

    __slots__ = ("_clients",)

    def __init__(self, clients: dict[str, Client]) -> None:
        self._clients = clients

    def __iter__(self) -> Iterator[Client]:
        return iter(tuple(self._clients.values()))

    def __len__(self) -> int:
        return len(self._clients)

    def __contains__(self, client: object) -> bool:
        return isinstance(client, Client) and self._clients.get(client.id) is client

    def get(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    def __repr__(self) -> str:
        return f"<ClientSet of {len(self._clients)}>"


class Service:
    """An event-driven network service.

    ``Service(**settings)`` takes any setting (see :mod:`hubbub.settings`) plus
    ``config="file.toml"``. Bind handlers with :meth:`listen`, then
    :meth:`run` it (or ``await`` :meth:`start` / :meth:`serve` / :meth:`stop`).
    """

    def __init__(self, **settings: Any) -> None:
        config = settings.pop("config", None)
        self.settings = Settings()
        self.settings.update("code", settings)
        if config is not None:
            self.settings.load_file(config)
        self.settings.load_env(os.environ)
        self.dispatcher = Dispatcher()
        self.batch = WriteBatch()
        self._clients: dict[str, Client] = {}
        self.clients = ClientSet(self._clients)
        #: The groups that have members (see ``client.join`` and :meth:`write_to`).
        self.groups = GroupIndex()
        self.servers: list[Server] = []
        self._state = "stopped"
        self._capacity = self.settings.max_connections
        # Peers admitted whose connection is still being set up: they count
        # toward the capacity, so a burst cannot overshoot it.
        self._arriving = 0
        self._stopped: asyncio.Event | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._forced: asyncio.Event | None = None
        self._stage = ""
        self._emptied: asyncio.Future[None] | None = None
        self._closing_events: list[events.Event] = []
        self._refused = 0
        self._started_at = 0.0
        self._outbound = Outbound(self, lambda: self._state == "running")
        #: Links this service opened (:meth:`connect`): up, or waiting to be reopened.
        self.outbound = ClientSet(self._outbound.links)
        # The address rules and Connecting handlers (see admission.py).
        self._admission = Admission(self, self.dispatcher, self._welcome)
        self._timers = Timers(self)
        # Hot restart: the one in progress, and whether run() started us (a
        # restart starts the same command again).
        self._restarting: asyncio.Task[bool] | None = None
        self._runs_command = False
        #: The pid of the process that took over at a restart (this one then ends).
        self.successor: int | None = None
        # The link to the supervisor, in a worker of ``hubbub run --supervise``.
        self._supervised: Supervised | None = None

    # --- handlers -------------------------------------------------------------

    @overload
    def listen(self, event_class: type[events.Event], handler: H, **filters: Any) -> H: ...

    @overload
    def listen(
        self, event_class: type[events.Event], handler: None = None, **filters: Any
    ) -> Callable[[H], H]: ...

    def listen(self, event_class: type[events.Event], handler: Any = None, **filters: Any) -> Any:
        """Bind ``handler`` to ``event_class`` (and its subclasses); a decorator without it.

        ``filters`` limit it to events whose attributes equal the values given,
        e.g. ``server="web"``. On hubbub's own events a filter on an attribute
        they do not have is a :class:`TypeError`.
        """
        if handler is None:

            def decorator(func: H) -> H:
                return self.dispatcher.listen(event_class, func, filters)

            return decorator
        return self.dispatcher.listen(event_class, handler, filters)

    def unlisten(self, event_class: type[events.Event], handler: Any) -> None:
        """Remove a binding made by :meth:`listen`."""
        self.dispatcher.unlisten(event_class, handler)

    def trigger(self, event: E) -> E:
        """Run ``event``'s handlers; await the result to wait for the whole chain.

        Plain-function handlers have all run when this returns, unless an
        earlier one suspended, or the event's client is busy with an earlier
        event (then it queues behind it).
        """
        return self.dispatcher.trigger(event)

    # --- clients --------------------------------------------------------------

    def write_all(
        self,
        *lines: str,
        newline: bool = True,
        exclude: Client | Collection[Client] | None = None,
        filter: Callable[[Client], bool] | None = None,
    ) -> None:
        """Send lines to every connected client.

        The text is prepared (encoded, escaped, framed) once per kind of
        connection and encoding, and shared by every client of that kind.
        """
        if self._clients:
            text = compose(lines, self.settings.newline, newline)
            self._send_each(tuple(self._clients.values()), text, exclude, filter)

    def write_to(
        self,
        group: str,
        *lines: str,
        newline: bool = True,
        exclude: Client | Collection[Client] | None = None,
    ) -> None:
        """Send lines to every client in ``group`` (see ``client.join``).

        Prepared once per kind of connection, as :meth:`write_all` does. A
        group nobody is in reaches nobody; a name that is not a non-empty str
        is an error.
        """
        members = self.groups.members(group)
        if members:
            text = compose(lines, self.settings.newline, newline)
            self._send_each(members, text, exclude, None)

    def send_to(self, client_id: str, *lines: str, newline: bool = True) -> bool:
        """Send lines to the connected client with id ``client_id``, as ``client.write``.

        Returns False, and sends nothing, when no connected client has that
        id (it never did, or it has just left): a message to someone who
        has gone is not an error.
        """
        if not isinstance(client_id, str):
            raise TypeError(f"send_to() takes a client id (str), not {type(client_id).__name__}")
        client = self._clients.get(client_id)
        if client is None or not client.connected:
            return False
        client.write(*lines, newline=newline)
        return True

    def _send_each(
        self,
        clients: Iterable[Client],
        text: str,
        exclude: Client | Collection[Client] | None,
        filter: Callable[[Client], bool] | None,
    ) -> None:
        """Send ``text`` to ``clients``, preparing it once per connection ``share_key``."""
        skip: Collection[Client]
        if exclude is None:
            skip = ()
        elif isinstance(exclude, Client):
            skip = (exclude,)
        else:
            skip = exclude if isinstance(exclude, set | frozenset) else set(exclude)
        prepared: dict[tuple[Any, ...], bytes] = {}
        for client in clients:
            if skip and client in skip:
                continue
            if filter is not None and not filter(client):
                continue
            connection = client.connection
            key = connection.share_key
            data = prepared.get(key)
            if data is None:
                data = prepared[key] = connection.prepare(text)
            connection.send_prepared(data)

    # --- timers ---------------------------------------------------------------------

    @overload
    def every(
        self,
        seconds: float | None = None,
        handler: None = None,
        *,
        jitter: float = 0.0,
        random: tuple[float, float] | None = None,
    ) -> Callable[[Any], Timer]: ...

    @overload
    def every(
        self,
        seconds: float | None,
        handler: Any,
        *,
        jitter: float = 0.0,
        random: tuple[float, float] | None = None,
    ) -> Timer: ...

    @overload
    def every(
        self, *, handler: Any, jitter: float = 0.0, random: tuple[float, float] | None = None
    ) -> Timer: ...

    def every(
        self,
        seconds: float | None = None,
        handler: Any = None,
        *,
        jitter: float = 0.0,
        random: tuple[float, float] | None = None,
    ) -> Timer | Callable[[Any], Timer]:
        """Run ``handler`` every ``seconds`` (or a random time in ``random=(lo, hi)`` each
        time), first ``seconds`` after the service starts; ``jitter`` adds up to that
        many seconds to each tick. Returns the :class:`Timer` (as a decorator too)."""
        between: tuple[float, float] | None = None
        if random is not None:
            if seconds is not None:
                raise TypeError("every() takes seconds or random=(lo, hi), not both")
            lo, hi = (check_seconds("every(random=…)", v, allow_zero=False) for v in random)
            if lo > hi:
                raise ValueError(f"every(random=(lo, hi)) needs lo <= hi, not {random!r}")
            between = (lo, hi)
        elif seconds is None:
            raise TypeError("every() needs seconds, or random=(lo, hi)")
        period = None if seconds is None else check_seconds("every()", seconds, allow_zero=False)
        jitter = check_seconds("jitter", jitter)
        return self._timer(
            handler,
            lambda h: Timer(
                self._timers,
                h,
                period=period if between is None else sum(between) / 2,
                delay=period or 0.0,
                jitter=jitter,
                between=between,
            ),
        )

    @overload
    def after(self, seconds: float, handler: None = None) -> Callable[[Any], Timer]: ...

    @overload
    def after(self, seconds: float, handler: Any) -> Timer: ...

    def after(self, seconds: float, handler: Any = None) -> Timer | Callable[[Any], Timer]:
        """Run ``handler`` once, ``seconds`` from now (or from the start). Returns the Timer."""
        delay = check_seconds("after()", seconds)
        return self._timer(handler, lambda h: Timer(self._timers, h, delay=delay))

    @overload
    def at(self, when: datetime | float, handler: None = None) -> Callable[[Any], Timer]: ...

    @overload
    def at(self, when: datetime | float, handler: Any) -> Timer: ...

    def at(self, when: datetime | float, handler: Any = None) -> Timer | Callable[[Any], Timer]:
        """Run ``handler`` once at ``when`` (a datetime, aware or local; or a Unix time).
        A time already past fires at once. Returns the Timer."""
        moment = unix_time(when)
        return self._timer(handler, lambda h: Timer(self._timers, h, when=moment))

    def _timer(self, handler: Any, make: Callable[[Any], Timer]) -> Timer | Callable[[Any], Timer]:
        if handler is not None:
            return self._timers.add(make(handler))

        def decorate(func: Any) -> Timer:
            return self._timers.add(make(func))

        return decorate

    async def connect(
        self,
        url: str,
        name: str | None = None,
        timeout: float = 10,
        reconnect: bool | Backoff = False,
    ) -> Client:
        """Open a link to ``url`` (tcp, telnet, tls, telnets, unix) and return its client.

        The client is an ordinary one whose ``server`` is a
        :class:`~hubbub.server.Remote` named ``name`` (default: the URL); it is
        listed in :attr:`outbound`, not :attr:`clients`. Failure raises
        :class:`hubbub.Unreachable` after firing ``events.Unreachable``.
        ``reconnect`` (True, or a :class:`hubbub.outbound.Backoff`) reopens a
        lost link. See docs/outbound.md.
        """
        if self._state != "running":
            raise RuntimeError(f"service is {self._state}: connect() needs it running")
        return await self._outbound.connect(url, name, timeout, reconnect)

    # --- what transports call (the Host interface) ------------------------------

    def admit(self, server: Server, address: tuple[Any, ...]) -> str | None:
        """Before anything is set up for a peer: None to let it in, else why not."""
        if self._state != "running":
            return STOPPING_MESSAGE
        if len(self._clients) + self._arriving + self._admission.pending >= self._capacity:
            self._turned_away(address)
            return FULL_MESSAGE
        if not server.endpoint.flag("proxy"):  # else screen() runs once the header is read
            refusal = self._admission.screen(server, address)
            if refusal is not None:
                return refusal
        self._arriving += 1
        return None

    def screen(self, server: Server, address: tuple[Any, ...]) -> str | None:
        """The address rules for a peer whose real address is known only now (PROXY header)."""
        return self._admission.screen(server, address)

    def arrived(self, server: Server) -> None:
        """A peer admit() let in is about to become a client, or failed to."""
        self._arriving -= 1

    def status(self) -> tuple[int, float]:
        """(clients connected now, when the service started as a Unix time)."""
        return len(self._clients), self._started_at

    def connected(self, client: Client) -> Decision:
        """Run the rules and ``Connecting``; register the client and raise ``Connect``.

        Returns None when it is in, a reason when it is refused, or a future
        of either while ``Connecting`` handlers are still running.
        """
        if client.server.outbound:
            return self._outbound.connected(client)
        if self._state != "running":
            return STOPPING_MESSAGE
        if len(self._clients) + self._admission.pending >= self._capacity:
            self._turned_away(client.address)
            return FULL_MESSAGE
        return self._admission.connecting(client)

    def _welcome(self, client: Client) -> str | None:
        """Register a client that was let in and raise ``Connect``."""
        if self._state != "running":
            return STOPPING_MESSAGE
        self._clients[client.id] = client
        self.groups.enrol(client)
        if self._supervised is not None:
            self._supervised.register(client)
        log.info("%r connected to %s", client, client.server.name)
        self.dispatcher.trigger(events.Connect(client=client, server=client.server))
        return None

    def adopted(
        self, client: Client, replacing: Client | None, state: dict[str, Any] | None = None
    ) -> None:
        """List a carried client (no ``Connect``), in place of ``replacing`` if given.

        What a restart saved beyond the client's snapshot (input not yet
        handled, the chain that was running) is put back from ``state``.
        """
        if replacing is not None and self._clients.get(replacing.id) is replacing:
            del self._clients[replacing.id]
            self._admission.forget(replacing)
            replacing.connected = False
            self.groups.drop(replacing)
            self.dispatcher.close_inbox(replacing.inbox)
        self._clients[client.id] = client
        self.groups.enrol(client)
        self._admission.carried(client)
        log.debug("%r carried on %s", client, client.server.name)
        if state is not None and ("resume" in state or "input" in state):
            resume(self.dispatcher, client, state, self.servers, self)

    def _turned_away(self, address: tuple[Any, ...]) -> None:
        self._refused += 1
        if self._refused == 1 or self._refused % 100 == 0:
            log.warning(
                "turning away %s:%s: the server is full (clients connected: %d, "
                "capacity: %d); turned away so far: %d",
                *(*address, "?", "?")[:2],
                len(self._clients),
                self._capacity,
                self._refused,
            )

    def disconnected(
        self, client: Client, reason: str = "closed", error: BaseException | None = None
    ) -> None:
        """The transport lost ``client`` (``reason`` says how): forget it, raise ``Disconnect``.

        When the connection failed (``error``), ``ConnectionError`` fires first.
        """
        client.connected = False
        if self._state == "handed over":
            return  # the next process serves it: no Disconnect here
        if self._supervised is not None:
            self._supervised.gone(client.id)
        if client.server.outbound:
            if not self._outbound.disconnected(client, reason):
                return
        elif self._clients.pop(client.id, None) is None:
            self._admission.left(client)  # never let in: no Disconnect
            return
        else:
            self._admission.forget(client)
        self.groups.drop(client)
        log.info("%r disconnected after %s (%s)", client, _duration(client.connected_for), reason)
        if self.dispatcher.close_inbox(client.inbox):
            # Let the woken reader end first (one loop turn, never longer).
            asyncio.get_running_loop().call_soon(self._disconnected, client, error)
        else:
            self._disconnected(client, error)

    def _disconnected(self, client: Client, error: BaseException | None = None) -> None:
        if error is not None:
            self.dispatcher.trigger(
                events.ConnectionError(client=client, server=client.server, error=error)
            )
        event = self.dispatcher.trigger(events.Disconnect(client=client, server=client.server))
        if self._state == "stopping":
            if event.pending:
                self._closing_events.append(event)
            if self._emptied is not None and not self._emptied.done() and not self._live():
                self._emptied.set_result(None)

    # --- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Open every listener; the service is accepting clients when this returns."""
        if self._state != "stopped":
            raise RuntimeError(f"service is {self._state}, cannot start")
        self._state = "starting"
        self._stopped = asyncio.Event()
        self._forced = asyncio.Event()
        logging.getLogger("hubbub").setLevel(self.settings.log_level)
        incoming = None
        try:
            self._capacity = connection_capacity(self.settings.max_connections)
            self._admission.configure(self.settings)
            storage.configure(self.settings.storage, self.settings.storage_flush)
            self.servers = [Server(parse_url(url)) for url in self.settings.listen]
            supervisor = supervisor_socket()
            # Started by a restart (or the supervisor): the sockets are handed over now.
            incoming = Incoming.receive(self._wants() if supervisor is not None else {})
            storage.check()  # an existing store file that cannot be used stops the start
            if incoming is not None:
                incoming.assign(self.servers)
            await self.trigger(events.PreStart(service=self))
            for server in self.servers:
                await self._open(server)
                log.info("listening on %s (%s)", server.url, format_address(server.address))
                await self.trigger(events.ListenStart(service=self, server=server))
            if incoming is not None:
                incoming.commit()  # the old process lets go: the clients are ours
            if supervisor is not None:
                self._supervised = Supervised(
                    supervisor,
                    interval=self.settings.checkpoint_interval,
                    timeout=self.settings.restart_timeout,
                    clients=lambda: list(self._clients.values()),
                    servers=lambda: self.servers,
                    restart_into=self._restart_into,
                    orphaned=self._begin_stop,
                )
        except BaseException as exc:
            if incoming is not None:
                incoming.fail(exc)  # the old process serves on
                self._hand_back_listeners()
            else:
                self._close_listeners()
            self._state = "stopped"
            self._stopped.set()
            raise
        self._state = "running"
        self._started_at = time.time() if incoming is None else incoming.started_at
        loop = asyncio.get_running_loop()
        log.info("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
        self._timers.start()
        if self._supervised is not None:
            self._supervised.start()
        restarted = incoming is not None and not incoming.first
        if incoming is not None:
            carried = await incoming.carry(self.servers)
            if restarted:
                log.info(
                    "took over %d client(s) %.0f ms after the %s",
                    carried,
                    (time.time() - incoming.requested) * 1000,
                    "crash" if incoming.crashed else "restart was asked for",
                )
        await self.trigger(events.PostStart(service=self))
        if incoming is not None and restarted:
            await self.trigger(events.PostRestart(service=self, crashed=incoming.crashed))

    def _wants(self) -> dict[str, Any]:
        """What a supervisor needs from this worker: the listeners to open, and how."""
        return {
            "listeners": [
                {"url": server.url, "name": server.name, "tls": terminated(self, server)}
                for server in self.servers
            ],
            "pid_file": self.settings.pid_file,
            "checkpoint_interval": self.settings.checkpoint_interval,
            "close_timeout": self.settings.close_timeout,
            "restart_timeout": self.settings.restart_timeout,
        }

    async def _open(self, server: Server) -> None:
        try:
            listener = await open_listener(self, server)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                reason = "address already in use"
            error = ListenError(f"cannot listen on {server.url}: {reason}")
            error.errno = exc.errno
            raise error from None
        server.listener = listener
        server.address = listener.address

    def _close_listeners(self) -> None:
        for server in self.servers:
            if server.listener is not None:
                server.listener.close()
                server.listener = None

    def _hand_back_listeners(self) -> None:
        """A start after a restart failed: let go of the listeners without closing
        their sockets for good (the old process still serves on them)."""
        for server in self.servers:
            if server.listener is not None:
                server.listener.hand_over()
                server.listener = None

    async def stop(self) -> None:
        """Stop gracefully: ``PreStop``, ``Disconnect`` per client, ``ListenStop``, ``PostStop``."""
        if self._state != "stopped":
            await asyncio.shield(self._begin_stop())

    def _begin_stop(self) -> asyncio.Future[None]:
        """The stop in progress, starting one if none is."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        return self._stopping

    def force_stop(self, why: str) -> None:
        """Finish a stop in progress at once: stop waiting for handlers and clients.

        What the stop was waiting for when forced is logged with ``why``.
        """
        if self._forced is None or self._forced.is_set():
            return
        stage = self._stage
        if stage == "clients":
            stage = f"the graceful close of {len(self._clients)} client(s)"
        log.warning("%s: stopping now, abandoning %s", why, stage or "nothing")
        self._forced.set()
        self._begin_stop()

    async def _stop(self) -> None:
        while self._state == "starting":
            await asyncio.sleep(0.01)
        self._state = "stopping"
        timeout = self.settings.close_timeout
        self._timers.stop()
        if self._supervised is not None:
            self._supervised.stopping()
        try:
            self._stage = "PreStop handlers"
            await self._bounded([self.trigger(events.PreStop(service=self))], "PreStop handlers")
            self._close_listeners()
            self.dispatcher.cancel_all()
            self._outbound.stop()  # no more retries; links still up close with the clients
            if self._live():
                self._stage = "clients"  # force_stop() counts those still there
                self._emptied = asyncio.get_running_loop().create_future()
                for client in self._live():
                    client.close()
                finished = await self._wait([asyncio.shield(self._emptied)], timeout)
                if not finished and self._live():
                    if not self._is_forced():
                        log.warning(
                            "%d client(s) did not close in %.1fs; cutting them off",
                            len(self._live()),
                            timeout,
                        )
                    for client in self._live():
                        client.connection.abort()
                    await asyncio.sleep(0)
                    for client in self._live():
                        self.disconnected(client, "cut off at shutdown")
            self._stage = "Disconnect handlers"
            await self._bounded(self._closing_events, "Disconnect handlers")
            self._closing_events.clear()
            self._stage = "ListenStop handlers"
            for server in self.servers:
                await self._bounded(
                    [self.trigger(events.ListenStop(service=self, server=server))],
                    "ListenStop handlers",
                )
            self.dispatcher.cancel_all()
            self._stage = "PostStop handlers"
            await self._bounded([self.trigger(events.PostStop(service=self))], "PostStop handlers")
        finally:
            self._write_stores()
            self._state = "stopped"
            self._stopping = None
            self._emptied = None
            self._stage = ""
            assert self._stopped is not None
            self._stopped.set()
            log.info("stopped")

    def _write_stores(self) -> None:
        """At stop: everything saved is made durable, whatever else went wrong."""
        try:
            storage.flush_now()
        except Exception:
            log.exception("saving the stores at stop failed (%s)", storage.url)

    async def flush_stores(self) -> None:
        """Wait until every record saved so far is durable."""
        await storage.flush()

    # --- hot restart --------------------------------------------------------------

    def restart(self) -> None:
        """Hand every client to a new process running the current code; returns at once.

        ``PreRestart`` runs here (clients still writable); the new process
        runs ``PreStart``, ``ListenStart``, ``PostStart`` and ``PostRestart``,
        and carried clients get no ``Connect``. If the new process fails to
        load or start, this one keeps serving and logs why. A restart asked
        for while one is under way is the same restart.
        """
        if self._state != "running":
            log.warning("restart asked for while the service is %s; ignored", self._state)
            return
        if self._supervised is not None:
            # The supervisor starts the next worker, then gives us a channel to it.
            log.info("asking the supervisor for a restart")
            self._supervised.ask_restart()
            return
        if not self._runs_command:
            log.error(
                "restart needs a service started by run() or `hubbub run` "
                "(it starts that command again); ignored"
            )
            return
        self._begin_restart(None)

    def _restart_into(self, pid: int, channel: Channel) -> None:
        """Under the supervisor: hand over through ``channel`` to worker ``pid``."""
        if self._state != "running" or self._restarting is not None:
            log.warning("the supervisor's restart comes while the service is busy; ignored")
            channel.close()
            return
        self._begin_restart((pid, channel))

    def _begin_restart(self, successor: tuple[int, Channel] | None) -> None:
        if self._restarting is not None:
            log.info("a restart is already under way; this request joins it")
            return
        outgoing = Outgoing(
            self,
            timers=self._timers,
            clients=lambda: list(self._clients.values()),
            started_at=self._started_at,
            handed_over=self._handed_over,
            successor=successor,
        )
        self._restarting = asyncio.get_running_loop().create_task(outgoing.run())
        self._restarting.add_done_callback(self._restart_ended)

    def _restart_ended(self, task: asyncio.Task[bool]) -> None:
        self._restarting = None
        if not task.cancelled() and task.exception() is not None:
            log.error("restart failed", exc_info=task.exception())

    def _handed_over(self, pid: int) -> None:
        """The new process serves everyone now: end here without closing anything."""
        self._state = "handed over"
        self.successor = pid
        self.dispatcher.cancel_all()
        self._outbound.stop()
        for server in self.servers:
            server.listener = None
        assert self._stopped is not None
        self._stopped.set()

    def _live(self) -> list[Client]:
        """Every connected client, outbound links included: what a stop closes."""
        return [*self._clients.values(), *self._outbound.linked()]

    def _is_forced(self) -> bool:
        return self._forced is not None and self._forced.is_set()

    async def _wait(self, waits: Sequence[Awaitable[Any]], timeout: float) -> bool:
        """Wait for all of ``waits``; False on timeout or when the stop is forced."""
        if not waits:
            return True
        if self._is_forced():
            return False
        gathered: asyncio.Future[Any] = asyncio.gather(*waits)
        assert self._forced is not None
        forced: asyncio.Future[Any] = asyncio.ensure_future(self._forced.wait())
        try:
            done, _ = await asyncio.wait(
                {gathered, forced}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            forced.cancel()
        if gathered in done:
            return True
        gathered.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gathered
        return False

    async def _bounded(self, waits: list[events.Event], what: str) -> None:
        pending = [asyncio.ensure_future(event) for event in waits if event.pending]
        finished = await self._wait(pending, self.settings.close_timeout)
        if not finished and not self._is_forced():
            log.warning("%s did not finish in %.1fs; going on", what, self.settings.close_timeout)

    async def serve(self) -> None:
        """Start, then wait until the service is stopped."""
        await self.start()
        await self.wait_stopped()

    async def wait_stopped(self) -> None:
        """Wait until a started service has stopped (returns at once if never started)."""
        if self._stopped is not None:
            await self._stopped.wait()

    def run(self, **settings: Any) -> None:
        """Run until SIGINT/SIGTERM or :meth:`stop`; blocking. Errors exit with one line.

        A second SIGINT/SIGTERM while stopping stops at once.
        """
        if _loading:
            raise SystemExit(
                f"hubbub: {_loading[-1]} calls service.run() while `hubbub run` imports it; "
                'put that call under `if __name__ == "__main__":` '
                "(hubbub run starts the service itself)"
            )
        try:
            if settings:
                self.settings.update("code", settings)
            factory = self.loop_factory()
        except SettingsError as exc:
            raise SystemExit(f"hubbub: {exc}") from None
        if not logging.getLogger().handlers:
            logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._runs_command = True
        try:
            with asyncio.Runner(loop_factory=factory) as runner:
                runner.run(self._serve_until_signalled())
        except (ListenError, SettingsError) as exc:
            raise SystemExit(f"hubbub: {exc}") from None
        except KeyboardInterrupt:
            pass
        finally:
            if self.settings.pid_file and self.successor is None:
                remove_pid_file(self.settings.pid_file)
        if self.successor is not None:
            log.info("process %d serves from now on; this one exits", self.successor)

    async def _serve_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
            except (NotImplementedError, RuntimeError):
                pass
        try:
            await self.start()
            if self.settings.pid_file and self._supervised is None:
                write_pid_file(self.settings.pid_file)  # (the supervisor writes its own)
            await self.wait_stopped()
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            if self._supervised is not None:
                self._supervised.close()

    def _on_signal(self, sig: signal.Signals) -> None:
        if sig == signal.SIGHUP:
            log.info("received SIGHUP; restarting")
            self.restart()
            return
        if self._stopping is not None:
            self.force_stop(f"received {sig.name} again")
            return
        if self._state != "stopped":
            log.info("received %s; stopping (send it again to stop at once)", sig.name)
            self._begin_stop()

    def loop_factory(self) -> Callable[[], asyncio.AbstractEventLoop] | None:
        """The event loop the ``loop`` setting asks for (None: asyncio's default)."""
        choice = self.settings.loop
        if choice == "asyncio":
            return None
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                raise SettingsError(
                    "loop='uvloop' but uvloop is not installed (pip install 'hubbub[fast]')"
                ) from None
            return None
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory

    def __repr__(self) -> str:
        return f"<Service {self._state} clients={len(self._clients)} listen={self.settings.listen}>"
