"""The client role (protocols/telnet/client.py): what hubbub answers a server, byte for byte."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    BINARY,
    DO,
    DONT,
    ECHO,
    EOR,
    EOR_OPT,
    GA,
    GMCP,
    IAC,
    MCCP2,
    NAWS,
    NOP,
    SB,
    SE,
    SGA,
    TTYPE,
    WILL,
    WONT,
    Command,
    OptionChanged,
    Prompt,
    ProtocolError,
    TelnetProtocol,
    client_options,
)
from hubbub.protocols.telnet.client import ReportWindowSize

from .test_protocol import TTYPE_SEND, feed, neg, sb

NAWS_80X24 = bytes((IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE))
IS_HUBBUB = bytes((IAC, SB, TTYPE, 0)) + b"hubbub" + bytes((IAC, SE))


def make() -> TelnetProtocol:
    return TelnetProtocol(client_options())


def test_a_client_proposes_nothing() -> None:
    """start() queues no negotiation: a polite client only answers."""
    proto = make()
    proto.start()
    assert proto.data_to_send() == b""
    assert not proto.pending


def test_do_naws_is_answered_with_will_naws_and_80x24() -> None:
    proto = make()
    out, records, replies = feed(proto, neg(DO, NAWS))
    assert out == b""
    assert replies == neg(WILL, NAWS) + NAWS_80X24
    assert records == [OptionChanged(NAWS, local=True, enabled=True)]


def test_a_repeated_do_naws_gets_no_second_answer() -> None:
    """Already agreed: answering again would start a loop (RFC 1143)."""
    proto = make()
    feed(proto, neg(DO, NAWS))
    assert feed(proto, neg(DO, NAWS)) == (b"", [], b"")


def test_other_window_sizes_escape_255() -> None:
    """A 255 in the size is doubled on the wire."""
    proto = TelnetProtocol(
        client_options(width=255, height=0x1FF)
    )
    _, _, replies = feed(proto, neg(DO, NAWS))
    assert replies == neg(WILL, NAWS) + bytes((IAC, SB, NAWS, 0, IAC, IAC, 1, IAC, IAC, IAC, SE))
    with pytest.raises(ValueError, match="does not fit"):
        ReportWindowSize(70000, 24)


def test_do_ttype_then_send_is_answered_with_is_hubbub_every_time() -> None:
    """WILL TTYPE, then IS "hubbub" to each SEND: the repeat ends an MTTS cycle."""
    proto = make()
    _, records, replies = feed(proto, neg(DO, TTYPE))
    assert replies == neg(WILL, TTYPE)
    assert records == [OptionChanged(TTYPE, local=True, enabled=True)]
    assert feed(proto, TTYPE_SEND) == (b"", [], IS_HUBBUB)
    assert feed(proto, TTYPE_SEND + b"text") == (b"text", [], IS_HUBBUB)


def test_a_send_before_ttype_was_agreed_gets_no_answer() -> None:
    proto = make()
    assert feed(proto, TTYPE_SEND) == (b"", [], b"")


def test_a_ttype_subnegotiation_that_is_not_send_is_a_protocol_error() -> None:
    proto = make()
    feed(proto, neg(DO, TTYPE))
    out, records, replies = feed(proto, sb(TTYPE, b"\x00vt100") + b"ok")
    assert (out, replies) == (b"ok", b"")
    assert len(records) == 1 and isinstance(records[0], ProtocolError)


@pytest.mark.parametrize("option", [ECHO, SGA])
def test_will_echo_and_will_sga_are_accepted(option: int) -> None:
    proto = make()
    _, records, replies = feed(proto, neg(WILL, option))
    assert replies == neg(DO, option)
    assert records == [OptionChanged(option, local=False, enabled=True)]
    assert proto.remote_enabled(option)
    # The server turning it off again is acknowledged once.
    assert feed(proto, neg(WONT, option))[2] == neg(DONT, option)


@pytest.mark.parametrize("option", [BINARY, EOR_OPT, MCCP2, GMCP, NAWS, TTYPE, 200])
def test_every_other_will_is_refused(option: int) -> None:
    """The server offering anything else (or offering to do NAWS/TTYPE itself) gets DONT."""
    proto = make()
    assert feed(proto, neg(WILL, option)) == (b"", [], neg(DONT, option))
    assert feed(proto, neg(WILL, option)) == (b"", [], neg(DONT, option))  # still no, no loop


@pytest.mark.parametrize("option", [BINARY, ECHO, SGA, EOR_OPT, MCCP2, GMCP, 200])
def test_every_other_do_is_refused(option: int) -> None:
    """We echo nothing, suppress nothing and speak no MUD extension: WONT."""
    proto = make()
    assert feed(proto, neg(DO, option)) == (b"", [], neg(WONT, option))


def test_a_whole_server_greeting_in_one_packet() -> None:
    """What a hubbub or MUD listener sends first, answered in one reply in order."""
    proto = make()
    greeting = neg(DO, NAWS) + neg(DO, TTYPE) + neg(DO, BINARY) + neg(WILL, ECHO) + b"Hello"
    out, _, replies = feed(proto, greeting)
    assert out == b"Hello"
    assert replies == (
        neg(WILL, NAWS) + NAWS_80X24 + neg(WILL, TTYPE) + neg(WONT, BINARY) + neg(DO, ECHO)
    )


@pytest.mark.parametrize("mark", [GA, EOR])
def test_ga_and_eor_report_where_the_prompt_ended(mark: int) -> None:
    """IAC GA / IAC EOR become Prompt records at their place in the returned data."""
    proto = make()
    out, records, replies = feed(proto, b"HP 10> " + bytes((IAC, mark)) + b"You see")
    assert out == b"HP 10> You see"
    assert records == [Prompt(7)]
    assert replies == b""


def test_prompt_positions_count_unescaped_data_and_several_marks() -> None:
    proto = make()
    data = b"a\xff\xffb" + bytes((IAC, GA)) + bytes((IAC, NOP)) + b"cd" + bytes((IAC, EOR))
    out, records, _ = feed(proto, data)
    assert out == b"a\xffbcd"
    assert records == [Prompt(3), Command(NOP), Prompt(5)]


def test_a_mark_split_from_its_prompt_is_at_zero_of_its_own_packet() -> None:
    proto = make()
    assert feed(proto, b"Name: ") == (b"Name: ", [], b"")
    assert feed(proto, bytes((IAC,))) == (b"", [], b"")
    assert feed(proto, bytes((GA,)) + b"x") == (b"x", [Prompt(0)], b"")


def test_the_server_role_keeps_ga_as_a_command() -> None:
    """Only the client role reads GA as a prompt's end."""
    from hubbub.protocols.telnet import default_options

    proto = TelnetProtocol(default_options())
    assert feed(proto, b"x" + bytes((IAC, GA)))[:2] == (b"x", [Command(GA)])
