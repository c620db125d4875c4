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


def load_example(name: str) -> ModuleType:
    """A fresh copy of an example module (each has its own Service)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
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

        # The unnamed client saw none of the chat.
        assert lurker.pending == ""
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
