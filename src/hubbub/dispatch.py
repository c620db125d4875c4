"""Event dispatch: binding handlers, running chains, and per-client ordering.

The fast path is deliberately plain: ``trigger`` looks up a precomputed tuple
of handlers for the event's class and calls each in turn. Nothing is
allocated for a chain of plain functions. Only when a handler suspends (a
generator waiting for input, or a coroutine) does a :class:`Suspension`
record come into being, and only a coroutine gets an asyncio task.

Per-client ordering lives in :class:`Inbox`: while any chain for a client is
suspended, that client's later lines and events queue behind it, and a
handler waiting for input takes the next line before it can become a
``Receive``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from types import CoroutineType, GeneratorType
from typing import Any, TypeVar

from .errors import Disconnected
from .events import Event, HandlerError, Receive
from .handler import Handler
from .log_limit import LogLimit

__all__ = ["Dispatcher", "Inbox", "Suspension", "handler_name"]

log = logging.getLogger("hubbub.dispatch")

E = TypeVar("E", bound=Event)
HandlerT = TypeVar("HandlerT")
# What a chain entry holds: the callable to run, its filters, what was bound.
Binding = tuple[Callable[[Any], Any], tuple[tuple[str, Any], ...] | None, Any]
Input = str | bytes
_MISSING = object()
_new_event = object.__new__


def _receive(client: Any, data: Input) -> Receive:
    """``Receive(client=…, server=…, data=…)`` without the **kwargs round-trip:
    this runs once per line."""
    event = _new_event(Receive)
    # Attribute stores on a fresh instance are cheaper than assigning __dict__.
    event.client = client
    event.server = client.server
    event.data = data
    return event


class Suspension:
    """A handler chain paused part-way, waiting for input or a coroutine."""

    __slots__ = ("abandoned", "chain", "event", "gen", "inbox", "index", "task")

    def __init__(self, event: Event, chain: tuple[Binding, ...], inbox: Inbox | None) -> None:
        self.event = event
        self.chain = chain
        self.inbox = inbox
        self.index = 0
        self.gen: Generator[Any, Any, Any] | None = None
        self.task: asyncio.Task[None] | None = None
        self.abandoned = False


class Inbox:
    """One client's queue of pending input and events, and who waits on it.

    ``flow`` is called with False when the queue is full (the transport stops
    reading, so a flooding client is held back by TCP instead of memory) and
    with True when it has drained again.
    """

    __slots__ = ("closed", "flow", "items", "owner", "paused", "pumping", "readers", "suspended")

    high_water = 64

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        # Both deques are made on first use: most clients never queue anything,
        # and an idle connection should cost as little memory as possible.
        self.items: deque[Input | Event] | None = None
        self.readers: deque[Suspension | asyncio.Future[Input]] | None = None
        self.suspended: list[Suspension] | None = None
        self.flow: Callable[[bool], None] | None = None
        self.paused = False
        self.pumping = False
        self.closed = False

    def push(self, item: Input | Event) -> None:
        if self.items is None:
            self.items = deque()
        self.items.append(item)
        if not self.paused and len(self.items) > self.high_water and self.flow is not None:
            self.paused = True
            self.flow(False)

    def pop(self) -> Input | Event:
        assert self.items is not None
        item = self.items.popleft()
        self._maybe_resume()
        return item

    def take_line(self) -> Input | None:
        """Remove and return the first queued line, skipping queued events."""
        items = self.items
        if not items:
            return None
        for i, item in enumerate(items):
            if not isinstance(item, Event):
                del items[i]
                self._maybe_resume()
                return item
        return None

    def _maybe_resume(self) -> None:
        if self.paused and len(self.items or ()) <= self.high_water // 2 and self.flow is not None:
            self.paused = False
            self.flow(True)

    def read(self) -> asyncio.Future[Input]:
        """A future for the next line: queued input first, else the next to arrive."""
        fut: asyncio.Future[Input] = asyncio.get_running_loop().create_future()
        if self.closed:
            fut.set_exception(Disconnected())
            return fut
        line = self.take_line()
        if line is not None:
            fut.set_result(line)
        else:
            self.add_reader(fut)
        return fut

    def add_reader(self, reader: Suspension | asyncio.Future[Input]) -> None:
        if self.readers is None:
            self.readers = deque()
        self.readers.append(reader)

    def queued_input(self) -> list[Input]:
        """Lines (or raw chunks) queued for this client, oldest first; events left out."""
        return [item for item in self.items or () if not isinstance(item, Event)]

    def running(self) -> tuple[Event, Any] | None:
        """The event and handler of the oldest chain not finished for this client, if any.

        What a restart re-runs in the new process: a generator or coroutine
        cannot cross, so its chain starts again from that handler.
        """
        for susp in self.suspended or ():
            if not susp.abandoned and susp.index:
                return susp.event, susp.chain[susp.index - 1][2]
        return None


def handler_name(handler: Any) -> str:
    """``module:qualname`` of a bound handler: how a restart finds it again."""
    target = handler if hasattr(handler, "__qualname__") else type(handler)
    return f"{getattr(target, '__module__', '?')}:{target.__qualname__}"


def _describe(handler: Any) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _callable(handler: Any) -> Callable[[Any], Any]:
    """What runs for ``handler``: itself, or a ``Handler`` class's runner."""
    if isinstance(handler, type):
        if not issubclass(handler, Handler):
            raise TypeError(f"{_describe(handler)} is a class but not a hubbub.Handler")
        return handler.run_async if handler.is_async() else handler.run
    if callable(handler):
        if inspect.isasyncgenfunction(handler):
            raise TypeError(
                f"{_describe(handler)} is an async generator; use a generator "
                "(data = yield) or async def with await client.read()"
            )
        return handler  # type: ignore[no-any-return]
    raise TypeError(f"handler must be callable, not {handler!r}")


def _check_filters(event_class: type[Event], handler: Any, filters: dict[str, Any]) -> None:
    """A filter on an attribute hubbub's own events never have is a typo: refuse it."""
    if not filters or not event_class.__module__.startswith("hubbub."):
        return
    known = event_class.all_fields()
    unknown = sorted(set(filters) - known)
    if unknown:
        raise TypeError(
            f"listen({event_class.__name__}, {_describe(handler)}): "
            f"{event_class.__name__} events have no attribute {unknown[0]!r} to filter on "
            f"(they have {', '.join(sorted(known))})"
        )


class Dispatcher:
    """Handler registry and chain runner for one service."""

    def __init__(self) -> None:
        self._bound: dict[type[Event], list[tuple[int, Binding]]] = {}
        self._chains: dict[type[Event], tuple[Binding, ...]] = {}
        self._seq = 0
        self._live: set[Suspension] = set()
        # Per handler: how often it raised (its tracebacks are rate-limited).
        self._errors: dict[int, LogLimit] = {}
        # Bindings already warned about a filtered attribute their events lack.
        self._warned: set[int] = set()

    # --- binding --------------------------------------------------------------

    def listen(
        self, event_class: type[Event], handler: HandlerT, filters: dict[str, Any]
    ) -> HandlerT:
        if not (isinstance(event_class, type) and issubclass(event_class, Event)):
            raise TypeError(f"listen() needs an Event subclass, not {event_class!r}")
        _check_filters(event_class, handler, filters)
        call = _callable(handler)
        self._seq += 1
        binding: Binding = (call, tuple(filters.items()) or None, handler)
        self._bound.setdefault(event_class, []).append((self._seq, binding))
        self._chains.clear()
        return handler

    def chain_of(self, handler: Any) -> tuple[Binding, ...]:
        """A chain of ``handler`` alone, for :meth:`run_chain` (a timer's own handler)."""
        return ((_callable(handler), None, handler),)

    def run_chain(self, event: Event, chain: tuple[Binding, ...]) -> None:
        """Run ``chain`` for ``event`` as :meth:`trigger` runs a listened one."""
        self._run(event, chain, 0, None, None)

    def run_from(self, event: Event, name: str) -> bool:
        """Run ``event``'s chain from the bound handler named ``name`` (see
        :func:`handler_name`); False when no such handler is bound for it."""
        chain = self.chain_for(type(event))
        for i, (_, _, handler) in enumerate(chain):
            if handler_name(handler) == name:
                client = event.__dict__.get("client")
                self._run(event, chain, i, getattr(client, "inbox", None), None)
                return True
        return False

    def unlisten(self, event_class: type[Event], handler: Any) -> None:
        bound = self._bound.get(event_class, [])
        kept = [entry for entry in bound if entry[1][2] is not handler]
        if len(kept) == len(bound):
            raise ValueError(f"{_describe(handler)} is not bound to {event_class.__name__}")
        self._bound[event_class] = kept
        self._chains.clear()

    def chain_for(self, event_class: type[Event]) -> tuple[Binding, ...]:
        """The handlers for a class: its own and its first bases', in binding order."""
        try:
            return self._chains[event_class]
        except KeyError:
            pass
        entries: list[tuple[int, Binding]] = []
        cls: type = event_class
        while cls is not object:
            entries.extend(self._bound.get(cls, ()))
            # First base that is an event; a non-event mixin never hides the tree.
            cls = next((b for b in cls.__bases__ if issubclass(b, Event)), object)
        entries.sort(key=lambda entry: entry[0])
        chain = self._chains[event_class] = tuple(binding for _, binding in entries)
        return chain

    # --- running ----------------------------------------------------------------

    def trigger(self, event: E) -> E:
        inbox: Inbox | None = None
        client = event.__dict__.get("client")
        if client is not None:
            inbox = getattr(client, "inbox", None)
            if (
                inbox is not None
                and (inbox.suspended or inbox.items)
                and event.ordered
                and not inbox.closed
            ):
                event.pending = True
                inbox.push(event)
                return event
        chain = self._chains.get(event.__class__)
        if chain is None:
            chain = self.chain_for(event.__class__)
        self._run(event, chain, 0, inbox, None)
        return event

    def receive(self, inbox: Inbox, data: Input) -> None:
        """Route one line (or raw chunk) from a client: to a waiting reader, or ``Receive``."""
        if inbox.readers or inbox.suspended or inbox.items:
            inbox.push(data)
            self._pump(inbox)
            return
        chain = self._chains.get(Receive)
        if chain is None:
            chain = self.chain_for(Receive)
        # _receive(), inline: this runs once per line.
        client = inbox.owner
        event = _new_event(Receive)
        event.client = client
        event.server = client.server
        event.data = data
        # _run(), inline for the common case: handlers without filters.
        i = 0
        for call, filters, handler in chain:
            if filters is not None:
                self._run(event, chain, i, inbox, None)
                return
            i += 1
            try:
                result = call(event)
            except Exception:
                self._failed(handler, event)
                continue
            if result is not None and self._suspended(
                result, handler, event, chain, i, inbox, None
            ):
                return
            if event.stopped:
                return

    def _run(
        self,
        event: Event,
        chain: tuple[Binding, ...],
        i: int,
        inbox: Inbox | None,
        susp: Suspension | None,
    ) -> None:
        """Run ``chain[i:]`` for ``event`` until it ends or a handler suspends.

        Plain functions run inline; anything that suspends is handed to
        :meth:`_suspended`, which records where to resume.
        """
        for call, filters, handler in chain[i:] if i else chain:
            if event.stopped:
                break
            i += 1
            if filters is not None and not self._matches(event, filters, handler):
                continue
            try:
                result = call(event)
            except Exception:
                self._failed(handler, event)
                continue
            if result is None:
                continue
            if self._suspended(result, handler, event, chain, i, inbox, susp):
                return
        if susp is not None:
            self._release(susp)
        elif event.pending:
            event.settle()

    def _suspended(
        self,
        result: Any,
        handler: Any,
        event: Event,
        chain: tuple[Binding, ...],
        i: int,
        inbox: Inbox | None,
        susp: Suspension | None,
    ) -> bool:
        """Act on what a handler returned; True if the chain is now suspended at ``i``."""
        if type(result) is GeneratorType:
            if not self._start_generator(result, handler, event, inbox):
                return False
            assert inbox is not None
            susp = self._suspend(susp, event, chain, i, inbox)
            susp.gen = result
            inbox.add_reader(susp)
            self._pump(inbox)
            return True
        if type(result) is CoroutineType or asyncio.iscoroutine(result):
            susp = self._suspend(susp, event, chain, i, inbox)
            susp.task = asyncio.get_running_loop().create_task(self._drive(susp, result, handler))
            return True
        return False

    def _start_generator(
        self, gen: Generator[Any, Any, Any], handler: Any, event: Event, inbox: Inbox | None
    ) -> bool:
        """Run a generator to its first ``yield``; True if it now waits for input."""
        try:
            next(gen)
        except StopIteration:
            return False
        except Exception:
            self._failed(handler, event)
            return False
        if inbox is None:
            log.error(
                "handler %s yielded for input, but %s has no client to read from; "
                "the handler was closed",
                _describe(handler),
                event,
            )
            gen.close()
            return False
        if inbox.closed:
            gen.close()
            return False
        return True

    def _suspend(
        self,
        susp: Suspension | None,
        event: Event,
        chain: tuple[Binding, ...],
        i: int,
        inbox: Inbox | None,
    ) -> Suspension:
        if susp is None:
            susp = Suspension(event, chain, inbox)
            event.pending = True
            self._live.add(susp)
            if inbox is not None:
                if inbox.suspended is None:
                    inbox.suspended = []
                inbox.suspended.append(susp)
        susp.index = i
        susp.gen = None
        susp.task = None
        return susp

    def _release(self, susp: Suspension) -> None:
        """A suspended chain has ended: free its client for the next item."""
        self._live.discard(susp)
        inbox = susp.inbox
        susp.event.settle()
        if inbox is not None:
            if inbox.suspended and susp in inbox.suspended:
                inbox.suspended.remove(susp)
            self._pump(inbox)

    def _resume(self, susp: Suspension) -> None:
        if not susp.abandoned:
            self._run(susp.event, susp.chain, susp.index, susp.inbox, susp)

    async def _drive(self, susp: Suspension, coro: Coroutine[Any, Any, Any], handler: Any) -> None:
        try:
            await coro
        except Disconnected:
            log.debug("handler %s ended: its client disconnected", _describe(handler))
        except asyncio.CancelledError:
            self._abandon(susp)
            raise
        except Exception:
            self._failed(handler, susp.event)
        self._resume(susp)

    def _pump(self, inbox: Inbox) -> None:
        """Hand queued input to readers, then run queued items while the client is free."""
        if inbox.pumping:
            return
        inbox.pumping = True
        try:
            while inbox.items:
                readers = inbox.readers
                if readers:
                    reader = readers[0]
                    if isinstance(reader, asyncio.Future) and reader.done():
                        readers.popleft()  # cancelled read(): forget it
                        continue
                    line = inbox.take_line()
                    if line is None:
                        break
                    readers.popleft()
                    self._deliver(reader, line)
                elif inbox.suspended:
                    break
                else:
                    item = inbox.pop()
                    if isinstance(item, Event):
                        self._run(item, self.chain_for(type(item)), 0, inbox, None)
                    else:
                        self._run_receive(inbox, item)
        finally:
            inbox.pumping = False

    def _run_receive(self, inbox: Inbox, data: Input) -> None:
        # Receive events for queued input are made when their turn comes.
        self._run(_receive(inbox.owner, data), self.chain_for(Receive), 0, inbox, None)

    def _deliver(self, reader: Suspension | asyncio.Future[Input], line: Input) -> None:
        if isinstance(reader, asyncio.Future):
            reader.set_result(line)
            return
        gen = reader.gen
        assert gen is not None
        try:
            gen.send(line)
        except StopIteration:
            pass
        except Exception:
            self._failed(reader.chain[reader.index - 1][2], reader.event)
        else:
            assert reader.inbox is not None
            reader.inbox.add_reader(reader)
            return
        reader.gen = None
        self._resume(reader)

    # --- endings --------------------------------------------------------------

    def _abandon(self, susp: Suspension) -> None:
        """End a suspended chain early: its remaining handlers are skipped."""
        if susp.abandoned:
            return
        susp.abandoned = True
        self._live.discard(susp)
        if susp.gen is not None:
            gen, susp.gen = susp.gen, None
            try:
                gen.close()
            except Exception:
                log.exception("handler for %s failed while being closed", susp.event)
        inbox = susp.inbox
        if inbox is not None:
            if inbox.suspended and susp in inbox.suspended:
                inbox.suspended.remove(susp)
            if inbox.readers and susp in inbox.readers:
                inbox.readers.remove(susp)
        susp.event.settle()

    def close_inbox(self, inbox: Inbox) -> bool:
        """The client is gone: end what waits on it and drop what queued for it.

        True if an async reader was woken with :class:`Disconnected`; it runs
        on the loop's next turn.
        """
        inbox.closed = True
        woke = False
        for reader in list(inbox.readers or ()):
            if isinstance(reader, asyncio.Future) and not reader.done():
                reader.set_exception(Disconnected())
                # Nobody may await it (a cancelled reader); keep asyncio quiet.
                reader.exception()
                woke = True
        inbox.readers = None
        for susp in list(inbox.suspended or ()):
            self._abandon(susp)
        if inbox.items:
            log.debug("dropping %d queued item(s) for a disconnected client", len(inbox.items))
            for item in inbox.items:
                if isinstance(item, Event):
                    item.settle()
            inbox.items = None
        return woke

    def cancel_all(self) -> None:
        """Stop every suspended chain (service shutdown)."""
        for susp in list(self._live):
            task = susp.task
            self._abandon(susp)
            if task is not None and not task.done():
                task.cancel()

    def _matches(self, event: Event, filters: tuple[tuple[str, Any], ...], handler: Any) -> bool:
        for key, value in filters:
            found = getattr(event, key, _MISSING)
            if found is _MISSING:
                if id(filters) not in self._warned:
                    self._warned.add(id(filters))
                    log.warning(
                        "handler %s filters on %r, but %s has no such attribute; "
                        "it is skipped for such events (warned once)",
                        _describe(handler),
                        key,
                        type(event).__name__,
                    )
                return False
            if found != value:
                return False
        return True

    def _failed(self, handler: Any, event: Event) -> None:
        """Log a handler's exception (first in full, then counted); raise ``HandlerError``.

        Called while the exception is being handled. A ``HandlerError``
        handler that raises is only logged, so errors never chain.
        """
        key = id(handler)
        limit = self._errors.get(key)
        if limit is None:
            limit = self._errors[key] = LogLimit()
        limit.log(
            log, logging.ERROR, "handler %s failed on %s", _describe(handler), event, exc_info=True
        )
        error = sys.exc_info()[1]
        if error is not None and not isinstance(event, HandlerError):
            self.trigger(HandlerError(event=event, handler=handler, error=error))
