"""Outbound links: ``service.connect(url)``, and keeping a link up with ``reconnect``.

A link is an ordinary :class:`~hubbub.Client` whose ``server`` is a
:class:`~hubbub.server.Remote`: the same ``write``/``read``/``close`` and the
same ``Connect``/``Receive``/``Disconnect`` events as an accepted client. The
service lists links in ``service.outbound`` instead of ``service.clients``
(``write_all`` never reaches them, the connection limit never counts them)
and hands them to :class:`Outbound` by the server's ``outbound`` flag.

With ``reconnect`` a lost link is opened again after a wait that doubles on
every failure (:class:`Backoff`: 1 s, 2 s, 4 s … 60 s, less up to a quarter
at random so that many links do not retry in step). The client stays the
same object across links: ``Connect`` fires on each new link,
``Disconnect`` when one is lost, and ``events.Unreachable`` for every
attempt that fails. While it waits the client stays listed in
``service.outbound`` with ``connected`` False; ``client.close()`` ends the
retrying, and so does stopping the service.

What is known about a link's retrying is plain data on the client,
``client.link`` (see :meth:`Outbound.connected`), so it is saved with the
client like any attribute.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from . import events
from .client import Client
from .errors import Disconnected, TLSError, Unreachable
from .log_limit import LogLimit
from .server import Remote
from .transports.base import BaseConnection
from .transports.connector import OUTBOUND, open_connection, parse_target, tls_context, unreachable

if TYPE_CHECKING:
    from .service import Service

__all__ = [
    "BACKOFF_CAP",
    "BACKOFF_FACTOR",
    "BACKOFF_FIRST",
    "BACKOFF_JITTER",
    "BACKOFF_STABLE",
    "Backoff",
    "Outbound",
]

log = logging.getLogger("hubbub.outbound")

#: Wait before the first retry of a lost link, in seconds.
BACKOFF_FIRST: Final = 1.0
#: The longest wait between two retries, in seconds.
BACKOFF_CAP: Final = 60.0
#: Each failure multiplies the wait by this.
BACKOFF_FACTOR: Final = 2.0
#: Up to this fraction of each wait is taken off at random.
BACKOFF_JITTER: Final = 0.25
#: A link that stayed up this long (seconds) starts the waits from the first again;
#: one lost sooner counts as a failure, so a peer that accepts and hangs up at
#: once is retried less and less often, not every second.
BACKOFF_STABLE: Final = 10.0

#: Distinct targets whose failure logs are rate-limited at once (oldest forgotten first).
_MAX_LOG_LIMITS: Final = 256

STOPPING_REASON = "the service is stopping"


@dataclass(frozen=True)
class Backoff:
    """How a link with ``reconnect`` waits between attempts.

    ``reconnect=True`` uses the defaults (the module constants); pass
    ``reconnect=Backoff(first=0.05, cap=1)`` for other waits (tests use small
    ones). The wait before attempt *n* (counting failures since the link was
    last up for ``stable`` seconds) is ``min(cap, first * factor ** n)``
    less a random part of up to ``jitter`` of it.
    """

    first: float = BACKOFF_FIRST
    cap: float = BACKOFF_CAP
    factor: float = BACKOFF_FACTOR
    jitter: float = BACKOFF_JITTER
    stable: float = BACKOFF_STABLE

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.cap:
            raise ValueError(f"Backoff needs 0 < first <= cap (got {self.first}, {self.cap})")
        if self.factor < 1:
            raise ValueError(f"Backoff factor must be at least 1 (got {self.factor})")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"Backoff jitter must be in [0, 1) (got {self.jitter})")
        if self.stable < 0:
            raise ValueError(f"Backoff stable must not be negative (got {self.stable})")

    def delay(self, failures: int, chance: float) -> float:
        """The wait after ``failures`` failures; ``chance`` in [0, 1) picks the jitter."""
        wait = self.cap
        if failures < 64:  # past that the power overflows; the cap was reached long before
            wait = min(self.cap, self.first * self.factor**failures)
        return wait * (1.0 - self.jitter * chance)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class Waiting:
    """A link's client between two connections: writes are dropped, ``close()`` gives up.

    It stands in for the lost connection (``client.connection``) while the
    link waits to be reopened, so that ``client.close()`` stops the retrying.
    """

    __slots__ = ("client", "outbound", "share_key")

    #: Nothing reaches a link that is down.
    supports_data = False

    def __init__(self, outbound: Outbound, client: Client) -> None:
        self.outbound = outbound
        self.client = client
        self.share_key: tuple[Any, ...] = ("waiting",)

    def prepare(self, text: str, prompt: bool = False) -> bytes:
        return b""

    def send_prepared(self, data: bytes) -> None:
        pass

    def send_text(self, text: str, prompt: bool = False) -> None:
        pass

    def send_raw(self, data: bytes) -> None:
        pass

    def send_data(self, package: str, data: Any) -> None:
        pass

    def state_mark(self) -> tuple[Any, ...]:
        return ()

    def close(self) -> None:
        self.outbound.give_up(self.client)

    def abort(self) -> None:
        self.outbound.give_up(self.client)

    def flush(self) -> Awaitable[None]:
        async def gone() -> None:
            raise Disconnected()

        return gone()

    def set_echo(self, enabled: bool) -> None:
        pass

    def start_tls(self) -> Awaitable[None]:
        raise TLSError(f"{self.client!r}: its link is down; there is nothing to upgrade")

    def set_raw(self, raw: bool) -> None:
        pass

    def set_encoding(self, encoding: str) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {"kind": "waiting", "lines": {}, "transport": {}}

    # A link waiting to be reopened has nothing to hand over at a restart.
    @property
    def drained(self) -> bool:
        return True

    def hold(self) -> None:
        pass

    def why_not_carried(self) -> str | None:
        return "a link waiting to be reopened is opened again by the new process"

    def fileno(self) -> int | None:
        return None

    def freeze(self) -> dict[str, Any] | None:
        return None

    def thaw(self) -> None:
        pass

    def hand_over(self) -> None:
        pass


class Outbound:
    """The service's outbound links (what :meth:`hubbub.Service.connect` delegates to)."""

    def __init__(self, service: Service, running: Callable[[], bool]) -> None:
        self.service = service
        self._running = running
        #: Listed links by client id: connected, or waiting to be reopened.
        self.links: dict[str, Client] = {}
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._logs: dict[str, LogLimit] = {}

    # ------------------------------------------------------------- opening
    async def connect(
        self, url: str, name: str | None, timeout: float, reconnect: bool | Backoff
    ) -> Client:
        """Open a link; the client is connected (``Connect`` raised) when this returns."""
        endpoint = parse_target(url, name)
        if OUTBOUND[endpoint.scheme].tls:
            tls_context(endpoint)  # an unreadable ca= file is an error now, not at each retry
        if isinstance(reconnect, Backoff):
            backoff: Backoff | None = reconnect
        elif reconnect is True:
            backoff = Backoff()
        elif reconnect is False or reconnect is None:
            backoff = None
        else:
            raise TypeError(f"reconnect must be a bool or a Backoff, not {reconnect!r}")
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds (got {timeout!r})")
        remote = Remote(endpoint, timeout=float(timeout), reconnect=backoff)
        try:
            connection = await open_connection(self.service, remote, remote.timeout)
        except Unreachable as exc:
            self._failed(remote, exc.reason, logging.INFO)
            raise
        client = connection.client
        if client is None:  # the service began to stop meanwhile
            self._failed(remote, STOPPING_REASON, logging.INFO)
            raise unreachable(endpoint, STOPPING_REASON)
        return client

    # ------------------------------------------------ what the service hands on
    def connected(self, client: Client) -> str | None:
        """A link is up: list it and raise ``Connect`` (or say why it may not be).

        ``client.link`` is set here (first link) or updated (later ones):
        ``url``, ``timeout`` and ``reconnect`` (the :class:`Backoff` as a dict,
        or None) describe the link; ``links`` counts its connections,
        ``failures`` the failed attempts (and short-lived links) since it
        was last up for ``stable`` seconds, and ``retry_at`` is when the next
        attempt starts (a ``time.time()``), None while it is up.
        """
        if not self._running():
            return STOPPING_REASON
        remote = cast(Remote, client.server)
        link = client.__dict__.get("link")
        if link is None:
            backoff = remote.reconnect
            client.link = {
                "url": remote.url,
                "timeout": remote.timeout,
                "reconnect": None if backoff is None else backoff.as_dict(),
                "links": 1,
                "failures": 0,
                "retry_at": None,
            }
        else:
            link["links"] += 1
            link["retry_at"] = None
        self.links[client.id] = client
        log.info("%r linked to %s", client, remote.name)
        self.service.dispatcher.trigger(events.Connect(client=client, server=remote))
        return None

    def disconnected(self, client: Client, reason: str) -> bool:
        """A link's connection is gone: True if it was listed (``Disconnect`` follows).

        It is retried when it was opened with ``reconnect``, the service is
        running and this side did not close it on purpose.
        """
        if self.links.get(client.id) is not client:
            return False
        remote = cast(Remote, client.server)
        backoff = remote.reconnect
        connection = client.connection
        hung_up = isinstance(connection, BaseConnection) and connection.hung_up
        if backoff is None or hung_up or not self._running():
            del self.links[client.id]
            return True
        link = client.link
        stable = client.connected_for >= backoff.stable
        link["failures"] = 0 if stable else link["failures"] + 1
        client.connection = Waiting(self, client)
        self._retries[client.id] = asyncio.get_running_loop().create_task(
            self._keep(client, remote, backoff)
        )
        return True

    # ------------------------------------------------------------- retrying
    async def _keep(self, client: Client, remote: Remote, backoff: Backoff) -> None:
        """Reopen ``client``'s link, waiting longer after each failure, until it is up."""
        link = client.link
        level = logging.INFO  # the first wait is news; the later ones are in the failures' lines
        try:
            while True:
                wait = backoff.delay(link["failures"], random.random())
                link["retry_at"] = time.time() + wait
                log.log(level, "%r: reopening the link to %s in %.1fs", client, remote.name, wait)
                level = logging.DEBUG
                await asyncio.sleep(wait)
                try:
                    connection = await open_connection(self.service, remote, remote.timeout, client)
                except Unreachable as exc:
                    link["failures"] += 1
                    self._failed(remote, exc.reason, logging.WARNING)
                    continue
                except Exception as exc:  # a bug must not end the retrying silently
                    link["failures"] += 1
                    log.exception("%r: reopening the link to %s failed", client, remote.name)
                    self._failed(remote, f"error: {exc!r}", logging.WARNING)
                    continue
                if connection.client is None:  # refused: the service is stopping
                    self.give_up(client)
                return
        finally:
            if self._retries.get(client.id) is asyncio.current_task():
                del self._retries[client.id]

    def give_up(self, client: Client) -> None:
        """Stop reopening ``client``'s link and forget it (``client.close()`` while it waits)."""
        task = self._retries.pop(client.id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if self.links.get(client.id) is client and not client.connected:
            del self.links[client.id]
            client.link["retry_at"] = None
            log.info("%r: the link to %s is closed; no more retries", client, client.server.name)

    def _failed(self, remote: Remote, reason: str, level: int) -> None:
        """An attempt failed: a rate-limited log line and ``events.Unreachable``."""
        limit = self._logs.get(remote.url)
        if limit is None:
            if len(self._logs) >= _MAX_LOG_LIMITS:
                del self._logs[next(iter(self._logs))]
            limit = self._logs[remote.url] = LogLimit()
        limit.log(log, level, "cannot reach %s: %s", remote.name, reason)
        self.service.trigger(
            events.Unreachable(service=self.service, server=remote, url=remote.url, reason=reason)
        )

    # ------------------------------------------------------------- stopping
    def linked(self) -> list[Client]:
        """The links that are up (the service closes them when it stops)."""
        return [client for client in self.links.values() if client.connected]

    def stop(self) -> None:
        """No more retries: links waiting to be reopened are forgotten (links up stay up)."""
        for client in list(self.links.values()):
            if not client.connected:
                self.give_up(client)
        for task in list(self._retries.values()):
            task.cancel()
        self._retries.clear()
