"""MSDP (option 69): VAR/VAL/TABLE/ARRAY both ways, byte for byte, and bad payloads."""

from __future__ import annotations

from typing import Any

import pytest

from hubbub.protocols.telnet import (
    DO,
    MSDP,
    WILL,
    Msdp,
    MsdpMessage,
    OptionSet,
    ProtocolError,
    TelnetProtocol,
)
from hubbub.protocols.telnet.msdp import (
    ARRAY_CLOSE,
    ARRAY_OPEN,
    MAX_DEPTH,
    TABLE_CLOSE,
    TABLE_OPEN,
    VAL,
    VAR,
    decode,
    encode,
)

from .test_protocol import feed, neg, sb

V, L = bytes((VAR,)), bytes((VAL,))
TO, TC, AO, AC = (
    bytes((TABLE_OPEN,)),
    bytes((TABLE_CLOSE,)),
    bytes((ARRAY_OPEN,)),
    bytes((ARRAY_CLOSE,)),
)


def agreed() -> TelnetProtocol:
    proto = TelnetProtocol(OptionSet([Msdp()]))
    proto.start()
    assert proto.data_to_send() == neg(WILL, MSDP)
    assert feed(proto, neg(DO, MSDP))[2] == b""
    assert proto.local_enabled(MSDP)
    return proto


def test_encode_is_byte_exact() -> None:
    data = {
        "HEALTH": 10,
        "ROOM": {"VNUM": "6008", "EXITS": {"n": "6011"}},
        "AFFECTS": ["bless", "fly"],
    }
    assert encode(data) == (
        V + b"HEALTH" + L + b"10"
        + V + b"ROOM" + L + TO + V + b"VNUM" + L + b"6008"
        + V + b"EXITS" + L + TO + V + b"n" + L + b"6011" + TC + TC
        + V + b"AFFECTS" + L + AO + L + b"bless" + L + b"fly" + AC
    )  # fmt: skip


@pytest.mark.parametrize(
    "data",
    [
        {"HEALTH": "10"},
        {"ROOM": {"NAME": "The Inn", "EXITS": {"n": "1", "e": "2"}}},
        {"LIST": ["COMMANDS", "REPORTABLE_VARIABLES"], "X": []},
        {"DEEP": {"a": [{"b": ["c"]}]}},
        {"EMPTY": "", "T": {}},
    ],
)
def test_round_trip(data: dict[str, Any]) -> None:
    assert decode(encode(data)) == data


def test_values_are_text_and_control_bytes_are_dropped() -> None:
    assert decode(encode({"A": 1, "B": True, "C": None, "D": "x\x01\x02y"})) == {
        "A": "1",
        "B": "1",
        "C": "",
        "D": "xy",
    }
    with pytest.raises(TypeError):
        encode(["not", "a", "dict"])  # type: ignore[arg-type]


def test_several_vals_make_a_list() -> None:
    assert decode(V + b"REPORT" + L + b"HEALTH" + L + b"MANA") == {"REPORT": ["HEALTH", "MANA"]}


@pytest.mark.parametrize(
    "command",
    [b"LIST", b"REPORT", b"SEND", b"UNREPORT", b"RESET"],
)
def test_client_commands_reach_the_application(command: bytes) -> None:
    proto = agreed()
    out, events, replies = feed(proto, b"a\r\n" + sb(MSDP, V + command + L + b"HEALTH") + b"b")
    assert (out, replies) == (b"a\r\nb", b"")
    assert events == [MsdpMessage({command.decode(): "HEALTH"}, at=3)]


def test_text_is_utf8_and_an_escaped_ff_is_replaced() -> None:
    proto = agreed()
    _, events, _ = feed(proto, sb(MSDP, encode({"NAME": "café"}) + V + b"X" + L + b"a\xffb"))
    assert events == [MsdpMessage({"NAME": "café", "X": "a\ufffdb"}, at=0)]


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (V + b"ROOM" + L + TO + V + b"N" + L + b"1", "not closed"),
        (V + b"ROOM" + L + AO + L + b"1", "not closed"),
        (V + b"ROOM" + L + TC, "expected VAR"),
        (b"junk" + V + b"A" + L + b"1", "expected VAR"),
        (V + b"A", "without VAL"),
        (V + b"A" + L + (AO + L) * (MAX_DEPTH + 1), "deeper"),
        (V + b"A" + L + (TO + V + b"x" + L) * 5000, "deeper"),
    ],
)
def test_malformed_messages_are_dropped_with_an_error(payload: bytes, why: str) -> None:
    proto = TelnetProtocol(OptionSet([Msdp()]), max_subnegotiation=1 << 16)
    feed(proto, neg(DO, MSDP))
    out, events, _ = feed(proto, sb(MSDP, payload) + b"ok")
    assert out == b"ok"
    [error] = events
    assert isinstance(error, ProtocolError) and why in error.message


def test_empty_message_is_ignored() -> None:
    assert feed(agreed(), sb(MSDP, b"")) == (b"", [], b"")
