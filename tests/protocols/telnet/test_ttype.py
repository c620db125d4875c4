"""TTYPE (option 24, RFC 1091) and the MTTS cycle: real clients' answers, bad answers."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    MCCP2,
    TTYPE,
    WILL,
    WONT,
    OptionChanged,
    OptionSet,
    ProtocolError,
    TelnetProtocol,
    TerminalType,
    Ttype,
)
from hubbub.protocols.telnet.option import Option
from hubbub.protocols.telnet.ttype import MAX_REQUESTS, cycle_over, mtts_of

from .test_protocol import TTYPE_SEND, feed, make, neg, sb, ttype_is


def agreed() -> TelnetProtocol:
    """A machine whose peer agreed to TTYPE and was sent the first SEND."""
    proto = make()
    proto.start()
    proto.data_to_send()
    _, _, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == TTYPE_SEND
    return proto


def answer(proto: TelnetProtocol, *names: bytes) -> tuple[list[object], int]:
    """Answer SENDs with ``names`` in turn; return the records and how many SENDs came."""
    records: list[object] = []
    sends = 0
    for name in names:
        _, events, replies = feed(proto, ttype_is(name))
        records += events
        assert replies in (b"", TTYPE_SEND)
        sends += replies == TTYPE_SEND
    return records, sends


def test_ttype_is_asked_for_at_start_and_send_follows_agreement() -> None:
    """DO TTYPE at start; SEND only once the peer agreed (WILL), never before."""
    proto = make()
    proto.start()
    assert TTYPE_SEND not in proto.data_to_send()
    _, events, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == TTYPE_SEND
    assert events == [OptionChanged(TTYPE, local=False, enabled=True)]


def test_mudlet_cycle_wraps_to_its_first_name() -> None:
    """Mudlet: MUDLET, ANSI-TRUECOLOR, MTTS 2831, then MUDLET again: the wrap ends it."""
    proto = agreed()
    records, sends = answer(proto, b"MUDLET", b"ANSI-TRUECOLOR", b"MTTS 2831", b"MUDLET")
    assert sends == 3  # four requests in all, counting the first
    assert records == [TerminalType("MUDLET", ("MUDLET", "ANSI-TRUECOLOR", "MTTS 2831"), 2831)]
    assert cycle_over(proto)


def test_tintin_repeats_its_last_name() -> None:
    """TinTin++ and MUSHclient repeat the last answer: the repeat ends the cycle."""
    proto = agreed()
    records, sends = answer(proto, b"TINTIN++", b"XTERM-256COLOR", b"MTTS 2829", b"MTTS 2829")
    assert sends == 3
    assert records == [TerminalType("TINTIN++", ("TINTIN++", "XTERM-256COLOR", "MTTS 2829"), 2829)]


def test_a_client_with_one_name_is_asked_twice() -> None:
    """The stock telnet client answers the same name each time: two requests."""
    proto = agreed()
    records, sends = answer(proto, b"XTERM", b"XTERM")
    assert sends == 1
    assert records == [TerminalType("XTERM", ("XTERM",), None)]


def test_at_most_four_requests() -> None:
    """A client that never repeats is asked four times, no more."""
    proto = agreed()
    records, sends = answer(proto, b"A", b"B", b"C", b"D")
    assert sends == MAX_REQUESTS - 1
    assert records == [TerminalType("A", ("A", "B", "C", "D"), None)]
    assert feed(proto, ttype_is(b"E")) == (b"", [], b"")  # late answers are ignored


@pytest.mark.parametrize(
    ("name", "bits"),
    [("MTTS 137", 137), ("MTTS64", 64), ("mtts 9", 9), ("MTTS", None), ("MTTS x", None)],
)
def test_mtts_names(name: str, bits: int | None) -> None:
    """``MTTS n`` gives the bitvector; ``MTTS64`` without the space too."""
    assert mtts_of(name) == bits


def test_mtts64_without_the_space_in_a_cycle() -> None:
    proto = agreed()
    records, _ = answer(proto, b"BLIND-CLIENT", b"MTTS64", b"MTTS64")
    assert records == [TerminalType("BLIND-CLIENT", ("BLIND-CLIENT", "MTTS64"), 64)]


def test_refused_ttype_is_never_asked_for_and_ends_the_cycle() -> None:
    """A peer answering WONT TTYPE gets no SEND and no reply; the cycle is over."""
    proto = make()
    proto.start()
    proto.data_to_send()
    assert not cycle_over(proto)
    assert feed(proto, neg(WONT, TTYPE)) == (b"", [], b"")
    assert cycle_over(proto)


def test_wont_mid_cycle_ends_it_with_what_was_said() -> None:
    proto = agreed()
    answer(proto, b"MUDLET")
    _, events, replies = feed(proto, neg(WONT, TTYPE))
    assert replies == neg(DONT, TTYPE)
    assert events == [
        OptionChanged(TTYPE, local=False, enabled=False),
        TerminalType("MUDLET", ("MUDLET",), None),
    ]


def test_repeated_will_ttype_asks_only_once() -> None:
    """A repeated WILL is already agreed: no second DO, no second SEND."""
    proto = make()
    _, _, replies = feed(proto, neg(WILL, TTYPE) + neg(WILL, TTYPE))
    assert replies == neg(DO, TTYPE) + TTYPE_SEND


def test_ttype_reenable_starts_a_new_cycle() -> None:
    """Off and on again is a new agreement, so the names are asked for again."""
    proto = agreed()
    answer(proto, b"XTERM", b"XTERM")
    feed(proto, neg(WONT, TTYPE))
    _, events, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == neg(DO, TTYPE) + TTYPE_SEND
    assert events == [OptionChanged(TTYPE, local=False, enabled=True)]
    records, _ = answer(proto, b"VT100", b"VT100")
    assert records == [TerminalType("VT100", ("VT100",), None)]


def test_an_answer_nobody_asked_for_is_ignored() -> None:
    assert feed(make(), ttype_is(b"XTERM")) == (b"", [], b"")


def test_ttype_name_is_sanitised() -> None:
    """Control characters and non-ASCII bytes are removed, surrounding blanks stripped."""
    records, _ = answer(agreed(), b"  XTERM\x1b[31m\xe9\x00 ", b"XTERM[31m")
    assert records == [TerminalType("XTERM[31m", ("XTERM[31m",), None)]


def test_ttype_name_is_truncated() -> None:
    """A name is at most 64 characters, whatever the peer sends."""
    records, _ = answer(agreed(), b"A" * 200, b"A" * 64)
    assert records == [TerminalType("A" * 64, ("A" * 64,), None)]


def test_ttype_name_with_ff_byte() -> None:
    """An escaped 0xFF in the name is unescaped, then dropped as non-ASCII."""
    records, _ = answer(agreed(), b"vt\xff100", b"vt100")
    assert records == [TerminalType("vt100", ("vt100",), None)]


@pytest.mark.parametrize("payload", [b"", b"\x01", b"\x02vt100"])
def test_bad_ttype_subnegotiation_is_an_error(payload: bytes) -> None:
    """Not ``IS <name>``: one protocol error, nothing else; the cycle goes on."""
    proto = agreed()
    out, events, replies = feed(proto, sb(TTYPE, payload) + b"ok")
    assert out == b"ok"
    assert replies == b""
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)
    assert "TTYPE" in events[0].message
    assert not cycle_over(proto)


@pytest.mark.parametrize("payload", [b"\x00", b"\x00 \x01 "])
def test_an_empty_name_is_an_error_and_ends_the_cycle(payload: bytes) -> None:
    proto = agreed()
    answer(proto, b"XTERM")
    _, events, replies = feed(proto, sb(TTYPE, payload))
    assert replies == b""  # no more requests: a client answering nothing is not asked again
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [TerminalType("XTERM", ("XTERM",), None)]


class Waiter(Option):
    """An option that waits for the cycle, as MCCP2 does."""

    code = MCCP2
    name = "WAITER"

    def terminal_known(self, proto: TelnetProtocol) -> None:
        proto.send(b"<go>")


@pytest.mark.parametrize(
    "ending",
    [ttype_is(b"X") + ttype_is(b"X"), neg(WONT, TTYPE)],
    ids=["repeat", "refused"],
)
def test_options_are_told_when_the_cycle_is_over(ending: bytes) -> None:
    proto = TelnetProtocol(OptionSet([Ttype(), Waiter()]))
    proto.start()
    proto.data_to_send()
    if ending.startswith(ttype_is(b"X")):
        feed(proto, neg(WILL, TTYPE))
    out = b""
    for byte in ending:  # byte by byte: splitting changes nothing
        out += feed(proto, bytes([byte]))[2]
    assert out.endswith(b"<go>")
    assert out.count(b"<go>") == 1


def test_without_ttype_the_cycle_is_over_from_the_start() -> None:
    assert cycle_over(TelnetProtocol(OptionSet([Waiter()])))
