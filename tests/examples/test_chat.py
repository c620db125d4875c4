"""The chat example, tested as an application author would: hubbub.testing and the
``hubbub_serve`` pytest fixture, over real telnet sockets."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from hubbub.testing import RunningService, TestClient, serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str, where: Path = EXAMPLES) -> ModuleType:
    """A fresh copy of an example module (each has its own Service)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", where / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def join(running: RunningService, name: str) -> TestClient:
    client = running.connect()
    client.expect("Welcome. Please enter your name: ")
    client.send(name)
    assert client.read_line() == f"Welcome, {name}"
    return client


def test_chat_session() -> None:
    chat = load_example("chat")
    with serve(chat.service) as running:
        assert running.service.servers[0].endpoint.scheme == "telnet"
        alice = join(running, "alice")
        lurker = running.connect()  # never gives a name
        lurker.expect("Please enter your name: ")
        bob = join(running, "bob")
        assert alice.read_line() == "bob has connected"

        bob.send("hello all")
        assert bob.read_line() == "bob> hello all"  # the sender sees it too
        assert alice.read_line() == "bob> hello all"

        alice.send("/me waves")
        assert alice.read_line() == "alice waves"
        assert bob.read_line() == "alice waves"

        bob.send("/who")
        assert bob.read_line() == "Here now (2): alice, bob"

        bob.send("/quit")
        assert bob.read_line() == "Goodbye!"
        assert bob.closed()
        assert alice.read_line() == "bob has disconnected"

        # The unnamed client saw none of the chat: the first line it receives
        # after its prompt is the answer to its own next line.
        lurker.send("carol")
        assert lurker.read_line() == "Welcome, carol"
        assert alice.read_line() == "carol has connected"
        for client in (alice, lurker, bob):
            client.close()


def test_chat_rejects_bad_and_taken_names(
    hubbub_serve: Callable[..., RunningService],
) -> None:
    chat = load_example("chat")
    running = hubbub_serve(chat.service)
    alice = join(running, "alice")
    other = running.connect()
    other.expect("Please enter your name: ")
    other.send("   ")
    assert other.read_line() == "A name needs at least one character."
    other.expect("Please enter your name: ")
    other.send("ALICE")
    assert other.read_line() == "ALICE is already here."
    other.expect("Please enter your name: ")
    other.send("x" * 40)
    assert "up to 24" in other.read_line()
    other.expect("Please enter your name: ")
    other.send("dave")
    assert other.read_line() == "Welcome, dave"
    assert alice.read_line() == "dave has connected"
    other.send("/dance")
    assert other.read_line().startswith("Unknown command /dance")
    alice.close()
    assert other.read_line() == "alice has disconnected"
    other.close()


def test_echo_example(hubbub_serve: Callable[..., RunningService]) -> None:
    echo = load_example("echo")
    running = hubbub_serve(echo.service)
    with running.connect() as client:
        client.send("ping")
        assert client.read_line() == "ping"


def test_expect_reports_what_arrived_on_timeout(
    hubbub_serve: Callable[..., RunningService],
) -> None:
    echo = load_example("echo")
    running = hubbub_serve(echo.service)
    with running.connect(timeout=0.3) as client:
        client.send("something else")
        with pytest.raises(AssertionError, match="something else"):
            client.expect("never sent")


def test_control_and_escape_bytes_never_reach_other_users() -> None:
    """Colour codes, a bell and other control bytes typed by one user are removed
    before the line is said to everyone: the others get plain text."""
    chat = load_example("chat")
    with serve(chat.service) as running:
        alice = join(running, "alice")
        bob = join(running, "bob")
        assert alice.read_line() == "bob has connected"
        alice.send_raw("hi \x1b[31mred\x1b[0m\x07 \x1b[2J\x00there\x9b\r\n".encode())
        line = bob.read_line()
        assert line == "alice> hi red there"
        assert all(ch.isprintable() for ch in line)
        assert alice.read_line() == "alice> hi red there"
        for client in (alice, bob):
            client.close()


def test_names_typed_with_backspace_and_chat_after_them() -> None:
    """A name corrected with backspace ("dorx", DEL, "a") registers as typed to look,
    and so does a chat line corrected with ^H (the Receive path)."""
    chat = load_example("chat")
    with serve(chat.service) as running:
        alice = join(running, "alice")
        dora = running.connect()
        dora.expect("Welcome. Please enter your name: ")
        dora.send_raw(b"dorx\x7fa\r\n")
        assert dora.read_line() == "Welcome, dora"
        assert alice.read_line() == "dora has connected"
        dora.send_raw(b"hellp\x08o all\r\n")
        assert alice.read_line() == "dora> hello all"
        assert dora.read_line() == "dora> hello all"
        alice.send("/who")
        assert alice.read_line() == "Here now (2): alice, dora"
        for client in (alice, dora):
            client.close()


def test_everyone_named_is_told_at_shutdown() -> None:
    """Stopping the service tells every named user goodbye before closing them."""
    chat = load_example("chat")
    running = RunningService(chat.service).start()
    try:
        users = [join(running, name) for name in ("alice", "bob", "carol")]
        for i, user in enumerate(users):
            for newcomer in ("bob", "carol")[i:]:
                assert user.read_line() == f"{newcomer} has connected"
        running.stop()
        for user in users:
            assert user.read_line() == ""
            assert user.read_line() == "The chat server is shutting down. Goodbye!"
            assert user.closed()
            user.close()
    finally:
        running.stop()


def test_over_long_line_at_the_name_prompt_asks_again() -> None:
    """A line over max_line_length while the name is asked is refused with a message,
    the question is shown again, and a proper answer still works."""
    chat = load_example("chat")
    with serve(chat.service) as running:
        limit = running.service.settings.max_line_length
        client = running.connect()
        client.expect("Welcome. Please enter your name: ")
        client.send("n" * (limit + 100))
        assert client.read_line() == f"Line too long (over {limit} bytes); it was ignored."
        again = client.expect("Please enter your name: ")
        assert "\n" not in again  # the prompt itself, not another message
        client.send("erin")
        assert client.read_line() == "Welcome, erin"
        client.send("/who")
        assert client.read_line() == "Here now (1): erin"
        client.close()


def test_one_name_typed_two_ways_is_taken_once() -> None:
    """'Zoë' precomposed and 'Zoe' + combining diaeresis are the same name, and so
    are names differing only in case (compared with casefold)."""
    chat = load_example("chat")
    with serve(chat.service) as running:
        zoe = join(running, "Zoë")
        other = running.connect()
        other.expect("Please enter your name: ")
        other.send("Zoe\u0308")
        assert other.read_line() == "Zoë is already here."
        other.expect("Please enter your name: ")
        other.send("ZOË")
        assert other.read_line() == "ZOË is already here."
        for client in (zoe, other):
            client.close()


def test_right_to_left_overrides_are_dropped_from_chat() -> None:
    """Invisible bidi controls cannot make a line display backwards for others."""
    chat = load_example("chat")
    with serve(chat.service) as running:
        alice = join(running, "alice")
        bob = join(running, "bob")
        assert alice.read_line() == "bob has connected"
        alice.send("bidi \u202eevil txt\u202c \u2067iso\u2069 end")
        assert bob.read_line() == "alice> bidi evil txt iso end"
        for client in (alice, bob):
            client.close()
