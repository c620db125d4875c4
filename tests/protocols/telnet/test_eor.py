"""EOR (option 25) and the prompt mark, sans-IO: which bytes end a prompt."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    EOR,
    EOR_OPT,
    GA,
    IAC,
    SGA,
    WILL,
    WONT,
    TelnetProtocol,
    default_options,
    prompt_mark,
)

from .test_protocol import feed, neg

EOR_MARK = bytes((IAC, EOR))
GA_MARK = bytes((IAC, GA))


def server(*answers: bytes) -> TelnetProtocol:
    proto = TelnetProtocol(default_options())
    proto.start()
    assert neg(WILL, EOR_OPT) in proto.data_to_send()  # offered at connect
    for answer in answers:
        feed(proto, answer)
    return proto


@pytest.mark.parametrize(
    ("answers", "how", "mark"),
    [
        ((neg(DO, EOR_OPT),), "auto", EOR_MARK),  # Mudlet, TinTin++, MUSHclient
        ((neg(DONT, EOR_OPT),), "auto", GA_MARK),  # the stock telnet client
        ((), "auto", GA_MARK),  # no answer yet
        ((neg(DONT, EOR_OPT), neg(DO, SGA)), "auto", b""),  # go-aheads suppressed
        ((neg(DONT, EOR_OPT), neg(WILL, SGA)), "auto", b""),
        ((neg(DO, EOR_OPT), neg(DO, SGA)), "auto", EOR_MARK),
        ((neg(DO, EOR_OPT),), "ga", GA_MARK),
        ((neg(DONT, EOR_OPT),), "eor", b""),
        ((neg(DO, EOR_OPT),), "eor", EOR_MARK),
        ((neg(DO, EOR_OPT),), "none", b""),
    ],
)
def test_the_mark(answers: tuple[bytes, ...], how: str, mark: bytes) -> None:
    assert prompt_mark(server(*answers), how) == mark


def test_a_late_dont_eor_falls_back_to_ga() -> None:
    proto = server(neg(DO, EOR_OPT))
    assert prompt_mark(proto) == EOR_MARK
    _, _, reply = feed(proto, neg(DONT, EOR_OPT))
    assert reply == neg(WONT, EOR_OPT)  # the change acknowledged
    assert prompt_mark(proto) == GA_MARK
