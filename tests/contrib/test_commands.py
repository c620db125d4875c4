"""hubbub.contrib.commands over real sockets: names, aliases, prefixes, help,
permissions, handlers of every kind, and what players type that means nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator

import pytest

import hubbub
from hubbub import events
from hubbub.contrib.commands import Commands
from hubbub.testing import AsyncTestClient

from ..conftest import Start, connect


def game() -> tuple[hubbub.Service, Commands]:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    commands = Commands(service)

    @commands.command("say", aliases=["'"], help="say <text>: speak")
    def say(event: events.Receive, text: str) -> None:
        event.client.write(f"You say: {text}")

    @commands.command("score", help="your score")
    def score(event: events.Receive, args: str) -> None:
        event.client.write("Score: 10")

    @commands.command("scan")
    async def scan(event: events.Receive, args: str) -> None:
        await asyncio.sleep(0.01)
        event.client.write("You see nothing.")

    @commands.command("name")
    def name(event: events.Receive, args: str) -> Generator[None, str, None]:
        event.client.write("New name? ", newline=False)
        answer = yield
        event.client.write(f"Named {answer}.")

    class Dance(hubbub.Handler):
        def handler_dance(self, event: events.Receive) -> None:
            event.client.write(f"You dance {event.args or 'alone'}.")  # type: ignore[attr-defined]

    commands.command("dance", Dance)

    @commands.command("shutdown", permission="admin", help="stop the game")
    def shutdown(event: events.Receive, args: str) -> None:
        event.client.write("Shutting down (not really).")

    return service, commands


@pytest.fixture
async def player(start: Start) -> AsyncIterator[tuple[hubbub.Service, AsyncTestClient]]:
    service, _ = game()
    await start(service)
    client = await connect(service)
    yield service, client
    await client.close()


async def ask(client: AsyncTestClient, line: str) -> str:
    await client.send(line)
    return await client.read_line()


async def test_names_aliases_and_prefixes(player: tuple[hubbub.Service, AsyncTestClient]) -> None:
    _, client = player
    assert await ask(client, "say hello there") == "You say: hello there"
    assert await ask(client, "'hello") == "You say: hello"  # no space needed
    assert await ask(client, "SAY Loud") == "You say: Loud"  # any case
    assert await ask(client, "sco") == "Score: 10"  # a unique prefix
    assert await ask(client, "sc") == "sc could be: scan, score."
    assert await ask(client, "scan") == "You see nothing."  # async def
    assert await ask(client, "dance wildly") == "You dance wildly."  # a Handler class
    await client.send("name")
    await client.expect("New name? ")
    assert await ask(client, "Zed") == "Named Zed."  # a generator asked


async def test_unknown_and_garbage(player: tuple[hubbub.Service, AsyncTestClient]) -> None:
    _, client = player
    assert await ask(client, "fly") == "Unknown command: fly. Type help for the list."
    long = "x" * 500
    assert await ask(client, long) == f"Unknown command: {'x' * 40}. Type help for the list."
    await client.send("   ")  # nothing typed: nothing said
    fullwidth = "\uff53\uff41\uff59"  # "say" in fullwidth letters: the same after NFKC
    assert await ask(client, f"{fullwidth} wide") == "You say: wide"


async def test_help_and_permissions(player: tuple[hubbub.Service, AsyncTestClient]) -> None:
    service, client = player
    await client.send("help")
    lines = [await client.read_line() for _ in range(8)]
    assert lines == [
        "Commands:",
        *(f"  {name}" for name in ("dance", "help", "name", "say", "scan", "score")),
        "Type help and a command's name for more.",
    ]  # one per line (screen readers), and no shutdown: not an admin yet
    assert await ask(client, "help say") == "say (also: '): say <text>: speak"
    assert await ask(client, "shutdown") == "Unknown command: shutdown. Type help for the list."
    [me] = service.clients
    me.roles = ["admin"]
    assert await ask(client, "shutdown") == "Shutting down (not really)."
    assert await ask(client, "help shut") == "shutdown: stop the game"
    await client.send("help")
    assert "  shutdown" in [await client.read_line() for _ in range(9)]


def test_registration_mistakes() -> None:
    _service, commands = game()
    with pytest.raises(ValueError, match="already the command"):
        commands.command("speak", print, aliases=["'"])
    with pytest.raises(ValueError, match="one word"):
        commands.command("two words", print)
    with pytest.raises(TypeError, match="not a handler"):
        commands.command("broken", 42)
