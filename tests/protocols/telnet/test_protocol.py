"""Tests for the sans-IO telnet state machine (hubbub.protocols.telnet)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.telnet import (
    AO,
    AYT,
    BRK,
    DM,
    DO,
    DONT,
    EC,
    ECHO,
    EL,
    EOR,
    GA,
    GMCP,
    IAC,
    IP,
    MCCP2,
    MSSP,
    NAWS,
    NOP,
    SB,
    SE,
    SGA,
    TTYPE,
    WILL,
    WONT,
    Command,
    Echo,
    Naws,
    OptionChanged,
    OptionSet,
    ProtocolError,
    Record,
    Sga,
    TelnetProtocol,
    TerminalType,
    Ttype,
    WindowSize,
    default_options,
    escape,
)

TTYPE_SEND = bytes((IAC, SB, TTYPE, 1, IAC, SE))


def make(max_subnegotiation: int = 1024) -> TelnetProtocol:
    """A machine with the server's options, BINARY left out (it has its own tests)."""
    return TelnetProtocol(
        OptionSet([Naws(), Ttype(), Echo(), Sga()]), max_subnegotiation=max_subnegotiation
    )


def neg(command: int, option: int) -> bytes:
    return bytes((IAC, command, option))


def sb(option: int, payload: bytes) -> bytes:
    return bytes((IAC, SB, option)) + escape(payload) + bytes((IAC, SE))


def naws(width: int, height: int) -> bytes:
    return sb(NAWS, width.to_bytes(2, "big") + height.to_bytes(2, "big"))


def ttype_is(name: bytes) -> bytes:
    return sb(TTYPE, b"\x00" + name)


def feed(proto: TelnetProtocol, data: bytes) -> tuple[bytes, list[Record], bytes]:
    """Give the machine data and collect (app data, records, replies)."""
    out = proto.receive_data(data)
    return out, proto.events_received(), proto.data_to_send()


# --------------------------------------------------------------------- data path


def test_plain_data_is_returned_without_copy() -> None:
    proto = make()
    data = b"look north\r\n"
    assert proto.receive_data(data) is data
    assert not proto.pending
    assert proto.events_received() == []
    assert proto.data_to_send() == b""


def test_empty_input() -> None:
    proto = make()
    assert proto.receive_data(b"") == b""
    assert proto.events_received() == []


def test_cr_lf_nul_pass_through_untouched() -> None:
    proto = make()
    assert proto.receive_data(b"a\r\0b\r\n\n\r") == b"a\r\0b\r\n\n\r"


def test_iac_iac_becomes_literal_ff() -> None:
    proto = make()
    out, events, replies = feed(proto, b"a\xff\xffb\xff\xff\xff\xff")
    assert out == b"a\xffb\xff\xff"
    assert events == []
    assert replies == b""


@pytest.mark.parametrize("command", [NOP, IP, BRK, GA, AO, DM, EOR, SE, 0, 13, 200, 238])
def test_simple_commands_are_stripped_and_reported(command: int) -> None:
    proto = make()
    out, events, replies = feed(proto, b"ab" + bytes((IAC, command)) + b"cd")
    assert out == b"abcd"
    assert events == [Command(command)]
    assert replies == b""


def test_negotiation_is_stripped_from_data() -> None:
    proto = make()
    out, _, replies = feed(proto, b"he" + neg(DO, MSSP) + b"ll" + neg(WONT, GMCP) + b"o")
    assert out == b"hello"
    assert replies == neg(WONT, MSSP)


def test_unknown_subnegotiation_is_consumed_silently() -> None:
    proto = make()
    out, events, replies = feed(proto, b"x" + sb(GMCP, b'Core.Hello {"a": 1}\xff') + b"y")
    assert out == b"xy"
    assert events == []
    assert replies == b""


def test_subnegotiation_for_option_255() -> None:
    # IAC SB IAC IAC ... is an escaped option byte 255, not a missing option.
    proto = make()
    out, events, _ = feed(proto, bytes((IAC, SB, IAC, IAC, 1, 2, IAC, SE)) + b"ok")
    assert out == b"ok"
    assert events == []


def test_records_accumulate_until_taken() -> None:
    proto = make()
    proto.receive_data(bytes((IAC, NOP)))
    proto.receive_data(bytes((IAC, GA)))
    assert proto.pending
    taken = proto.events_received()
    assert taken == [Command(NOP), Command(GA)]
    assert not proto.pending
    proto.receive_data(bytes((IAC, BRK)))
    assert proto.events_received() == [Command(BRK)]
    assert taken == [Command(NOP), Command(GA)]  # a list handed out is never changed


def test_are_you_there_is_answered_by_the_machine() -> None:
    proto = make()
    out, records, replies = feed(proto, b"a" + bytes((IAC, AYT)) + b"b")
    assert (out, records) == (b"ab", [])
    assert replies == b"\r\n[Yes]\r\n"


def test_erase_character_and_line_become_editing_keys_in_place() -> None:
    proto = make()
    out, records, _ = feed(proto, b"dorx" + bytes((IAC, EC)) + b"a " + bytes((IAC, EL)) + b"z")
    assert out == b"dorx\x08a \x15z"
    assert records == []


def test_escape() -> None:
    plain = b"no iac here"
    assert escape(plain) is plain
    assert escape(b"\xffa\xff\xff") == b"\xff\xffa\xff\xff\xff\xff"
    assert escape(b"") == b""


def test_data_to_send_clears_queue() -> None:
    proto = make()
    assert proto.data_to_send() == b""
    proto.request_remote(NAWS, True)
    assert proto.data_to_send() == neg(DO, NAWS)
    assert proto.data_to_send() == b""


# ------------------------------------------------------------------ negotiation


def test_initiate_offers() -> None:
    proto = make()
    proto.start()
    assert proto.data_to_send() == neg(DO, NAWS) + neg(DO, TTYPE)
    assert proto.events_received() == []  # nothing is enabled until the peer answers
    assert not proto.local_enabled(SGA)
    assert not proto.remote_enabled(NAWS)


def test_full_dialogue_after_initiate() -> None:
    proto = make()
    proto.start()
    proto.data_to_send()

    out, events, replies = feed(proto, neg(DO, SGA) + neg(WILL, NAWS) + neg(WILL, TTYPE))
    assert out == b""
    assert events == [
        OptionChanged(SGA, local=True, enabled=True),
        OptionChanged(NAWS, local=False, enabled=True),
        OptionChanged(TTYPE, local=False, enabled=True),
    ]
    # SGA was the peer's own request (we no longer offer it), so it gets a WILL;
    # answers to our requests are not re-acknowledged; then the TTYPE query.
    assert replies == neg(WILL, SGA) + TTYPE_SEND
    assert proto.local_enabled(SGA)
    assert proto.remote_enabled(NAWS)
    assert proto.remote_enabled(TTYPE)

    out, events, replies = feed(proto, naws(80, 24) + b"hi" + ttype_is(b"xterm-256color"))
    assert out == b"hi"
    assert events == [WindowSize(80, 24)]
    assert replies == TTYPE_SEND  # the MTTS cycle asks again
    _, events, replies = feed(proto, ttype_is(b"xterm-256color"))
    assert events == [TerminalType("xterm-256color", ("xterm-256color",))]
    assert replies == b""

    _, events, _ = feed(proto, naws(132, 50))
    assert events == [WindowSize(132, 50)]


def test_peer_initiated_offers_are_accepted() -> None:
    proto = make()
    _, events, replies = feed(proto, neg(WILL, NAWS))
    assert replies == neg(DO, NAWS)
    assert events == [OptionChanged(NAWS, local=False, enabled=True)]

    _, events, replies = feed(proto, neg(WILL, TTYPE))
    assert replies == neg(DO, TTYPE) + TTYPE_SEND
    assert events == [OptionChanged(TTYPE, local=False, enabled=True)]

    _, events, replies = feed(proto, neg(WILL, SGA) + neg(DO, SGA))
    assert replies == neg(DO, SGA) + neg(WILL, SGA)
    assert events == [
        OptionChanged(SGA, local=False, enabled=True),
        OptionChanged(SGA, local=True, enabled=True),
    ]


@pytest.mark.parametrize("option", [ECHO, GMCP, MCCP2, MSSP, 0, 99, 255])
def test_unknown_offers_are_refused(option: int) -> None:
    proto = make()
    _, events, replies = feed(proto, neg(WILL, option))
    assert replies == neg(DONT, option)
    assert events == []
    assert not proto.remote_enabled(option)


@pytest.mark.parametrize("option", [GMCP, MCCP2, MSSP, NAWS, TTYPE, 0, 255])
def test_unknown_demands_are_refused(option: int) -> None:
    proto = make()
    _, events, replies = feed(proto, neg(DO, option))
    assert replies == neg(WONT, option)
    assert events == []
    assert not proto.local_enabled(option)


def test_repeated_will_after_agreement_gets_no_reply() -> None:
    proto = make()
    feed(proto, neg(WILL, NAWS))
    out, events, replies = feed(proto, neg(WILL, NAWS) + neg(WILL, NAWS))
    assert (out, events, replies) == (b"", [], b"")
    assert proto.remote_enabled(NAWS)


def test_refusal_of_disabled_option_gets_no_reply() -> None:
    proto = make()
    out, events, replies = feed(proto, neg(DONT, ECHO) + neg(WONT, NAWS) + neg(DONT, GMCP))
    assert (out, events, replies) == (b"", [], b"")


def test_refused_request_is_not_reacknowledged() -> None:
    proto = make()
    proto.start()
    proto.data_to_send()
    _, events, replies = feed(proto, neg(WONT, NAWS) + neg(WONT, TTYPE) + neg(DONT, SGA))
    assert events == []
    assert replies == b""
    assert not proto.remote_enabled(NAWS)
    assert not proto.local_enabled(SGA)


def test_peer_disables_enabled_option() -> None:
    proto = make()
    feed(proto, neg(DO, SGA))
    _, events, replies = feed(proto, neg(DONT, SGA))
    assert replies == neg(WONT, SGA)
    assert events == [OptionChanged(SGA, local=True, enabled=False)]
    assert not proto.local_enabled(SGA)
    # And a second DONT is now a no-op.
    assert feed(proto, neg(DONT, SGA)) == (b"", [], b"")


def test_echo_request_accept_and_disable() -> None:
    proto = make()
    proto.request_local(ECHO, True)
    assert proto.data_to_send() == neg(WILL, ECHO)
    assert not proto.local_enabled(ECHO)

    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == b""  # the DO answers our WILL: no further reply
    assert events == [OptionChanged(ECHO, local=True, enabled=True)]
    assert proto.local_enabled(ECHO)

    proto.request_local(ECHO, False)
    assert proto.data_to_send() == neg(WONT, ECHO)
    # A WONT can't be refused, so the change is reported immediately.
    assert proto.events_received() == [OptionChanged(ECHO, local=True, enabled=False)]
    assert not proto.local_enabled(ECHO)

    assert feed(proto, neg(DONT, ECHO)) == (b"", [], b"")
    assert not proto.local_enabled(ECHO)


def test_unsolicited_do_echo_is_refused() -> None:
    proto = make()
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == neg(WONT, ECHO)
    assert events == []
    assert not proto.local_enabled(ECHO)


def test_dont_after_our_will_leaves_option_disabled() -> None:
    proto = make()
    proto.request_local(ECHO, True)
    proto.data_to_send()
    _, events, replies = feed(proto, neg(DONT, ECHO))
    assert (events, replies) == ([], b"")
    assert not proto.local_enabled(ECHO)


def test_redundant_requests_send_nothing() -> None:
    proto = make()
    proto.request_local(ECHO, False)
    proto.request_remote(NAWS, False)
    assert proto.data_to_send() == b""
    proto.request_local(ECHO, True)
    proto.request_local(ECHO, True)
    assert proto.data_to_send() == neg(WILL, ECHO)


def test_disable_while_wantyes_is_queued() -> None:
    proto = make()
    proto.request_local(ECHO, True)
    proto.request_local(ECHO, False)  # WANTYES + OPPOSITE: nothing more on the wire yet
    assert proto.data_to_send() == neg(WILL, ECHO)
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == neg(WONT, ECHO)
    assert events == []  # never reported enabled: we were already backing out
    assert feed(proto, neg(DONT, ECHO)) == (b"", [], b"")
    assert not proto.local_enabled(ECHO)


def test_enable_while_wantno_is_queued() -> None:
    proto = make()
    feed(proto, neg(WILL, NAWS))
    proto.request_remote(NAWS, False)
    assert proto.data_to_send() == neg(DONT, NAWS)
    proto.request_remote(NAWS, True)  # WANTNO + OPPOSITE
    assert proto.data_to_send() == b""
    proto.events_received()
    _, events, replies = feed(proto, neg(WONT, NAWS))
    assert replies == neg(DO, NAWS)
    assert events == []
    _, events, replies = feed(proto, neg(WILL, NAWS))
    assert replies == b""
    assert events == [OptionChanged(NAWS, local=False, enabled=True)]


def test_requesting_changes_acceptance_policy() -> None:
    proto = make()
    proto.request_local(ECHO, True)
    feed(proto, neg(DO, ECHO) + neg(DONT, ECHO))
    assert not proto.local_enabled(ECHO)
    # We still want ECHO, so a later DO ECHO from the peer is accepted.
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == neg(WILL, ECHO)
    assert events == [OptionChanged(ECHO, local=True, enabled=True)]

    proto.request_remote(NAWS, False)  # no longer interested in NAWS
    assert feed(proto, neg(WILL, NAWS))[2] == neg(DONT, NAWS)


def test_option_range_checks() -> None:
    proto = make()
    assert not proto.local_enabled(-1)
    assert not proto.remote_enabled(256)
    with pytest.raises(ValueError):
        proto.request_local(256, True)
    with pytest.raises(ValueError):
        proto.request_remote(-1, True)


# ------------------------------------------------------------- subnegotiations


def test_subnegotiation_without_option() -> None:
    proto = make()
    out, events, _ = feed(proto, bytes((IAC, SB, IAC, SE)) + b"next")
    assert out == b"next"
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)


def test_unterminated_subnegotiation_then_command() -> None:
    proto = make()
    stream = bytes((IAC, SB, NAWS, 0, 80)) + neg(WILL, TTYPE) + b"hello"
    out, events, replies = feed(proto, stream)
    assert out == b"hello"
    assert len(events) == 2
    assert isinstance(events[0], ProtocolError)
    assert events[1] == OptionChanged(TTYPE, local=False, enabled=True)
    assert replies == neg(DO, TTYPE) + TTYPE_SEND


def test_unterminated_subnegotiation_then_simple_command() -> None:
    proto = make()
    out, events, _ = feed(proto, bytes((IAC, SB, GMCP)) + b"abc" + bytes((IAC, NOP)) + b"x")
    assert out == b"x"
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [Command(NOP)]


def test_subnegotiation_without_option_then_command() -> None:
    proto = make()
    out, events, _ = feed(proto, bytes((IAC, SB, IAC, NOP)) + b"x")
    assert out == b"x"
    assert isinstance(events[0], ProtocolError)
    assert events[1:] == [Command(NOP)]


def test_subnegotiation_at_the_cap_is_accepted() -> None:
    proto = make(max_subnegotiation=4)
    _, events, _ = feed(proto, naws(300, 400))
    assert events == [WindowSize(300, 400)]


def test_oversize_subnegotiation_is_dropped_up_to_its_end() -> None:
    proto = make(max_subnegotiation=8)
    stream = (
        bytes((IAC, SB, GMCP))
        + b"12345678X tail \xff\xff still payload"
        + bytes((IAC, SE))
        + b"after"
    )
    out, events, replies = feed(proto, stream)
    # Nothing of the payload leaks into the data, and its IAC SE is no command.
    assert out == b"after"
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)
    assert "exceeded 8 bytes" in events[0].message
    assert replies == b""


def test_oversize_subnegotiation_never_closed_ends_at_the_next_command() -> None:
    proto = make(max_subnegotiation=8)
    stream = bytes((IAC, SB, GMCP)) + b"12345678X tail" + neg(WILL, NAWS) + b"more"
    out, events, replies = feed(proto, stream)
    assert out == b"more"
    assert [type(e) for e in events] == [ProtocolError, ProtocolError, OptionChanged]
    assert events[2] == OptionChanged(NAWS, local=False, enabled=True)
    assert replies == neg(DO, NAWS)


def test_oversize_subnegotiation_by_escaped_ff() -> None:
    proto = make(max_subnegotiation=3)
    out, events, _ = feed(proto, bytes((IAC, SB, GMCP, 1, 2, 3, IAC, IAC, 9, IAC, SE)) + b"ok")
    assert out == b"ok"
    assert len(events) == 1
    assert isinstance(events[0], ProtocolError)


def test_oversize_subnegotiation_fed_in_pieces() -> None:
    proto = make(max_subnegotiation=16)
    proto.receive_data(bytes((IAC, SB, GMCP)))
    errors = 0
    for _ in range(100):  # a peer that never ends its SB can't make us buffer forever
        assert proto.receive_data(b"x" * 10) == b""
        errors += sum(isinstance(e, ProtocolError) for e in proto.events_received())
    assert errors == 1
    assert proto.receive_data(b"\xff\xf0plain") == b"plain"


def test_byte_by_byte_matches_whole() -> None:
    stream = (
        b"hi\xff\xff"
        + neg(WILL, NAWS)
        + naws(255, 0xFF)
        + neg(WILL, TTYPE)
        + ttype_is(b"ansi")
        + bytes((IAC, SB, NAWS, 1))
        + neg(DO, ECHO)
        + bytes((IAC, NOP))
        + b"bye\r\n"
    )
    whole = make()
    expected = feed(whole, stream)
    split = make()
    parts = [feed(split, stream[i : i + 1]) for i in range(len(stream))]
    assert b"".join(p[0] for p in parts) == expected[0]
    assert [e for p in parts for e in p[1]] == expected[1]
    assert b"".join(p[2] for p in parts) == expected[2]


# ------------------------------------------------------------------- properties

OPTIONS = st.one_of(
    st.sampled_from([ECHO, SGA, TTYPE, NAWS, GMCP, MCCP2, MSSP]), st.integers(0, 255)
)

_plain = st.binary(max_size=20).map(lambda b: b.replace(b"\xff", b""))
_negotiation = st.builds(neg, st.sampled_from([WILL, WONT, DO, DONT]), OPTIONS)
_command = st.integers(0, 255).map(lambda c: bytes((IAC, c)))
_naws = st.builds(naws, st.integers(0, 0xFFFF), st.integers(0, 0xFFFF))
_naws_bad = st.binary(max_size=8).map(lambda p: sb(NAWS, p))
_ttype = st.binary(max_size=80).map(ttype_is)
_other_sb = st.builds(sb, OPTIONS, st.binary(max_size=40))
_garbage = st.sampled_from(
    [
        b"\xff",
        bytes((IAC, SB)),
        bytes((IAC, SB, IAC, SE)),
        bytes((IAC, SB, NAWS, 0, 80)),
        bytes((IAC, SB, GMCP)),
        bytes((IAC, SE)),
        bytes((IAC, SB, IAC, IAC)),
        bytes((IAC, WILL)),
    ]
)
_piece = st.one_of(
    _plain,
    st.just(b"\xff\xff"),
    _negotiation,
    _command,
    _naws,
    _naws_bad,
    _ttype,
    _other_sb,
    _garbage,
    st.binary(max_size=30),
)
STREAMS = st.lists(_piece, max_size=30).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=2000), cap=st.integers(0, 64))
def test_random_bytes_never_raise(data: bytes, cap: int) -> None:
    proto = make(max_subnegotiation=cap)
    proto.start()
    out = proto.receive_data(data)
    assert len(out) <= len(data)
    proto.data_to_send()


@settings(max_examples=300, deadline=None)
@given(stream=STREAMS, cap=st.integers(0, 80), initiate=st.booleans(), data=st.data())
def test_splitting_never_changes_the_result(
    stream: bytes, cap: int, initiate: bool, data: st.DataObject
) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=12).map(sorted), label="cuts")

    whole = make(max_subnegotiation=cap)
    split = make(max_subnegotiation=cap)
    if initiate:
        whole.start()
        split.start()
    out_whole = whole.receive_data(stream)
    assert len(out_whole) <= len(stream)

    bounds = [0, *cuts, len(stream)]
    outs: list[bytes] = []
    sent: list[bytes] = []
    records: list[Record] = []
    for lo, hi in itertools.pairwise(bounds):
        outs.append(split.receive_data(stream[lo:hi]))
        sent.append(split.data_to_send())
        records += split.events_received()

    assert b"".join(outs) == out_whole
    assert records == whole.events_received()
    assert b"".join(sent) == whole.data_to_send()
    for option in range(256):
        assert split.local_enabled(option) == whole.local_enabled(option)
        assert split.remote_enabled(option) == whole.remote_enabled(option)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=500))
def test_escape_round_trips(payload: bytes) -> None:
    proto = make()
    assert proto.receive_data(escape(payload)) == payload
    assert proto.events_received() == []
    assert proto.data_to_send() == b""


_request = st.tuples(st.booleans(), st.booleans(), OPTIONS, st.booleans())


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(_request, st.booleans()), max_size=25))
def test_two_peers_never_loop_and_agree(
    steps: list[tuple[tuple[bool, bool, int, bool], bool]],
) -> None:
    """Two instances wired back to back: negotiation always settles, and both sides agree."""
    a = make()
    b = make()
    a.start()
    b.start()

    def pump(limit: int) -> int:
        rounds = 0
        while True:
            to_b, to_a = a.data_to_send(), b.data_to_send()
            if not to_a and not to_b:
                return rounds
            rounds += 1
            assert rounds <= limit, "negotiation did not settle"
            b.receive_data(to_b)
            a.receive_data(to_a)

    for (use_a, local, option, enabled), deliver in steps:
        proto = a if use_a else b
        if local:
            proto.request_local(option, enabled)
        else:
            proto.request_remote(option, enabled)
        if deliver:  # otherwise requests pile up and cross on the wire
            pump(8)
    pump(8)
    for option in range(256):
        assert a.local_enabled(option) == b.remote_enabled(option)
        assert a.remote_enabled(option) == b.local_enabled(option)


_EVERY_OPTION = sorted(default_options().by_code)


@pytest.mark.parametrize("option", _EVERY_OPTION)
def test_oversize_subnegotiation_of_every_option_is_dropped_whole(option: int) -> None:
    proto = TelnetProtocol(default_options(), max_subnegotiation=64)
    out, events, replies = feed(proto, b"a" + sb(option, b"\x00" + b"x" * 200) + b"b")
    assert (out, replies) == (b"ab", b"")
    [error] = events
    assert isinstance(error, ProtocolError) and "exceeded" in error.message


@pytest.mark.parametrize("option", _EVERY_OPTION)
def test_truncated_subnegotiation_of_every_option_is_an_error(option: int) -> None:
    """An SB cut short by another command: an error, and the command still counts."""
    proto = TelnetProtocol(default_options())
    out, events, _ = feed(proto, b"a" + bytes((IAC, SB, option, 0, 1)) + bytes((IAC, NOP)) + b"b")
    assert out == b"ab"
    assert isinstance(events[0], ProtocolError) and "unterminated" in events[0].message
    assert events[1:] == [Command(NOP)]
