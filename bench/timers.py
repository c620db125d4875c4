"""Timer cost (scenario "timers"): ``python bench/timers.py --timers 10000 --duration 5``.

A hubbub service with ``--timers`` active ``every(1)`` timers, each with a handler
that counts its tick; after a second for the ticks to spread, the process's CPU
time over ``--duration`` seconds of wall time is the timers' cost (the service
has no clients and nothing else to do). Prints one JSON object:
``{"timers", "ticks_per_s", "cpu_pct", "us_per_tick"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time


async def measure(count: int, duration: float) -> dict[str, float]:
    import hubbub

    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], log_level="WARNING")
    ticks = 0

    def tick(event: object) -> None:
        nonlocal ticks
        ticks += 1

    rng = random.Random(1)
    await service.start()
    for _ in range(count):
        # Made over the first second, as a game makes them: their ticks spread out.
        service.after(rng.random(), lambda e: service.every(1.0, tick))
    await asyncio.sleep(1.5)
    t0, c0, n0 = time.perf_counter(), time.process_time(), ticks
    await asyncio.sleep(duration)
    wall, cpu, n = time.perf_counter() - t0, time.process_time() - c0, ticks - n0
    await service.stop()
    return {
        "timers": count,
        "ticks_per_s": n / wall,
        "cpu_pct": 100.0 * cpu / wall,
        "us_per_tick": 1e6 * cpu / max(n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    cpu = os.environ.get("BENCH_CPU")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(measure(args.timers, args.duration))
    else:
        result = asyncio.run(measure(args.timers, args.duration))
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
