"""Option handlers and OptionSet, and saving / restoring a TelnetProtocol's negotiation."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.telnet import (
    BINARY,
    DO,
    DONT,
    ECHO,
    GMCP,
    IAC,
    NAWS,
    SB,
    SE,
    SGA,
    TTYPE,
    WILL,
    WONT,
    Echo,
    Naws,
    Option,
    OptionChanged,
    OptionSet,
    Sga,
    TelnetProtocol,
    Ttype,
    WindowSize,
    default_options,
)

from .test_protocol import feed, naws, neg, sb

PROBE = 100


class Probe(Option):
    """A custom option that we offer and that records what the machine tells it."""

    code: ClassVar[int] = PROBE
    name: ClassVar[str] = "PROBE"
    local = True
    ask_local = True

    def changed(self, proto: TelnetProtocol, local: bool, enabled: bool) -> None:
        proto.state.setdefault("probe", []).append(["changed", local, enabled])

    def subnegotiation(self, proto: TelnetProtocol, payload: bytes) -> None:
        proto.state.setdefault("probe", []).append(["sb", payload.hex()])


# ---------------------------------------------------------------------- OptionSet


def test_option_set_rejects_duplicate_codes() -> None:
    """Two handlers for one code would make negotiation ambiguous: refused at build time."""
    with pytest.raises(ValueError, match=f"option {NAWS} is listed twice"):
        OptionSet([Naws(), Ttype(), Naws()])


def test_option_set_rejects_two_classes_with_one_code() -> None:
    """Duplicates are by code, not by class."""

    class OtherEcho(Option):
        code = ECHO
        name = "ECHO2"

    with pytest.raises(ValueError, match="listed twice"):
        OptionSet([Echo(), OtherEcho()])


def test_option_set_lookup() -> None:
    options = OptionSet([Naws(), Sga()])
    assert isinstance(options.get(NAWS), Naws)
    assert options.get(TTYPE) is None
    assert options.get(255) is None


def test_every_code_outside_the_set_is_refused() -> None:
    """With no options at all, each of the 256 codes is refused both ways, once."""
    proto = TelnetProtocol(OptionSet([]))
    proto.start()
    assert proto.data_to_send() == b""
    for code in range(256):
        _, events, replies = feed(proto, neg(WILL, code) + neg(DO, code))
        assert replies == neg(DONT, code) + neg(WONT, code), code
        assert events == []
        assert not proto.remote_enabled(code)
        assert not proto.local_enabled(code)


def test_a_known_option_left_out_of_the_set_is_refused() -> None:
    """The set decides, not the codes hubbub knows: TTYPE without Ttype() is refused."""
    proto = TelnetProtocol(OptionSet([Naws()]))
    proto.start()
    assert proto.data_to_send() == neg(DO, NAWS)
    _, events, replies = feed(proto, neg(WILL, TTYPE) + sb(TTYPE, b"\x00xterm"))
    assert replies == neg(DONT, TTYPE)
    assert events == []  # and its subnegotiation is dropped, not parsed


def test_custom_option_is_offered_told_of_changes_and_given_payloads() -> None:
    """The Option hooks: ask_local at start, changed() on real edges, unescaped payloads."""
    proto = TelnetProtocol(OptionSet([Probe()]))
    proto.start()
    assert proto.data_to_send() == neg(WILL, PROBE)
    _, events, replies = feed(proto, neg(DO, PROBE) + neg(DO, PROBE))
    assert replies == b""
    assert events == [OptionChanged(PROBE, local=True, enabled=True)]
    feed(proto, bytes((IAC, SB, PROBE, 1, IAC, IAC, 2, IAC, SE)))
    feed(proto, neg(DONT, PROBE))
    assert proto.state["probe"] == [
        ["changed", True, True],
        ["sb", "01ff02"],
        ["changed", True, False],
    ]


# ---------------------------------------------------------------- snapshot/restore


def through_json(proto: TelnetProtocol) -> TelnetProtocol:
    """A fresh machine with the same options, restored from ``proto``'s snapshot via JSON."""
    saved: dict[str, Any] = json.loads(json.dumps(proto.snapshot()))
    fresh = TelnetProtocol(default_options())
    fresh.restore(saved)
    return fresh


def negotiated() -> TelnetProtocol:
    """A session well under way: NAWS, TTYPE, BINARY, SGA agreed; input hidden (ECHO)."""
    proto = TelnetProtocol(default_options())
    proto.start()
    proto.request_local(ECHO, True)
    feed(
        proto,
        neg(WILL, NAWS)
        + neg(WILL, TTYPE)
        + neg(WILL, BINARY)
        + neg(DO, BINARY)
        + neg(DO, SGA)
        + neg(WILL, SGA)
        + neg(DO, ECHO)
        + neg(WILL, GMCP)
        + naws(120, 40)
        + sb(TTYPE, b"\x00xterm"),
    )
    proto.state["example"] = ["xterm", "XTERM-256COLOR"]
    return proto


def test_snapshot_round_trips_through_json() -> None:
    """The snapshot is JSON data, and a restored machine's snapshot is the same."""
    proto = negotiated()
    saved = proto.snapshot()
    assert json.loads(json.dumps(saved)) == saved
    restored = through_json(proto)
    assert restored.snapshot() == saved
    assert restored.state == {
        "ttype": {"names": ["xterm"], "asked": 2, "done": False},  # mid-cycle, carried
        "example": ["xterm", "XTERM-256COLOR"],
    }


def test_restored_machine_has_the_same_options() -> None:
    """All 256 options, both sides, agree after restore; nothing is sent by restoring."""
    proto = negotiated()
    restored = through_json(proto)
    assert restored.data_to_send() == b""
    assert restored.events_received() == []
    for code in range(256):
        assert restored.local_enabled(code) == proto.local_enabled(code), code
        assert restored.remote_enabled(code) == proto.remote_enabled(code), code
    # The session really was under way (so the comparison above means something).
    for code in (NAWS, TTYPE, BINARY, SGA):
        assert restored.remote_enabled(code)
    for code in (BINARY, SGA, ECHO):
        assert restored.local_enabled(code)


def test_restored_machine_does_not_renegotiate() -> None:
    """The peer repeating WILL/DO after a restart gets no answer and changes nothing."""
    restored = through_json(negotiated())
    repeats = b"".join(neg(WILL, code) for code in (NAWS, TTYPE, BINARY, SGA)) + b"".join(
        neg(DO, code) for code in (BINARY, SGA, ECHO)
    )
    out, events, replies = feed(restored, repeats + b"look\r\n")
    assert (out, events, replies) == (b"look\r\n", [], b"")
    # Option data still parses as before.
    assert feed(restored, naws(81, 25))[1] == [WindowSize(81, 25)]


def test_restore_keeps_a_request_in_flight() -> None:
    """WILL ECHO asked, then withdrawn before any answer: a late DO ECHO is refused after too."""
    proto = TelnetProtocol(default_options())
    proto.request_local(ECHO, True)
    proto.request_local(ECHO, False)
    proto.data_to_send()
    restored = through_json(proto)
    assert feed(restored, neg(DO, ECHO)) == feed(proto, neg(DO, ECHO))
    assert not restored.local_enabled(ECHO)


OPTIONS = st.sampled_from([BINARY, ECHO, SGA, TTYPE, NAWS, GMCP, 99])
_neg = st.builds(neg, st.sampled_from([WILL, WONT, DO, DONT]), OPTIONS)
# (is_request, local, option, enabled) or a packet of negotiation.
_step = st.one_of(
    st.tuples(st.just(True), st.booleans(), OPTIONS, st.booleans()),
    st.lists(_neg, min_size=1, max_size=4).map(lambda parts: (False, b"".join(parts))),
)


def apply(proto: TelnetProtocol, step: tuple[Any, ...]) -> tuple[bytes, list[Any], bytes]:
    if step[0]:
        _, local, option, enabled = step
        if local:
            proto.request_local(option, enabled)
        else:
            proto.request_remote(option, enabled)
        return b"", proto.events_received(), proto.data_to_send()
    return feed(proto, step[1])


@settings(max_examples=200, deadline=None)
@given(before=st.lists(_step, max_size=15), after=st.lists(_step, max_size=15))
def test_restored_machine_behaves_identically(
    before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]
) -> None:
    """Whatever was negotiated (requests in flight included), the restored copy answers
    every later request and packet exactly as the original does."""
    proto = TelnetProtocol(default_options())
    proto.start()
    for step in before:
        apply(proto, step)
    proto.data_to_send()
    proto.events_received()
    restored = through_json(proto)
    for code in range(256):
        assert restored.local_enabled(code) == proto.local_enabled(code)
        assert restored.remote_enabled(code) == proto.remote_enabled(code)
    for step in after:
        assert apply(restored, step) == apply(proto, step)
    assert restored.snapshot() == proto.snapshot()


def test_our_wont_takes_effect_at_once_for_clients_that_never_acknowledge_it() -> None:
    """TinTin++ answers our WONT ECHO with nothing (it logs "DONT ECHO (SKIPPED)"):
    hiding input again right after must still send WILL ECHO."""
    proto = TelnetProtocol(OptionSet([Echo()]))
    proto.request_local(ECHO, True)
    assert proto.data_to_send() == neg(WILL, ECHO)
    feed(proto, neg(DO, ECHO))
    proto.request_local(ECHO, False)
    assert proto.data_to_send() == neg(WONT, ECHO)
    assert not proto.local_enabled(ECHO)
    proto.request_local(ECHO, True)  # no DONT came: asked again at once
    assert proto.data_to_send() == neg(WILL, ECHO)
    feed(proto, neg(DO, ECHO))
    assert proto.local_enabled(ECHO)


def test_a_late_acknowledgement_still_ends_in_agreement() -> None:
    """A client that does acknowledge: WONT, WILL out; DONT (the late ack) then DO in."""
    proto = TelnetProtocol(OptionSet([Echo()]))
    proto.request_local(ECHO, True)
    feed(proto, neg(DO, ECHO))
    proto.data_to_send()
    proto.request_local(ECHO, False)
    proto.request_local(ECHO, True)
    assert proto.data_to_send() == neg(WONT, ECHO) + neg(WILL, ECHO)
    _, _, replies = feed(proto, neg(DONT, ECHO) + neg(DO, ECHO))
    assert replies == neg(WILL, ECHO)  # one more WILL, which the client ignores
    assert proto.local_enabled(ECHO)
    assert feed(proto, neg(DO, ECHO)) == (b"", [], b"")  # no loop
