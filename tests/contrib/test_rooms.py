"""hubbub.contrib.rooms over real sockets, with accounts: moving, talking, who, and
where a player is after logging in again."""

from __future__ import annotations

import hubbub
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.commands import Commands
from hubbub.contrib.rooms import Room, Rooms
from hubbub.testing import AsyncTestClient

from ..conftest import Start
from .test_accounts import arrive

Game = tuple[hubbub.Service, Rooms]


def world() -> Game:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")
    commands = Commands(service)
    Accounts(service, commands=commands)
    rooms = Rooms(service, commands)
    rooms.add("lobby", "The Lobby", "A quiet hall.", exits={"north": "garden", "door": "shed"})
    rooms.add("garden", "The Garden", "Roses everywhere.", exits={"south": "lobby"})
    rooms.add("shed", "The Shed", exits={"out": "lobby"})
    return service, rooms


async def lines(client: AsyncTestClient, n: int) -> list[str]:
    return [await client.read_line() for _ in range(n)]


async def test_moving_looking_and_talking(start: Start) -> None:
    service, _ = world()
    await start(service)
    alice = await arrive(service, "Alice")
    # (tcp clients have colors 0: the title's bold is left out)
    assert await lines(alice, 3) == ["The Lobby", "A quiet hall.", "Exits: north, door."]
    bob = await arrive(service, "Bob")
    assert await alice.read_line() == "Bob arrives."
    assert await lines(bob, 4) == [
        "The Lobby",
        "A quiet hall.",
        "Exits: north, door.",
        "Here: Alice.",
    ]
    await bob.send("'hi all")
    assert await bob.read_line() == 'You say: "hi all"'
    assert await alice.read_line() == 'Bob says: "hi all"'
    await alice.send(":waves.")
    assert await alice.read_line() == "Alice waves."
    assert await bob.read_line() == "Alice waves."
    await alice.send("who")
    assert await lines(alice, 3) == ["In The Lobby:", "  Alice", "  Bob"]
    await alice.send("n")  # a short direction, as a bare word
    assert await bob.read_line() == "Alice leaves north."
    assert await lines(alice, 3) == ["The Garden", "Roses everywhere.", "Exits: south."]
    await alice.send("south")
    assert await lines(alice, 4) == [
        "The Lobby",
        "A quiet hall.",
        "Exits: north, door.",
        "Here: Bob.",
    ]
    assert await bob.read_line() == "Alice arrives."
    await alice.send("go do")  # a unique prefix of an exit
    assert (await lines(alice, 2))[0] == "The Shed"


async def test_where_a_player_was_is_kept(start: Start) -> None:
    service, _ = world()
    await start(service)
    alice = await arrive(service, "Alice")
    await lines(alice, 3)
    await alice.send("north")
    await lines(alice, 3)
    await alice.close()
    again = await arrive(service, "Alice", new=False)
    assert await again.read_line() == "The Garden"
    assert Room.get("garden") is not None


async def test_what_means_nothing(start: Start) -> None:
    service, _ = world()
    await start(service)
    alice = await arrive(service, "Alice")
    await lines(alice, 3)
    for typed, answer in (
        ("go", "Go where?"),
        ("go west", "There is no exit west."),
        ("west", "Unknown command: west. Type help for the list."),
        ("say", "Say what?"),
        ("emote", "Emote what?"),
    ):
        await alice.send(typed)
        assert await alice.read_line() == answer
    await alice.send("say " + "x" * 2000)
    assert await alice.read_line() == 'You say: "' + "x" * 500 + '"'  # bounded


async def test_markup_in_a_room_title_is_shown_as_typed(start: Start) -> None:
    service, rooms = world()
    rooms.add("odd", "{red}Odd{/}", exits={})
    await start(service)
    alice = await arrive(service, "Alice")
    await lines(alice, 3)
    rooms.enter(next(iter(service.clients)), "odd")
    assert await alice.read_line() == "{red}Odd{/}"


async def test_an_exit_beats_a_command_prefix(start: Start) -> None:
    """Found trying the talker: "u" went to "unban" (a prefix) instead of up."""
    service, rooms = world()
    rooms.commands.command("unbolt", lambda e, a: e.client.write("Unbolted."))
    rooms.add("lobby", "The Lobby", "A quiet hall.", exits={"up": "garden"})
    await start(service)
    alice = await arrive(service, "Alice")
    await lines(alice, 3)
    await alice.send("u")
    assert await lines(alice, 3) == ["The Garden", "Roses everywhere.", "Exits: south."]
    await alice.send("unb")  # no exit starts so: the command's prefix
    assert await alice.read_line() == "Unbolted."
