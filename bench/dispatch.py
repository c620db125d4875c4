"""In-process event dispatch micro-benchmark (scenario "dispatch").

Run by the runner once per round and target, pinned to the server CPU:

    python bench/dispatch.py --target hubbub   --duration 0.5   (dev venv)
    python bench/dispatch.py --target circuits --duration 0.5   (peers venv)
    python bench/dispatch.py --target mara     --duration 0.5   (peers venv)

Prints one JSON object: ``{variant: calls_per_second}``. Every variant dispatches to
one handler that does nothing but count, so what is timed is the framework's cost of
delivering an event to a function. "fresh" variants build a new event object per
call (what real code does); "reused" variants dispatch one pre-built event (pure
dispatch cost). "deep" variants bind the handler on the base of a 4-level event
class hierarchy and dispatch instances of the 4th-level subclass.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import sys
import time
import types
from collections.abc import Awaitable, Callable

MIN_BATCH_S = 0.02


async def rate(run: Callable[[int], object], duration: float) -> float:
    """Calls per second of ``run(n)``, which performs n dispatches (and may return an
    awaitable, which is awaited inside the timed span)."""

    async def timed(n: int) -> float:
        t0 = time.perf_counter()
        done = run(n)
        if inspect.isawaitable(done):
            await done
        return time.perf_counter() - t0

    n = 100
    while await timed(n) < MIN_BATCH_S:  # calibrate a batch of at least MIN_BATCH_S
        n *= 2
    calls, spent = 0, 0.0
    while spent < duration:
        spent += await timed(n)
        calls += n
    return calls / spent


def event_classes(base: type) -> tuple[type, type, type]:
    """``(Ping, Level1, Level4)``: a plain subclass of the framework's event class
    ``base``, and the top and bottom of a 4-level hierarchy built on ``base``."""

    def subclass(name: str, parent: type) -> type:
        body = {"__doc__": f"Benchmark event {name}.", "__module__": __name__}
        return types.new_class(name, (parent,), exec_body=lambda ns: ns.update(body))

    levels = [base]
    for i in range(1, 5):
        levels.append(subclass(f"Level{i}", levels[-1]))
    return subclass("Ping", base), levels[1], levels[4]


def each_fresh(trigger: Callable[[object], object], event_class: type) -> Callable[[int], None]:
    """A timed body: ``trigger(event_class())`` n times."""

    def run(n: int) -> None:
        for _ in range(n):
            trigger(event_class())

    return run


def await_each_fresh(
    trigger: Callable[[object], Awaitable[object]], event_class: type
) -> Callable[[int], Awaitable[None]]:
    """A timed body: ``await trigger(event_class())`` n times."""

    async def run(n: int) -> None:
        for _ in range(n):
            await trigger(event_class())

    return run


async def rates(
    target: str, variants: dict[str, Callable[[int], object]], calls: list[int], duration: float
) -> dict[str, float]:
    """Time every variant; ``calls[0]`` is the handler's call counter, checked to be
    non-zero afterwards so a dispatch that silently did nothing cannot pass."""
    out = {name: await rate(run, duration) for name, run in variants.items()}
    if calls[0] == 0:
        raise RuntimeError(f"{target} handler never ran")
    return out


# --------------------------------------------------------------------------- hubbub


async def bench_hubbub(duration: float) -> dict[str, float]:
    import hubbub
    from hubbub import events

    Ping, Level1, Level4 = event_classes(events.Event)
    service = hubbub.Service()  # never started: trigger() needs no listener
    count = [0]

    def handler(event: events.Event) -> None:
        count[0] += 1

    service.listen(Ping, handler)
    service.listen(Level1, handler)
    trigger = service.trigger

    def reused(n: int) -> None:
        ev = Ping()
        for _ in range(n):
            trigger(ev)

    variants = {
        "trigger(fresh event)": each_fresh(trigger, Ping),
        "trigger(reused event)": reused,
        "trigger(fresh 4th-level subclass, handler on base)": each_fresh(trigger, Level4),
        "await trigger(fresh event)": await_each_fresh(trigger, Ping),
    }
    return await rates("hubbub", variants, count, duration)


# --------------------------------------------------------------------------- circuits


async def bench_circuits(duration: float) -> dict[str, float]:
    from circuits import Component, Event, Manager, handler

    class ping(Event):
        """A benchmark event."""

    count = [0]

    class Counter(Component):
        @handler("ping")
        def on_ping(self) -> None:
            count[0] += 1

    manager = Manager()
    Counter().register(manager)
    manager.flush()  # deliver the registration events
    fire, flush = manager.fire, manager.flush

    def fire_flush(n: int) -> None:
        for _ in range(n):
            fire(ping())
            flush()

    def fire_batch(n: int) -> None:
        for _ in range(n):
            fire(ping())
        flush()

    variants = {
        "fire(fresh event) + flush()": fire_flush,
        "fire(fresh event) x n, one flush()": fire_batch,
    }
    return await rates("circuits", variants, count, duration)


# --------------------------------------------------------------------------- mara


async def bench_mara(duration: float) -> dict[str, float]:
    os.environ.setdefault("LOGLEVEL", "WARNING")
    import logging

    from mara import App
    from mara.events import Event

    logging.getLogger("mara").setLevel(logging.WARNING)

    Ping, Level1, Level4 = event_classes(Event)
    app = App()
    count = [0]

    async def handler(event: Event) -> None:
        count[0] += 1

    app.on(Ping, handler)
    app.on(Level1, handler)
    trigger = app.events.trigger

    variants = {
        "await trigger(fresh event)": await_each_fresh(trigger, Ping),
        "await trigger(fresh 4th-level subclass, handler on base)": await_each_fresh(
            trigger, Level4
        ),
    }
    return await rates("mara", variants, count, duration)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("hubbub", "circuits", "mara"), required=True)
    parser.add_argument("--duration", type=float, default=0.5)
    args = parser.parse_args()
    cpu = os.environ.get("BENCH_CPU")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    gc.collect()
    if args.target == "hubbub":
        result = asyncio.run(bench_hubbub(args.duration))
    elif args.target == "circuits":
        result = asyncio.run(bench_circuits(args.duration))
    else:
        result = asyncio.run(bench_mara(args.duration))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
