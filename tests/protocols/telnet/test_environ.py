"""NEW-ENVIRON (option 39, RFC 1572) as MUD clients speak it (MNES), byte for byte."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    NEW_ENVIRON,
    WILL,
    Environ,
    NewEnviron,
    OptionSet,
    ProtocolError,
    TelnetProtocol,
)
from hubbub.protocols.telnet.environ import (
    ASKED,
    ESC,
    INFO,
    IS,
    MAX_REQUEST,
    SEND,
    USERVAR,
    VALUE,
    VAR,
    requests,
)

from .test_protocol import feed, neg, sb


def agreed() -> tuple[TelnetProtocol, bytes]:
    proto = TelnetProtocol(OptionSet([NewEnviron()]))
    proto.start()
    assert proto.data_to_send() == neg(DO, NEW_ENVIRON)
    _, _, replies = feed(proto, neg(WILL, NEW_ENVIRON))
    return proto, replies


def variables(*pairs: tuple[int, bytes, bytes | None]) -> bytes:
    out = b""
    for kind, name, value in pairs:
        out += bytes((kind,)) + name
        if value is not None:
            out += bytes((VALUE,)) + value
    return out


def test_agreement_asks_for_the_mnes_variables_in_small_requests() -> None:
    _, replies = agreed()
    expected = b"".join(sb(NEW_ENVIRON, payload) for payload in requests(ASKED))
    assert replies == expected
    payloads = requests(ASKED)
    assert len(payloads) > 1  # split: clients with 256-byte buffers exist
    assert all(len(p) <= MAX_REQUEST and p[0] == SEND for p in payloads)
    asked = b"".join(p[1:] for p in payloads)
    for kind, name in ASKED:
        assert bytes((kind,)) + name.encode() in asked
    assert bytes((USERVAR,)) + b"SCREEN_READER" in asked
    v = bytes((VAR,))
    assert payloads == [
        bytes((SEND,))
        + v
        + b"CLIENT_NAME"
        + v
        + b"CLIENT_VERSION"
        + v
        + b"CHARSET"
        + v
        + b"MTTS"
        + v
        + b"TERMINAL_TYPE",
        bytes((SEND,)) + v + b"IPADDRESS" + bytes((USERVAR,)) + b"SCREEN_READER",
    ]


def test_requests_never_split_a_name() -> None:
    payloads = requests([(VAR, "A" * 40), (VAR, "B" * 40), (VAR, "C")], limit=50)
    assert payloads == [
        bytes((SEND, VAR)) + b"A" * 40,
        bytes((SEND, VAR)) + b"B" * 40 + bytes((VAR,)) + b"C",
    ]


def test_mudlet_answer_and_info_update() -> None:
    proto, _ = agreed()
    answer = bytes((IS,)) + variables(
        (VAR, b"CLIENT_NAME", b"MUDLET"),
        (VAR, b"CLIENT_VERSION", b"4.17.2"),
        (VAR, b"CHARSET", b"UTF-8"),
        (VAR, b"MTTS", b"2831"),
        (VAR, b"IPADDRESS", None),  # not known: left out
        (USERVAR, b"SCREEN_READER", b"0"),
    )
    _, events, replies = feed(proto, sb(NEW_ENVIRON, answer))
    assert replies == b""
    assert events == [
        Environ(
            {
                "CLIENT_NAME": "MUDLET",
                "CLIENT_VERSION": "4.17.2",
                "CHARSET": "UTF-8",
                "MTTS": "2831",
                "SCREEN_READER": "0",
            }
        )
    ]
    update = bytes((INFO,)) + variables((USERVAR, b"SCREEN_READER", b"1"))
    _, events, _ = feed(proto, sb(NEW_ENVIRON, update))
    assert events == [Environ({"SCREEN_READER": "1"}, update=True)]


def test_escaped_bytes_and_empty_values() -> None:
    proto, _ = agreed()
    name = b"WEIRD" + bytes((ESC, VAR)) + b"NAME"
    answer = bytes((IS,)) + variables(
        (VAR, name, b"a" + bytes((ESC, VALUE)) + b"b"), (VAR, b"E", b"")
    )
    _, events, _ = feed(proto, sb(NEW_ENVIRON, answer))
    # the escaped control bytes are kept as data, then dropped as unprintable;
    # an empty value says nothing (telnetlib3 answers so for what it does not know)
    assert events == [Environ({"WEIRDNAME": "ab"})]


def test_names_and_values_are_bounded_and_printable() -> None:
    proto, _ = agreed()
    answer = bytes((IS,)) + variables((VAR, b"N" * 300, b"v\x1b[31m" + b"x" * 600))
    _, events, _ = feed(proto, sb(NEW_ENVIRON, answer))
    [record] = events
    assert isinstance(record, Environ)
    [(name, value)] = record.variables.items()
    assert name == "N" * 64
    assert value.startswith("v[31m") and len(value) == 256


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"", "empty"),
        (bytes((7,)), "kind 7"),
        (bytes((IS, VALUE)) + b"x", "VALUE before"),
        (bytes((IS,)) + b"text", "text before"),
        (bytes((IS, VAR)) + b"A" + bytes((ESC,)), "ESC at the end"),
        (bytes((IS, ESC)) + b"A", "ESC before"),
    ],
)
def test_malformed_answers_are_errors(payload: bytes, why: str) -> None:
    proto, _ = agreed()
    out, events, replies = feed(proto, sb(NEW_ENVIRON, payload) + b"ok")
    assert (out, replies) == (b"ok", b"")
    [error] = events
    assert isinstance(error, ProtocolError)
    assert why in error.message


def test_a_client_asking_us_gets_nothing() -> None:
    proto, _ = agreed()
    assert feed(proto, sb(NEW_ENVIRON, bytes((SEND, VAR)) + b"USER")) == (b"", [], b"")
