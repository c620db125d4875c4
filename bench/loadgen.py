"""Load generator worker.

Runs as one long-lived process pinned to its own CPU. It reads one JSON command per
line on stdin, drives the server named in it over loopback with uvloop + asyncio
Protocols, and answers with one JSON result line on stdout.

Every scenario first brings its connections to a known state (each connection has
completed one request/response, or every client has seen a broadcast probe) so that
connection setup and telnet negotiation never fall inside a measurement window.
Before that, one client comes and goes (see ``come_and_go``), so the server is in
the state of a server that has seen a disconnect.
During a window it samples the server's CPU time from /proc/<pid>/stat and its own
CPU time, so results carry "server CPU per unit of work" and "load generator CPU %".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import ssl
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254
TTYPE, NAWS, BINARY, NEW_ENVIRON, CHARSET = 24, 31, 0, 39, 42
EOR_OPT, GMCP, MSDP, MCCP2 = 25, 201, 69, 86

# What a Mudlet-like client ("mud" profile) agrees to; it refuses the rest (MCCP3
# too: Mudlet does not compress its input).
MUD_WILL = {NAWS, TTYPE, BINARY, NEW_ENVIRON}
MUD_DO = {EOR_OPT, GMCP, MSDP, CHARSET, MCCP2}
MUD_NAMES = (b"MUDLET", b"ANSI-TRUECOLOR", b"MTTS 2831")
MUD_ENVIRON = (
    b"\x00\x00CLIENT_NAME\x01MUDLET\x00CLIENT_VERSION\x014.17.2\x00CHARSET\x01UTF-8"
    b"\x00MTTS\x012831\x03SCREEN_READER\x010"
)

CONNECT_CONCURRENCY = 64

# Every live client connection, so a failed scenario cannot leak sockets into the next.
OPEN: set[Client] = set()


# --------------------------------------------------------------------------- probes


def server_cpu(pid: int) -> float:
    """User + system CPU seconds consumed so far by process ``pid`` (all threads)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_run_time(pid: int) -> float:
    """Seconds on a CPU so far of all of ``pid``'s threads, to the nanosecond (the
    scheduler's own account, /proc/<pid>/task/*/schedstat), where ``server_cpu``
    counts 10 ms clock ticks. Read where the server works a few seconds at a low
    load and ticks would be too coarse."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/schedstat", "rb") as fh:
            total += int(fh.read().split()[0])
    return total / 1e9


def server_rss(pid: int) -> int:
    """Resident set size of ``pid`` in bytes."""
    with open(f"/proc/{pid}/statm", "rb") as fh:
        return int(fh.read().split()[1]) * PAGE


class Window:
    """Wall time, server CPU and our own CPU between ``start()`` and ``stop()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.s0 = server_cpu(self.pid)
        self.r0 = server_run_time(self.pid)
        self.c0 = time.process_time()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        return {
            "wall_s": wall,
            "server_cpu_s": server_cpu(self.pid) - self.s0,
            "server_run_s": server_run_time(self.pid) - self.r0,
            "loadgen_cpu_pct": 100.0 * (time.process_time() - self.c0) / wall,
        }


# --------------------------------------------------------------------------- protocol


class Stats:
    __slots__ = ("lines", "wire")

    def __init__(self) -> None:
        self.lines = 0
        self.wire = 0  # bytes received as they were on the wire (compressed or not)


class Client(asyncio.Protocol):
    """A line client that counts LF-terminated lines and answers telnet negotiation.

    Telnet servers open with option negotiation; we refuse every option (DO -> WONT,
    WILL -> DONT), which is what a plain NVT client does, and strip IAC sequences
    before counting lines. Non-telnet servers never send 0xFF, so the fast path is a
    single ``in`` test.
    """

    def __init__(self, stats: Stats, telnet: bool | str) -> None:
        self.stats = stats
        self.telnet = bool(telnet)
        # "mud": answer as Mudlet does (every option it knows, the MTTS cycle,
        # NEW-ENVIRON, CHARSET, and MCCP2: output is decompressed here).
        self.mud = telnet == "mud"
        self.ttype_asked = 0
        self.inflate: Any = None
        self.half_closed = False  # write_eof() was called: nothing more may be sent
        self.iac_tail = b""
        self.transport: asyncio.Transport | None = None
        self.received = 0
        self.sent = 0
        self.first_line: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        OPEN.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        OPEN.discard(self)
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.first_line.done():
            self.first_line.set_exception(ConnectionError("closed before first line"))
            self.first_line.exception()  # mark retrieved: nobody may be waiting

    def send(self, payload: bytes, lines: int) -> None:
        self.sent += lines
        self.transport.write(payload)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        self.stats.wire += len(data)
        if self.inflate is not None:
            data = self.inflate.decompress(data)
        if self.telnet and (self.iac_tail or 0xFF in data):
            data = self.strip_telnet(data)
        n = data.count(b"\n")
        if n:
            self.received += n
            self.stats.lines += n
            self.on_lines(data)

    def on_lines(self, data: bytes) -> None:
        if not self.first_line.done():
            self.first_line.set_result(None)

    def mud_answer(self, sb: bytes) -> bytes:
        """A Mudlet-like client's answer to a subnegotiation (``sb``: option, payload)."""
        option, payload = sb[:1], sb[1:]
        if option == bytes((TTYPE,)) and payload[:1] == b"\x01":
            name = MUD_NAMES[self.ttype_asked % len(MUD_NAMES)]  # then wraps, as Mudlet does
            self.ttype_asked += 1
            return bytes((IAC, SB, TTYPE, 0)) + name + bytes((IAC, SE))
        if option == bytes((NEW_ENVIRON,)) and payload[:1] == b"\x01" and b"CLIENT_NAME" in payload:
            return bytes((IAC, SB, NEW_ENVIRON)) + MUD_ENVIRON + bytes((IAC, SE))
        if option == bytes((CHARSET,)) and payload[:1] == b"\x01":
            return bytes((IAC, SB, CHARSET, 2)) + b"UTF-8" + bytes((IAC, SE))
        return b""

    def strip_telnet(self, data: bytes) -> bytes:
        data = self.iac_tail + data
        self.iac_tail = b""
        out = bytearray()
        replies = bytearray()
        i, n = 0, len(data)
        while i < n:
            j = data.find(b"\xff", i)
            if j < 0:
                out += data[i:]
                break
            out += data[i:j]
            if j + 1 >= n:
                self.iac_tail = data[j:]
                break
            cmd = data[j + 1]
            if cmd == IAC:
                out.append(IAC)
                i = j + 2
            elif cmd in (WILL, WONT, DO, DONT):
                if j + 2 >= n:
                    self.iac_tail = data[j:]
                    break
                opt = data[j + 2]
                if cmd == DO:
                    agree = self.mud and opt in MUD_WILL
                    replies += bytes((IAC, WILL if agree else WONT, opt))
                    if agree and opt == NAWS:
                        replies += bytes((IAC, SB, NAWS, 0, 120, 0, 40, IAC, SE))
                elif cmd == WILL:
                    agree = self.mud and opt in MUD_DO
                    replies += bytes((IAC, DO if agree else DONT, opt))
                i = j + 3
            elif cmd == SB:
                end = data.find(bytes((IAC, SE)), j + 2)
                if end < 0:
                    self.iac_tail = data[j:]
                    break
                if self.mud:
                    replies += self.mud_answer(data[j + 2 : end])
                    if data[j + 2 : end] == bytes((MCCP2,)):  # compressed from here on
                        self.inflate = zlib.decompressobj()
                        data = self.inflate.decompress(data[end + 2 :])
                        i, n = 0, len(data)
                        continue
                i = end + 2
            else:
                i = j + 2
        if replies and self.transport is not None and not self.half_closed:
            self.transport.write(bytes(replies))
        return bytes(out)


class PingPong(Client):
    """One line in flight: the next line goes out when the previous echo is back."""

    line = b"ping hello world\r\n"
    running = False

    def on_lines(self, data: bytes) -> None:
        super().on_lines(data)
        if self.running and self.received >= self.sent:
            self.send(self.line, 1)


class Interactive(Client):
    """A user at a prompt: one line per packet and one line in flight. The next
    line goes out when the previous one's echo is back; the round trips that end
    while ``rtt.measuring`` is set are timed."""

    line = b"say hello world\r\n"
    running = False

    def __init__(self, stats: Stats, telnet: bool, rtt: RoundTrips) -> None:
        super().__init__(stats, telnet)
        self.rtt = rtt
        self.sent_ns = 0

    def go(self) -> None:
        self.sent_ns = time.perf_counter_ns()
        self.send(self.line, 1)

    def on_lines(self, data: bytes) -> None:
        super().on_lines(data)
        if self.running and self.received >= self.sent:
            now = time.perf_counter_ns()
            if self.rtt.measuring:
                self.rtt.samples.append(now - self.sent_ns)
            self.sent_ns = now
            self.send(self.line, 1)


class Paced(Client):
    """A user at a prompt who types at a set pace: one line per packet, sent when
    the pacer calls ``tick()`` and only if the previous line's echo is back."""

    line = b"say hello world\r\n"

    def __init__(self, stats: Stats, telnet: bool, rtt: RoundTrips) -> None:
        super().__init__(stats, telnet)
        self.rtt = rtt
        self.sent_ns = 0

    def tick(self) -> bool:
        if self.received < self.sent:
            return False
        self.sent_ns = time.perf_counter_ns()
        self.send(self.line, 1)
        return True

    def on_lines(self, data: bytes) -> None:
        super().on_lines(data)
        if self.rtt.measuring and self.sent_ns and self.received >= self.sent:
            self.rtt.samples.append(time.perf_counter_ns() - self.sent_ns)


class RoundTrips:
    def __init__(self) -> None:
        self.measuring = False
        self.samples: list[int] = []


class Pipeline(Client):
    """Keeps between ``batch`` and ``2 * batch`` lines in flight, refilling with one
    write of ``batch`` lines whenever the backlog drops to ``batch`` or below."""

    batch = 50
    payload = b"".join(b"line %04d hello world\r\n" % i for i in range(50))
    running = False

    def on_lines(self, data: bytes) -> None:
        super().on_lines(data)
        if self.running:
            while self.sent - self.received <= self.batch:
                self.send(self.payload, self.batch)


class Flooder(Pipeline):
    """Pipeline with a deep backlog: 2,000 lines (about 46 KB) per write, two in
    flight, so the server always has thousands of this client's lines to handle."""

    batch = 2000
    payload = b"".join(b"flood %04d hello world\r\n" % i for i in range(2000))


class Broadcaster(Client):
    """A chat client. ``parse`` clients split lines and record delivery latency of
    timestamped messages; senders send their next message when their own previous
    one comes back through the server."""

    def __init__(self, stats: Stats, telnet: bool, bc: BroadcastState) -> None:
        super().__init__(stats, telnet)
        self.bc = bc
        self.parse = True
        self.sender_id = -1
        self.buf = b""
        self.probe = -1

    def send_message(self) -> None:
        self.send(b"M%d %d\r\n" % (self.sender_id, time.perf_counter_ns()), 1)

    def on_lines(self, data: bytes) -> None:
        if not self.parse:
            return
        now = time.perf_counter_ns()
        *lines, self.buf = (self.buf + data).split(b"\n")
        bc = self.bc
        for line in lines:
            if line[:1] == b"M":
                sid, stamp = line.split()
                if bc.measuring:
                    bc.latencies.append(now - int(stamp))
                if int(sid[1:]) == self.sender_id and bc.sending:
                    self.send_message()
            elif line[:1] == b"P":
                self.probe = int(line[1:])


class BroadcastState:
    def __init__(self) -> None:
        self.measuring = False
        self.sending = False
        self.latencies: list[int] = []


# --------------------------------------------------------------------------- helpers


# --------------------------------------------------------------------------- WebSocket


class WsWire:
    """What a line client writes to, over WebSocket: each line goes out as one masked
    text frame (mask 0: legal, and the cheapest for us; the server unmasks anyway).
    Writes before the handshake is done wait for it."""

    def __init__(self, real: asyncio.Transport) -> None:
        self.real = real
        self.pending: list[bytes] | None = []

    def write(self, data: bytes) -> None:
        frames = b"".join(ws_frame(line.rstrip(b"\r")) for line in data.split(b"\n")[:-1])
        if self.pending is not None:
            self.pending.append(frames)
        else:
            self.real.write(frames)

    def opened(self) -> None:
        pending, self.pending = self.pending, None
        if pending:
            self.real.write(b"".join(pending))

    def close(self) -> None:
        self.real.close()

    def abort(self) -> None:
        self.real.abort()

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self.real.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.real.get_extra_info(name, default)


def ws_frame(payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes((0x81, 0x80 | n))
    elif n < 65536:
        head = bytes((0x81, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 0x80 | 127)) + n.to_bytes(8, "big")
    return head + b"\x00\x00\x00\x00" + payload


class WsAdapter(asyncio.Protocol):
    """Carries a line client (``inner``) over WebSocket: sends the upgrade (offering no
    compression), then hands the client each text message as one LF-ended line."""

    def __init__(self, inner: Client, host: str) -> None:
        self.inner = inner
        self.host = host
        self.buf = b""
        self.upgraded = False
        self.wire: WsWire | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        transport.write(
            b"GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: aHViYnViIGJlbmNobWFyaw==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % self.host.encode()
        )
        self.wire = WsWire(transport)
        self.inner.connection_made(self.wire)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(f"WebSocket upgrade refused: {buf[:40]!r}")
            self.upgraded = True
            buf = buf[end + 4 :]
            assert self.wire is not None
            self.wire.opened()
        lines = []
        i, n = 0, len(buf)
        while i + 2 <= n:
            size = buf[i + 1] & 0x7F
            start = i + 2
            if size == 126:
                size = int.from_bytes(buf[start : start + 2], "big")
                start += 2
            elif size == 127:
                size = int.from_bytes(buf[start : start + 8], "big")
                start += 8
            if start + size > n:
                break
            if buf[i] & 0x0F == 1:  # text; control frames are not lines
                lines.append(buf[start : start + size])
            i = start + size
        self.buf = buf[i:]
        if lines:
            lines.append(b"")
            self.inner.data_received(b"\n".join(lines))

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)


def tls_context(cafile: str) -> ssl.SSLContext:
    """A client context trusting the run's throwaway CA; everything else (protocol
    versions, ciphers) at the ``ssl`` module's defaults, the same for every server."""
    context = TLS_CONTEXTS.get(cafile)
    if context is None:
        context = TLS_CONTEXTS[cafile] = ssl.create_default_context(cafile=cafile)
    return context


TLS_CONTEXTS: dict[str, ssl.SSLContext] = {}


async def connect(factory: Any, cmd: dict[str, Any], source: str | None = None) -> Any:
    """Open one connection to the server of ``cmd`` and return its protocol.

    ``cmd["transport"]`` is ``tcp`` (the default), ``tls`` (with ``cmd["cafile"]``,
    the CA the server's certificate is issued by) or ``unix`` (``cmd["path"]``).
    ``source`` binds the client's address (another loopback address, so that a
    server's per-IP limits see several peers).
    """
    loop = asyncio.get_running_loop()
    transport = cmd.get("transport", "tcp")
    if transport == "unix":
        _, proto = await loop.create_unix_connection(factory, cmd["path"])
        return proto
    local = (source, 0) if source else None
    if transport == "ws":
        _, adapter = await loop.create_connection(
            lambda: WsAdapter(factory(), cmd["host"]), cmd["host"], cmd["port"], local_addr=local
        )
        return adapter.inner
    tls = tls_context(cmd["cafile"]) if transport == "tls" else None
    _, proto = await loop.create_connection(
        factory, cmd["host"], cmd["port"], ssl=tls, local_addr=local
    )
    return proto


async def open_many(
    factory: Any,
    cmd: dict[str, Any],
    count: int,
    ping: bool = True,
    concurrency: int = CONNECT_CONCURRENCY,
    sources: list[str] | None = None,
) -> tuple[list[Any], int]:
    """Open ``count`` connections with at most ``concurrency`` setups in flight.

    With ``ping`` each setup includes one line sent and its echo received, so a
    connection only counts as open once the server has accepted it and served it
    (a client that only waits for its own connect() can outrun the server's
    accept loop, overflow the listen backlog and then stall on SYN retransmits).
    With ``sources``, connection ``i`` binds the address ``sources[i]``.
    """
    sem = asyncio.Semaphore(concurrency)
    failures = 0

    async def one(i: int) -> Any:
        nonlocal failures
        async with sem:
            for _attempt in range(5):
                try:
                    proto = await connect(factory, cmd, sources[i] if sources else None)
                except OSError:
                    failures += 1
                    await asyncio.sleep(0.05)
                    continue
                if ping:
                    proto.send(b"hi\r\n", 1)
                    await asyncio.wait_for(proto.first_line, 30)
                    proto.sent = proto.received = 0
                return proto
            raise ConnectionError(f"could not connect to {cmd.get('path') or cmd['port']}")

    protos = await asyncio.gather(*(one(i) for i in range(count)))
    return list(protos), failures


def tls_in_use(clients: list[Client]) -> dict[str, str]:
    """``{"tls": "<version> <cipher>"}`` as negotiated by the first client, or ``{}``
    for a plain connection: the report shows that every server negotiated the same."""
    transport = clients[0].transport if clients else None
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return {}
    return {"tls": f"{ssl_object.version()} {ssl_object.cipher()[0]}"}


async def close_all(clients: list[Client]) -> None:
    for c in clients:
        if c.transport is not None:
            c.transport.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(asyncio.gather(*(c.closed for c in clients)), 5)


async def measure(
    cmd: dict[str, Any], stats: Stats, on_start: Callable[[], object] | None = None
) -> tuple[int, dict[str, float]]:
    """Let the load run for ``cmd["warmup"]`` s, then measure for ``cmd["duration"]`` s.

    Returns the lines received in the window and the window's times (see Window).
    ``on_start`` is called as the window opens."""
    await asyncio.sleep(cmd["warmup"])
    win = Window(cmd["pid"])
    n0, w0 = stats.lines, stats.wire
    if on_start is not None:
        on_start()
    win.start()
    await asyncio.sleep(cmd["duration"])
    n = stats.lines - n0
    res = win.stop()
    res["wire_bytes"] = stats.wire - w0
    return n, res


def percentile(values: list[int], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    idx = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return float(values[idx])


async def come_and_go(cmd: dict[str, Any]) -> None:
    """One client connects, is echoed one line, half-closes and waits for the server
    to close too, so the server has read an end of file before the scenario starts.

    This matters on the stdlib loop, whose transports ``recv(256 KiB)`` into a fresh
    buffer per read. glibc's malloc maps a block that large with mmap until the
    process has freed one whole, and only then raises its threshold and serves it
    from the heap. A read that ends a connection (or finds nothing) frees its buffer
    whole; one that returns data shrinks it in place. A fresh server process that
    has only read data therefore pays an mmap, a page fault, an mremap and a munmap
    per read, which with one line per read costs more than the line itself; any
    server that has seen a client leave does not. The scenario measures the latter.
    """
    stats = Stats()
    with contextlib.suppress(OSError, asyncio.TimeoutError, ConnectionError):
        (client,), _ = await open_many(lambda: Client(stats, cmd["telnet"]), cmd, 1)
        if client.transport is not None:
            if client.transport.can_write_eof():
                client.half_closed = True
                client.transport.write_eof()
            else:  # TLS cannot half-close: close_notify, then the end of the stream
                client.transport.close()
        await asyncio.wait_for(client.closed, 5)


# --------------------------------------------------------------------------- scenarios


async def pingpong(cmd: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    (client,), _ = await open_many(lambda: PingPong(stats, cmd["telnet"]), cmd, 1)
    client.running = True
    client.send(client.line, 1)
    n, res = await measure(cmd, stats)
    client.running = False
    await close_all([client])
    res.update(
        round_trips_per_s=n / res["wall_s"],
        server_cpu_us_per_rt=1e6 * res["server_cpu_s"] / max(n, 1),
        rtt_us=1e6 * res["wall_s"] / max(n, 1),
    )
    return res


async def echo(cmd: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    clients, _ = await open_many(lambda: Pipeline(stats, cmd["telnet"]), cmd, cmd["connections"])
    for c in clients:
        c.running = True
        c.send(c.payload, c.batch)
        c.send(c.payload, c.batch)
    n, res = await measure(cmd, stats)
    for c in clients:
        c.running = False
    res.update(tls_in_use(clients))
    await close_all(clients)
    res.update(
        lines_per_s=n / res["wall_s"],
        server_cpu_us_per_line=1e6 * res["server_cpu_s"] / max(n, 1),
    )
    return res


async def interactive(cmd: dict[str, Any]) -> dict[str, Any]:
    """``connections`` clients, each with one line in flight (see Interactive)."""
    stats = Stats()
    rtt = RoundTrips()
    clients, _ = await open_many(
        lambda: Interactive(stats, cmd["telnet"], rtt),
        cmd,
        cmd["connections"],
    )
    for c in clients:
        c.running = True
        c.go()

    def open_window() -> None:
        rtt.measuring = True

    n, res = await measure(cmd, stats, open_window)
    rtt.measuring = False
    for c in clients:
        c.running = False
    res.update(tls_in_use(clients))
    await close_all(clients)
    lat = rtt.samples
    res.update(
        lines_per_s=n / res["wall_s"],
        server_cpu_us_per_line=1e6 * res["server_cpu_s"] / max(n, 1),
        p50_ms=percentile(lat, 0.50) / 1e6,
        p99_ms=percentile(lat, 0.99) / 1e6,
        latency_samples=len(lat),
        compressed_clients=sum(c.inflate is not None for c in clients),
    )
    return res


def loopback_sources(count: int, per_source: int) -> list[str]:
    """Source addresses for ``count`` connections, ``per_source`` from each of
    127.0.0.2, 127.0.0.3, ...: all of 127/8 is the loopback interface on Linux."""
    needed = -(-count // per_source)
    if needed > 250:
        raise ValueError(f"{count} connections at {per_source} per address need > 250 addresses")
    return [f"127.0.0.{2 + i // per_source}" for i in range(count)]


async def spend_burst(clients: list[Paced], lines: int) -> None:
    """Each client sends ``lines`` lines at once; returns when every echo is back."""
    if not lines:
        return
    payload = Paced.line * lines
    for c in clients:
        c.send(payload, lines)
    deadline = time.monotonic() + 60
    while any(c.received < c.sent for c in clients):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the echoes of a {lines}-line burst did not all come back")
        await asyncio.sleep(0.01)


async def paced(cmd: dict[str, Any]) -> dict[str, Any]:
    """``connections`` interactive clients typing ``rate`` lines per second each,
    ``per_source`` of them from each loopback address.

    One pacer wakes ``slices`` times per period (1 / ``rate``) and lets the next
    slice of the clients send one line each, so the load is steady and exactly
    ``connections * rate`` lines/s for a server that keeps up. A client whose
    previous echo is not back when its turn comes skips the turn; the skips are
    counted (a server that throttles, or cannot keep up, shows them). Server CPU is
    the scheduler's nanosecond account (see ``server_run_time``): at a fraction of
    a core, clock ticks would be too coarse to compare servers to a few percent.

    Before the pacing starts, each client sends ``burst`` lines in one packet and
    waits for their echoes: a rate limit allows such a burst, and a client that has
    spent it is in the steady state, where every line is checked against the rate.
    At a few dozen lines a second a client would otherwise still be within its
    burst when the window closes.
    """
    stats = Stats()
    rtt = RoundTrips()
    count = cmd["connections"]
    sources = None if cmd.get("transport") == "unix" else loopback_sources(count, cmd["per_source"])
    clients, _ = await open_many(
        lambda: Paced(stats, cmd["telnet"], rtt), cmd, count, sources=sources
    )
    dropped = sum(1 for c in clients if c.closed.done())
    if dropped:
        raise ConnectionError(
            f"the server closed {dropped} of {count} connections while they were set up "
            "(a limit refused them: the load must stay inside the limits)"
        )
    await spend_burst(clients, cmd.get("burst", 0))
    slices = cmd["slices"]
    groups = [clients[i::slices] for i in range(slices)]
    step = 1.0 / cmd["rate"] / slices
    skipped = 0
    loop = asyncio.get_running_loop()

    async def pace() -> None:
        nonlocal skipped
        due = loop.time()
        turn = 0
        while True:
            for c in groups[turn % slices]:
                if not c.tick():
                    skipped += 1
            turn += 1
            due += step
            late = loop.time() - due
            if late > slices * step:  # more than a period behind: do not catch up
                due = loop.time()
            await asyncio.sleep(max(0.0, due - loop.time()))

    def open_window() -> None:
        nonlocal skipped
        rtt.measuring = True
        skipped = 0

    pacer = asyncio.ensure_future(pace())
    try:
        n, res = await measure(cmd, stats, open_window)
    finally:
        pacer.cancel()
        rtt.measuring = False
    closed = sum(1 for c in clients if c.closed.done())
    await close_all(clients)
    if closed:
        raise ConnectionError(f"the server closed {closed} of {count} connections under load")
    lat = rtt.samples
    res.update(
        lines_per_s=n / res["wall_s"],
        target_lines_per_s=count * cmd["rate"],
        server_cpu_us_per_line=1e6 * res["server_run_s"] / max(n, 1),
        server_cpu_pct=100.0 * res["server_run_s"] / res["wall_s"],
        skipped_turns=skipped,
        p50_ms=percentile(lat, 0.50) / 1e6,
        p99_ms=percentile(lat, 0.99) / 1e6,
        latency_samples=len(lat),
    )
    return res


async def flood(cmd: dict[str, Any]) -> dict[str, Any]:
    """One client floods echo lines while ``connections`` others type one line at a
    time: how long the typists wait while the server works through the flood."""
    flood_stats = Stats()
    typing_stats = Stats()
    rtt = RoundTrips()
    (flooder,), _ = await open_many(lambda: Flooder(flood_stats, cmd["telnet"]), cmd, 1)
    typists, _ = await open_many(
        lambda: Interactive(typing_stats, cmd["telnet"], rtt),
        cmd,
        cmd["connections"],
    )
    flooder.running = True
    flooder.send(flooder.payload, flooder.batch)
    flooder.send(flooder.payload, flooder.batch)
    for c in typists:
        c.running = True
        c.go()

    def open_window() -> None:
        rtt.measuring = True

    n0 = flood_stats.lines
    typed, res = await measure(cmd, typing_stats, open_window)
    flooded = flood_stats.lines - n0
    rtt.measuring = False
    flooder.running = False
    for c in typists:
        c.running = False
    await close_all([flooder, *typists])
    lat = rtt.samples
    res.update(
        p50_ms=percentile(lat, 0.50) / 1e6,
        p99_ms=percentile(lat, 0.99) / 1e6,
        max_ms=(max(lat) if lat else float("nan")) / 1e6,
        typed_lines_per_s=typed / res["wall_s"],
        flood_lines_per_s=flooded / res["wall_s"],
        latency_samples=len(lat),
    )
    return res


async def broadcast(cmd: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    bc = BroadcastState()
    count = cmd["connections"]
    # Connect in batches; after each batch, probe from the first client until a
    # probe has reached every client so far. This keeps the server's accept queue
    # short and makes sure every client is registered (and telnet-negotiated).
    clients: list[Broadcaster] = []
    probe = 0
    deadline = time.monotonic() + 120
    while len(clients) < count:
        batch, _ = await open_many(
            lambda: Broadcaster(stats, cmd["telnet"], bc),
            cmd,
            min(cmd["batch"], count - len(clients)),
            ping=False,
        )
        clients.extend(batch)
        target = probe
        while min(c.probe for c in clients) < target:
            clients[0].send(b"P%d\r\n" % probe, 1)
            probe += 1
            await asyncio.sleep(0.02)
            if time.monotonic() > deadline:
                raise TimeoutError("broadcast probe never reached every client")
    await asyncio.sleep(0.1)
    senders = [clients[i * count // cmd["senders"]] for i in range(cmd["senders"])]
    sampled = set(clients[:: max(1, count // cmd["sampled"])])
    for i, s in enumerate(senders):
        s.sender_id = i
    for c in clients:
        c.parse = c in sampled or c.sender_id >= 0
        c.buf = b""
    bc.sending = True
    for s in senders:
        for _ in range(cmd["window"]):
            s.send_message()

    def open_window() -> None:
        bc.measuring = True

    n, res = await measure(cmd, stats, open_window)
    bc.measuring = False
    bc.sending = False
    lat = bc.latencies
    await close_all(clients)
    res.update(
        deliveries_per_s=n / res["wall_s"],
        p50_ms=percentile(lat, 0.50) / 1e6,
        p99_ms=percentile(lat, 0.99) / 1e6,
        latency_samples=len(lat),
        server_cpu_us_per_delivery=1e6 * res["server_cpu_s"] / max(n, 1),
        wire_bytes_per_delivery=res["wire_bytes"] / max(n, 1),
        compressed_clients=sum(c.inflate is not None for c in clients),
    )
    return res


async def idle(cmd: dict[str, Any]) -> dict[str, Any]:
    stats = Stats()
    pid = cmd["pid"]
    await asyncio.sleep(0.2)
    rss0 = server_rss(pid)
    t0 = time.perf_counter()
    clients, failures = await open_many(
        lambda: Client(stats, cmd["telnet"]), cmd, cmd["connections"]
    )
    setup = time.perf_counter() - t0
    await asyncio.sleep(cmd["settle"])
    rss1 = server_rss(pid)
    await close_all(clients)
    n = len(clients)
    return {
        "connections": n,
        "rss_before_mib": rss0 / 2**20,
        "rss_after_mib": rss1 / 2**20,
        "kib_per_conn": (rss1 - rss0) / n / 1024,
        "setup_s": setup,
        "connect_retries": failures,
    }


async def accept(cmd: dict[str, Any]) -> dict[str, Any]:
    """Connection churn: connect, send one line, wait for the echo, close.

    ``concurrency`` such sessions are kept in flight for ``duration`` seconds; the
    rate is completed sessions per second."""
    stats = Stats()
    conc = cmd["concurrency"]
    telnet = cmd["telnet"]
    failures = 0
    done = 0
    deadline = 0.0

    async def worker() -> None:
        nonlocal failures, done
        while time.perf_counter() < deadline:
            try:
                proto = await connect(lambda: Client(stats, telnet), cmd)
                proto.send(b"hi\r\n", 1)
                await asyncio.wait_for(proto.first_line, 10)
                proto.transport.close()
                done += 1
            except (TimeoutError, OSError):
                failures += 1

    deadline = time.perf_counter() + cmd["warmup"]
    await asyncio.gather(*(worker() for _ in range(conc)))
    failures = done = 0
    win = Window(cmd["pid"])
    win.start()
    deadline = time.perf_counter() + cmd["duration"]
    await asyncio.gather(*(worker() for _ in range(conc)))
    res = win.stop()
    res.update(
        accepts_per_s=done / res["wall_s"],
        server_cpu_us_per_accept=1e6 * res["server_cpu_s"] / max(done, 1),
        failures=failures,
    )
    return res


SCENARIOS = {
    "flood": flood,
    "pingpong": pingpong,
    "echo": echo,
    "interactive": interactive,
    "interactive-1000": interactive,
    "broadcast": broadcast,
    "idle": idle,
    "accept": accept,
    "tls-interactive": interactive,
    "tls-echo": echo,
    "unix-interactive": interactive,
    "unix-echo": echo,
    "ws-interactive": interactive,
    "ws-broadcast": broadcast,
    "mud-interactive": interactive,
    "mccp-broadcast": broadcast,
    "limits": paced,
}


# --------------------------------------------------------------------------- main


def main() -> None:
    cpu = os.environ.get("BENCH_CPU")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a bench dependency
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    out = sys.stdout
    for raw in sys.stdin:
        if not raw.strip():
            continue
        cmd = json.loads(raw)
        try:
            loop.run_until_complete(come_and_go(cmd))
            result = loop.run_until_complete(
                asyncio.wait_for(SCENARIOS[cmd["scenario"]](cmd), cmd.get("timeout", 300))
            )
            reply: dict[str, Any] = {"ok": True, "result": result}
        except Exception as exc:  # report, keep serving
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        finally:
            for client in list(OPEN):
                if client.transport is not None:
                    client.transport.abort()
            loop.run_until_complete(asyncio.sleep(0.05))
        out.write(json.dumps(reply) + "\n")
        out.flush()
    loop.close()


if __name__ == "__main__":
    main()
