"""Hot restart under load (scenarios "restart", "supervisor"): ``python bench/restart.py``.

Starts ``hubbub run bench/servers/restart_app.py`` (a telnet echo that puts
its pid in every reply) as a real process, connects ``--clients`` telnet
clients, lets ``--typists`` of them type a numbered line every 50 ms, then
sends SIGHUP. From the signal on, every other client sends a probe every
50 ms until the new process answers it. Measured:

* ``gap_*_ms``: per client, from the signal to the first reply from the new
  process (p50, p99, max over clients): "served again";
* ``dropped``: connections that ended (EOF or reset) — must be 0;
* ``lost`` / ``duplicated`` / ``reordered``: typists' lines not answered,
  answered twice, or out of order — all must be 0.

With ``--supervise`` the server runs under the supervisor, and ``--event``
picks what happens: ``sighup`` (a planned restart), ``kill`` (``kill -9`` of
the worker: lines the dead worker had read since its last checkpoint are
lost, so only the gap and the dropped count are the guarantee there), or
``steady`` (nothing: the typists type for ``--seconds`` and the CPU time of
the server's processes is measured, to compare with and without the
supervisor).

Prints one JSON object. The server runs on ``BENCH_CPU`` (the new process
inherits it); this load generator on another CPU if ``BENCH_CLIENT_CPU`` is set.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "servers" / "restart_app.py"
TELNET = re.compile(rb"\xff[\xfb-\xfe].|\xff[\xf0-\xfa]", re.DOTALL)
PERIOD = 0.05


class Peer(asyncio.Protocol):
    """One telnet client: strips negotiation (and answers none), splits lines."""

    def __init__(self, bench: Bench, n: int) -> None:
        self.bench = bench
        self.n = n
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.ready = asyncio.get_running_loop().create_future()
        self.sent: list[int] = []
        self.got: list[int] = []
        self.new_at: float | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if 0xFF in data:
            data = TELNET.sub(b"", data)
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode()
            if not line:
                continue
            pid, _, text = line.partition(" ")
            if text == "ready":
                if not self.ready.done():
                    self.ready.set_result(None)
                    self.bench.old_pid = self.bench.old_pid or pid  # the worker's pid
                continue
            if pid != self.bench.old_pid and self.new_at is None and self.bench.signalled:
                self.new_at = time.monotonic()
            if text.startswith("t"):
                self.got.append(int(text[1:]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("closed before ready"))
            self.ready.exception()  # (raised to whoever awaits it; no "never retrieved")

    def send(self, text: str) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(text.encode() + b"\r\n")


async def type_lines(peer: Peer, stop: asyncio.Event) -> None:
    """A numbered line every PERIOD until ``stop`` (typists start spread over the period)."""
    seq = 0
    await asyncio.sleep(PERIOD * (peer.n % 20) / 20)
    while not stop.is_set():
        seq += 1
        peer.sent.append(seq)
        peer.send(f"t{seq}")
        await asyncio.sleep(PERIOD)


def children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


class Bench:
    def __init__(self, clients: int, typists: int, event: str, seconds: float) -> None:
        self.clients = clients
        self.typists = typists
        self.event = event
        self.seconds = seconds
        self.old_pid = ""
        self.signalled = False
        self.peers: list[Peer] = []

    def fire(self, pid: int) -> None:
        """The restart: SIGHUP to the live process, or kill -9 of the supervisor's worker."""
        if self.event == "kill":
            os.kill(int(self.old_pid), signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGHUP)

    async def steady(self, pid: int, typists: list[Peer]) -> dict[str, Any]:
        """Type for ``seconds``; the server processes' CPU time meanwhile."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        tasks = [loop.create_task(type_lines(peer, stop)) for peer in typists]
        await asyncio.sleep(1.0)
        pids = [pid, *children(pid)]
        before, started = [cpu_seconds(p) for p in pids], time.monotonic()
        await asyncio.sleep(self.seconds)
        each = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
        elapsed = time.monotonic() - started
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(0.5)
        answered = sum(len(p.got) for p in typists)
        for peer in self.peers:
            if peer.transport is not None:
                peer.transport.close()
        return {
            "event": self.event,
            "clients": self.clients,
            "typists": self.typists,
            "cpu_s_each": each,  # the live process (the supervisor), then its worker
            "server_cpu_s": sum(each),
            "cpu_pct": 100 * sum(each) / elapsed,
            "window_s": elapsed,
            "lines_per_s": answered / (elapsed + 1.5),
            "dropped": sum(1 for p in self.peers if p.closed),
        }

    async def run(self, port: int, pid: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(64)

        async def connect(n: int) -> Peer:
            async with gate:
                _, peer = await loop.create_connection(lambda: Peer(self, n), "127.0.0.1", port)
                await asyncio.wait_for(peer.ready, 10)
                return peer

        self.peers = list(await asyncio.gather(*(connect(n) for n in range(self.clients))))
        typists, others = self.peers[: self.typists], self.peers[self.typists :]
        if self.event == "steady":
            return await self.steady(pid, typists)
        stop = asyncio.Event()

        async def probe(peer: Peer) -> None:
            await asyncio.sleep(PERIOD * (peer.n % 20) / 20)
            while peer.new_at is None and not stop.is_set():
                peer.send("p")
                await asyncio.sleep(PERIOD)

        tasks = [loop.create_task(type_lines(peer, stop)) for peer in typists]
        # (Under the supervisor, a checkpoint has been taken by then.)
        await asyncio.sleep(1.5)
        signalled = time.monotonic()
        self.signalled = True
        self.fire(pid)
        tasks += [loop.create_task(probe(peer)) for peer in others]
        deadline = signalled + 10.0
        while time.monotonic() < deadline and any(p.new_at is None for p in self.peers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # typing goes on in the new process
        stop.set()
        await asyncio.gather(*tasks)
        await asyncio.sleep(1.0)  # the last answers
        gaps = sorted(
            (p.new_at - signalled) * 1000 if p.new_at is not None else float("inf")
            for p in self.peers
        )
        lost = duplicated = reordered = 0
        for peer in typists:
            got = peer.got
            lost += len(set(peer.sent) - set(got))
            duplicated += len(got) - len(set(got))
            reordered += sum(1 for a, b in itertools.pairwise(got) if b < a)
        dropped = sum(1 for p in self.peers if p.closed)
        for peer in self.peers:
            if peer.transport is not None:
                peer.transport.close()
        return {
            "event": self.event,
            "clients": self.clients,
            "typists": self.typists,
            "typed_lines": sum(len(p.sent) for p in typists),
            "dropped": dropped,
            "lost": lost,
            "duplicated": duplicated,
            "reordered": reordered,
            "gap_p50_ms": gaps[len(gaps) // 2],
            "gap_p99_ms": gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))],
            "gap_max_ms": gaps[-1],
        }


def start_server(
    directory: Path, loop: str, supervise: bool
) -> tuple[subprocess.Popen[bytes], int, int]:
    pid_file = directory / "pid"
    log = (directory / "log").open("wb")
    cpu = os.environ.get("BENCH_CPU")

    def pin() -> None:
        if cpu is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(cpu)})

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hubbub",
            "run",
            str(APP),
            "--pid-file",
            str(pid_file),
            "--listen",
            "telnet://127.0.0.1:0",
            "--loop",
            loop,
            "--log-level",
            "INFO",
            *(["--supervise"] if supervise else []),
        ],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        preexec_fn=pin,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        text = (directory / "log").read_text(errors="replace")
        found = re.search(r"listening on \S+ \(127\.0\.0\.1:(\d+)\)", text)
        if found and pid_file.exists():
            return proc, int(found.group(1)), int(pid_file.read_text())
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {text[-500:]}")
        time.sleep(0.05)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--typists", type=int, default=200)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument("--supervise", action="store_true", help="run under the supervisor")
    parser.add_argument("--event", choices=("sighup", "kill", "steady"), default="sighup")
    parser.add_argument("--seconds", type=float, default=5.0, help="typing time for steady")
    args = parser.parse_args()
    if args.event == "kill" and not args.supervise:
        parser.error("--event kill needs --supervise (nothing restarts a killed server)")
    client_cpu = os.environ.get("BENCH_CLIENT_CPU")
    if client_cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(client_cpu)})
    with tempfile.TemporaryDirectory(prefix="hubbub-restart-") as where:
        directory = Path(where)
        proc, port, pid = start_server(directory, args.loop, args.supervise)
        try:
            bench = Bench(args.clients, args.typists, args.event, args.seconds)
            result = asyncio.run(bench.run(port, pid))
            result["supervised"] = args.supervise
            log = (directory / "log").read_text(errors="replace")
            paused = re.search(r"input was paused here for (\d+) ms", log)
            result["paused_ms"] = float(paused.group(1)) if paused else None
            result["loop"] = args.loop
            errors = [line for line in log.splitlines() if " ERROR " in line]
            if errors:
                result["errors"] = errors[:5]
        finally:
            with contextlib.suppress(OSError, ValueError):  # the process serving now
                os.kill(int((directory / "pid").read_text()), signal.SIGTERM)
            proc.wait(10)
        if args.event == "steady" and args.supervise:
            # The worker's own account of its checkpoints, written as it stopped.
            log = (directory / "log").read_text(errors="replace")
            took = re.search(
                r"(\d+) checkpoint\(s\) took ([\d.]+) ms of CPU here in all \(median ([\d.]+)",
                log,
            )
            if took:
                result["checkpoints"] = int(took.group(1))
                each = float(took.group(3)) / 1000  # (the first ones snapshot everyone)
                result["checkpoint_ms_each"] = 1000 * each
                # The supervision's share of the server's CPU over the window: the
                # supervisor's time, and the worker's time in checkpoints (one a second).
                supervisor, worker = result["cpu_s_each"]
                in_window = each * result["window_s"]
                result["supervision_pct"] = 100 * (supervisor + in_window) / worker
    print(json.dumps(result))


if __name__ == "__main__":
    main()
