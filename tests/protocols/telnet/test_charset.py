"""CHARSET (option 42, RFC 2066), sans-IO: UTF-8 asked for, accepted, or refused."""

from __future__ import annotations

from hubbub.protocols.telnet import (
    CHARSET,
    DO,
    WILL,
    CharsetAccepted,
    ProtocolError,
    TelnetProtocol,
    default_options,
)
from hubbub.protocols.telnet.charset import ACCEPTED, REJECTED, REQUEST

from .test_protocol import feed, neg, sb


def agreed() -> TelnetProtocol:
    proto = TelnetProtocol(default_options())
    proto.start()
    assert neg(WILL, CHARSET) in proto.data_to_send()
    _, _, replies = feed(proto, neg(DO, CHARSET))
    assert replies == sb(CHARSET, bytes([REQUEST]) + b";UTF-8")  # asked at once
    return proto


def test_accepted_utf8_is_a_record() -> None:
    proto = agreed()
    _, records, _ = feed(proto, sb(CHARSET, bytes([ACCEPTED]) + b"UTF-8"))
    assert records == [CharsetAccepted("UTF-8")]


def test_rejected_changes_nothing() -> None:
    proto = agreed()
    assert feed(proto, sb(CHARSET, bytes([REJECTED]))) == (b"", [], b"")


def test_accepted_something_not_asked_is_an_error() -> None:
    proto = agreed()
    _, records, _ = feed(proto, sb(CHARSET, bytes([ACCEPTED]) + b"KOI8-R"))
    assert len(records) == 1 and isinstance(records[0], ProtocolError)


def test_a_clients_own_request() -> None:
    proto = agreed()
    _, records, replies = feed(proto, sb(CHARSET, bytes([REQUEST]) + b" ISO-8859-1 utf-8"))
    assert records == [CharsetAccepted("UTF-8")]
    assert replies == sb(CHARSET, bytes([ACCEPTED]) + b"UTF-8")
    _, records, replies = feed(proto, sb(CHARSET, bytes([REQUEST]) + b";KOI8-R;CP1251"))
    assert (records, replies) == ([], sb(CHARSET, bytes([REJECTED])))


def test_malformed_subnegotiations() -> None:
    proto = agreed()
    for payload in (b"", bytes([REQUEST]), bytes([9]) + b"x"):
        _, records, _ = feed(proto, sb(CHARSET, payload))
        assert records and isinstance(records[0], ProtocolError), payload
