"""The talker example, as a player would use it: over real telnet sockets, on a real
SQLite file, through a restart of the service."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubbub.testing import TestClient, serve

from ..conftest import forget_storage
from .test_chat import load_example

NAME_Q = "By what name do you wish to be known? "


@pytest.fixture
def talker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # talker.db goes here
    yield load_example("talker")
    forget_storage()


def arrive(client: TestClient, name: str, new: bool = True) -> list[str]:
    client.expect(NAME_Q)
    client.send(name)
    if new:
        client.expect("(yes/no) ")
        client.send("yes")
        client.expect("Choose a password: ")
        client.send("tea")
        client.expect("The same again: ")
        client.send("tea")
    else:
        client.expect("Password: ")
        client.send("tea")
    client.expect(f"You are {name}.")
    client.read_line()
    return [client.read_line() for _ in range(3)]


LOBBY = [
    "The Lobby",
    "A bright hall with deep chairs. A door leads north to the garden, "
    "and stairs go up to the library.",
    "Exits: north, up.",
]
GARDEN = ["The Garden", "Roses climb the old walls. The lobby is south.", "Exits: south."]


def test_a_talker_session(talker) -> None:  # type: ignore[no-untyped-def]
    with serve(talker.service) as running:
        ann = running.connect()
        assert arrive(ann, "Ann") == LOBBY
        ben = running.connect()
        assert arrive(ben, "Ben") == LOBBY
        assert ben.read_line() == "Here: Ann."
        assert ann.read_line() == "Ben arrives."
        ben.send("'hello Ann")
        assert ben.read_line() == 'You say: "hello Ann"'
        assert ann.read_line() == 'Ben says: "hello Ann"'
        ann.send("n")
        assert ben.read_line() == "Ann leaves north."
        assert [ann.read_line() for _ in range(3)] == GARDEN
        ann.send("shout anyone?")
        assert ann.read_line() == 'You shout: "anyone?"'
        assert ben.read_line() == 'Ann shouts: "anyone?"'
        ben.send("kick ann")  # Ben is not an administrator
        assert ben.read_line() == "Unknown command: kick. Type help for the list."
        ann.send("announce tea at five")  # Ann is: the first account
        assert ben.read_line() == "[Announcement] tea at five"
        assert ann.read_line() == "[Announcement] tea at five"
        ann.send("quit")
        assert ann.read_line() == "Goodbye!"
    assert (Path.cwd() / "talker.db").exists()
    with serve(talker.service) as running:  # the world and the accounts were kept
        ann = running.connect()
        assert arrive(ann, "Ann", new=False) == GARDEN  # where she left


def test_an_administrator_restarts_the_talker_and_nobody_leaves(tmp_path: Path) -> None:
    """The real thing: ``hubbub run examples/talker.py`` in a process of its own; the
    first account (an administrator) types ``restart``; both players stay connected,
    logged in, in their rooms, and a player half-way through logging in is asked again."""
    from hubbub.testing import TestClient

    from ..restart.conftest import Served

    served = Served(
        tmp_path,
        (Path(__file__).parents[2] / "examples" / "talker.py").read_text(),
        "--listen",
        "telnet://127.0.0.1:0",
    )
    try:
        port = served.listening(1)["telnet://127.0.0.1:0"]
        ann = TestClient(("127.0.0.1", port), telnet=True)
        assert arrive(ann, "Ann") == LOBBY  # the first account: an administrator
        ben = TestClient(("127.0.0.1", port), telnet=True)
        assert arrive(ben, "Ben") == LOBBY
        ben.read_line()  # "Here: Ann."
        ann.read_line()  # "Ben arrives."
        ben.send("north")
        assert [ben.read_line() for _ in range(3)] == GARDEN
        ann.read_line()  # "Ben goes north."
        cat = TestClient(("127.0.0.1", port), telnet=True)
        cat.expect(NAME_Q)  # logging in when the restart comes
        ann.send("restart")
        assert ann.read_line() == "Restarting with the code on disk; everyone stays connected."
        new = served.wait_pid(other_than=served.first)
        cat.expect(NAME_Q)  # asked again by the new process
        cat.send("Cat")
        cat.expect("(yes/no) ")
        ann.send("look")
        assert [ann.read_line() for _ in range(3)] == LOBBY
        ben.send("say still here")
        assert ben.read_line() == 'You say: "still here"'
        assert "took over 3 client(s)" in served.process.text
        assert served.pid == new
    finally:
        served.stop()
