"""ECHO (option 1, RFC 857): only ever our side, and only to hide what the user types."""

from __future__ import annotations

import pytest

from hubbub.protocols.telnet import (
    DO,
    DONT,
    ECHO,
    WILL,
    WONT,
    OptionChanged,
    TelnetProtocol,
    default_options,
)

from .test_protocol import feed, neg


def server() -> TelnetProtocol:
    return TelnetProtocol(default_options())


def test_echo_is_not_offered_at_start() -> None:
    """Input is visible by default: no WILL ECHO until the application hides input."""
    proto = server()
    proto.start()
    sent = proto.data_to_send()
    assert neg(WILL, ECHO) not in sent
    assert neg(DO, ECHO) not in sent


@pytest.mark.parametrize("hidden", [False, True])
def test_client_offer_to_echo_is_refused(hidden: bool) -> None:
    """A client never echoes for us: WILL ECHO gets DONT ECHO, hidden input or not."""
    proto = server()
    proto.start()
    if hidden:
        proto.request_local(ECHO, True)
    proto.data_to_send()
    _, events, replies = feed(proto, neg(WILL, ECHO))
    assert replies == neg(DONT, ECHO)
    assert events == []
    assert not proto.remote_enabled(ECHO)
    # Our side is untouched by the refusal of theirs.
    assert not proto.local_enabled(ECHO)


def test_unasked_do_echo_is_refused() -> None:
    """While input is visible, a client asking us to echo is told WONT ECHO."""
    proto = server()
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == neg(WONT, ECHO)
    assert events == []
    assert not proto.local_enabled(ECHO)


def test_hiding_and_showing_input() -> None:
    """WILL ECHO to hide; DO ECHO agrees; WONT ECHO hands echoing back to the client."""
    proto = server()
    proto.request_local(ECHO, True)
    assert proto.data_to_send() == neg(WILL, ECHO)
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert (events, replies) == ([OptionChanged(ECHO, local=True, enabled=True)], b"")
    proto.request_local(ECHO, False)
    assert proto.data_to_send() == neg(WONT, ECHO)
    assert proto.events_received() == [OptionChanged(ECHO, local=True, enabled=False)]
    assert not proto.local_enabled(ECHO)


def test_showing_input_before_a_silent_client_answers_sends_nothing() -> None:
    """A client that never answered WILL ECHO (nc) is not sent a WONT ECHO either."""
    proto = server()
    proto.request_local(ECHO, True)
    proto.data_to_send()
    proto.request_local(ECHO, False)
    assert proto.data_to_send() == b""
    # If the answer comes late after all, it is withdrawn at once.
    _, events, replies = feed(proto, neg(DO, ECHO))
    assert replies == neg(WONT, ECHO)
    assert events == []
    assert not proto.local_enabled(ECHO)
