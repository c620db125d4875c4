"""Tests for the sans-IO line framer (hubbub.protocols.lines.LineBuffer)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.lines import TOO_LONG, LineBuffer, LineTooLong

Output = list[bytes | LineTooLong]


def feed_all(buf: LineBuffer, chunks: list[bytes]) -> Output:
    out: Output = []
    for chunk in chunks:
        out.extend(buf.receive_data(chunk))
    return out


def bytewise(data: bytes, limit: int = 8192) -> Output:
    return feed_all(LineBuffer(limit), [data[i : i + 1] for i in range(len(data))])


# --- endings -------------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r\0", b"\r"])
def test_each_ending_ends_a_line(ending: bytes) -> None:
    data = b"one" + ending + b"two" + ending + b"three"
    buf = LineBuffer()
    assert buf.receive_data(data) == [b"one", b"two"]
    assert buf.buffered == len(b"three")
    assert bytewise(data) == [b"one", b"two"]


def test_mixed_endings_in_one_chunk() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"a\r\nb\nc\r\0d\re\n") == [b"a", b"b", b"c", b"d", b"e"]
    assert buf.buffered == 0


@pytest.mark.parametrize("follower", [b"\n", b"\0"])
def test_cr_at_chunk_end_then_lf_or_nul_is_one_ending(follower: bytes) -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"hello\r") == [b"hello"]
    # The LF / NUL completing the ending must not produce an extra empty line.
    assert buf.receive_data(follower + b"world\n") == [b"world"]
    assert buf.buffered == 0


@pytest.mark.parametrize("follower", [b"\n", b"\0"])
def test_cr_chunk_then_lone_follower_chunk(follower: bytes) -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"hello\r") == [b"hello"]
    assert buf.receive_data(follower) == []
    assert buf.receive_data(b"next\r") == [b"next"]
    assert buf.buffered == 0


def test_cr_then_text_ends_line_at_cr() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"first\r") == [b"first"]
    assert buf.receive_data(b"x") == []
    assert buf.buffered == 1
    assert buf.receive_data(b"\n") == [b"x"]


def test_lf_swallowed_only_right_after_cr() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"a\r") == [b"a"]
    assert buf.receive_data(b"b") == []
    # This LF is not right after the CR any more: it ends "b".
    assert buf.receive_data(b"\n") == [b"b"]
    assert buf.receive_data(b"\n") == [b""]


def test_cr_cr_lf_is_an_empty_line_in_between() -> None:
    assert LineBuffer().receive_data(b"a\r\r\nb\n") == [b"a", b"", b"b"]
    assert bytewise(b"a\r\r\nb\n") == [b"a", b"", b"b"]


def test_lf_cr_is_two_endings() -> None:
    assert LineBuffer().receive_data(b"a\n\rb\n") == [b"a", b"", b"b"]


def test_empty_lines_preserved() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"\n\r\n\r\0\r\r\n") == [b"", b"", b"", b"", b""]
    assert buf.receive_data(b"\n") == [b""]


def test_partial_lines_held_until_ending() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"hel") == []
    assert buf.buffered == 3
    assert buf.receive_data(b"lo wor") == []
    assert buf.buffered == 9
    assert buf.receive_data(b"ld\nnext") == [b"hello world"]
    assert buf.buffered == 4


def test_non_ascii_bytes_pass_through() -> None:
    data = "héllo wörld ✓".encode() + b"\xff\x00\x01\r\n"
    assert LineBuffer().receive_data(data) == [data[:-2]]


def test_feeding_empty_bytes_does_nothing() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"") == []
    assert buf.receive_data(b"ab") == []
    assert buf.receive_data(b"") == []
    assert buf.receive_data(b"\n") == [b"ab"]


def test_empty_chunk_between_cr_and_lf_keeps_one_ending() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"a\r") == [b"a"]
    assert buf.receive_data(b"") == []
    assert buf.receive_data(b"\nb\n") == [b"b"]


# --- length limit ----------------------------------------------------------------


@pytest.mark.parametrize("ending", [b"\r\n", b"\n", b"\r\0", b"\r"])
def test_line_of_exactly_the_limit_is_accepted(ending: bytes) -> None:
    line = b"x" * 16
    buf = LineBuffer(16)
    assert buf.receive_data(line + ending) == [line]
    # Same when the line arrives in pieces.
    buf = LineBuffer(16)
    assert buf.receive_data(line[:5]) == []
    assert buf.receive_data(line[5:]) == []
    assert buf.buffered == 16
    assert buf.receive_data(ending) == [line]


def test_line_one_over_the_limit_in_one_chunk() -> None:
    buf = LineBuffer(16)
    assert buf.receive_data(b"y" * 17 + b"\nok\n") == [TOO_LONG, b"ok"]
    assert buf.buffered == 0


def test_line_one_over_the_limit_arriving_in_pieces() -> None:
    buf = LineBuffer(16)
    assert buf.receive_data(b"y" * 16) == []
    assert buf.receive_data(b"y") == []  # over the limit: dropped, reported at its end
    assert buf.buffered == 0
    assert buf.receive_data(b"\n") == [TOO_LONG]
    assert buf.receive_data(b"ok\n") == [b"ok"]


def test_too_long_reported_once_and_rest_discarded_across_many_chunks() -> None:
    buf = LineBuffer(100)
    out: Output = []
    out += buf.receive_data(b"before\n" + b"z" * 150)
    for _ in range(50):
        out += buf.receive_data(b"z" * 97)
        assert buf.buffered == 0
    out += buf.receive_data(b"zzz\r")
    out += buf.receive_data(b"\nafter\n")
    assert out == [b"before", TOO_LONG, b"after"]
    assert out.count(TOO_LONG) == 1


def test_too_long_line_ending_split_from_it() -> None:
    buf = LineBuffer(4)
    assert buf.receive_data(b"abcdefgh") == []
    assert buf.receive_data(b"ijk\r") == [TOO_LONG]
    assert buf.receive_data(b"\0") == []
    assert buf.receive_data(b"\r\n") == [b""]
    assert buf.receive_data(b"fine\n") == [b"fine"]


def test_too_long_complete_line_after_a_buffered_prefix() -> None:
    buf = LineBuffer(8)
    assert buf.receive_data(b"12345") == []
    assert buf.receive_data(b"6789\nshort\n") == [TOO_LONG, b"short"]


def test_several_too_long_lines_each_reported() -> None:
    buf = LineBuffer(3)
    assert buf.receive_data(b"aaaa\nbb\ncccc\n") == [TOO_LONG, b"bb", TOO_LONG]
    assert buf.receive_data(b"dddd") == []
    assert buf.receive_data(b"\neeee\n") == [TOO_LONG, TOO_LONG]


def test_buffered_never_exceeds_limit_while_feeding_10_mb() -> None:
    limit = 8192
    buf = LineBuffer(limit)
    chunk = b"q" * 65536
    reports = 0
    for _ in range(160):  # 10 MiB without a line ending
        for item in buf.receive_data(chunk):
            assert item is TOO_LONG
            reports += 1
        assert buf.buffered <= limit
    assert reports == 0  # reported where the line ends
    assert buf.receive_data(b"\nnext\n") == [TOO_LONG, b"next"]


def test_buffered_never_exceeds_limit_with_many_long_lines() -> None:
    limit = 1000
    buf = LineBuffer(limit)
    chunk = (b"w" * 1500 + b"\n" + b"v" * 999 + b"\r\n") * 20
    out: Output = []
    for start in range(0, len(chunk), 333):
        out += buf.receive_data(chunk[start : start + 333])
        assert buf.buffered <= limit
    assert out == [TOO_LONG, b"v" * 999] * 20


# --- take_partial -------------------------------------------------------------------


def test_take_partial_returns_and_clears_unfinished_line() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"done\npart") == [b"done"]
    assert buf.take_partial() == b"part"
    assert buf.buffered == 0
    assert buf.take_partial() == b""
    assert buf.receive_data(b"new\n") == [b"new"]


def test_take_partial_ends_discarding() -> None:
    buf = LineBuffer(4)
    assert buf.receive_data(b"toolong") == []
    assert buf.take_partial() == b""
    # No longer skipping: this line is delivered whole.
    assert buf.receive_data(b"abc\n") == [b"abc"]


def test_take_partial_forgets_pending_cr() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"x\r") == [b"x"]
    assert buf.take_partial() == b""
    # After the switch back, a leading LF is a line ending of its own.
    assert buf.receive_data(b"\n") == [b""]


def test_too_long_marker() -> None:
    assert isinstance(TOO_LONG, LineTooLong)
    assert repr(TOO_LONG) == "TOO_LONG"


# --- properties ------------------------------------------------------------------------

ENDINGS = [b"\r\n", b"\n", b"\r\0", b"\r"]

random_bytes = st.binary(max_size=300)

# Text pieces (possibly empty, possibly long) joined by random endings; the
# alphabet includes \r, \n and NUL so endings also appear inside "text".
line_streams = st.lists(
    st.tuples(
        st.one_of(
            st.binary(max_size=40),
            st.text(alphabet="ab\r\n\0é", max_size=30).map(str.encode),
            st.integers(min_value=0, max_value=120).map(lambda n: b"L" * n),
        ),
        st.sampled_from(ENDINGS),
    ),
    max_size=25,
).map(lambda pairs: b"".join(text + ending for text, ending in pairs))

streams = st.one_of(random_bytes, line_streams)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


@settings(max_examples=300, deadline=None)
@given(
    data=streams,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=30),
    limit=st.sampled_from([1, 2, 7, 50, 100, 8192]),
)
def test_split_points_do_not_change_the_output(data: bytes, cuts: list[int], limit: int) -> None:
    whole = LineBuffer(limit)
    expected = whole.receive_data(data)
    chunks = split_at(data, cuts)
    assert b"".join(chunks) == data
    pieces = LineBuffer(limit)
    got = feed_all(pieces, chunks)
    assert got == expected
    assert pieces.buffered == whole.buffered
    assert pieces.take_partial() == whole.take_partial()


@settings(max_examples=300, deadline=None)
@given(data=streams, limit=st.sampled_from([1, 3, 16, 100, 8192]))
def test_outputs_are_clean_and_bounded(data: bytes, limit: int) -> None:
    buf = LineBuffer(limit)
    out = bytewise(data, limit)
    out_whole = buf.receive_data(data)
    assert out == out_whole
    for item in out:
        if item is TOO_LONG:
            continue
        assert isinstance(item, bytes)
        assert b"\r" not in item
        assert b"\n" not in item
        assert len(item) <= limit
    assert buf.buffered <= limit


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=60).filter(lambda b: b"\r" not in b and b"\n" not in b)),
    endings=st.lists(st.sampled_from(ENDINGS), min_size=1),
)
def test_round_trip_of_clean_lines(lines: list[bytes], endings: list[bytes]) -> None:
    data = b""
    for i, line in enumerate(lines):
        ending = endings[i % len(endings)]
        # A lone CR followed by a line that starts with NUL would read as CR NUL.
        if ending == b"\r" and i + 1 < len(lines) and lines[i + 1][:1] in (b"\0", b""):
            ending = b"\r\n"
        data += line + ending
    expected: Output = [line if len(line) <= 50 else TOO_LONG for line in lines]
    assert LineBuffer(50).receive_data(data) == expected
    assert bytewise(data, 50) == expected


# --- snapshot / restore ---------------------------------------------------------------
# A restart saves each client's unfinished line as JSON and restores it into a
# fresh LineBuffer in the new process; the stream must go on as if unbroken.


def via_json(buf: LineBuffer, limit: int = 8192) -> LineBuffer:
    """A fresh buffer restored from ``buf``'s snapshot after a trip through JSON text."""
    text = json.dumps(buf.snapshot())
    fresh = LineBuffer(limit)
    fresh.restore(json.loads(text))
    return fresh


def test_snapshot_of_a_partial_line_round_trips() -> None:
    buf = LineBuffer()
    assert buf.receive_data(b"done\r\nsay hel") == [b"done"]
    restored = via_json(buf)
    assert restored.buffered == len(b"say hel")
    assert restored.receive_data(b"lo\r\n") == [b"say hello"]


def test_snapshot_keeps_half_a_utf8_character() -> None:
    """The partial line ends inside a character: its first byte alone survives JSON exactly."""
    buf = LineBuffer()
    euro = "€".encode()  # three bytes
    assert buf.receive_data(b"price: 5" + euro[:1]) == []
    restored = via_json(buf)
    assert restored.receive_data(euro[1:] + b"\r\n") == [b"price: 5" + euro]


@pytest.mark.parametrize("follower", [b"\n", b"\0"])
def test_snapshot_keeps_a_pending_cr(follower: bytes) -> None:
    """A chunk ended with CR: the LF (or NUL) opening the next chunk, after the restore,
    still belongs to that ending and makes no empty line."""
    buf = LineBuffer()
    assert buf.receive_data(b"north\r") == [b"north"]
    restored = via_json(buf)
    assert restored.receive_data(follower + b"south\r\n") == [b"south"]
    # Without the pending CR, the same chunk really does start with an empty line.
    assert LineBuffer().receive_data(follower + b"south\r\n")[:1] != [b"south"]


def test_snapshot_keeps_skipping_an_over_long_line() -> None:
    """Mid-way through discarding an over-long line, the rest of it stays discarded."""
    buf = LineBuffer(10)
    assert buf.receive_data(b"x" * 25) == []
    restored = via_json(buf, limit=10)
    assert restored.buffered == 0
    # The tail of the long line is dropped, and the line reported once at its end.
    assert restored.receive_data(b"y" * 30 + b"\r\nok\r\n") == [TOO_LONG, b"ok"]


def test_restore_replaces_what_a_buffer_held() -> None:
    """Restoring onto a used buffer takes the saved state, not a mix of both."""
    saved = LineBuffer()
    saved.receive_data(b"saved")
    used = LineBuffer()
    used.receive_data(b"stale\r")
    used.restore(json.loads(json.dumps(saved.snapshot())))
    assert used.receive_data(b"\n") == [b"saved"]


def test_snapshot_of_an_idle_buffer() -> None:
    restored = via_json(LineBuffer())
    assert restored.buffered == 0
    assert restored.receive_data(b"\nx\n") == [b"", b"x"]


@settings(max_examples=300, deadline=None)
@given(
    data=streams,
    cut=st.integers(min_value=0, max_value=10_000),
    limit=st.sampled_from([1, 7, 50, 8192]),
)
def test_restart_anywhere_does_not_change_the_output(data: bytes, cut: int, limit: int) -> None:
    """Snapshot after any prefix, restore into a fresh buffer, feed the rest: same lines."""
    at = cut % (len(data) + 1)
    expected = LineBuffer(limit).receive_data(data)
    before = LineBuffer(limit)
    got = before.receive_data(data[:at])
    after = via_json(before, limit)
    got += after.receive_data(data[at:])
    assert got == expected
