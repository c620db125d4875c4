"""Turns a run's samples into results.md, results.json and chart.png."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.runner import Results

from bench.runner import BASELINE, JOINED_BASELINE, SCENARIO, SCENARIOS, Scenario

EXTRA_LABELS = {
    "server_cpu_us_per_rt": "server CPU µs/round trip",
    "rtt_us": "RTT µs",
    "server_cpu_us_per_line": "server CPU µs/line",
    "p50_ms": "p50 ms",
    "p99_ms": "p99 ms",
    "server_cpu_us_per_delivery": "server CPU µs/delivery",
    "rss_before_mib": "RSS before MiB",
    "rss_after_mib": "RSS after MiB",
    "setup_s": "connect time s",
    "server_cpu_us_per_accept": "server CPU µs/accept",
    "max_ms": "max ms",
    "typed_lines_per_s": "typed lines/s",
    "flood_lines_per_s": "flood lines/s",
    "lines_per_s": "lines/s",
    "target_lines_per_s": "paced lines/s",
    "skipped_turns": "skipped turns",
    "server_cpu_pct": "server CPU %",
}

# The scenarios of the TLS / UNIX table, as (transport, interactive, pipelined).
TRANSPORTS = (
    ("TLS", "tls-interactive", "tls-echo"),
    ("UNIX socket", "unix-interactive", "unix-echo"),
)
# The scenarios the summary table shows.
MAIN_SCENARIOS = ("echo", "pingpong", "broadcast", "idle", "accept")

HUBBUB_DISPATCH_KEY = "trigger(fresh event)"
DASH = "\u2013"
TIMES = "\u00d7"


# --------------------------------------------------------------------------- helpers


def fmt(value: float | None, digits: int | None = None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "\u2013"
    if digits is not None:
        return f"{value:,.{digits}f}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or not base:
        return "\u2013"
    return f"{value / base:.2f}\u00d7"


def med(results: Results, scen: str, server: str, key: str) -> float | None:
    samples = results.samples.get(scen, {}).get(server)
    if not samples:
        return None
    values = [s[key] for s in samples if key in s and not _nan(s[key])]
    return statistics.median(values) if values else None


def spread(results: Results, scen: str, server: str, key: str) -> tuple[float, float] | None:
    samples = results.samples.get(scen, {}).get(server)
    if not samples:
        return None
    values = [s[key] for s in samples if key in s]
    return min(values), max(values)


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def server_names(results: Results) -> list[str]:
    return [s["name"] for s in results.servers]


def kind_of(results: Results, name: str) -> str:
    for s in results.servers:
        if s["name"] == name:
            return str(s["kind"])
    return "?"


def loop_of(results: Results, name: str) -> str:
    for s in results.servers:
        if s["name"] == name:
            return str(s["loop"])
    return "asyncio"


def runs(results: Results, name: str, scen: str) -> bool:
    """Whether ``name`` is meant to run ``scen`` (the joined baselines run pipelined
    echo only; the TLS, UNIX and limits scenarios name their servers)."""
    wanted = SCENARIO[scen].servers if scen in SCENARIO else ()
    if wanted and name not in wanted:
        return False
    for s in results.servers:
        if s["name"] == name:
            return not s.get("scenarios") or scen in s["scenarios"]
    return True


def skipped(results: Results, scen: str, name: str) -> str | None:
    """Why ``name`` did not run ``scen`` (it cannot serve it), or None."""
    return results.skipped.get(scen, {}).get(name)


def reference(results: Results, scen: Scenario, name: str) -> str:
    """The bare server ``name``'s ratios in ``scen`` are taken to."""
    if scen.same_loop and loop_of(results, name) == "uvloop":
        return f"{scen.baseline}-uvloop"
    return scen.baseline


def dispatch_median(results: Results, target: str, variant: str) -> float | None:
    rounds = results.dispatch.get(target)
    if not rounds:
        return None
    values = [r[variant] for r in rounds if variant in r]
    return statistics.median(values) if values else None


def paired_ratios(results: Results, scen: str, name: str, base: str, key: str) -> list[float]:
    """``name``'s ``key`` over ``base``'s, round by round: the servers of a round run
    one after the other, so a drift of the machine moves both sides of a pair."""
    mine = results.samples.get(scen, {}).get(name, [])
    theirs = results.samples.get(scen, {}).get(base, [])
    return [a[key] / b[key] for a, b in zip(mine, theirs, strict=False) if b.get(key)]


def throttled(results: Results, on: str, off: str) -> str:
    """Lines/s and skipped turns of both sides of the limits scenario: a limit that
    held lines back would show here, and make the CPU ratio meaningless."""
    if med(results, "limits", on, "lines_per_s") is None:
        return ""
    cells = []
    for name in (on, off):
        lines = med(results, "limits", name, "lines_per_s")
        skips = med(results, "limits", name, "skipped_turns")
        cells.append(f"{fmt(lines)} lines/s, {fmt(skips, 0)} skipped turns")
    return f"; on: {cells[0]}; off: {cells[1]}"


# --------------------------------------------------------------------------- budgets


def budgets(results: Results) -> list[tuple[str, str, str]]:
    """(status, budget, detail) triples; status is PASS, MISS or n/a."""
    out: list[tuple[str, str, str]] = []

    def check(label: str, ok: bool | None, detail: str) -> None:
        out.append(("n/a" if ok is None else "PASS" if ok else "MISS", label, detail))

    def cpu_ratio(scen: str, hub: str, base: str, factor: float, label: str) -> None:
        """Budget: ``hub``'s server CPU per line at most ``factor`` times ``base``'s."""
        h, b = med(results, scen, hub, cpu), med(results, scen, base, cpu)
        shown = ratio(h, b)
        if h is not None and b and f"{h / b:.2f}" == f"{factor:.2f}":
            shown = f"{h / b:.3f}\u00d7"  # on the limit to two places: say which side
        why = skipped(results, scen, hub) or skipped(results, scen, base)
        check(
            label,
            None if h is None or b is None else h <= factor * b,
            f"{fmt(h)} vs {fmt(b)} µs/line = {shown}" + (f" (skipped: {why})" if why else ""),
        )

    cpu = "server_cpu_us_per_line"
    uv_joined = f"{JOINED_BASELINE}-uvloop"
    for hub, base in (("hubbub-tcp", JOINED_BASELINE), ("hubbub-tcp-uvloop", uv_joined)):
        cpu_ratio("echo", hub, base, 1.3, f"Echo: {hub} server CPU/line ≤ 1.3\u00d7 {base}")
    cpu_ratio(
        "echo",
        "hubbub-tcp-uvloop",
        JOINED_BASELINE,
        1.0,
        f"Echo: hubbub-tcp-uvloop server CPU/line ≤ 1.0\u00d7 {JOINED_BASELINE} (stdlib loop)",
    )
    for peer, factor in (("circuits", 3), ("earwax-server", 2), ("mara", 2)):
        for hub in ("hubbub-tcp", "hubbub-tcp-uvloop"):
            h, p = (
                med(results, "echo", hub, "lines_per_s"),
                med(results, "echo", peer, "lines_per_s"),
            )
            why = results.not_runnable.get(peer) or results.errors.get("echo", {}).get(peer)
            check(
                f"Echo: {hub} ≥ {factor}\u00d7 {peer} lines/s",
                None if h is None or p is None else h >= factor * p,
                f"{fmt(h)} vs {fmt(p)} lines/s = {ratio(h, p)}"
                + (f" ({peer}: {why})" if p is None and why else ""),
            )
    for scen in ("interactive", "interactive-1000"):
        n = results.params.get(scen, {}).get("connections")
        what = f"Interactive, {n:,} connections" if n else "Interactive"
        for hub, base in (("hubbub-tcp", BASELINE), ("hubbub-tcp-uvloop", f"{BASELINE}-uvloop")):
            cpu_ratio(scen, hub, base, 1.2, f"{what}: {hub} server CPU/line ≤ 1.2\u00d7 {base}")
        cpu_ratio(
            scen,
            "hubbub-tcp-uvloop",
            BASELINE,
            1.0,
            f"{what}: hubbub-tcp-uvloop server CPU/line ≤ 1.0\u00d7 {BASELINE} (stdlib loop)",
        )
    for title, inter, piped in TRANSPORTS:
        for hub, base in (("hubbub-tcp", BASELINE), ("hubbub-tcp-uvloop", f"{BASELINE}-uvloop")):
            cpu_ratio(
                inter,
                hub,
                base,
                1.2,
                f"{title} interactive: {hub} server CPU/line ≤ 1.2\u00d7 {base}",
            )
            base = base.replace(BASELINE, JOINED_BASELINE)
            cpu_ratio(
                piped, hub, base, 1.2, f"{title} echo: {hub} server CPU/line ≤ 1.2\u00d7 {base}"
            )
    for hub, base in (
        ("hubbub-tcp", "websockets-server"),
        ("hubbub-tcp-uvloop", "websockets-server-uvloop"),
    ):
        scen = "ws-interactive"
        h, b = med(results, scen, hub, "lines_per_s"), med(results, scen, base, "lines_per_s")
        check(
            f"WebSocket interactive: {hub} messages/s ≥ 1.5\u00d7 {base}",
            None if h is None or b is None else h >= 1.5 * b,
            f"{fmt(h)} vs {fmt(b)} messages/s = {ratio(h, b)}",
        )
        cpu_ratio(
            scen,
            hub,
            base,
            0.7,
            f"WebSocket interactive: {hub} server CPU/message ≤ 0.7\u00d7 {base}",
        )
    for off in ("hubbub-tcp", "hubbub-tcp-uvloop"):
        on = off.replace("hubbub-tcp", "hubbub-tcp-limits")
        h, b = med(results, "limits", on, cpu), med(results, "limits", off, cpu)
        rounds = paired_ratios(results, "limits", on, off, cpu)
        lo_hi = f"; per round {min(rounds):.3f}\u2013{max(rounds):.3f}" if rounds else ""
        why = skipped(results, "limits", on)
        check(
            f"Limits: {on} (defaults) server CPU/line ≤ 1.05\u00d7 {off} (limits off)",
            None if h is None or b is None else h <= 1.05 * b,
            f"{fmt(h)} vs {fmt(b)} µs/line = "
            + (f"{h / b:.3f}\u00d7" if h is not None and b else DASH)
            + lo_hi
            + throttled(results, on, off)
            + (f" (skipped: {why})" if why else ""),
        )
    if results.stores:
        full = results.stores[0]["records"] == 100_000
        load = statistics.median(r["load_s"] for r in results.stores)
        get = statistics.median(r["get_per_s"] for r in results.stores)
        save = statistics.median(r["save_per_s"] for r in results.stores)
        check(
            "Stores: get of a loaded record ≥ 1,000,000/s",
            get >= 1e6 if full else None,
            f"{get:,.0f}/s",
        )
        check(
            "Stores: save (write-behind, flushes running) ≥ 200,000/s",
            save >= 2e5 if full else None,
            f"{save:,.0f}/s",
        )
        check(
            "Stores: 100,000 SQLite records loaded in under 1 s",
            load < 1.0 if full else None,
            f"{load:.2f} s for {results.stores[0]['records']:,} records",
        )
    for loop, rounds_ in results.logins.items():
        full = rounds_[0]["logins"] == 20
        p99 = statistics.median(r["p99_ms"] for r in rounds_)
        check(
            f"Logins: bystanders' p99 round trip < 10 ms while {rounds_[0]['logins']} "
            f"argon2id logins run ({loop})",
            p99 < 10.0 if full else None,
            f"p99 {p99:.1f} ms, p50 {statistics.median(r['p50_ms'] for r in rounds_):.1f} ms, "
            f"max {statistics.median(r['max_ms'] for r in rounds_):.1f} ms; "
            f"{statistics.median(r['logins_per_s'] for r in rounds_):.1f} logins/s",
        )
    for loop, rounds_ in results.restart.items():
        full = rounds_[0]["clients"] == 1000
        p99 = max(r["gap_p99_ms"] for r in rounds_)  # the worst round
        bad = {
            key: sum(r[key] for r in rounds_)
            for key in ("dropped", "lost", "duplicated", "reordered")
        }
        paused = statistics.median(r["paused_ms"] or 0.0 for r in rounds_)
        check(
            f"Hot restart, {rounds_[0]['clients']:,} telnet clients, "
            f"{rounds_[0]['typists']} typing ({loop}): 0 dropped/lost/duplicated, "
            "every client served again < 1 s after SIGHUP (p99)",
            (p99 < 1000 and not any(bad.values())) if full else None,
            f"gap p99 {p99:.0f} ms (worst round), p50 "
            f"{statistics.median(r['gap_p50_ms'] for r in rounds_):.0f} ms; input paused "
            f"{paused:.0f} ms; "
            + ", ".join(f"{key} {value}" for key, value in bad.items())
            + f" of {sum(r['typed_lines'] for r in rounds_):,} typed lines",
        )
    for loop, rounds_ in results.supervisor_kill.items():
        full = rounds_[0]["clients"] == 1000
        p99 = max(r["gap_p99_ms"] for r in rounds_)
        dropped = sum(r["dropped"] for r in rounds_)
        check(
            f"Supervisor, {rounds_[0]['clients']:,} telnet clients, {rounds_[0]['typists']} "
            f"typing ({loop}): 0 dropped, every client served again < 2 s after kill -9 "
            "of the worker (p99)",
            (p99 < 2000 and not dropped) if full else None,
            f"gap p99 {p99:.0f} ms (worst round), p50 "
            f"{statistics.median(r['gap_p50_ms'] for r in rounds_):.0f} ms; dropped {dropped}; "
            f"lines lost {sum(r['lost'] for r in rounds_)} (read by the dead worker after "
            "its last checkpoint: not promised)",
        )
    steady = results.supervisor_steady

    def rate(rounds_: list[dict[str, Any]]) -> float:
        return statistics.median(r["lines_per_s"] for r in rounds_)

    if steady:
        shares = {
            typing: statistics.median(r["supervision_pct"] for r in rounds_)
            for typing, rounds_ in steady.items()
            if all("supervision_pct" in r for r in rounds_)
        }
        first = next(iter(steady.values()))[0]
        full = first["clients"] == 1000
        each = statistics.median(r["checkpoint_ms_each"] for rs in steady.values() for r in rs)
        check(
            f"Supervisor's steady-state cost ≤ 2% of server CPU, {first['clients']:,} "
            "telnet clients (uvloop)",
            all(v <= 2.0 for v in shares.values()) if full and shares else None,
            "; ".join(
                f"{typing} typing ({rate(steady[typing]):,.0f} lines/s): {share:.1f}%"
                for typing, share in shares.items()
            )
            + f"; a checkpoint of every client costs {each:.1f} ms of worker CPU",
        )
    for loop, rounds_ in results.timers.items():
        count = rounds_[0]["timers"]
        pct = statistics.median(r["cpu_pct"] for r in rounds_)
        per = statistics.median(r["us_per_tick"] for r in rounds_)
        check(
            f"Timers: 10,000 active every(1) timers ≤ 5% of a core ({loop})",
            pct <= 5.0 if count == 10_000 else None,
            f"{pct:.1f}% of a core with {count:,} timers, {per:.1f} \u00b5s/tick",
        )
    for plain in ("hubbub-telnet", "hubbub-telnet-uvloop"):
        mud = plain.replace("hubbub-telnet", "hubbub-telnet-mud")
        cpu_ratio(
            "mud-interactive",
            mud,
            plain,
            1.25,
            f"Telnet, every MUD option: {mud} server CPU/line ≤ 1.25\u00d7 {plain} (plain client)",
        )
        mb, wire, per = "mccp-broadcast", "wire_bytes_per_delivery", "server_cpu_us_per_delivery"
        zw, pw = med(results, mb, mud, wire), med(results, mb, plain, wire)
        zd = med(results, mb, mud, "deliveries_per_s")
        pd = med(results, mb, plain, "deliveries_per_s")
        zc, pc = med(results, mb, mud, per), med(results, mb, plain, per)
        check(
            f"MCCP2 broadcast, 1,000 clients: {mud} against {plain} (reported, no budget)",
            None,
            f"{fmt(zd)} vs {fmt(pd)} deliveries/s = {ratio(zd, pd)}; wire {fmt(zw)} vs "
            f"{fmt(pw)} bytes/delivery = {ratio(zw, pw)}; server CPU {fmt(zc)} vs {fmt(pc)} "
            f"µs/delivery = {ratio(zc, pc)}",
        )
    for hub in ("hubbub-tcp", "hubbub-tcp-uvloop", "hubbub-telnet", "hubbub-telnet-uvloop"):
        p99 = med(results, "flood", hub, "p99_ms")
        check(
            f"Fairness: {hub} typists' p99 round trip ≤ 10 ms while one client floods",
            None if p99 is None else p99 <= 10.0,
            f"p99 {fmt(p99)} ms, p50 {fmt(med(results, 'flood', hub, 'p50_ms'))} ms, "
            f"max {fmt(med(results, 'flood', hub, 'max_ms'))} ms",
        )
    for hub, base in (("hubbub-tcp", BASELINE), ("hubbub-tcp-uvloop", f"{BASELINE}-uvloop")):
        key = "round_trips_per_s"
        h, b = med(results, "pingpong", hub, key), med(results, "pingpong", base, key)
        check(
            f"Ping-pong: {hub} round trips/s ≥ 0.95\u00d7 {base}",
            None if h is None or b is None else h >= 0.95 * b,
            f"{fmt(h)} vs {fmt(b)} round trips/s = {ratio(h, b)}",
        )
    for peer in ("mara", "earwax-server"):
        for hub in ("hubbub-tcp", "hubbub-tcp-uvloop"):
            key = "deliveries_per_s"
            h, p = med(results, "broadcast", hub, key), med(results, "broadcast", peer, key)
            why = results.not_runnable.get(peer) or results.errors.get("broadcast", {}).get(peer)
            cpu = "server_cpu_us_per_delivery"
            hc, pc = med(results, "broadcast", hub, cpu), med(results, "broadcast", peer, cpu)
            lg = med(results, "broadcast", hub, "loadgen_cpu_pct")
            capped = (
                f"; {hub} capped by the load generator ({lg:.0f}% CPU), so this ratio is a "
                f"lower bound; server CPU/delivery {fmt(hc)} vs {fmt(pc)} \u00b5s = "
                f"{ratio(pc, hc)} in hubbub's favour"
                if lg is not None and lg >= 95 and hc is not None
                else ""
            )
            check(
                f"Broadcast: {hub} ≥ 3\u00d7 {peer} deliveries/s",
                None if h is None or p is None else h >= 3 * p,
                f"{fmt(h)} vs {fmt(p)} deliveries/s = {ratio(h, p)}"
                + (f" ({peer}: {why})" if p is None and why else "")
                + capped,
            )
    for hub in ("hubbub-tcp", "hubbub-telnet"):
        kib = med(results, "idle", hub, "kib_per_conn")
        n = med(results, "idle", hub, "connections")
        held = f" with {n:,.0f} held" if n else ""
        full = n is not None and n >= 10_000
        check(
            f"Idle: {hub} ≤ 6 KiB per connection with 10,000 held",
            None if kib is None or not full else kib <= 6.0,
            f"{fmt(kib)} KiB/connection{held}" + ("" if full or n is None else " (smoke size)"),
        )
    d = dispatch_median(results, "hubbub", HUBBUB_DISPATCH_KEY)
    check(
        "Dispatch: ≥ 1,000,000 triggers/s, one function handler",
        None if d is None else d >= 1_000_000,
        f"{fmt(d)} trigger(fresh event)/s; reused event: "
        f"{fmt(dispatch_median(results, 'hubbub', 'trigger(reused event)'))}/s",
    )
    return out


# --------------------------------------------------------------------------- markdown


def main_table(results: Results) -> list[str]:
    names = server_names(results)
    lines = [
        f"Medians of {results.rounds} round(s); {TIMES} = ratio to `{BASELINE}` "
        "(bare asyncio.Protocol, "
        "stdlib loop) from the same run. CPU columns are server CPU time per unit of work "
        "(lower is better).",
        "",
        "| server | echo lines/s | \u00d7 | echo CPU µs/line | \u00d7 | ping-pong RT/s | \u00d7 "
        "| broadcast deliv./s | \u00d7 | bcast p50 / p99 ms | idle KiB/conn | accepts/s | \u00d7 |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]

    def b(scen: str, key: str) -> float | None:
        return med(results, scen, BASELINE, key)

    for name in names:
        if not any(runs(results, name, scen) for scen in MAIN_SCENARIOS):
            continue
        if name in results.not_runnable:
            lines.append(f"| {name} | not runnable: {results.not_runnable[name]} |" + " |" * 11)
            continue
        e = med(results, "echo", name, "lines_per_s")
        ec = med(results, "echo", name, "server_cpu_us_per_line")
        pp = med(results, "pingpong", name, "round_trips_per_s")
        bc = med(results, "broadcast", name, "deliveries_per_s")
        p50 = med(results, "broadcast", name, "p50_ms")
        p99 = med(results, "broadcast", name, "p99_ms")
        idle = med(results, "idle", name, "kib_per_conn")
        acc = med(results, "accept", name, "accepts_per_s")
        lat = "\u2013" if p50 is None else f"{fmt(p50)} / {fmt(p99)}"
        label = f"**{name}**" if kind_of(results, name) == "hubbub" else name
        lines.append(
            f"| {label} | {fmt(e)} | {ratio(e, b('echo', 'lines_per_s'))} | {fmt(ec)} "
            f"| {ratio(ec, b('echo', 'server_cpu_us_per_line'))} | {fmt(pp)} "
            f"| {ratio(pp, b('pingpong', 'round_trips_per_s'))} | {fmt(bc)} "
            f"| {ratio(bc, b('broadcast', 'deliveries_per_s'))} | {lat} | {fmt(idle)} "
            f"| {fmt(acc)} | {ratio(acc, b('accept', 'accepts_per_s'))} |"
        )
    capped = [
        f"{scen}/{name}"
        for scen in ("echo", "interactive", "interactive-1000", "broadcast", "accept", "pingpong")
        for name in names
        if (med(results, scen, name, "loadgen_cpu_pct") or 0) >= 95
    ]
    if capped:
        lines += [
            "",
            "Load generator at \u2265 95% CPU (throughput capped by it, compare server CPU "
            "per unit instead): " + ", ".join(capped) + ".",
        ]
    return lines


def same_loop_table(results: Results) -> list[str]:
    """Ping-pong, pipelined and interactive echo, each against the bare protocol on
    the server's own loop: the comparisons the budgets make."""
    pp, echo = SCENARIO["pingpong"], SCENARIO["echo"]
    inter = [SCENARIO["interactive"], SCENARIO["interactive-1000"]]
    if not any(s.name in results.samples for s in (pp, echo, *inter)):
        return []
    head = "| server | ping-pong RT/s | \u00d7 | echo CPU µs/line | \u00d7 "
    for scen in inter:
        n = results.params.get(scen.name, {}).get("connections", "?")
        head += (
            f"| interactive ({n:,} conns) lines/s | CPU µs/line | \u00d7 | p50 / p99 ms "
            if isinstance(n, int)
            else f"| {scen.name} lines/s | CPU µs/line | \u00d7 | p50 / p99 ms "
        )
    lines = [
        f"Medians; {TIMES} = ratio to the bare protocol on the server's own loop "
        f"(the `-uvloop` twin for uvloop servers) from the same run: ping-pong and "
        f"interactive echo to `{BASELINE}`, pipelined echo to `{JOINED_BASELINE}`, which "
        "writes the replies to one packet's lines with one write, as hubbub does. "
        "The budgets use these ratios.",
        "",
        head + "|",
        "|---|" + "--:|" * (4 + 4 * len(inter)),
    ]
    cpu = "server_cpu_us_per_line"

    def with_ratio(scen: Scenario, name: str, key: str) -> list[str]:
        v = med(results, scen.name, name, key)
        return [fmt(v), ratio(v, med(results, scen.name, reference(results, scen, name), key))]

    for name in server_names(results):
        if name in results.not_runnable:
            continue
        cells = [*with_ratio(pp, name, pp.metric), *with_ratio(echo, name, cpu)]
        for scen in inter:
            p50 = med(results, scen.name, name, "p50_ms")
            p99 = med(results, scen.name, name, "p99_ms")
            cells += [
                fmt(med(results, scen.name, name, scen.metric)),
                *with_ratio(scen, name, cpu),
                DASH if p50 is None else f"{fmt(p50)} / {fmt(p99)}",
            ]
        if all(c == DASH for c in cells):
            continue
        label = f"**{name}**" if kind_of(results, name) == "hubbub" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def transports_table(results: Results) -> list[str]:
    """Interactive and pipelined echo over TLS and UNIX sockets, each against the
    bare protocol on the same transport and loop: the comparisons the budgets make."""
    shown = [t for t in TRANSPORTS if t[1] in results.samples or t[2] in results.samples]
    if not shown:
        return []
    head = "| server "
    for title, _, _ in shown:
        head += f"| {title} interactive lines/s | CPU µs/line | {TIMES} "
        head += f"| {title} echo CPU µs/line | {TIMES} "
    lines = [
        f"Medians; {TIMES} = ratio to the bare protocol on the same transport and the "
        f"server's own loop (the `-uvloop` twin for uvloop servers) from the same run: "
        f"interactive echo to `{BASELINE}`, pipelined echo to `{JOINED_BASELINE}`. The "
        "TLS servers are given the same certificate and leave protocol versions and "
        "ciphers at the `ssl` module's defaults; the budgets use these ratios.",
        "",
        head + "|",
        "|---|" + "--:|" * (5 * len(shown)),
    ]
    cpu = "server_cpu_us_per_line"
    for name in server_names(results):
        scens = [n for _, inter, piped in shown for n in (inter, piped)]
        if name in results.not_runnable or not any(runs(results, name, n) for n in scens):
            continue
        cells: list[str] = []
        for _, inter, piped in shown:
            for scen in (SCENARIO[inter], SCENARIO[piped]):
                v = med(results, scen.name, name, cpu)
                base = med(results, scen.name, reference(results, scen, name), cpu)
                if scen.name == inter:
                    cells.append(fmt(med(results, scen.name, name, scen.metric)))
                cells += [fmt(v), ratio(v, base)]
        label = f"**{name}**" if kind_of(results, name) == "hubbub" else name
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def scenario_table(results: Results, scen: Scenario) -> list[str]:
    if scen.name not in results.samples:
        return []
    params = results.params.get(scen.name, {})
    head = [
        f"### {scen.title}",
        "",
        f"Headline: **{scen.unit}** ({'higher' if scen.higher_is_better else 'lower'} is better). "
        f"Parameters: {', '.join(f'{k}={v}' for k, v in params.items())}.",
        "",
    ]
    extra = [EXTRA_LABELS.get(k, k) for k in scen.extra]
    cols = [
        "server",
        scen.unit,
        f"\u00d7 {scen.baseline}" + (" (same loop)" if scen.same_loop else ""),
        "min \u2013 max",
        *extra,
        "load-gen CPU %",
        "rounds",
    ]
    lines = [*head, "| " + " | ".join(cols) + " |", "|---|" + "--:|" * (len(cols) - 1)]
    negotiated: dict[str, str] = {}
    for name in server_names(results):
        if name in results.not_runnable or not runs(results, name, scen.name):
            continue
        base = med(results, scen.name, reference(results, scen, name), scen.metric)
        err = results.errors.get(scen.name, {}).get(name)
        v = med(results, scen.name, name, scen.metric)
        why = skipped(results, scen.name, name)
        if v is None and why:
            lines.append(f"| {name} | skipped: {why} |" + " |" * (len(cols) - 2))
            continue
        tls = {s["tls"] for s in results.samples.get(scen.name, {}).get(name, []) if "tls" in s}
        if tls:
            negotiated[name] = ", ".join(sorted(tls))
        if v is None:
            lines.append(f"| {name} | failed: {err or 'no numbers'} |" + " |" * (len(cols) - 2))
            continue
        lo, hi = spread(results, scen.name, name, scen.metric) or (v, v)
        ex = [fmt(med(results, scen.name, name, k)) for k in scen.extra]
        lg = med(results, scen.name, name, "loadgen_cpu_pct")
        n = len(results.samples[scen.name][name])
        note = f" (failed later: {err})" if err else ""
        lines.append(
            f"| {name}{note} | {fmt(v)} | {ratio(v, base)} | {fmt(lo)} \u2013 {fmt(hi)} | "
            + " | ".join(ex)
            + f" | {fmt(lg, 0) if lg is not None else DASH} | {n} |"
        )
    if negotiated:
        lines += ["", "Negotiated: " + "; ".join(f"{k}: {v}" for k, v in negotiated.items()) + "."]
    if scen.name == "limits":
        lines += limits_notes(results)
    return [*lines, ""]


def limits_notes(results: Results) -> list[str]:
    """Limits on over limits off, round by round (each pair ran back to back)."""
    out = []
    cpu = "server_cpu_us_per_line"
    for off in ("hubbub-tcp", "hubbub-tcp-uvloop"):
        on = off.replace("hubbub-tcp", "hubbub-tcp-limits")
        rounds = paired_ratios(results, "limits", on, off, cpu)
        if rounds:
            each = ", ".join(f"{r:.3f}" for r in rounds)
            out.append(
                f"- `{on}` / `{off}` server CPU per line, round by round: {each} "
                f"(median {statistics.median(rounds):.3f})"
            )
    return ["", *out] if out else []


def dispatch_table(results: Results) -> list[str]:
    if not results.dispatch and not results.dispatch_errors:
        return []
    lines = [
        "### (e) In-process dispatch",
        "",
        "Calls per second delivering an event to one do-nothing function handler, in one "
        "process pinned to the server CPU. hubbub's `trigger()` has run plain-function "
        "handlers when it returns; circuits' `fire()` only queues, so it is timed with a "
        "`flush()` after each event (and, for reference, one `flush()` per batch). Mara's "
        "trigger is a coroutine. circuits dispatches by event *name*, so it has no class-"
        "hierarchy variant.",
        "",
        "| framework | variant | median calls/s | min \u2013 max "
        "| \u00d7 hubbub trigger(fresh event) |",
        "|---|---|--:|--:|--:|",
    ]
    ref = dispatch_median(results, "hubbub", HUBBUB_DISPATCH_KEY)
    for target, rounds in results.dispatch.items():
        for variant in rounds[0]:
            values = [r[variant] for r in rounds]
            m = statistics.median(values)
            lines.append(
                f"| {target} | `{variant}` | {fmt(m)} "
                f"| {fmt(min(values))} \u2013 {fmt(max(values))} "
                f"| {ratio(m, ref)} |"
            )
    for target, err in results.dispatch_errors.items():
        lines.append(f"| {target} | failed: {err} | | | |")
    return [*lines, ""]


def markdown(results: Results) -> str:
    m = results.machine
    peers = ", ".join(f"{k} {v}" for k, v in m.get("peers", {}).items()) or "not run"
    lines = [
        "# hubbub benchmark results",
        "",
        f"{'**Smoke run** (tiny sizes, numbers not meaningful). ' if results.smoke else ''}"
        f"Generated {results.started} by `python -m bench` in {results.elapsed_s:.0f} s; "
        f"{results.rounds} round(s) per scenario, servers interleaved per round. "
        "Method: see `docs/performance.md`.",
        "",
        "| machine | |",
        "|---|---|",
        f"| CPU | {m.get('cpu')} ({m.get('cores')} cores; server pinned to CPU 0, "
        "load generator to CPU 1) |",
        f"| memory | {m.get('memory')} |",
        f"| Python | {m.get('implementation')} {m.get('python')} |",
        f"| kernel | {m.get('kernel')} |",
        f"| hubbub | {m.get('hubbub', '?')} ({m.get('commit', '?')}) |",
        f"| uvloop | {m.get('uvloop', 'not installed')} |",
        f"| peers | {peers} |",
        "",
        "## Summary",
        "",
        *main_table(results),
        "",
        *same_loop_table(results),
        "",
        *transports_table(results),
        "",
        "## Budgets",
        "",
    ]
    for status, label, detail in budgets(results):
        mark = {"PASS": "✅ PASS", "MISS": "❌ MISS"}.get(status, "\u2796 n/a")
        lines.append(f"- {mark} — {label}: {detail}")
    lines += ["", "## Scenarios", ""]
    for scen in SCENARIOS:
        lines += scenario_table(results, scen)
    lines += dispatch_table(results)
    if results.not_runnable or results.stop_notes:
        lines += ["## Not runnable / notes", ""]
        for name, why in results.not_runnable.items():
            lines.append(f"- **{name}**: not runnable — {why}")
        for name, note in results.stop_notes.items():
            lines.append(f"- **{name}**: {note}")
        lines.append("")
    lines += [
        "## Servers",
        "",
        "| name | kind | loop | protocol | notes |",
        "|---|---|---|---|---|",
    ]
    for s in results.servers:
        proto = "telnet" if s["telnet"] else "tcp lines"
        lines.append(f"| {s['name']} | {s['kind']} | {s['loop']} | {proto} | {s['note']} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- chart

COLORS = {"hubbub": "#d1495b", "baseline": "#8d99ae", "peer": "#2e86ab"}


def compact(value: float) -> str:
    """Axis tick text: 1.5M, 200k, 12, 0.5."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def chart(results: Results, path: Path) -> str | None:
    """Draw the chart into ``path``. Returns why it was not drawn, or None: there may
    be nothing to draw, or no matplotlib (CI installs only hubbub's test extras)."""
    try:
        import matplotlib
    except ImportError:
        return "matplotlib is not installed"

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    panels: list[tuple[str, str, list[tuple[str, float, float, float, str]]]] = []
    for scen in SCENARIOS:
        metric = scen.metric
        title = scen.title
        if scen.chart_metric:  # CPU per line is the load-independent number
            metric = scen.chart_metric
            title += f": {EXTRA_LABELS.get(metric, metric)} (lower better)"
        else:
            title += " (higher better)" if scen.higher_is_better else " (lower better)"
        rows = []
        for name in server_names(results):
            samples = results.samples.get(scen.name, {}).get(name)
            if not samples:
                continue
            vals = [s[metric] for s in samples]
            rows.append(
                (name, statistics.median(vals), min(vals), max(vals), kind_of(results, name))
            )
        unit = "µs/line" if metric == "server_cpu_us_per_line" else scen.unit
        if rows:
            panels.append((title, unit, rows))
    if results.dispatch:
        rows = []
        for target, rounds in results.dispatch.items():
            for variant in rounds[0]:
                vals = [r[variant] for r in rounds]
                kind = "hubbub" if target == "hubbub" else "peer"
                label = f"{target}: {variant}"
                rows.append((label, statistics.median(vals), min(vals), max(vals), kind))
        panels.append(("(e) In-process dispatch (higher better)", "calls/s", rows))
    if not panels:
        return "no numbers to draw"
    panels.sort(key=lambda panel: panel[0])  # (a) ... (f)
    cols = 2
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(15, 3.8 * nrows), squeeze=False)
    for ax, (title, unit, rows) in zip(axes.flat, panels, strict=False):
        labels = [textwrap.fill(r[0], 34) for r in rows][::-1]
        meds = [r[1] for r in rows][::-1]
        lo = [r[1] - r[2] for r in rows][::-1]
        hi = [r[3] - r[1] for r in rows][::-1]
        colors = [COLORS.get(r[4], "#999999") for r in rows][::-1]
        ax.barh(labels, meds, xerr=[lo, hi], color=colors, capsize=2)
        # A panel whose values span 10x or more gets a log axis, so the small bars
        # stay readable; its label says so.
        positive = [v for v in meds if v > 0]
        log_scale = bool(positive) and max(positive) >= 10 * min(positive)
        if log_scale:
            ax.set_xscale("log")
            ax.set_xlim(min(positive) / 1.5, max(r[3] for r in rows) * 2.5)
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        else:
            ax.margins(x=0.18)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: compact(v)))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(unit + (" (log scale)" if log_scale else ""), fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        for y, v in enumerate(meds):
            ax.text(v + hi[y], y, " " + fmt(v), va="center", fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in COLORS.values()]
    fig.legend(handles, list(COLORS), loc="upper right", fontsize=8)
    fig.suptitle(
        f"hubbub benchmarks — medians of {results.rounds} round(s), whiskers min\u2013max"
        f"{' (SMOKE)' if results.smoke else ''}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# --------------------------------------------------------------------------- entry


def write_outputs(results: Results, out: Path) -> list[Path]:
    """Write results.json, results.md and (matplotlib permitting) chart.png into
    ``out``; returns the paths written. A chart.png left from an earlier run is
    removed when no chart is drawn, so it can never be mistaken for this run's."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.md"]
    written[0].write_text(json.dumps(dataclasses.asdict(results), indent=1) + "\n")
    written[1].write_text(markdown(results))
    png = out / "chart.png"
    why_not = chart(results, png)
    if why_not is None:
        written.append(png)
    else:
        png.unlink(missing_ok=True)
        print(f"note: no chart.png ({why_not})", flush=True)
    return written


def summary_lines(results: Results) -> list[str]:
    lines = ["", "== summary (medians) =="]
    lines += main_table(results)[2:]
    same = same_loop_table(results)
    if same:
        lines += ["", "== same-loop ratios (medians) ==", *same[2:]]
    over = transports_table(results)
    if over:
        lines += ["", "== TLS and UNIX sockets, same-loop ratios (medians) ==", *over[2:]]
    limits = limits_notes(results)
    if limits:
        lines += ["", "== limits on / limits off ==", *limits[1:]]
    lines += ["", "== budgets =="]
    for status, label, detail in budgets(results):
        lines.append(f"{status:5s} {label}: {detail}")
    for target in results.dispatch:
        for variant in results.dispatch[target][0]:
            lines.append(
                f"dispatch {target}: {variant}: {fmt(dispatch_median(results, target, variant))}/s"
            )
    return lines
