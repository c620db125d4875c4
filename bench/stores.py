"""Store speed (scenario "stores"): ``python bench/stores.py --records 100000``.

On a fresh SQLite file in a temporary directory:

* ``load_s``: the first use of a kind holding ``--records`` records (all loaded);
* ``get_per_s``: ``Store.get`` of loaded records;
* ``save_per_s``: ``record.save()`` sustained for ``--duration`` seconds with the
  write-behind flushes running (storage_flush 0.1 s), and the time the last
  flush then takes.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path


async def measure(records: int, duration: float) -> dict[str, float]:
    import hubbub
    from hubbub.stores import storage

    class Player(hubbub.Store):
        level: int = 1
        room: str = "inn"
        items: list[str] = []

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        storage.configure(url, 0.1)
        for i in range(records):
            Player(f"p{i}", level=i % 50, items=["sword"]).save()
        await storage.flush()
        storage.close()
        storage.configure(url, 0.1)
        t0 = time.perf_counter()
        Player.get("p0")
        load_s = time.perf_counter() - t0

        keys = [f"p{i}" for i in range(0, records, max(1, records // 1000))]
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < duration / 2:
            for key in keys:
                Player.get(key)
            n += len(keys)
        get_per_s = n / (time.perf_counter() - t0)

        players = [Player.get(key) for key in keys]
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < duration:
            for player in players:
                player.level += 1  # type: ignore[union-attr]
                player.save()  # type: ignore[union-attr]
            n += len(players)
            await asyncio.sleep(0)  # let the flushes run
        save_per_s = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        await storage.flush()
        last_flush_s = time.perf_counter() - t0
        storage.close()
    return {
        "records": records,
        "load_s": load_s,
        "get_per_s": get_per_s,
        "save_per_s": save_per_s,
        "last_flush_s": last_flush_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=2.0)
    args = parser.parse_args()
    cpu = os.environ.get("BENCH_CPU")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    json.dump(asyncio.run(measure(args.records, args.duration)), sys.stdout)
    print()


if __name__ == "__main__":
    main()
