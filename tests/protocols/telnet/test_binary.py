"""BINARY (option 0, RFC 856): asked of the client, agreed for us only when asked."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    BINARY,
    CHARSET,
    DO,
    DONT,
    EOR_OPT,
    GMCP,
    MCCP2,
    MCCP3,
    MSDP,
    MSSP,
    NAWS,
    NEW_ENVIRON,
    TTYPE,
    WILL,
    WONT,
    OptionChanged,
    TelnetProtocol,
    default_options,
    escape,
)

from .test_protocol import feed, neg

#: What the server offers (WILL) after its DOs, in the option set's order.
OFFERED = b"".join(
    neg(WILL, option) for option in (EOR_OPT, GMCP, MSDP, MSSP, CHARSET, MCCP2, MCCP3)
)


def server(binary: bool = True) -> TelnetProtocol:
    """A machine with the options a telnet listener uses."""
    return TelnetProtocol(default_options(binary=binary))


def opening(binary: bool) -> bytes:
    proto = server(binary)
    proto.start()
    return proto.data_to_send()


def test_do_binary_is_asked_at_start() -> None:
    """With binary=True the opening is exactly DO NAWS, DO TTYPE, DO BINARY, DO NEW-ENVIRON,
    then the offers."""
    asked = neg(DO, NAWS) + neg(DO, TTYPE) + neg(DO, BINARY) + neg(DO, NEW_ENVIRON)
    assert opening(True) == asked + OFFERED


def test_do_binary_is_not_asked_when_binary_is_off() -> None:
    """With binary=False (an ASCII service) the opening has no DO BINARY at all."""
    assert opening(False) == neg(DO, NAWS) + neg(DO, TTYPE) + neg(DO, NEW_ENVIRON) + OFFERED


@pytest.mark.parametrize("binary", [True, False])
def test_will_binary_is_never_proposed(binary: bool) -> None:
    """Our own WILL BINARY would make the stock client echo bare line feeds: never offered."""
    assert neg(WILL, BINARY) not in opening(binary)


def test_client_will_binary_answers_our_do() -> None:
    """WILL BINARY after our DO is the agreement: no reply, the peer now sends binary."""
    proto = server()
    proto.start()
    proto.data_to_send()
    _, events, replies = feed(proto, neg(WILL, BINARY))
    assert replies == b""
    assert events == [OptionChanged(BINARY, local=False, enabled=True)]
    assert proto.remote_enabled(BINARY)
    assert not proto.local_enabled(BINARY)


def test_client_will_binary_is_accepted_even_when_not_asked() -> None:
    """binary=False only stops us asking; a client offering binary is still agreed to."""
    proto = server(binary=False)
    proto.start()
    proto.data_to_send()
    _, events, replies = feed(proto, neg(WILL, BINARY))
    assert replies == neg(DO, BINARY)
    assert events == [OptionChanged(BINARY, local=False, enabled=True)]
    assert proto.remote_enabled(BINARY)


@pytest.mark.parametrize("binary", [True, False])
def test_client_do_binary_is_answered_will_binary(binary: bool) -> None:
    """A client asking us to send binary gets WILL BINARY, and our side is on."""
    proto = server(binary)
    proto.start()
    proto.data_to_send()
    _, events, replies = feed(proto, neg(DO, BINARY))
    assert replies == neg(WILL, BINARY)
    assert events == [OptionChanged(BINARY, local=True, enabled=True)]
    assert proto.local_enabled(BINARY)
    # Asked again: already on, so no second WILL (no loop).
    assert feed(proto, neg(DO, BINARY)) == (b"", [], b"")


def test_client_refusing_binary_is_not_answered() -> None:
    """WONT BINARY to our DO: binary stays off and nothing more is said."""
    proto = server()
    proto.start()
    proto.data_to_send()
    assert feed(proto, neg(WONT, BINARY)) == (b"", [], b"")
    assert not proto.remote_enabled(BINARY)


def test_client_leaving_binary_is_acknowledged() -> None:
    """DONT BINARY after agreeing is acknowledged with WONT, once."""
    proto = server()
    feed(proto, neg(DO, BINARY))
    _, events, replies = feed(proto, neg(DONT, BINARY))
    assert replies == neg(WONT, BINARY)
    assert events == [OptionChanged(BINARY, local=True, enabled=False)]
    assert feed(proto, neg(DONT, BINARY)) == (b"", [], b"")


def test_eight_bit_data_passes_untouched_in_binary_mode() -> None:
    """UTF-8 bytes 0x80..0xFE are data, never commands; only 0xFF needs doubling."""
    proto = server()
    feed(proto, neg(WILL, BINARY))
    text = "".join(chr(c) for c in range(0x400, 0x440)).encode("utf-8")
    assert {0x83, 0x8F, 0x9A, 0x9C, 0x85, 0x9D} <= set(text)
    data = bytes(range(0x80, 0x100))
    out, events, replies = feed(proto, text + escape(data))
    assert out == text + data
    assert (events, replies) == ([], b"")
