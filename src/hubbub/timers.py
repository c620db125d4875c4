"""Timers: ``service.every``, ``after`` and ``at``, each a :class:`Timer` firing ``Tick``.

A timer's handler is an ordinary handler of :class:`~hubbub.events.Tick`
(a function, ``async def`` or a ``Handler`` class), run by the service's
dispatcher, so a handler that raises is logged (and raises
``HandlerError``) and its timer lives on.

Timers run while the service runs: one made before ``start()`` begins
counting at ``PostStart``, and every timer stops at ``PreStop``. A periodic
timer keeps to its grid (the n-th tick is due at start + n * period, never
pushed back by a late one), and when the loop was too busy to fire a tick
in time, the ticks it missed are skipped with one log line instead of
being run in a burst. A tick whose previous run has not finished (an
``async def`` still awaiting) is skipped the same way: a handler that never
returns holds up neither its own timer nor any other.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .events import Tick
from .log_limit import LogLimit

if TYPE_CHECKING:
    from .service import Service

__all__ = ["Timer", "Timers"]

log = logging.getLogger("hubbub.timers")
#: Ticks due within this many seconds of the first fire in the same pass: ten
#: thousand timers wake the loop at most a thousand times a second.
_SLACK = 0.001
_new_event = object.__new__


class Timer:
    """One timer. ``next`` is when it fires next (a Unix time), None once it is done.

    Made by :meth:`Service.every`, :meth:`Service.after` or :meth:`Service.at`.
    """

    __slots__ = (
        "_base",
        "_chain",
        "_due",
        "_entry",
        "_jitter",
        "_limit",
        "_owner",
        "_random",
        "_running",
        "_ticks",
        "delay",
        "handler",
        "period",
        "when",
    )

    def __init__(
        self,
        owner: Timers,
        handler: Any,
        *,
        period: float | None = None,
        delay: float = 0.0,
        when: float | None = None,
        jitter: float = 0.0,
        between: tuple[float, float] | None = None,
    ) -> None:
        self._owner = owner
        self.handler = handler
        #: Seconds between ticks (None: fires once; with ``random=`` the mean).
        self.period = period
        self.delay = delay
        #: For ``at()``: the Unix time it fires.
        self.when = when
        self._jitter = jitter
        self._random = between
        self._chain = owner.service.dispatcher.chain_of(handler)
        self._entry = 0  # the sequence number of its entry in the heap (0: none)
        self._base = 0.0  # loop time the grid starts from
        self._ticks = 0  # ticks of the grid passed
        self._due = 0.0  # loop time of the next tick (jitter included)
        self._running: Tick | None = None
        self._limit = LogLimit()

    # --- the public face --------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether it will fire again (not cancelled, not done)."""
        return self in self._owner.live

    @property
    def next(self) -> float | None:
        """When it fires next, as a Unix time (``time.time()``); None when it never will."""
        if not self.active:
            return None
        if not self._entry:  # made before the service started
            if self.when is not None:
                return self.when
            return time.time() + self.delay
        loop = asyncio.get_running_loop()
        return time.time() + (self._due - loop.time())

    def cancel(self) -> None:
        """Stop it; a run in progress finishes. Cancelling twice is harmless."""
        self._entry = 0  # its entry in the heap is skipped when it comes up
        self._owner.live.discard(self)

    def __repr__(self) -> str:
        what = (
            f"every {self.period:g} s"
            if self.period is not None and self._random is None
            else f"every {self._random[0]:g}-{self._random[1]:g} s"
            if self._random is not None
            else "once"
        )
        name = getattr(self.handler, "__qualname__", repr(self.handler))
        return f"<Timer {what} {name}{'' if self.active else ' (done)'}>"

    # --- scheduling ---------------------------------------------------------------------
    def _begin(self, loop: asyncio.AbstractEventLoop) -> None:
        """The service runs: set the first tick."""
        now = loop.time()
        if self.when is not None:
            first = max(0.0, self.when - time.time())
        elif self._random is not None:
            first = random.uniform(*self._random)
        else:
            first = self.delay
        self._base = now + first
        self._ticks = 0
        self._schedule(loop, self._base)

    def _schedule(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        if self._jitter:
            due += random.uniform(0.0, self._jitter)
        self._due = due
        self._owner.push(self, due)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        owner = self._owner
        running = self._running
        if running is not None and running.pending:
            self._limit.log(
                log,
                logging.WARNING,
                "%r: its handler is still running from the last tick; tick skipped",
                self,
            )
        else:
            event = _new_event(Tick)  # Tick(timer=…, service=…) without the **kwargs
            event.timer = self
            event.service = owner.service
            self._running = event
            owner.service.dispatcher.run_chain(event, self._chain)
        if self.period is None and self._random is None:
            owner.live.discard(self)  # a one-shot timer is done
            return
        if self not in owner.live:
            return  # the handler cancelled it
        self._next_tick(loop)

    def _next_tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        if self._random is not None:
            due = self._due + random.uniform(*self._random)
            if due <= now:  # late: from now, not in a burst
                self._skipped(1)
                due = now + random.uniform(*self._random)
            self._schedule(loop, due)
            return
        period = self.period
        assert period is not None
        self._ticks += 1
        due = self._base + self._ticks * period
        if due <= now:
            # Missed ticks are skipped, keeping to the grid.
            missed = math.floor((now - due) / period) + 1
            self._ticks += missed
            due = self._base + self._ticks * period
            self._skipped(missed)
        self._schedule(loop, due)

    def _skipped(self, missed: int) -> None:
        self._owner.skipped(missed)


class Timers:
    """A service's timers: made at any time, running between ``PostStart`` and ``PreStop``.

    Due ticks wait in one heap of ``(due, sequence, timer)`` tuples, with one
    loop callback for the earliest: ten thousand timers cost the loop one
    handle, and the heap compares tuples in C (asyncio's own heap compares
    its handles in Python).
    """

    __slots__ = (
        "_handle",
        "_heap",
        "_limit",
        "_missed",
        "_missed_timers",
        "_seq",
        "live",
        "running",
        "service",
    )

    def __init__(self, service: Service) -> None:
        self.service = service
        self.live: set[Timer] = set()
        self.running = False
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = 0
        self._handle: asyncio.TimerHandle | None = None
        self._missed = 0  # ticks skipped in this pass, and by how many timers
        self._missed_timers = 0
        self._limit = LogLimit()

    def skipped(self, missed: int) -> None:
        """A timer skipped ``missed`` ticks (told once per pass, for all timers)."""
        self._missed += missed
        self._missed_timers += 1

    def add(self, timer: Timer) -> Timer:
        self.live.add(timer)
        if self.running:
            timer._begin(asyncio.get_running_loop())
        return timer

    def push(self, timer: Timer, due: float) -> None:
        """Queue ``timer``'s next tick at loop time ``due``."""
        self._seq += 1
        timer._entry = self._seq
        heap = self._heap
        heapq.heappush(heap, (due, self._seq, timer))
        if heap[0][1] == self._seq:  # the new earliest: move the one callback
            if self._handle is not None:
                self._handle.cancel()
            self._handle = asyncio.get_running_loop().call_at(due, self._run)

    def _run(self) -> None:
        """Fire every tick that is due (as the loop would: within its clock resolution)."""
        self._handle = None
        loop = asyncio.get_running_loop()
        heap = self._heap
        end = loop.time() + _SLACK
        pop = heapq.heappop
        while heap and heap[0][0] <= end and self.running:
            _, seq, timer = pop(heap)
            if timer._entry == seq:  # else it was cancelled or moved
                timer._entry = 0
                timer._fire(loop)
        if self._missed:
            self._limit.log(
                log,
                logging.WARNING,
                "the event loop was busy: %d tick(s) of %d timer(s) skipped",
                self._missed,
                self._missed_timers,
            )
            self._missed = self._missed_timers = 0
        while heap and heap[0][2]._entry != heap[0][1]:
            pop(heap)  # cancelled entries at the top go now
        if heap and self.running:
            self._handle = loop.call_at(heap[0][0], self._run)

    def start(self) -> None:
        """PostStart: every timer made so far begins."""
        self.running = True
        loop = asyncio.get_running_loop()
        for timer in list(self.live):
            timer._begin(loop)

    def pause(self) -> None:
        """A restart is under way: no tick fires, every timer is kept."""
        self.running = False
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def resume(self) -> None:
        """The restart was called off: ticks fire again (those missed are skipped, as
        ever, with one log line)."""
        self.running = True
        heap = self._heap
        if heap and self._handle is None:
            self._handle = asyncio.get_running_loop().call_at(heap[0][0], self._run)

    def stop(self) -> None:
        """PreStop: every timer stops (they are done; runs in progress finish)."""
        self.running = False
        for timer in list(self.live):
            timer.cancel()
        self._heap.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def check_seconds(name: str, value: float, allow_zero: bool = True) -> float:
    """A timer's seconds, as a float; a clear error for nonsense."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        need = "0 or more" if allow_zero else "more than 0"
        raise ValueError(f"{name} must be {need} seconds, not {value!r}")
    return seconds


def unix_time(when: datetime | float) -> float:
    """``at()``'s time: a datetime (naive ones are local time) or a Unix time."""
    if isinstance(when, datetime):
        return when.timestamp()  # naive: local time, as documented
    return check_seconds("at()", when)
