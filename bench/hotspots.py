"""Sample a benchmark server with py-spy while the load generator drives it.

    python -m bench.hotspots echo                      # hubbub-tcp-uvloop, 8 s
    python -m bench.hotspots broadcast --seconds 10
    python -m bench.hotspots accept --server hubbub-tcp

Needs py-spy in the environment (``pip install py-spy``; it attaches with ptrace).
The server and load generator are pinned as in a benchmark run; the scenario's
warm-up is lengthened so that sampling starts after the connections are set up.
Writes ``SCENARIO.txt`` (collapsed stacks, one line per stack, for flame graph
tools) into ``--out`` and prints the functions with the most self samples: samples
whose innermost Python frame is that function. Time spent in C called from a
Python function (a socket send inside ``transport.write``, the loop's own
bookkeeping) counts as that function's self time unless ``--native`` is given;
samples where the process is idle (blocked in epoll) are not recorded.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from bench.runfiles import RunFiles
from bench.runner import (
    LOADGEN_CPU,
    SCENARIOS,
    SERVERS,
    WORK,
    LoadGen,
    loadgen_command,
    pin,
    raise_nofile,
    scenario_params,
    start_server,
)

# Seconds from sending the command to the load generator until sampling starts:
# enough to open the connections (1,000 broadcast clients take about a second).
SETUP_S = {
    "echo": 1.0,
    "interactive": 0.5,
    "interactive-1000": 1.5,
    "broadcast": 3.0,
    "accept": 0.5,
    "pingpong": 0.5,
    "idle": 0.5,
    "limits": 2.0,
}
SETUP_DEFAULT_S = 1.0


def self_times(collapsed: Path, top: int) -> list[tuple[str, int, float]]:
    """``(function, samples, % of samples)`` for the ``top`` functions by self samples."""
    counts: collections.Counter[str] = collections.Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            counts[stack.rsplit(";", 1)[-1]] += int(n)
    total = sum(counts.values()) or 1
    return [(fn, n, 100.0 * n / total) for fn, n in counts.most_common(top)]


def short(frame: str) -> str:
    """``name (path:line)`` with the path cut to what follows site-packages/src."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            if marker == "/lib/python3":
                where = "stdlib " + where.split("/", 1)[-1]
            break
    return f"{name} ({where})" if where else name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__)
    parser.add_argument("scenario", choices=[s.name for s in SCENARIOS])
    parser.add_argument("--server", default="hubbub-tcp-uvloop")
    parser.add_argument("--seconds", type=float, default=8.0, help="sampling time")
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--native", action="store_true", help="also sample C frames (libc, libpython, uvloop)"
    )
    parser.add_argument("--out", type=Path, default=WORK / "profiles")
    args = parser.parse_args(argv)

    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        parser.error("py-spy is not installed (pip install py-spy)")
    spec = next((s for s in SERVERS if s.name == args.server), None)
    if spec is None:
        parser.error(f"unknown server {args.server!r} (see python -m bench --list)")
    scen = next(s for s in SCENARIOS if s.name == args.scenario)
    params: dict[str, Any] = dict(scenario_params(scen.name, smoke=False))
    setup = SETUP_S.get(scen.name, SETUP_DEFAULT_S)
    params["warmup"] = setup + 0.5
    params["duration"] = args.seconds + 1.0
    args.out.mkdir(parents=True, exist_ok=True)
    collapsed = args.out / f"{scen.name}.txt"

    raise_nofile()
    files = None if scen.transport == "tcp" else RunFiles.create()
    loadgen = LoadGen()
    srv = start_server(spec, scen, files)
    result: dict[str, Any] = {}
    try:
        address = srv.wait_port()
        cmd = loadgen_command(srv, address, scen, params, files)
        drive = threading.Thread(target=lambda: result.update(loadgen.run(cmd)))
        drive.start()
        drive.join(setup + 0.5)
        record = [pyspy, "record", "-p", str(srv.proc.pid), "-d", str(int(args.seconds))]
        record += ["-r", str(args.rate), "-F", "-f", "raw", "-o", str(collapsed)]
        if args.native:
            record.append("--native")
        # py-spy shares the load generator's CPU, not the server's.
        subprocess.run(
            record,
            check=True,
            capture_output=True,
            preexec_fn=lambda: pin(0, LOADGEN_CPU),
        )
        drive.join()
    finally:
        srv.stop()
        loadgen.close()
        if files is not None:
            files.remove()

    metric = result.get(scen.metric)
    print(f"{spec.name} / {scen.name}: {scen.metric}={metric:,.0f} while sampled")
    print(f"collapsed stacks: {collapsed}")
    print(f"{'self %':>7}  function")
    for fn, _n, pct in self_times(collapsed, args.top):
        print(f"{pct:6.1f}%  {short(fn)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
