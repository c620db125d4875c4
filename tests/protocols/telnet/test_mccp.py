"""MCCP2 (86) and MCCP3 (87): when compression starts and ends, and bounded input."""

from __future__ import annotations

import random
import zlib

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    MCCP1,
    MCCP2,
    MCCP3,
    TTYPE,
    WILL,
    WONT,
    Compress,
    Compressor,
    Mccp2,
    Mccp3,
    OptionChanged,
    OptionSet,
    ProtocolError,
    TelnetProtocol,
    Ttype,
    default_options,
)
from hubbub.protocols.telnet.mccp import INFLATE_CHUNK, START

from .test_protocol import feed, neg, sb, ttype_is


def machine() -> TelnetProtocol:
    proto = TelnetProtocol(OptionSet([Ttype(), Mccp2(), Mccp3()]))
    proto.start()
    assert proto.data_to_send() == neg(DO, TTYPE) + neg(WILL, MCCP2) + neg(WILL, MCCP3)
    return proto


def records(proto: TelnetProtocol, data: bytes) -> list[object]:
    return [r for r in feed(proto, data)[1] if not isinstance(r, OptionChanged)]


def test_start_is_the_five_bytes() -> None:
    assert bytes((255, 250, 86, 255, 240)) == START


def test_compression_waits_for_the_ttype_cycle() -> None:
    """DO MCCP2 in the middle of the cycle (as Mudlet sends it) starts nothing yet."""
    proto = machine()
    assert records(proto, neg(WILL, TTYPE) + neg(DO, MCCP2)) == []
    assert records(proto, ttype_is(b"MUDLET")) == []
    assert records(proto, ttype_is(b"MTTS 2831")) == []
    end = records(proto, ttype_is(b"MUDLET"))
    assert end[-1] == Compress(True)


def test_compression_starts_at_once_after_the_cycle_or_without_ttype() -> None:
    proto = machine()
    records(proto, neg(WONT, TTYPE))
    assert records(proto, neg(DO, MCCP2)) == [Compress(True)]
    alone = TelnetProtocol(OptionSet([Mccp2()]))
    assert records(alone, neg(DO, MCCP2)) == [Compress(True)]


def test_dont_ends_compression_and_a_new_do_restarts_it() -> None:
    proto = machine()
    records(proto, neg(WONT, TTYPE))
    records(proto, neg(DO, MCCP2))
    _, events, replies = feed(proto, neg(DONT, MCCP2))
    assert replies == neg(WONT, MCCP2)
    assert events == [OptionChanged(MCCP2, local=True, enabled=False), Compress(False)]
    assert records(proto, neg(DO, MCCP2)) == [Compress(True)]


def test_dont_while_waiting_never_starts() -> None:
    proto = machine()
    records(proto, neg(WILL, TTYPE) + neg(DO, MCCP2) + neg(DONT, MCCP2))
    end = records(proto, ttype_is(b"X") + ttype_is(b"X"))
    assert len(end) == 1 and Compress(True) not in end  # the TerminalType record only


def test_mccp_v1_is_never_agreed() -> None:
    proto = TelnetProtocol(default_options())
    _, _, replies = feed(proto, neg(DO, MCCP1) + neg(WILL, MCCP1))
    assert replies == neg(WONT, MCCP1) + neg(DONT, MCCP1)


def test_compressor_output_is_a_zlib_stream_flushed_each_write() -> None:
    compressor = Compressor()
    inflate = zlib.decompressobj()
    for line in (b"hello\r\n", b"HP 10> ", b"x" * 10_000):
        assert inflate.decompress(compressor.compress(line)) == line  # nothing held back
    inflate.decompress(compressor.finish())
    assert inflate.eof


# --------------------------------------------------------------------- MCCP3 (input)


def compressed_machine() -> TelnetProtocol:
    proto = machine()
    feed(proto, neg(DO, MCCP3))
    assert proto.local_enabled(MCCP3)
    return proto


def take_all(proto: TelnetProtocol, data: bytes) -> tuple[bytes, list[object]]:
    out = proto.receive_data(data)
    events = proto.events_received()
    while proto.more:
        piece = proto.receive_data(b"")
        assert len(piece) <= INFLATE_CHUNK + 16
        out += piece
        events += proto.events_received()
    return out, events


def test_mccp3_input_is_decompressed_then_parsed() -> None:
    proto = compressed_machine()
    z = zlib.compressobj()
    body = b"look\r\n" + sb(TTYPE, b"\x00X") + b"north\r\n"
    stream = b"before\r\n" + sb(MCCP3, b"") + z.compress(body) + z.flush(zlib.Z_SYNC_FLUSH)
    out, _ = take_all(proto, stream)
    assert out == b"before\r\nlook\r\nnorth\r\n"


@pytest.mark.parametrize("seed", range(20))
def test_mccp3_split_anywhere_gives_the_same_data(seed: int) -> None:
    rng = random.Random(seed)
    z = zlib.compressobj()
    lines = b"".join(f"line {i} {'x' * rng.randrange(50)}\r\n".encode() for i in range(200))
    stream = b"a\r\n" + sb(MCCP3, b"") + z.compress(lines) + z.flush() + b"plain again\r\n"
    proto = compressed_machine()
    out = b""
    i = 0
    while i < len(stream):
        j = i + rng.randrange(1, 300)
        out += take_all(proto, stream[i:j])[0]
        i = j
    assert out == b"a\r\n" + lines + b"plain again\r\n"  # Z_FINISH: the rest is plain


def test_a_bomb_is_handed_on_in_bounded_pieces() -> None:
    proto = compressed_machine()
    bomb = zlib.compress(b"A" * (50 * 1024 * 1024), 9)  # 50 MiB in about 50 KiB
    first = proto.receive_data(sb(MCCP3, b"") + bomb)
    assert len(first) == 0 or len(first) <= INFLATE_CHUNK
    pieces = 0
    total = len(first)
    while proto.more:
        piece = proto.receive_data(b"")
        assert len(piece) <= INFLATE_CHUNK
        total += len(piece)
        pieces += 1
    assert total == 50 * 1024 * 1024
    assert pieces >= 50 * 1024 * 1024 // INFLATE_CHUNK - 1


def test_a_broken_stream_is_fatal() -> None:
    proto = compressed_machine()
    out, events = take_all(proto, sb(MCCP3, b"") + b"this is not zlib at all")
    assert out == b""
    [error] = [e for e in events if isinstance(e, ProtocolError)]
    assert error.fatal and "MCCP3" in error.message


def test_mccp3_start_without_agreement_is_ignored() -> None:
    proto = machine()
    out, events, _ = feed(proto, sb(MCCP3, b"") + b"plain")
    assert out == b"plain"
    assert isinstance(events[0], ProtocolError) and not events[0].fatal


def test_after_a_broken_stream_nothing_more_is_read() -> None:
    """What came before the broken byte is delivered (however the input was cut), then
    the machine reads nothing more, not even another MCCP3 start."""
    z = zlib.compressobj()
    good = z.compress(b"one\r\n" + sb(MCCP3, b"") + b"two\r\n") + z.flush(zlib.Z_SYNC_FLUSH)
    stream = sb(MCCP3, b"") + good + b"\x00garbage" + b"three\r\n"
    for cut in (0, 10, len(stream) - 5):
        proto = compressed_machine()
        out, events = take_all(proto, stream[:cut])
        more, later = take_all(proto, stream[cut:])
        assert out + more == b"one\r\ntwo\r\n"
        fatal = [e for e in events + later if isinstance(e, ProtocolError) and e.fatal]
        assert len(fatal) == 1
        assert take_all(proto, b"four\r\n") == (b"", [])


def test_an_mccp3_start_inside_the_stream_means_nothing_wherever_it_is_cut() -> None:
    """Found by the fuzzer: a start marker in the compressed text was honoured only when
    the stream's end arrived in the same packet."""
    z = zlib.compressobj()
    stream = sb(MCCP3, b"") + z.compress(b"a\r\n" + sb(MCCP3, b"") + b"b\r\n") + z.flush()
    stream += b"plain\r\n"
    for cut in range(len(stream) + 1):
        proto = compressed_machine()
        out, events = take_all(proto, stream[:cut])
        more, later = take_all(proto, stream[cut:])
        assert out + more == b"a\r\nb\r\nplain\r\n", cut
        assert not [e for e in events + later if isinstance(e, ProtocolError)]


def carried(proto: TelnetProtocol) -> TelnetProtocol:
    """The machine as a new process gets it: a snapshot through JSON, restored."""
    import json

    again = machine()
    again.restore(json.loads(json.dumps(proto.snapshot())))
    return again


@pytest.mark.parametrize("typed", [0, 1, 40, 5000])
def test_an_mccp3_stream_crosses_a_snapshot(typed: int) -> None:
    """A restart between two of the client's writes: the new machine, primed with the
    stream's window, decompresses what follows, back-references into text typed
    before the restart included; the stream's end and plain text after it too."""
    rng = random.Random(typed)
    proto = compressed_machine()
    z = zlib.compressobj(9)  # as TinTin++ does: best compression, 32 KiB window
    words = [b"north", b"south", b"say hello there", b"look", b"get all from corpse"]
    before = b"".join(rng.choice(words) + b"\r\n" for _ in range(typed))
    out, _ = take_all(proto, sb(MCCP3, b""))
    if typed:
        out, _ = take_all(proto, z.compress(before) + z.flush(zlib.Z_SYNC_FLUSH))
        assert out == before
    proto = carried(proto)
    assert proto.decompressing
    after = b"say hello there\r\nget all from corpse\r\n"  # refers back, when it can
    out, _ = take_all(proto, z.compress(after) + z.flush(zlib.Z_SYNC_FLUSH))
    assert out == after
    out, _ = take_all(proto, z.compress(b"quit\r\n") + z.flush() + b"plain now\r\n")
    assert out == b"quit\r\nplain now\r\n"  # the zlib trailer is not taken for text
    assert not proto.decompressing
