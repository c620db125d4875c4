"""Letting peers in: the address rules, ``Connecting`` handlers, and ``Blocked``.

The service asks this module twice about each peer. :meth:`Admission.screen`
runs the address rules (:mod:`hubbub.limits`) the moment a connection is
accepted, before anything is set up for it (or, on a ``?proxy=1`` listener,
once the PROXY header has given the real address). :meth:`Admission.connecting`
runs when the client object exists: the exact per-address count, then the
``Connecting`` handlers, then the service's ``Connect``.

``Connecting`` handlers that are plain functions decide inline: no extra loop
turn. When one suspends (an ``async def`` looking the address up in a
database), the decision is a future the connection waits on, holding the
peer's input until it is let in, so that ``Connect`` still comes first.

A ``Connecting`` handler that raises refuses the peer (fails closed): the
handler may have been about to refuse it, and a crash an attacker can cause
must not open the door. The error is logged and ``HandlerError`` fires as
for any handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from .dispatch import Dispatcher, Inbox
from .events import Blocked, Connecting, HandlerError
from .limits import AddressLimits
from .log_limit import LogLimit

if TYPE_CHECKING:
    from .client import Client
    from .server import Server
    from .settings import Settings

__all__ = ["CHECK_FAILED", "Admission"]

log = logging.getLogger("hubbub.limits")

#: What a peer is told when a ``Connecting`` handler raised.
CHECK_FAILED: Final = "Sorry, the server could not check your connection; please try again later."

Decision = str | asyncio.Future[str | None] | None


class Admission:
    """One service's gate (see the module docstring).

    ``welcome(client)`` registers a client that was let in and raises
    ``Connect``, or says why it cannot (the service is stopping).
    """

    def __init__(
        self, service: Any, dispatcher: Dispatcher, welcome: Callable[[Client], str | None]
    ) -> None:
        self.service = service
        self.dispatcher = dispatcher
        self.welcome = welcome
        self.limits: AddressLimits | None = None
        #: Peers whose ``Connecting`` handlers are still running.
        self.pending = 0
        self._deciding: dict[Client, asyncio.Task[None]] = {}
        self._logs: dict[str, LogLimit] = {}
        dispatcher.listen(HandlerError, self._handler_failed, {})

    def configure(self, settings: Settings) -> None:
        """Take the rules from ``settings`` (at start; forgets what was counted)."""
        self.limits = AddressLimits(settings)

    # --- the address rules --------------------------------------------------------

    def screen(self, server: Server, address: tuple[Any, ...]) -> str | None:
        """A peer was accepted from ``address``: None, or why it is refused (``Blocked`` fired)."""
        assert self.limits is not None
        found = self.limits.screen(address)
        if found is None:
            return None
        rule, reason = found
        self.blocked(server, address, reason, rule)
        return reason

    def blocked(self, server: Server, address: tuple[Any, ...], reason: str, rule: str) -> None:
        """Log (at a bounded rate, per rule) and raise ``Blocked``."""
        limit = self._logs.get(rule)
        if limit is None:
            limit = self._logs[rule] = LogLimit()
        host, port = (*address, "?", "?")[:2]
        limit.log(log, logging.INFO, "refused %s:%s on %s: %s", host, port, server.name, reason)
        self.dispatcher.trigger(
            Blocked(service=self.service, server=server, address=address, reason=reason)
        )

    # --- the client --------------------------------------------------------------------

    def connecting(self, client: Client) -> Decision:
        """None once ``Connect`` is raised; a reason to refuse; or a future of either."""
        assert self.limits is not None
        server = client.server
        refusal = self.limits.join(client.address)
        if refusal is not None:
            self.blocked(server, client.address, refusal, "per_ip")
            return refusal
        if not self.dispatcher.chain_for(Connecting):
            return self._welcome(client)
        # Until it is let in the peer cannot read: its input is held by the
        # connection, and read() or a yield in a Connecting handler ends it.
        inbox = client.inbox
        stand_in = client.inbox = Inbox(client)
        stand_in.closed = True
        event = self.dispatcher.trigger(
            Connecting(service=self.service, server=server, client=client)
        )
        if not event.pending:
            client.inbox = inbox
            return self._decided(event, client)
        self.pending += 1
        decision: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(self._wait(event, client, inbox, decision))
        self._deciding[client] = task
        return decision

    async def _wait(
        self,
        event: Connecting,
        client: Client,
        inbox: Inbox,
        decision: asyncio.Future[str | None],
    ) -> None:
        try:
            await event
        finally:
            self.pending -= 1
            del self._deciding[client]
            client.inbox = inbox
        if not client.connected:  # the peer left while it was being checked
            assert self.limits is not None
            self.limits.leave(client.address)
            decision.cancel()
            return
        decision.set_result(self._decided(event, client))

    def _decided(self, event: Connecting, client: Client) -> str | None:
        reason = event.reason
        if reason is None:
            return self._welcome(client)
        assert self.limits is not None
        self.limits.leave(client.address)
        self.blocked(client.server, client.address, reason, "connecting")
        return reason

    def _welcome(self, client: Client) -> str | None:
        refusal = self.welcome(client)
        if refusal is not None:
            assert self.limits is not None
            self.limits.leave(client.address)
        return refusal

    def left(self, client: Client) -> None:
        """A client that was never let in is gone: end its ``Connecting`` handlers."""
        if client in self._deciding:
            self.dispatcher.close_inbox(client.inbox)

    def carried(self, client: Client) -> None:
        """A client carried over a restart is counted without a check."""
        if self.limits is not None:
            self.limits.join(client.address, check=False)

    def forget(self, client: Client) -> None:
        """A client that was let in is gone."""
        if self.limits is not None:
            self.limits.leave(client.address)

    def _handler_failed(self, event: HandlerError) -> None:
        failed = event.event
        if isinstance(failed, Connecting) and not failed.refused:
            failed.refuse(CHECK_FAILED)
