"""Fuzz the telnet machine with every option on: ``python -m fuzz.telnet --inputs N``.

Each input is a stream built from the pieces real and broken clients send:
negotiation of any option, the TTYPE/MTTS cycle, NEW-ENVIRON answers, GMCP
(valid and invalid JSON), MSDP (balanced or not), CHARSET, NAWS, MCCP3 with
compressed, truncated or garbage streams, oversize and unterminated
subnegotiations, escaped and stray IAC bytes, random bytes. Every input is fed
twice to fresh machines: whole, and cut at random places. The run fails on
the first input where

* anything raises,
* the two ways give different application data, records (their positions made
  absolute), replies or negotiated options ("splitting a stream anywhere never
  changes the events"),
* a machine's saved state grows past a bound, or
* one input takes longer than ``--timeout`` seconds (a loop).

The random generator is seeded, so a failure prints what reproduces it. With
``--workers`` the inputs are shared among processes, each with its own seed.
The tests run a few thousand inputs; docs/telnet.md records the long run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import random
import resource
import signal
import sys
import time
import zlib
from dataclasses import replace
from typing import Any

from hubbub.protocols import telnet as t
from hubbub.protocols.telnet import environ as env
from hubbub.protocols.telnet import msdp

#: Option codes the pieces pick from: every one hubbub knows, and some it does not.
CODES = [
    t.BINARY, t.ECHO, t.SGA, t.TTYPE, t.EOR_OPT, t.NAWS, t.LINEMODE, t.NEW_ENVIRON,
    t.CHARSET, t.MSDP, t.MSSP, t.MCCP1, t.MCCP2, t.MCCP3, t.GMCP, 0xFF, 200,
]  # fmt: skip
#: The cap on one subnegotiation, small so oversize ones are common.
MAX_SB = 300
#: A saved state (JSON) larger than this means something grows without bound.
MAX_STATE = 64 * 1024


def _neg(rng: random.Random) -> bytes:
    return bytes((t.IAC, rng.choice((t.WILL, t.WONT, t.DO, t.DONT)), rng.choice(CODES)))


def _sb(option: int, payload: bytes) -> bytes:
    return bytes((t.IAC, t.SB, option)) + t.escape(payload) + bytes((t.IAC, t.SE))


def _text(rng: random.Random, n: int = 12) -> bytes:
    return bytes(
        rng.choice(b"abcXYZ 019-_.\r\n\x00\x08\x7f\xc3\xa9") for _ in range(rng.randrange(n))
    )


def _ttype(rng: random.Random) -> bytes:
    name = rng.choice([b"MUDLET", b"ANSI-TRUECOLOR", b"MTTS 2831", b"MTTS64", b"XTERM", b""])
    tail = _text(rng, 3) if rng.random() < 0.2 else b""
    return _sb(t.TTYPE, bytes((rng.choice((0, 0, 0, 0, 1, 7)),)) + name + tail)


def _environ(rng: random.Random) -> bytes:
    out = bytearray((rng.choice((env.IS, env.INFO, env.IS, env.SEND, 9)),))
    for _ in range(rng.randrange(5)):
        out.append(rng.choice((env.VAR, env.USERVAR, env.VALUE, env.ESC)))
        out += rng.choice([b"CLIENT_NAME", b"MTTS", b"SCREEN_READER", b"CHARSET", b"1", b"UTF-8"])
    return _sb(t.NEW_ENVIRON, bytes(out))


def _gmcp(rng: random.Random) -> bytes:
    package = rng.choice([b"Core.Hello", b"Core.Supports.Set", b"Core.Supports.Add", b"Char"])
    body = rng.choice(
        [b"", b' {"client":"x","Version":"1"}', b' ["Char 1","Room 1"]', b" {bad json", b" 12"]
    )
    return _sb(t.GMCP, package + body)


def _msdp(rng: random.Random) -> bytes:
    marks = (
        msdp.VAR,
        msdp.VAL,
        msdp.TABLE_OPEN,
        msdp.TABLE_CLOSE,
        msdp.ARRAY_OPEN,
        msdp.ARRAY_CLOSE,
    )
    if rng.random() < 0.5:
        payload = msdp.encode({"REPORT": ["HEALTH", "MANA"], "ROOM": {"EXITS": {"n": "1"}}})
    else:
        payload = bytes(
            rng.choice(marks) if rng.random() < 0.5 else 65 for _ in range(rng.randrange(20))
        )
    return _sb(t.MSDP, payload)


def _charset(rng: random.Random) -> bytes:
    return _sb(
        t.CHARSET, rng.choice([b"\x02UTF-8", b"\x03", b"\x01;UTF-8;latin1", b"\x01", b"\x09x"])
    )


def _naws(rng: random.Random) -> bytes:
    return _sb(t.NAWS, bytes(rng.randrange(256) for _ in range(rng.choice((4, 4, 3, 6)))))


def _mccp3(rng: random.Random) -> bytes:
    """MCCP3's start, then a compressed stream: whole, cut short, ended, or garbage."""
    start = _sb(t.MCCP3, b"")
    z = zlib.compressobj()
    inner = b"".join(rng.choice(PLAIN_PIECES)(rng) for _ in range(rng.randrange(6)))
    body = z.compress(inner)
    how = rng.random()
    if how < 0.4:
        body += z.flush(zlib.Z_SYNC_FLUSH)
    elif how < 0.7:
        body += z.flush()  # the stream ends: plain text follows
    elif how < 0.85:
        body = (body + z.flush())[: rng.randrange(1, 40)]
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
    return start + body


def _oversize(rng: random.Random) -> bytes:
    return _sb(rng.choice(CODES), b"x" * rng.randrange(MAX_SB - 5, MAX_SB + 40))


def _garbage(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"\xff", bytes((t.IAC, t.SB)), bytes((t.IAC, t.SB, t.IAC, t.SE)),
            bytes((t.IAC, t.SE)), bytes((t.IAC, t.SB, t.GMCP)),
            bytes((t.IAC, t.SB, t.IAC, t.IAC)), bytes((t.IAC, t.WILL)),
            b"\xff\xff", bytes((t.IAC, rng.randrange(256))), bytes((t.IAC, t.SB, t.MCCP3)),
        ]
    )  # fmt: skip


def _random(rng: random.Random) -> bytes:
    return bytes(rng.randrange(256) for _ in range(rng.randrange(24)))


PLAIN_PIECES = [_text, _neg, _ttype, _environ, _gmcp, _msdp, _charset, _naws, _garbage]
PIECES = [*PLAIN_PIECES, _mccp3, _oversize, _random, _text, _neg]


#: What a MUD client agrees to at connect; most inputs start with some of it.
AGREEMENT = [
    (t.WILL, t.TTYPE), (t.WILL, t.NEW_ENVIRON), (t.WILL, t.NAWS), (t.DO, t.MCCP2),
    (t.DO, t.MCCP3), (t.DO, t.GMCP), (t.DO, t.MSDP), (t.DO, t.CHARSET), (t.DO, t.EOR_OPT),
]  # fmt: skip


def make_input(rng: random.Random) -> bytes:
    agreed = b""
    if rng.random() < 0.7:
        chosen = rng.sample(AGREEMENT, rng.randrange(1, len(AGREEMENT) + 1))
        agreed = b"".join(bytes((t.IAC, verb, code)) for verb, code in chosen)
    return agreed + b"".join(rng.choice(PIECES)(rng) for _ in range(rng.randrange(1, 14)))


def machine() -> t.TelnetProtocol:
    proto = t.TelnetProtocol(t.default_options(), max_subnegotiation=MAX_SB)
    proto.start()
    proto.data_to_send()
    return proto


def _absolute(record: Any, offset: int) -> Any:
    """A record with its position (``at``) counted from the start of the stream."""
    at = getattr(record, "at", None)
    return replace(record, at=at + offset) if isinstance(at, int) else record


def feed(proto: t.TelnetProtocol, parts: list[bytes]) -> tuple[bytes, list[Any], bytes]:
    """Feed ``parts`` in turn (and what MCCP3 leaves over); all the machine gave back."""
    app = bytearray()
    records: list[Any] = []
    replies = bytearray()
    for part in parts:
        data = proto.receive_data(part)
        while True:
            records += [_absolute(r, len(app)) for r in proto.events_received()]
            app += data
            replies += proto.data_to_send()
            if not proto.more:
                break
            data = proto.receive_data(b"")
    return bytes(app), records, bytes(replies)


def check(data: bytes, rng: random.Random) -> None:
    """Feed one input whole and cut; raise AssertionError if the two differ."""
    whole, split = machine(), machine()
    expected = feed(whole, [data])
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 8)))
    bounds = [0, *cuts, len(data)]
    got = feed(split, [data[a:b] for a, b in itertools.pairwise(bounds)])
    assert got[0] == expected[0], "application data differs when cut"
    assert got[1] == expected[1], f"records differ when cut:\n{got[1]}\n{expected[1]}"
    assert got[2] == expected[2], "replies differ when cut"
    for code in CODES:
        assert whole.local_enabled(code) == split.local_enabled(code)
        assert whole.remote_enabled(code) == split.remote_enabled(code)
    state = json.dumps(whole.snapshot())
    assert len(state) < MAX_STATE, f"saved state grew to {len(state)} bytes"
    assert whole.snapshot() == split.snapshot()


class Loop(Exception):
    """One input took too long: a loop in the machine."""


def run(seed: int, inputs: int, timeout: float, report: float = 0.0) -> int:
    """Check ``inputs`` inputs from ``seed``; returns how many were checked."""

    def alarm(signum: int, frame: Any) -> None:
        raise Loop(f"an input took over {timeout} s")

    signal.signal(signal.SIGALRM, alarm)
    rng = random.Random(seed)
    started = last = time.monotonic()
    for index in range(inputs):
        state = rng.getstate()
        data = make_input(rng)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            check(data, rng)
        except BaseException:
            signal.setitimer(signal.ITIMER_REAL, 0)
            print(f"seed {seed}, input {index}: {data!r}", file=sys.stderr)
            rng.setstate(state)
            raise
        signal.setitimer(signal.ITIMER_REAL, 0)
        if report and time.monotonic() - last > report:
            last = time.monotonic()
            rate = (index + 1) / (last - started)
            print(f"seed {seed}: {index + 1:,} inputs, {rate:,.0f}/s", file=sys.stderr, flush=True)
    return inputs


def _worker(args: tuple[int, int, float, float]) -> int:
    return run(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fuzz.telnet", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs in all")
    parser.add_argument("--seed", type=int, default=1, help="first seed (one per worker)")
    parser.add_argument("--workers", type=int, default=1, help="processes")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds one input may take")
    parser.add_argument("--report", type=float, default=60.0, help="seconds between progress lines")
    args = parser.parse_args(argv)
    started = time.monotonic()
    share = -(-args.inputs // args.workers)
    jobs = [(args.seed + i, share, args.timeout, args.report) for i in range(args.workers)]
    if args.workers == 1:
        done = run(*jobs[0])
    else:
        with multiprocessing.Pool(args.workers) as pool:
            done = sum(pool.map(_worker, jobs))
    took = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"{done:,} inputs, no failure, in {took:,.0f} s ({done / took:,.0f}/s); "
        f"max RSS {max(peak, children):.0f} MiB per process"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
