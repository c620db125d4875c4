"""NAWS (option 31, RFC 1073): the window size the peer reports, and malformed reports."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    IAC,
    NAWS,
    SB,
    SE,
    WILL,
    WONT,
    OptionChanged,
    ProtocolError,
    WindowSize,
)

from .test_protocol import feed, make, naws, neg, sb


def test_naws_is_asked_for_at_start() -> None:
    """The server proposes DO NAWS itself: window sizes are wanted from every client."""
    proto = make()
    proto.start()
    assert neg(DO, NAWS) in proto.data_to_send()


def test_every_report_is_a_window_size_including_resizes() -> None:
    """Each SB NAWS is one record, so a resize later in the session is seen too."""
    proto = make()
    proto.start()
    proto.data_to_send()
    _, records, replies = feed(proto, neg(WILL, NAWS) + naws(80, 24))
    assert records == [OptionChanged(NAWS, local=False, enabled=True), WindowSize(80, 24)]
    assert replies == b""  # WILL answers our DO: no reply
    assert feed(proto, naws(200, 60))[1] == [WindowSize(200, 60)]
    assert feed(proto, naws(0, 0))[1] == [WindowSize(0, 0)]  # 0: unknown, still reported


@pytest.mark.parametrize(
    ("width", "height"), [(255, 24), (80, 255), (0xFFFF, 0xFF00), (0x01FF, 0xFF01), (0, 0)]
)
def test_naws_with_ff_bytes(width: int, height: int) -> None:
    """A 255 byte in the size is sent doubled (IAC IAC) and read back as one byte."""
    proto = make()
    data = naws(width, height)
    assert data.count(b"\xff\xff") >= 1 or (width, height) == (0, 0)
    out, events, _ = feed(proto, data + b"after")
    assert out == b"after"
    assert events == [WindowSize(width, height)]


def test_naws_literal_width_255_bytes() -> None:
    """The escaped form on the wire, spelled out byte by byte."""
    proto = make()
    raw = bytes((IAC, SB, NAWS, 0, IAC, IAC, 0, 24, IAC, SE))
    assert feed(proto, raw)[1] == [WindowSize(255, 24)]


@pytest.mark.parametrize("payload", [b"", b"\x00\x50", b"\x00\x50\x00", b"\x00\x50\x00\x18\x00"])
def test_naws_wrong_length_is_an_error(payload: bytes) -> None:
    """Anything but four bytes is one protocol error, no WindowSize, and the data goes on."""
    proto = make()
    out, events, _ = feed(proto, sb(NAWS, payload) + b"ok")
    assert out == b"ok"
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)
    assert "NAWS" in events[0].message


def test_naws_split_across_packets() -> None:
    """A report cut anywhere still gives exactly one WindowSize."""
    data = naws(0x1FF, 0xFF)
    for cut in range(1, len(data)):
        proto = make()
        first = feed(proto, data[:cut])
        second = feed(proto, data[cut:] + b"x")
        assert first[0] + second[0] == b"x"
        assert first[1] + second[1] == [WindowSize(0x1FF, 0xFF)]


def test_peer_switching_naws_off_and_on() -> None:
    """WONT NAWS is acknowledged once; a later WILL NAWS is agreed again."""
    proto = make()
    feed(proto, neg(WILL, NAWS))
    _, events, replies = feed(proto, neg(WONT, NAWS))
    assert replies == neg(DONT, NAWS)
    assert events == [OptionChanged(NAWS, local=False, enabled=False)]
    assert not proto.remote_enabled(NAWS)
    _, events, replies = feed(proto, neg(WILL, NAWS))
    assert replies == neg(DO, NAWS)
    assert events == [OptionChanged(NAWS, local=False, enabled=True)]
