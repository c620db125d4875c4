"""hubbub.contrib.admin over real sockets: who may use it, kick, bans by account and
by address (persisted, applied at Connecting and at login), roles, announce, shutdown."""

from __future__ import annotations

import asyncio

import hubbub
from hubbub import events
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.admin import Admin, Ban
from hubbub.contrib.commands import Commands
from hubbub.testing import AsyncTestClient

from ..conftest import Start, connect, until
from .test_accounts import arrive, log_in


def game() -> tuple[hubbub.Service, list[str]]:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")
    commands = Commands(service)
    Accounts(service, commands=commands)
    Admin(service, commands)
    blocked: list[str] = []
    service.listen(events.Blocked, lambda e: blocked.append(e.reason))
    return service, blocked


async def say(client: AsyncTestClient, line: str) -> str:
    await client.send(line)
    return await client.read_line()


async def test_only_administrators_have_the_commands(start: Start) -> None:
    service, _ = game()
    await start(service)
    root = await arrive(service, "Root")  # the first account: an administrator
    bob = await arrive(service, "Bob")
    assert await say(bob, "kick root") == "Unknown command: kick. Type help for the list."
    assert await say(root, "grant bob admin") == "Bob: admin."
    assert await say(bob, "kick nobody") == "Nobody called nobody is here."
    assert await say(root, "revoke bob admin") == "Bob: no roles."
    assert (await say(bob, "announce hi")).startswith("Unknown command")


async def test_kick_and_account_ban(start: Start) -> None:
    service, _ = game()
    await start(service)
    root = await arrive(service, "Root")
    bob = await arrive(service, "Bob")
    assert await say(root, "kick bob flooding") == "Bob is kicked."
    assert await bob.read_line() == "You have been kicked: flooding"
    assert await bob.closed()
    bob = await arrive(service, "Bob", new=False)
    assert await say(root, "ban BOB rude") == "Banned bob."
    assert await bob.read_line() == "You are banned: rude"
    assert await bob.closed()
    assert Ban.get("account:bob") is not None  # persisted
    again = await connect(service)
    await log_in(again, "bob")
    await again.expect("Bob is banned: rude.")
    assert await again.closed()
    assert await say(root, "unban bob") == "Unbanned bob."
    await arrive(service, "Bob", new=False)


async def test_address_ban_is_applied_at_connecting(start: Start) -> None:
    service, blocked = game()
    await start(service)
    root = await arrive(service, "Root")
    address = service.servers[0].address
    assert isinstance(address, tuple)
    assert await say(root, "ban 127.0.0.2/32 spam") == "Banned 127.0.0.2/32."
    reader, writer = await asyncio.open_connection(*address[:2], local_addr=("127.0.0.2", 0))
    assert await asyncio.wait_for(reader.read(), 5) == b"You are banned from here: spam\r\n"
    writer.close()
    await until(lambda: blocked)
    await say(root, "bans")
    assert await root.read_line() == "  127.0.0.2/32: spam (by root)"
    assert await say(root, "ban not-an-account") == "There is no account not-an-account."
    assert await say(root, "unban 10.0.0.0/8") == "10.0.0.0/8 is not banned."


async def test_announce_and_shutdown(start: Start) -> None:
    service, _ = game()
    await start(service)
    root = await arrive(service, "Root")
    bob = await arrive(service, "Bob")
    await root.send("announce Tea is served")
    assert await bob.read_line() == "[Announcement] Tea is served"
    assert await root.read_line() == "[Announcement] Tea is served"
    assert await say(root, "shutdown soon") == "shutdown [seconds]: the seconds are a number."
    await root.send("shutdown 0.1")
    assert await bob.read_line() == "[Announcement] The service is shutting down in 0.1 seconds."
    assert await bob.closed(timeout=5)
    await until(lambda: not service.servers[0].listener)
