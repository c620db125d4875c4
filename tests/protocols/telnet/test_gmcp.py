"""GMCP (option 201), sans-IO: offered at start, messages parsed, Core.Supports kept."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.telnet import (
    DO,
    GMCP,
    WILL,
    GmcpMessage,
    ProtocolError,
    TelnetProtocol,
    default_options,
)
from hubbub.protocols.telnet.gmcp import encode, supports

from .test_protocol import feed, neg, sb


def agreed() -> TelnetProtocol:
    proto = TelnetProtocol(default_options(), max_subnegotiation=8192)
    proto.start()
    assert neg(WILL, GMCP) in proto.data_to_send()
    feed(proto, neg(DO, GMCP))
    assert proto.local_enabled(GMCP)
    return proto


def test_messages_with_and_without_data() -> None:
    proto = agreed()
    _, records, _ = feed(proto, sb(GMCP, b'Char.Vitals {"hp": 7, "name": "\xc3\xa9"}'))
    assert records == [GmcpMessage("Char.Vitals", {"hp": 7, "name": "é"})]
    _, records, _ = feed(proto, sb(GMCP, b"Core.Ping"))
    assert records == [GmcpMessage("Core.Ping", None)]
    data, records, _ = feed(proto, b"look\r\n" + sb(GMCP, b"Core.Goodbye  ") + b"x")
    assert (data, records) == (b"look\r\nx", [GmcpMessage("Core.Goodbye", None, at=6)])


def test_malformed_messages_are_protocol_errors() -> None:
    proto = agreed()
    for payload in (b'Char.Vitals {"hp": ', b"", b" {}", b"\x01\x02 1", b"Char nonsense"):
        _, records, _ = feed(proto, sb(GMCP, payload))
        assert len(records) == 1 and isinstance(records[0], ProtocolError), payload
    _, records, _ = feed(proto, sb(GMCP, b"Core.Ping"))
    assert records == [GmcpMessage("Core.Ping", None)]  # and the machine carries on


def test_core_supports_set_add_remove() -> None:
    proto = agreed()
    feed(proto, sb(GMCP, b'Core.Supports.Set ["Char 1", "Room 1"]'))
    assert supports(proto) == ["Char 1", "Room 1"]
    feed(proto, sb(GMCP, b'core.supports.add ["Comm.Channel 1", "Char 2"]'))
    assert supports(proto) == ["Room 1", "Comm.Channel 1", "Char 2"]
    feed(proto, sb(GMCP, b'Core.Supports.Remove ["Room"]'))
    assert supports(proto) == ["Comm.Channel 1", "Char 2"]
    feed(proto, sb(GMCP, b"Core.Supports.Set 5"))  # not a list: ignored
    assert supports(proto) == ["Comm.Channel 1", "Char 2"]
    saved = proto.snapshot()
    again = TelnetProtocol(default_options())
    again.restore(json.loads(json.dumps(saved)))
    assert supports(again) == ["Comm.Channel 1", "Char 2"]


def test_the_supported_list_is_bounded() -> None:
    proto = agreed()
    modules = json.dumps([f"M{i} 1" for i in range(600)]).encode()
    feed(proto, sb(GMCP, b"Core.Supports.Set " + modules))
    assert len(supports(proto)) == 256


def test_encode_and_escaping() -> None:
    assert encode("Core.Ping") == b"Core.Ping"
    assert encode("Char.Vitals", {"hp": 7}) == b'Char.Vitals {"hp":7}'
    assert encode("Room.Info", {"name": "Caf\u00e9"}) == 'Room.Info {"name":"Café"}'.encode()
    proto = agreed()
    proto.send_subnegotiation(GMCP, b"X \xff")
    assert proto.data_to_send().endswith(b"X \xff\xff\xff\xf0")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_payload_is_a_message_or_an_error(payload: bytes) -> None:
    proto = agreed()
    _, records, _ = feed(proto, sb(GMCP, payload))
    assert len(records) == 1
    assert isinstance(records[0], GmcpMessage | ProtocolError)
