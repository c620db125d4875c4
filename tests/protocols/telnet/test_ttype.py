"""TTYPE (option 24, RFC 1091): asking the peer for its terminal name, and bad answers."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    TTYPE,
    WILL,
    WONT,
    OptionChanged,
    ProtocolError,
    TerminalType,
)

from .test_protocol import TTYPE_SEND, feed, make, neg, sb, ttype_is


def test_ttype_is_asked_for_at_start_and_send_follows_agreement() -> None:
    """DO TTYPE at start; SEND only once the peer agreed (WILL), never before."""
    proto = make()
    proto.start()
    assert TTYPE_SEND not in proto.data_to_send()
    _, events, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == TTYPE_SEND
    assert events == [OptionChanged(TTYPE, local=False, enabled=True)]
    assert feed(proto, ttype_is(b"MUDLET"))[1] == [TerminalType("MUDLET")]


def test_refused_ttype_is_never_asked_for() -> None:
    """A peer answering WONT TTYPE gets no SEND and no reply."""
    proto = make()
    proto.start()
    proto.data_to_send()
    assert feed(proto, neg(WONT, TTYPE)) == (b"", [], b"")


def test_repeated_will_ttype_asks_only_once() -> None:
    """A repeated WILL is already agreed: no second DO, no second SEND."""
    proto = make()
    _, _, replies = feed(proto, neg(WILL, TTYPE) + neg(WILL, TTYPE))
    assert replies == neg(DO, TTYPE) + TTYPE_SEND


def test_ttype_reenable_asks_again() -> None:
    """Off and on again is a new agreement, so the name is asked for again."""
    proto = make()
    feed(proto, neg(WILL, TTYPE))
    _, events, replies = feed(proto, neg(WONT, TTYPE))
    assert replies == neg(DONT, TTYPE)
    assert events == [OptionChanged(TTYPE, local=False, enabled=False)]
    _, events, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == neg(DO, TTYPE) + TTYPE_SEND
    assert events == [OptionChanged(TTYPE, local=False, enabled=True)]


def test_ttype_name_is_sanitised() -> None:
    """Control characters and non-ASCII bytes are removed, surrounding blanks stripped."""
    proto = make()
    _, events, _ = feed(proto, ttype_is(b"  XTERM\x1b[31m\xe9\x00 "))
    assert events == [TerminalType("XTERM[31m")]


def test_ttype_name_is_truncated() -> None:
    """A name is at most 64 characters, whatever the peer sends."""
    proto = make()
    _, events, _ = feed(proto, ttype_is(b"A" * 200))
    assert events == [TerminalType("A" * 64)]


def test_ttype_name_with_ff_byte() -> None:
    """An escaped 0xFF in the name is unescaped, then dropped as non-ASCII."""
    proto = make()
    _, events, _ = feed(proto, ttype_is(b"vt\xff100"))
    assert events == [TerminalType("vt100")]


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x02vt100", b"\x00", b"\x00 \x01 "])
def test_bad_ttype_subnegotiation_is_an_error(payload: bytes) -> None:
    """Not ``IS <name>``, or an empty name: one protocol error, no TerminalType."""
    proto = make()
    out, events, _ = feed(proto, sb(TTYPE, payload) + b"ok")
    assert out == b"ok"
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)
    assert "TTYPE" in events[0].message
