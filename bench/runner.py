"""Orchestrates a benchmark run: servers, load generator, rounds, report.

Layout of one run:

* the load generator (``bench/loadgen.py``) is started once, pinned to CPU 1;
* for every scenario, for every round, for every server (interleaved: A B C A B C),
  a fresh server process is started pinned to CPU 0 on the scenario's transport
  (TCP, TLS or a UNIX socket), its port (or socket path) is read from its stdout,
  the load generator is told to drive it, and the server is stopped;
* a temporary directory (``bench/runfiles.py``) holds the run's throwaway TLS
  certificate and its UNIX socket path;
* the dispatch micro-benchmark runs in-process (one subprocess per round and target,
  pinned to CPU 0);
* medians over rounds are written to ``results.md``, ``results.json`` and
  ``chart.png`` in the output directory.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import resource
import selectors
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.runfiles import RunFiles

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SERVERS_DIR = BENCH / "servers"
WORK = BENCH / ".work"
PEERS_VENV = BENCH / ".peers"
PEERS_REQUIREMENTS = BENCH / "peers-requirements.txt"
DEFAULT_OUT = BENCH / "results"

SERVER_CPU = 0
LOADGEN_CPU = 1

BASELINE = "asyncio-protocol"
# The bare protocol that writes the replies to one packet's lines with one write,
# as hubbub does: the fair floor for pipelined echo.
JOINED_BASELINE = "asyncio-protocol-joined"


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class ServerSpec:
    name: str
    kind: str  # "hubbub" | "baseline" | "peer"
    script: str
    args: tuple[str, ...] = ()
    venv: str = "dev"  # "dev" | "peers"
    telnet: bool = False
    loop: str = "asyncio"
    note: str = ""
    env: tuple[tuple[str, str], ...] = ()
    scenarios: tuple[str, ...] = ()  # the network scenarios it runs; empty: all
    client: str = "plain"  # "mud": the load generator answers as Mudlet does (telnet)

    def runs(self, scenario: str) -> bool:
        return not self.scenarios or scenario in self.scenarios


# One write per packet only differs from one per line in pipelined echo.
JOINED_SCENARIOS = ("echo", "tls-echo", "unix-echo")
# Telnet with every MUD option on, against the same server with a plain client.
MUD_SCENARIOS = ("mud-interactive", "mccp-broadcast")


SERVERS: list[ServerSpec] = [
    ServerSpec("hubbub-tcp", "hubbub", "hubbub_server.py", ("--proto", "tcp", "--loop", "asyncio")),
    ServerSpec(
        "hubbub-tcp-uvloop",
        "hubbub",
        "hubbub_server.py",
        ("--proto", "tcp", "--loop", "uvloop"),
        loop="uvloop",
    ),
    ServerSpec(
        "hubbub-telnet",
        "hubbub",
        "hubbub_server.py",
        ("--proto", "telnet", "--loop", "asyncio"),
        telnet=True,
    ),
    ServerSpec(
        "hubbub-telnet-uvloop",
        "hubbub",
        "hubbub_server.py",
        ("--proto", "telnet", "--loop", "uvloop"),
        telnet=True,
        loop="uvloop",
    ),
    # The same telnet servers, driven by Mudlet-like clients: every option agreed,
    # the MTTS cycle, NEW-ENVIRON, CHARSET and MCCP2 (compressed output).
    *(
        ServerSpec(
            f"hubbub-telnet-mud{suffix}",
            "hubbub",
            "hubbub_server.py",
            ("--proto", "telnet", "--loop", loop),
            telnet=True,
            loop=loop,
            note="Mudlet-like clients: every option, MCCP2 on",
            scenarios=MUD_SCENARIOS,
            client="mud",
        )
        for loop, suffix in (("asyncio", ""), ("uvloop", "-uvloop"))
    ),
    ServerSpec(BASELINE, "baseline", "baseline_protocol.py", ("--loop", "asyncio")),
    ServerSpec(
        "asyncio-protocol-uvloop",
        "baseline",
        "baseline_protocol.py",
        ("--loop", "uvloop"),
        loop="uvloop",
    ),
    # One write per packet only differs from one per line when a packet holds
    # several lines, so the joined variants run the pipelined echo only.
    ServerSpec(
        JOINED_BASELINE,
        "baseline",
        "baseline_protocol.py",
        ("--loop", "asyncio", "--joined"),
        note="one write per packet",
        scenarios=JOINED_SCENARIOS,
    ),
    ServerSpec(
        f"{JOINED_BASELINE}-uvloop",
        "baseline",
        "baseline_protocol.py",
        ("--loop", "uvloop", "--joined"),
        loop="uvloop",
        note="one write per packet",
        scenarios=JOINED_SCENARIOS,
    ),
    # hubbub with its per-IP and per-client limits at their defaults; every other
    # hubbub server runs with them off, like the bare servers it is compared with.
    *(
        ServerSpec(
            f"hubbub-tcp-limits{suffix}",
            "hubbub",
            "hubbub_server.py",
            ("--proto", "tcp", "--loop", loop, "--limits", "on"),
            loop=loop,
            note="limits at their defaults",
            scenarios=("limits",),
        )
        for loop, suffix in (("asyncio", ""), ("uvloop", "-uvloop"))
    ),
    # The websockets package's own server: the WebSocket scenarios' baseline.
    *(
        ServerSpec(
            f"websockets-server{suffix}",
            "baseline",
            "baseline_websockets.py",
            ("--loop", loop),
            loop=loop,
            note="websockets' asyncio server, a task per connection",
            scenarios=("ws-interactive", "ws-broadcast"),
        )
        for loop, suffix in (("asyncio", ""), ("uvloop", "-uvloop"))
    ),
    ServerSpec("asyncio-streams", "baseline", "baseline_streams.py", ("--loop", "asyncio")),
    ServerSpec(
        "asyncio-streams-uvloop",
        "baseline",
        "baseline_streams.py",
        ("--loop", "uvloop"),
        loop="uvloop",
    ),
    ServerSpec("circuits", "peer", "peer_circuits.py", venv="peers", note="circuits 3.2.5"),
    ServerSpec(
        "earwax-server", "peer", "peer_earwax.py", venv="peers", note="earwax-server 0.1.2, gevent"
    ),
    ServerSpec(
        "mara",
        "peer",
        "peer_mara.py",
        venv="peers",
        note="Mara 2.1.1 TextServer, LOGLEVEL=WARNING",
        env=(("LOGLEVEL", "WARNING"),),
    ),
    ServerSpec(
        "telnetlib3",
        "peer",
        "peer_telnetlib3.py",
        venv="peers",
        telnet=True,
        note="telnetlib3 5.0.1",
    ),
]


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    metric: str  # key of the headline number in a loadgen result
    unit: str
    higher_is_better: bool
    mode: str = "echo"  # server mode
    extra: tuple[str, ...] = ()  # further result keys shown in the tables
    # Ratios are taken to this bare server; with ``same_loop`` a uvloop server's
    # are taken to its uvloop twin (``<baseline>-uvloop``) instead.
    baseline: str = BASELINE
    same_loop: bool = False
    chart_metric: str = ""  # drawn instead of ``metric`` when set
    transport: str = "tcp"  # "tcp" | "tls" | "unix" | "ws": what the servers listen on
    servers: tuple[str, ...] = ()  # the servers that run it; empty: every one that can
    params: str = ""  # the scenario whose load parameters it takes; empty: its own
    rounds_factor: int = 1  # runs this many times the run's rounds (a noisy, paired ratio)

    def runs(self, spec: ServerSpec) -> bool:
        """Whether ``spec`` takes part in this scenario."""
        return spec.runs(self.name) and (not self.servers or spec.name in self.servers)


HUBBUB_PAIR = ("hubbub-tcp", "hubbub-tcp-uvloop")
INTERACTIVE_SERVERS = (*HUBBUB_PAIR, BASELINE, f"{BASELINE}-uvloop")
ECHO_SERVERS = (*HUBBUB_PAIR, JOINED_BASELINE, f"{JOINED_BASELINE}-uvloop")


SCENARIOS: list[Scenario] = [
    Scenario(
        "pingpong",
        "(a) Ping-pong, 1 connection",
        "round_trips_per_s",
        "round trips/s",
        True,
        extra=("server_cpu_us_per_rt", "rtt_us"),
        same_loop=True,
    ),
    Scenario(
        "echo",
        "(b) Echo, 50 pipelining connections",
        "lines_per_s",
        "lines/s",
        True,
        extra=("server_cpu_us_per_line",),
        baseline=JOINED_BASELINE,
        same_loop=True,
        chart_metric="server_cpu_us_per_line",
    ),
    Scenario(
        "interactive",
        "(g) Interactive echo, 50 connections",
        "lines_per_s",
        "lines/s",
        True,
        extra=("server_cpu_us_per_line", "p50_ms", "p99_ms"),
        same_loop=True,
        chart_metric="server_cpu_us_per_line",
    ),
    Scenario(
        "interactive-1000",
        "(h) Interactive echo, 1,000 connections",
        "lines_per_s",
        "lines/s",
        True,
        extra=("server_cpu_us_per_line", "p50_ms", "p99_ms"),
        same_loop=True,
        chart_metric="server_cpu_us_per_line",
    ),
    Scenario(
        "flood",
        "(i) Fairness: 5 typists while one client floods",
        "p99_ms",
        "typist p99 ms",
        False,
        extra=("p50_ms", "max_ms", "typed_lines_per_s", "flood_lines_per_s"),
    ),
    Scenario(
        "broadcast",
        "(c) Broadcast to 1,000 clients",
        "deliveries_per_s",
        "deliveries/s",
        True,
        mode="broadcast",
        extra=("p50_ms", "p99_ms", "server_cpu_us_per_delivery"),
    ),
    Scenario(
        "idle",
        "(d) 10,000 idle connections",
        "kib_per_conn",
        "KiB RSS/connection",
        False,
        extra=("rss_before_mib", "rss_after_mib", "setup_s"),
    ),
    Scenario(
        "accept",
        "(f) Connection churn (accept)",
        "accepts_per_s",
        "accepts/s",
        True,
        extra=("server_cpu_us_per_accept",),
    ),
    Scenario(
        "limits",
        "(n) The cost of the limits: paced interactive echo inside the defaults",
        "server_cpu_us_per_line",
        "server CPU µs/line",
        False,
        extra=("lines_per_s", "target_lines_per_s", "skipped_turns", "server_cpu_pct", "p99_ms"),
        baseline="hubbub-tcp",
        same_loop=True,
        servers=(*HUBBUB_PAIR, "hubbub-tcp-limits", "hubbub-tcp-limits-uvloop"),
        rounds_factor=2,
    ),
]


SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}


def over(name: str, transport: str, title: str, servers: tuple[str, ...]) -> Scenario:
    """Scenario ``name`` again on ``transport``, run by ``servers`` only."""
    base = next(s for s in SCENARIOS if s.name == name)
    return dataclasses.replace(
        base,
        name=f"{transport}-{name}",
        title=title,
        transport=transport,
        servers=servers,
        params=name,
    )


SCENARIOS[-1:-1] = [
    over("interactive", "tls", "(j) TLS interactive echo, 50 connections", INTERACTIVE_SERVERS),
    over("echo", "tls", "(k) TLS echo, 50 pipelining connections", ECHO_SERVERS),
    over(
        "interactive",
        "unix",
        "(l) UNIX-socket interactive echo, 50 connections",
        INTERACTIVE_SERVERS,
    ),
    over("echo", "unix", "(m) UNIX-socket echo, 50 pipelining connections", ECHO_SERVERS),
    dataclasses.replace(
        over(
            "interactive",
            "ws",
            "(o) WebSocket interactive echo, 50 connections",
            (*HUBBUB_PAIR, "websockets-server", "websockets-server-uvloop"),
        ),
        baseline="websockets-server",
    ),
    dataclasses.replace(
        over(
            "broadcast",
            "ws",
            "(p) WebSocket broadcast to 1,000 clients",
            (*HUBBUB_PAIR, "websockets-server", "websockets-server-uvloop"),
        ),
        baseline="websockets-server",
        same_loop=True,
    ),
]
TELNET_PAIR = ("hubbub-telnet", "hubbub-telnet-uvloop")
MUD_PAIR = ("hubbub-telnet-mud", "hubbub-telnet-mud-uvloop")
SCENARIOS[-1:-1] = [
    dataclasses.replace(
        SCENARIO_BY_NAME["interactive"],
        name="mud-interactive",
        title="(q) Telnet interactive echo, 50 Mudlet-like clients (every option, MCCP2)",
        baseline="hubbub-telnet",
        servers=(*TELNET_PAIR, *MUD_PAIR),
        params="interactive",
        extra=("server_cpu_us_per_line", "p50_ms", "p99_ms", "compressed_clients"),
        chart_metric="server_cpu_us_per_line",
    ),
    dataclasses.replace(
        SCENARIO_BY_NAME["broadcast"],
        name="mccp-broadcast",
        title="(r) Telnet broadcast to 1,000 clients, MCCP2 against uncompressed",
        baseline="hubbub-telnet",
        same_loop=True,
        servers=(*TELNET_PAIR, *MUD_PAIR),
        params="broadcast",
        extra=(
            "wire_bytes_per_delivery",
            "server_cpu_us_per_delivery",
            "p99_ms",
            "compressed_clients",
        ),
    ),
]
NET_SCENARIOS = [s.name for s in SCENARIOS]
SCENARIO = {s.name: s for s in SCENARIOS}
ALL_SCENARIOS = [
    *NET_SCENARIOS,
    "dispatch",
    "timers",
    "stores",
    "restart",
    "supervisor",
    "logins",
]
#: The timers scenario: this many every(1) timers (fewer in a smoke run).
TIMERS = 10_000

DISPATCH_TARGETS = [("hubbub", "dev"), ("circuits", "peers"), ("mara", "peers")]


FULL_PARAMS: dict[str, dict[str, Any]] = {
    "pingpong": {"warmup": 0.3, "duration": 1.0},
    "echo": {"warmup": 0.5, "duration": 1.5, "connections": 50},
    "interactive": {"warmup": 0.5, "duration": 1.5, "connections": 50},
    "interactive-1000": {"warmup": 0.5, "duration": 1.5, "connections": 1000},
    "flood": {"warmup": 0.5, "duration": 2.0, "connections": 5},
    "broadcast": {
        "warmup": 0.5,
        "duration": 1.5,
        "connections": 1000,
        "batch": 100,
        "senders": 5,
        "window": 4,
        "sampled": 50,
    },
    "idle": {"connections": 10_000, "settle": 0.5},
    "accept": {"warmup": 0.3, "duration": 1.0, "concurrency": 32},
    # Inside the default limits: 16 connections per source address (at most 32
    # held and a burst of 20 opened per IP); per client a burst of 190 lines (200
    # allowed, one more is the setup's), then 40 lines/s (50 allowed).
    "limits": {
        "warmup": 0.5,
        "duration": 3.0,
        "connections": 1000,
        "per_source": 16,
        "burst": 190,
        "rate": 40,
        "slices": 10,
    },
}
# What a smoke run changes: short windows, fewer connections.
SMOKE_WINDOW = {"warmup": 0.05, "duration": 0.2}
SMOKE_SIZES: dict[str, dict[str, Any]] = {
    # Two scenarios alike but for their size: shorter windows keep CI's run short.
    "interactive": {"connections": 5, "warmup": 0.02, "duration": 0.1},
    "interactive-1000": {"connections": 20, "warmup": 0.02, "duration": 0.1},
    "flood": {"connections": 2, "warmup": 0.02, "duration": 0.2},
    "broadcast": {"connections": 100, "sampled": 20},
    "idle": {"connections": 500, "settle": 0.05},
    "limits": {"connections": 40, "warmup": 0.05, "duration": 0.3},
}


def rounds_of(scen: Scenario, rounds: int) -> int:
    """How many rounds ``scen`` runs in a run of ``rounds`` rounds."""
    return rounds * scen.rounds_factor


def scenario_params(name: str, smoke: bool) -> dict[str, Any]:
    """Load generator parameters per scenario (full run / smoke run)."""
    name = SCENARIO[name].params or name
    params = dict(FULL_PARAMS[name])
    if smoke:
        if "duration" in params:
            params.update(SMOKE_WINDOW)
        params.update(SMOKE_SIZES.get(name, {}))
    return params


# --------------------------------------------------------------------------- processes


def python_for(venv: str) -> str:
    if venv == "dev":
        return sys.executable
    return str(PEERS_VENV / "bin" / "python")


def pin(pid: int, cpu: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(pid, {cpu})


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# The exit status of a server script that cannot serve what it was asked to (a
# hubbub without the transport or the settings): a skip, not a failure.
UNSUPPORTED = 3


class Unsupported(RuntimeError):
    """The server cannot serve this scenario; the message says why."""


class ServerProcess:
    """A benchmark server subprocess; its stdout is drained after the PORT (or PATH)
    line. ``args`` are added to the spec's own (the scenario's transport)."""

    def __init__(
        self, spec: ServerSpec, mode: str, log_dir: Path, args: tuple[str, ...] = ()
    ) -> None:
        self.spec = spec
        env = dict(os.environ)
        env.update(spec.env)
        env["BENCH_CPU"] = str(SERVER_CPU)
        env["PYTHONUNBUFFERED"] = "1"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{spec.name}.log"
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.log.write(
            f"\n==== {time.strftime('%H:%M:%S')} mode={mode} {' '.join(args)}\n".encode()
        )
        self.log.flush()
        cmd = [python_for(spec.venv), str(SERVERS_DIR / spec.script), *spec.args, *args]
        cmd += ["--mode", mode]
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=ROOT,
        )
        pin(self.proc.pid, SERVER_CPU)
        self.stop_note = ""

    def wait_port(self, timeout: float = 30.0) -> int | str:
        """The port the server announced, or the path of its UNIX socket."""
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            while time.monotonic() < deadline:
                if not sel.select(max(0.0, deadline - time.monotonic())):
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.split(b"\n")[:-1]:
                    word, _, where = line.partition(b" ")
                    if word in (b"PORT", b"PATH"):
                        threading.Thread(target=self._drain, daemon=True).start()
                        return int(where) if word == b"PORT" else where.decode()
        finally:
            sel.close()
        self.stop()
        if self.proc.returncode == UNSUPPORTED:
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise Unsupported((tail[0] if tail else "unsupported").removeprefix("unsupported: "))
        raise RuntimeError(
            f"{self.spec.name} did not announce a port (exit code {self.proc.returncode}); "
            f"see {self.log_path}"
        )

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            while os.read(self.proc.stdout.fileno(), 65536):
                pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.stop_note = "did not exit within 3 s of SIGTERM"
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


class LoadGen:
    def __init__(self) -> None:
        env = dict(os.environ)
        env["BENCH_CPU"] = str(LOADGEN_CPU)
        self.proc = subprocess.Popen(
            [sys.executable, str(BENCH / "loadgen.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=ROOT,
            text=True,
        )
        pin(self.proc.pid, LOADGEN_CPU)

    def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("load generator died")
        reply = json.loads(line)
        if not reply["ok"]:
            raise RuntimeError(reply["error"])
        return reply["result"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --------------------------------------------------------------------------- peers venv


def ensure_peers(log: Any) -> str | None:
    """Create bench/.peers and install the pinned peers. Returns an error or None."""
    py = PEERS_VENV / "bin" / "python"
    stamp = PEERS_VENV / ".installed"
    wanted = PEERS_REQUIREMENTS.read_text()
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return None
    log(f"installing peers into {PEERS_VENV.relative_to(ROOT)} ...")
    try:
        if not py.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, capture_output=True
            )
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "-r", str(PEERS_REQUIREMENTS)],
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-3:]
        return "peer install failed: " + " | ".join(tail)
    stamp.write_text(wanted)
    return None


def peer_versions() -> dict[str, str]:
    py = PEERS_VENV / "bin" / "python"
    if not py.exists():
        return {}
    code = (
        "import importlib.metadata as m, json\n"
        "out = {}\n"
        "for n in ('circuits', 'earwax-server', 'mara', 'telnetlib3', 'gevent'):\n"
        "    try: out[n] = m.version(n)\n"
        "    except Exception: pass\n"
        "print(json.dumps(out))\n"
    )
    res = subprocess.run([str(py), "-c", code], capture_output=True, text=True)
    try:
        return json.loads(res.stdout)
    except ValueError:
        return {}


def probe_server(spec: ServerSpec) -> str | None:
    """Start the server once in echo mode; return why it is not runnable, or None."""
    srv = ServerProcess(spec, "echo", WORK / "logs")
    try:
        srv.wait_port(30)
    except RuntimeError:
        tail = srv.log_path.read_text(errors="replace").strip().splitlines()[-1:]
        return "does not start: " + (tail[0] if tail else "no output")
    finally:
        srv.stop()
    return None


# --------------------------------------------------------------------------- run


@dataclass
class Results:
    started: str = ""
    smoke: bool = False
    rounds: int = 0
    machine: dict[str, Any] = field(default_factory=dict)
    # samples[scenario][server] -> list of loadgen result dicts (one per round)
    samples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    errors: dict[str, dict[str, str]] = field(default_factory=dict)
    # skipped[scenario][server] -> why the server cannot serve that scenario
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    not_runnable: dict[str, str] = field(default_factory=dict)
    stop_notes: dict[str, str] = field(default_factory=dict)
    dispatch: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    dispatch_errors: dict[str, str] = field(default_factory=dict)
    # timers[loop] -> list of bench/timers.py results (one per round)
    timers: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    timers_errors: dict[str, str] = field(default_factory=dict)
    # stores -> list of bench/stores.py results (one per round)
    stores: list[dict[str, float]] = field(default_factory=list)
    stores_errors: list[str] = field(default_factory=list)
    # restart[loop] -> list of bench/restart.py results (one per round)
    restart: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    restart_errors: dict[str, str] = field(default_factory=dict)
    # supervisor_kill[loop] -> bench/restart.py --supervise --event kill results
    supervisor_kill: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # supervisor_steady["200"|"1000" typists] -> --supervise --event steady results
    supervisor_steady: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    supervisor_errors: dict[str, str] = field(default_factory=dict)
    # logins[loop] -> list of bench/logins.py results (one per round)
    logins: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    logins_errors: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    servers: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GiB"
    info: dict[str, Any] = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "kernel": f"{platform.system()} {platform.release()}",
    }
    with contextlib.suppress(Exception):
        import uvloop

        info["uvloop"] = uvloop.__version__
    with contextlib.suppress(Exception):
        import importlib.metadata

        info["hubbub"] = importlib.metadata.version("hubbub")
    with contextlib.suppress(Exception):
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        info["commit"] = (rev or "no commits") + (" + uncommitted src changes" if dirty else "")
    return info


def transport_args(scen: Scenario, files: RunFiles | None) -> tuple[str, ...]:
    """A server script's options for ``scen``'s transport (the same for every server)."""
    if scen.transport == "tcp":
        return ()
    if scen.transport == "ws":
        return ("--transport", "ws")
    if files is None:
        raise RuntimeError(f"{scen.name} needs the run's files (certificate, socket path)")
    if scen.transport == "tls":
        return ("--transport", "tls", "--cert", str(files.cert), "--key", str(files.key))
    return ("--transport", "unix", "--path", str(files.socket))


def start_server(spec: ServerSpec, scen: Scenario, files: RunFiles | None) -> ServerProcess:
    """A fresh server process for ``scen``; a socket file left by a killed server
    is removed first, so no server has to replace a stale one."""
    if scen.transport == "unix" and files is not None:
        files.socket.unlink(missing_ok=True)
    return ServerProcess(spec, scen.mode, WORK / "logs", transport_args(scen, files))


def loadgen_command(
    srv: ServerProcess,
    address: int | str,
    scen: Scenario,
    params: dict[str, Any],
    files: RunFiles | None = None,
) -> dict[str, Any]:
    """The load generator's instructions for one measurement of ``srv``."""
    cmd: dict[str, Any] = {
        "scenario": scen.name,
        "transport": scen.transport,
        "host": "127.0.0.1",
        "pid": srv.proc.pid,
        "telnet": "mud" if srv.spec.client == "mud" else srv.spec.telnet,
        "timeout": 120,
        **params,
    }
    if isinstance(address, str):
        cmd["path"] = address
    else:
        cmd["port"] = address
    if scen.transport == "tls" and files is not None:
        cmd["cafile"] = str(files.ca)
    return cmd


def run_one(
    results: Results,
    loadgen: LoadGen,
    srv: ServerProcess,
    address: int | str,
    scen: Scenario,
    files: RunFiles | None,
) -> str:
    spec = srv.spec
    try:
        cmd = loadgen_command(srv, address, scen, results.params[scen.name], files)
        res = loadgen.run(cmd)
    except Exception as exc:
        results.errors.setdefault(scen.name, {})[spec.name] = str(exc)
        return f"FAILED: {exc}"
    results.samples.setdefault(scen.name, {}).setdefault(spec.name, []).append(res)
    return f"{scen.metric}={res[scen.metric]:,.1f}"


def not_started(results: Results, scen: Scenario, name: str, exc: RuntimeError) -> str:
    """Record why ``name`` did not start for ``scen``: skipped when it cannot serve
    it (a hubbub without the transport or settings), failed otherwise."""
    if isinstance(exc, Unsupported):
        results.skipped.setdefault(scen.name, {})[name] = str(exc)
        return f"skipped: {exc}"
    results.errors.setdefault(scen.name, {})[name] = str(exc)
    return f"FAILED: {exc}"


def run_net(
    results: Results,
    servers: list[ServerSpec],
    scenarios: list[str],
    base_rounds: int,
    smoke: bool,
    loadgen: LoadGen,
    log: Any,
    files: RunFiles | None = None,
) -> None:
    """Full runs: a fresh server process per (scenario, round, server), servers
    interleaved within each round. Smoke runs: one process per (server, mode,
    transport) that serves all of those scenarios, to keep CI fast."""
    plan = [SCENARIO[n] for n in scenarios]
    for scen in plan:
        results.params[scen.name] = scenario_params(scen.name, smoke)
    if smoke:
        for spec in servers:
            kinds = dict.fromkeys((s.mode, s.transport) for s in plan if s.runs(spec))
            for mode, transport in kinds:
                group = [s for s in plan if (s.mode, s.transport) == (mode, transport)]
                group = [s for s in group if s.runs(spec)]
                srv = start_server(spec, group[0], files)
                try:
                    address = srv.wait_port()
                except RuntimeError as exc:
                    for scen in group:
                        status = not_started(results, scen, spec.name, exc)
                    log(f"  [{','.join(s.name for s in group)}] {spec.name:24s} {status}")
                    continue
                try:
                    for scen in group:
                        t0 = time.monotonic()
                        status = run_one(results, loadgen, srv, address, scen, files)
                        took = time.monotonic() - t0
                        log(f"  [{scen.name}] {spec.name:24s} {status}  ({took:.1f}s)")
                finally:
                    srv.stop()
                    if srv.stop_note:
                        results.stop_notes[spec.name] = srv.stop_note
        return
    for scen in plan:
        errors = results.errors.setdefault(scen.name, {})
        skipped = results.skipped.setdefault(scen.name, {})
        rounds = rounds_of(scen, base_rounds)
        for rnd in range(rounds):
            for spec in servers:
                if spec.name in errors or spec.name in skipped:
                    continue  # failed in an earlier round: do not burn time retrying
                if not scen.runs(spec):
                    continue
                t0 = time.monotonic()
                srv = start_server(spec, scen, files)
                try:
                    address = srv.wait_port()
                    status = run_one(results, loadgen, srv, address, scen, files)
                except RuntimeError as exc:
                    status = not_started(results, scen, spec.name, exc)
                finally:
                    srv.stop()
                    if srv.stop_note:
                        results.stop_notes[spec.name] = srv.stop_note
                log(
                    f"  [{scen.name} r{rnd + 1}/{rounds}] {spec.name:24s} {status}"
                    f"  ({time.monotonic() - t0:.1f}s)"
                )


def run_dispatch(
    results: Results, targets: list[tuple[str, str]], rounds: int, smoke: bool, log: Any
) -> None:
    duration = 0.1 if smoke else 0.4
    env = dict(os.environ)
    env["BENCH_CPU"] = str(SERVER_CPU)
    env["LOGLEVEL"] = "WARNING"
    for rnd in range(rounds):
        for target, venv in targets:
            if target in results.dispatch_errors:
                continue
            cmd = [python_for(venv), str(BENCH / "dispatch.py"), "--target", target]
            cmd += ["--duration", str(duration)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                results.dispatch_errors[target] = tail[0]
                log(f"  [dispatch r{rnd + 1}/{rounds}] {target:10s} FAILED: {tail[0]}")
                continue
            res = json.loads(proc.stdout)
            results.dispatch.setdefault(target, []).append(res)
            best = max(res.values())
            log(f"  [dispatch r{rnd + 1}/{rounds}] {target:10s} best {best:,.0f}/s")


def run_per_loop(
    name: str,
    args: list[str],
    env: dict[str, str] | None,
    rounds: int,
    into: dict[str, list[dict[str, Any]]],
    errors: dict[str, str],
    describe: Any,
    log: Any,
    script: str = "",
) -> None:
    """bench/NAME.py (or SCRIPT.py) with ``args`` once per round and event loop; its
    JSON into ``into``."""
    for rnd in range(rounds):
        for loop in ("asyncio", "uvloop"):
            path = BENCH / f"{script or name}.py"
            cmd = [python_for("dev"), str(path), "--loop", loop, *args]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                errors[loop] = tail[0]
                log(f"  [{name} r{rnd + 1}/{rounds}] {loop:8s} FAILED: {tail[0]}")
                continue
            res = json.loads(proc.stdout)
            into.setdefault(loop, []).append(res)
            log(f"  [{name} r{rnd + 1}/{rounds}] {loop:8s} {describe(res)}")


def run_timers(results: Results, rounds: int, smoke: bool, log: Any) -> None:
    """bench/timers.py once per round and loop, pinned to the server CPU."""
    env = dict(os.environ)
    env["BENCH_CPU"] = str(SERVER_CPU)
    count, duration = (1000, 0.5) if smoke else (TIMERS, 3.0)
    args = ["--timers", str(count), "--duration", str(duration)]
    run_per_loop(
        "timers",
        args,
        env,
        rounds,
        results.timers,
        results.timers_errors,
        lambda res: f"{res['cpu_pct']:.1f}% of a core",
        log,
    )


def run_stores(results: Results, rounds: int, smoke: bool, log: Any) -> None:
    """bench/stores.py once per round, pinned to the server CPU."""
    env = dict(os.environ)
    env["BENCH_CPU"] = str(SERVER_CPU)
    records, duration = (5000, 0.3) if smoke else (100_000, 2.0)
    for rnd in range(rounds):
        cmd = [python_for("dev"), str(BENCH / "stores.py")]
        cmd += ["--records", str(records), "--duration", str(duration)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            results.stores_errors.append(tail[0])
            log(f"  [stores r{rnd + 1}/{rounds}] FAILED: {tail[0]}")
            continue
        res = json.loads(proc.stdout)
        results.stores.append(res)
        log(
            f"  [stores r{rnd + 1}/{rounds}] load {res['load_s']:.2f} s, "
            f"get {res['get_per_s']:,.0f}/s, save {res['save_per_s']:,.0f}/s"
        )


def run_restart(results: Results, rounds: int, smoke: bool, log: Any) -> None:
    """bench/restart.py once per round and loop: the server on the server CPU (its
    successor inherits it), the load generator on the other."""
    env = dict(os.environ)
    env["BENCH_CPU"] = str(SERVER_CPU)
    env["BENCH_CLIENT_CPU"] = str(LOADGEN_CPU)
    clients, typists = (100, 20) if smoke else (1000, 200)
    run_per_loop(
        "restart",
        ["--clients", str(clients), "--typists", str(typists)],
        env,
        rounds,
        results.restart,
        results.restart_errors,
        lambda res: (
            f"gap p99 {res['gap_p99_ms']:.0f} ms, dropped {res['dropped']}, "
            f"lost {res['lost']}, duplicated {res['duplicated']}"
        ),
        log,
    )


def run_supervisor(results: Results, rounds: int, smoke: bool, log: Any) -> None:
    """Under ``--supervise``: the gap after ``kill -9`` of the worker, per loop; and the
    supervision's share of the server's CPU with 200 and with every client typing."""
    env = dict(os.environ)
    env["BENCH_CPU"] = str(SERVER_CPU)
    env["BENCH_CLIENT_CPU"] = str(LOADGEN_CPU)
    clients, typists, seconds = (100, 20, 1.0) if smoke else (1000, 200, 10.0)
    run_per_loop(
        "supervisor",
        ["--supervise", "--event", "kill", "--clients", str(clients), "--typists", str(typists)],
        env,
        rounds,
        results.supervisor_kill,
        results.supervisor_errors,
        lambda res: f"kill -9: gap p99 {res['gap_p99_ms']:.0f} ms, dropped {res['dropped']}",
        log,
        script="restart",
    )
    for rnd in range(rounds):
        for typing in (typists, clients):
            cmd = [python_for("dev"), str(BENCH / "restart.py"), "--supervise"]
            cmd += ["--event", "steady", "--seconds", str(seconds)]
            cmd += ["--clients", str(clients), "--typists", str(typing)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                results.supervisor_errors["steady"] = tail[0]
                log(f"  [supervisor r{rnd + 1}/{rounds}] steady FAILED: {tail[0]}")
                continue
            res = json.loads(proc.stdout)
            results.supervisor_steady.setdefault(str(typing), []).append(res)
            log(
                f"  [supervisor r{rnd + 1}/{rounds}] {typing} typing: supervision "
                f"{res.get('supervision_pct', float('nan')):.1f}% of server CPU, "
                f"{res.get('checkpoint_ms_each', float('nan')):.1f} ms per checkpoint"
            )


def run_logins(results: Results, rounds: int, smoke: bool, log: Any) -> None:
    """bench/logins.py once per round and loop (the server on every CPU: its hashing
    threads must leave one to the event loop, which is what is measured)."""
    logins, duration = (4, 0.5) if smoke else (20, 3.0)
    run_per_loop(
        "logins",
        ["--logins", str(logins), "--duration", str(duration)],
        None,
        rounds,
        results.logins,
        results.logins_errors,
        lambda res: f"bystander p99 {res['p99_ms']:.1f} ms, {res['logins_per_s']:.1f} logins/s",
        log,
    )


def median_of(samples: list[dict[str, Any]], key: str) -> float:
    return statistics.median(s[key] for s in samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="hubbub benchmark suite (servers on CPU 0, load generator on CPU 1).",
    )
    parser.add_argument("--smoke", action="store_true", help="a few seconds: hubbub + baselines")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per scenario (3)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        help=f"run only these scenarios (repeatable or comma list): {', '.join(ALL_SCENARIOS)}",
    )
    parser.add_argument(
        "--servers",
        default="",
        help="comma list of server names to run (default: all that apply)",
    )
    parser.add_argument("--no-peers", action="store_true", help="skip the peer frameworks")
    parser.add_argument("--out", type=Path, default=None, help="output directory (bench/results)")
    parser.add_argument("--list", action="store_true", help="list servers and scenarios")
    parser.add_argument(
        "--from-json", type=Path, default=None, help="only re-render outputs from a results.json"
    )
    args = parser.parse_args(argv)

    if args.from_json:
        from bench.report import write_outputs

        data = json.loads(args.from_json.read_text())
        for path in write_outputs(Results(**data), args.out or args.from_json.parent):
            print(f"wrote {path}")
        return 0

    if args.list:
        for s in SERVERS:
            print(f"server   {s.name:24s} {s.kind:8s} {s.script} {' '.join(s.args)}")
        for name in ALL_SCENARIOS:
            print(f"scenario {name}")
        return 0

    start = time.monotonic()
    smoke = args.smoke
    rounds = args.rounds or (1 if smoke else 3)
    out = args.out or DEFAULT_OUT
    only = [x for item in args.only for x in item.split(",") if x]
    unknown = set(only) - set(ALL_SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    scenarios = only or ALL_SCENARIOS
    use_peers = not (smoke or args.no_peers)

    def log(msg: str) -> None:
        print(msg, flush=True)

    raise_nofile()
    pin(0, LOADGEN_CPU)  # the runner mostly sleeps; keep it off the server's CPU

    results = Results(
        started=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        smoke=smoke,
        rounds=rounds,
        machine=machine_info(),
    )

    servers = [s for s in SERVERS if use_peers or s.kind != "peer"]
    if args.servers:
        wanted = set(args.servers.split(","))
        servers = [s for s in servers if s.name in wanted]
    if use_peers and any(s.kind == "peer" for s in servers):
        err = ensure_peers(log)
        if err:
            for s in servers:
                if s.kind == "peer":
                    results.not_runnable[s.name] = err
        results.machine["peers"] = peer_versions()

    hub = subprocess.run(
        [sys.executable, "-c", "import hubbub; hubbub.Service"], capture_output=True, text=True
    )
    if hub.returncode != 0:
        reason = (hub.stderr.strip().splitlines() or ["import failed"])[-1]
        for s in servers:
            if s.kind == "hubbub":
                results.not_runnable[s.name] = f"hubbub not importable: {reason}"

    for s in servers:
        if s.name not in results.not_runnable and s.kind == "peer":
            why = probe_server(s)
            if why:
                results.not_runnable[s.name] = why
    runnable = [s for s in servers if s.name not in results.not_runnable]
    results.servers = [
        {
            "name": s.name,
            "kind": s.kind,
            "loop": s.loop,
            "telnet": s.telnet,
            "note": s.note,
            "scenarios": list(s.scenarios),
        }
        for s in servers
    ]
    for name, why in results.not_runnable.items():
        log(f"not runnable: {name}: {why}")

    net = [s for s in scenarios if s in NET_SCENARIOS]
    log(
        f"bench: {len(runnable)} servers x {len(net)} network scenarios x {rounds} rounds"
        f"{' (smoke)' if smoke else ''}; servers on CPU {SERVER_CPU}, load on CPU {LOADGEN_CPU}"
    )
    if net:
        plain = all(SCENARIO[n].transport == "tcp" for n in net)
        files = None if plain else RunFiles.create()
        loadgen = LoadGen()
        try:
            run_net(results, runnable, net, rounds, smoke, loadgen, log, files)
        finally:
            loadgen.close()
            if files is not None:
                files.remove()
    if "dispatch" in scenarios:
        hub_ok = not any(k.startswith("hubbub") for k in results.not_runnable)
        peers_ok = use_peers and (PEERS_VENV / "bin" / "python").exists()
        targets = [
            (t, v)
            for t, v in DISPATCH_TARGETS
            if (hub_ok if t == "hubbub" else peers_ok and t not in results.not_runnable)
        ]
        if not hub_ok:
            results.dispatch_errors["hubbub"] = "hubbub not importable"
        run_dispatch(results, targets, rounds, smoke, log)
    if "timers" in scenarios:
        run_timers(results, rounds, smoke, log)
    if "stores" in scenarios:
        run_stores(results, rounds, smoke, log)
    if "restart" in scenarios:
        run_restart(results, rounds, smoke, log)
    if "supervisor" in scenarios:
        run_supervisor(results, rounds, smoke, log)
    if "logins" in scenarios:
        run_logins(results, rounds, smoke, log)

    results.elapsed_s = time.monotonic() - start
    from bench.report import summary_lines, write_outputs

    written = write_outputs(results, out)
    for line in summary_lines(results):
        log(line)
    log(f"wrote {', '.join(str(p) for p in written)} in {results.elapsed_s:.0f}s")

    # Exit status: every scenario must have produced numbers for hubbub and the
    # baselines. Peers may be "not runnable" (reported) without failing the run.
    missing = []
    for s in servers:
        if s.kind == "peer":
            continue
        if s.name in results.not_runnable:
            missing.append(f"{s.name}: {results.not_runnable[s.name]}")
            continue
        for scen in net:
            if not SCENARIO[scen].runs(s) or s.name in results.skipped.get(scen, {}):
                continue
            if not results.samples.get(scen, {}).get(s.name):
                why = results.errors.get(scen, {}).get(s.name, "no numbers")
                missing.append(f"{scen}/{s.name}: {why}")
    if "dispatch" in scenarios and not results.dispatch.get("hubbub"):
        missing.append(f"dispatch/hubbub: {results.dispatch_errors.get('hubbub', 'no numbers')}")
    if "stores" in scenarios and not results.stores:
        missing.append(f"stores: {results.stores_errors or 'no numbers'}")
    if "logins" in scenarios and not results.logins:
        missing.append(f"logins: {results.logins_errors or 'no numbers'}")
    if "restart" in scenarios and not results.restart:
        missing.append(f"restart: {results.restart_errors or 'no numbers'}")
    if "supervisor" in scenarios and not (results.supervisor_kill and results.supervisor_steady):
        missing.append(f"supervisor: {results.supervisor_errors or 'no numbers'}")
    if "timers" in scenarios and not results.timers:
        missing.append(f"timers: {results.timers_errors or 'no numbers'}")
    if missing:
        log("FAILED: no numbers for " + "; ".join(missing))
        return 1
    return 0
