"""Logins beside play (scenario "logins"): ``python bench/logins.py --logins 20``.

Starts ``hubbub run bench/servers/login_app.py`` (contrib accounts, argon2id
with its default cost) as a real process on SQLite, registers the accounts it
needs through the login flow, logs ``--bystanders`` players in, and has each
of them send ``ping`` every 20 ms. Then ``--logins`` clients log in at once,
over and over, for ``--duration`` seconds. Measured: the bystanders' round
trips during the logins (p50, p99, max) and the logins per second. One argon2
verification takes tens of milliseconds of CPU; run on the event loop it
would hold every bystander up for that long.

Prints one JSON object. The server runs on every CPU (the hashing threads
leave one for the event loop); the load generator is light.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "servers" / "login_app.py"
NAME_Q = b"known? "
PASSWORD = "correct horse"


class Player:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Player:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def expect(self, marker: bytes) -> bytes:
        return await asyncio.wait_for(self.reader.readuntil(marker), 30)

    def send(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r\n")

    async def log_in(self, name: str, new: bool = False) -> None:
        await self.expect(NAME_Q)
        self.send(name)
        if new:
            await self.expect(b"(yes/no) ")
            self.send("yes")
            await self.expect(b"password: ")
            self.send(PASSWORD)
            await self.expect(b"again: ")
            self.send(PASSWORD)
        else:
            await self.expect(b"Password: ")
            self.send(PASSWORD)
        await self.expect(f"You are {name}.".encode())

    def close(self) -> None:
        self.writer.close()


async def run(port: int, logins: int, bystanders: int, duration: float) -> dict[str, float]:
    names = [f"Login{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(logins)]
    watchers = [f"Watch{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(bystanders)]

    async def register(name: str) -> Player:
        player = await Player.open(port)
        await player.log_in(name, new=True)
        return player

    registered = await asyncio.gather(*(register(name) for name in names))
    for player in registered:
        player.close()
    playing = list(await asyncio.gather(*(register(name) for name in watchers)))
    stop = asyncio.Event()
    trips: list[float] = []
    measuring = False

    async def bystander(player: Player) -> None:
        while not stop.is_set():
            sent = time.perf_counter()
            player.send("ping")
            await player.expect(b"pong")
            if measuring:
                trips.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.02)

    done = 0

    async def login(name: str) -> None:
        nonlocal done
        while not stop.is_set():
            player = await Player.open(port)
            await player.log_in(name)
            player.close()
            done += 1

    watching = [asyncio.ensure_future(bystander(p)) for p in playing]
    await asyncio.sleep(0.5)
    measuring = True
    started = time.perf_counter()
    logging_in = [asyncio.ensure_future(login(name)) for name in names]
    await asyncio.sleep(duration)
    stop.set()
    elapsed = time.perf_counter() - started
    await asyncio.gather(*watching, *logging_in)
    for player in playing:
        player.close()
    trips.sort()
    return {
        "logins": logins,
        "bystanders": bystanders,
        "logins_per_s": done / elapsed,
        "round_trips": len(trips),
        "p50_ms": trips[len(trips) // 2],
        "p99_ms": trips[min(len(trips) - 1, int(len(trips) * 0.99))],
        "max_ms": trips[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=20)
    parser.add_argument("--bystanders", type=int, default=10)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hubbub-logins-") as where:
        directory = Path(where)
        log_path = directory / "log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
        def every_cpu() -> None:
            # (the runner pins itself, and so its children, to the load CPU)
            if hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, range(os.cpu_count() or 1))

        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "hubbub", "run", str(APP), "--loop", args.loop,
                 "--listen", "tcp://127.0.0.1:0", "--log-level", "INFO"],
                cwd=directory,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=every_cpu,
            )  # fmt: skip
        try:
            port = 0
            deadline = time.monotonic() + 20
            while not port and time.monotonic() < deadline:
                found = re.search(r"listening on \S+ \(127\.0\.0\.1:(\d+)\)", log_path.read_text())
                if found:
                    port = int(found.group(1))
                elif proc.poll() is not None:
                    raise SystemExit(f"the server exited: {log_path.read_text()[-500:]}")
                time.sleep(0.05)
            result = asyncio.run(run(port, args.logins, args.bystanders, args.duration))
            result["loop"] = args.loop  # type: ignore[assignment]
        finally:
            with contextlib.suppress(OSError):
                proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
