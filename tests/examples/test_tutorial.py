"""Every step of docs/tutorial.md runs: each example under examples/tutorial/ is served
on a free port and played over a real telnet socket, on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from hubbub.testing import TestClient, serve

from ..conftest import forget_storage
from .test_chat import load_example

TUTORIAL = Path(__file__).resolve().parents[2] / "examples" / "tutorial"
NAME_Q = "By what name do you wish to be known? "


def load(step: str) -> ModuleType:
    return load_example(step, TUTORIAL)


@pytest.fixture(autouse=True)
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # lantern.db is made here
    yield
    forget_storage()


def register(client: TestClient, name: str) -> None:
    client.expect(NAME_Q)
    client.send(name)
    client.expect("(yes/no) ")
    client.send("yes")
    client.expect("Choose a password: ")
    client.send("oil")
    client.expect("The same again: ")
    client.send("oil")
    client.expect(f"You are {name}.")
    assert client.read_line() == ""


def test_step1_hello() -> None:
    with serve(load("step1_hello").service) as running:
        client = running.connect()
        assert client.read_line() == "Welcome to Lantern Hill. Type something."
        client.send("hello")
        assert client.read_line() == "You typed: hello"


def test_step2_commands() -> None:
    with serve(load("step2_commands").service) as running:
        client = running.connect()
        client.read_line()
        client.send("lo")
        assert client.read_line() == "A hilltop. A lantern hangs from an old post."
        client.send("light")
        assert client.read_line() == "The lantern glows."
        client.send("dance")
        assert client.read_line() == "Unknown command: dance. Type help for the list."


def test_step3_accounts() -> None:
    with serve(load("step3_accounts").service) as running:
        client = running.connect()
        register(client, "Mira")
        client.send("whoami")
        assert client.read_line() == "You are Mira."
    assert Path("lantern.db").exists()


def test_step4_rooms() -> None:
    with serve(load("step4_rooms").service) as running:
        client = running.connect()
        register(client, "Mira")
        assert client.read_line() == "The Hilltop"
        client.read_line()
        client.read_line()
        client.send("d")
        assert client.read_line() == "A Steep Path"


def test_step5_stores_and_timers() -> None:
    step = load("step5_stores_timers")
    step.burn.cancel()
    step.service.every(0.05, step.burn.handler)  # the lantern burns fast for the test
    with serve(step.service) as running:
        client = running.connect()
        register(client, "Mira")
        for _ in range(3):
            client.read_line()
        client.send("light")
        assert client.read_line() == "Your lantern glows. (3 oil left)"
        assert client.read_line() == "Your lantern flickers and goes out."
        client.send("light")
        assert client.read_line() == "Your lantern has no oil left."
        lantern = step.Lantern.get("mira")
        assert lantern is not None and (lantern.oil, lantern.lit) == (0, False)
