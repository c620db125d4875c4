"""MSSP (option 70), sans-IO: offered at start; the variable table's bytes."""

from __future__ import annotations

from hubbub.protocols.telnet import MSSP, WILL, TelnetProtocol, default_options
from hubbub.protocols.telnet.mssp import MSSP_VAL, MSSP_VAR, encode

from .test_protocol import neg

VAR, VAL = bytes([MSSP_VAR]), bytes([MSSP_VAL])


def test_offered_at_start() -> None:
    proto = TelnetProtocol(default_options())
    proto.start()
    assert neg(WILL, MSSP) in proto.data_to_send()


def test_encode_text_numbers_and_lists() -> None:
    payload = encode({"name": "Moria", "PLAYERS": 3, "PORT": [4000, 4001]})
    assert payload == (
        VAR + b"NAME" + VAL + b"Moria" + VAR + b"PLAYERS" + VAL + b"3"
        + VAR + b"PORT" + VAL + b"4000" + VAL + b"4001"
    )  # fmt: skip


def test_bytes_that_would_break_the_table_are_dropped() -> None:
    assert encode({"NAME": "a\x01b\x02c\x00d\xff"}) == VAR + b"NAME" + VAL + b"abcd\xc3\xbf"
