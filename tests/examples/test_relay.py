"""The relay example against a real target service: lines cross both ways, and the
relay survives the target restarting (and starting late)."""

from __future__ import annotations

import pytest

import hubbub
from hubbub import events
from hubbub.testing import RunningService, TestClient, serve

from .test_chat import load_example


def make_target() -> hubbub.Service:
    """The far side: greets each newcomer and answers each line."""
    target = hubbub.Service()
    target.listen(events.Connect, lambda e: e.client.write("welcome to the target"))
    target.listen(events.Receive, lambda e: e.client.write(f"target heard: {e.data}"))
    return target


def run_target(port: int = 0) -> RunningService:
    return RunningService(make_target(), listen=[f"telnet://127.0.0.1:{port}"]).start()


def linked(running: RunningService, relay: object) -> bool:
    link = relay.relay.link  # type: ignore[attr-defined]
    return link is not None and link.connected


def sees_the_link_come(user: TestClient, url: str) -> None:
    """Told the link is up, then greeted by the target through it; and it works."""
    assert user.read_line() == f"*** linked to {url}"
    assert user.read_line() == "[far] welcome to the target"
    talk(user, "hello, target")


def talk(user: TestClient, line: str, greeting_may_come: bool = False) -> None:
    """A line typed here crosses to the target and its answer comes back prefixed.

    ``greeting_may_come``: the user joined just after the link came up, so the
    target's greeting may still be on its way through the relay, ahead of the answer.
    """
    user.send(line)
    answer = user.read_line()
    if greeting_may_come and answer == "[far] welcome to the target":
        answer = user.read_line()
    assert answer == f"[far] target heard: [relay] {line}"


def test_lines_cross_both_ways_and_a_target_restart_is_survived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target = run_target()
    port = target.address[1]
    url = f"telnet://127.0.0.1:{port}"
    monkeypatch.setenv("RELAY_TARGET", url)
    monkeypatch.setenv("RELAY_RETRY", "0.02")
    relay = load_example("relay")
    try:
        with serve(relay.service) as running:
            running.wait_for(lambda: linked(running, relay))
            user = running.connect()
            talk(user, "hello over there", greeting_may_come=True)
            target.call(lambda: target.service.write_all("news from the target"))
            assert user.read_line() == "[far] news from the target"

            target.stop()
            assert user.read_line() == f"*** lost the link to {url}; reconnecting"
            user.send("while it is down")
            assert user.read_line() == "*** no link right now; that line was not sent"

            target = run_target(port)
            sees_the_link_come(user, url)
            user.close()
    finally:
        target.stop()


def test_the_relay_waits_for_a_target_that_starts_late(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = run_target()  # only to find a free port, then stopped
    port = probe.address[1]
    probe.stop()
    monkeypatch.setenv("RELAY_TARGET", f"telnet://127.0.0.1:{port}")
    monkeypatch.setenv("RELAY_RETRY", "0.02")
    relay = load_example("relay")
    with serve(relay.service) as running:
        user = running.connect()
        user.send("anyone?")
        assert user.read_line() == "*** no link right now; that line was not sent"
        target = run_target(port)
        try:
            sees_the_link_come(user, f"telnet://127.0.0.1:{port}")
            user.close()
        finally:
            target.stop()
