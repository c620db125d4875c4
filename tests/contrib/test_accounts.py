"""hubbub.contrib.accounts over real sockets, with real argon2id hashing: registering,
logging in, throttling, taking over, and bad names and passwords."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.contrib.accounts import Account, Accounts, Throttle
from hubbub.contrib.commands import Commands
from hubbub.testing import AsyncTestClient

from ..conftest import Start, connect, until

NAME_Q = "By what name do you wish to be known? "


def game(**kwargs: Any) -> tuple[hubbub.Service, list[Any]]:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")
    commands = Commands(service)
    commands.command("look", lambda e, a: e.client.write("You see a room."))
    service.accounts = Accounts(service, commands=commands, **kwargs)  # type: ignore[attr-defined]
    seen: list[Any] = []
    service.listen(events.Login, lambda e: seen.append(("login", e.account)))
    service.listen(events.Logout, lambda e: seen.append(("logout", e.account, e.reason)))
    return service, seen


async def register(client: AsyncTestClient, name: str, password: str = "secret") -> None:
    await client.expect(NAME_Q)
    await client.send(name)
    await client.expect("Create it? (yes/no) ")
    await client.send("yes")
    await client.expect("Choose a password: ")
    await client.send(password)
    await client.expect("The same again: ")
    await client.send(password)


async def welcomed(client: AsyncTestClient, name: str) -> None:
    await client.expect(f"You are {name}.")
    assert await client.read_line() == ""  # the rest of that line


async def log_in(client: AsyncTestClient, name: str, password: str = "secret") -> None:
    await client.expect(NAME_Q)
    await client.send(name)
    await client.expect("Password: ")
    await client.send(password)


async def arrive(service: hubbub.Service, name: str, new: bool = True) -> AsyncTestClient:
    """A new connection, registered (or logged in) as ``name``, up to its welcome."""
    client = await connect(service)
    await (register(client, name) if new else log_in(client, name))
    await welcomed(client, name)
    return client


async def test_the_first_account_is_an_administrator(start: Start) -> None:
    service, seen = game()
    await start(service)
    alice = await arrive(service, "Alice")
    [client] = service.clients
    assert (client.account, client.roles) == ("alice", ["admin"])
    _bob = await arrive(service, "Bob")  # (kept open: Bob stays logged in)
    record = Account.get("bob")
    assert record is not None and record.roles == [] and record.password.startswith("$argon2id$")
    assert seen == [("login", "alice"), ("login", "bob")]
    await alice.send("look")  # commands work once logged in
    assert await alice.read_line() == "You see a room."


async def test_login_wrong_password_and_lookalike_names(start: Start) -> None:
    service, seen = game()
    await start(service)
    first = await arrive(service, "Alice")
    await first.close()
    await until(lambda: ("logout", "alice", "disconnected") in seen)
    again = await connect(service)
    await log_in(again, "ALICE", "wrong")
    assert await again.read_line() == "Wrong password."
    fullwidth = "\uff21\uff4c\uff49\uff43\uff45"  # "Alice" in fullwidth letters
    await log_in(again, fullwidth)
    await welcomed(again, "Alice")


async def test_failed_logins_are_throttled_by_address(start: Start) -> None:
    service, _ = game()
    await start(service)
    client = await arrive(service, "Alice")
    await client.close()
    other = await connect(service)
    for _ in range(5):
        await log_in(other, "alice", "nope")
        assert await other.read_line() == "Wrong password."
    assert await other.read_line() == "Too many failed logins. Try again in 5 minutes."
    assert await other.closed()
    late = await connect(service)  # from the same address, even with the right password
    assert "Too many failed logins" in await late.read_line()


async def test_failed_logins_are_throttled_by_account(start: Start) -> None:
    service, _ = game()
    service.accounts.by_address = Throttle(limit=1000)  # type: ignore[attr-defined]
    await start(service)
    client = await arrive(service, "Alice")
    await client.close()
    other = await connect(service)
    for _ in range(5):
        await log_in(other, "alice", "nope")
        assert await other.read_line() == "Wrong password."
    await other.expect(NAME_Q)
    await other.send("alice")
    assert "Too many failed logins for Alice" in await other.read_line()


def test_throttle_window_and_bound() -> None:
    throttle = Throttle(limit=2, window=0.05, keys=3)
    throttle.failed("a")
    assert throttle.wait("a") == 0
    throttle.failed("a")
    assert 0 < throttle.wait("a") <= 0.05
    for key in "bcdef":
        throttle.failed(key)
    assert throttle.wait("a") == 0  # forgotten: at most 3 keys are kept


async def test_logging_in_elsewhere_takes_over(start: Start) -> None:
    service, seen = game()
    await start(service)
    old = await arrive(service, "Alice")
    new = await connect(service)
    await log_in(new, "alice")
    await welcomed(new, "Alice")
    await old.expect("logged in from elsewhere")
    assert await old.closed()
    assert ("logout", "alice", "taken over") in seen
    await new.send("look")
    assert await new.read_line() == "You see a room."


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("a", "2 to 20"),
        ("x" * 21, "2 to 20"),
        ("al\u200bice", "letters only"),  # an invisible format character
        ("bo42b", "letters only"),
        ("-bob", "starts and ends"),
        ("look", "is a command"),
        ("LOOK", "is a command"),
    ],
)
async def test_bad_names(start: Start, name: str, why: str) -> None:
    service, _ = game()
    await start(service)
    client = await connect(service)
    await client.expect(NAME_Q)
    await client.send(name)
    assert why in await client.read_line()
    await client.expect(NAME_Q)  # asked again


@pytest.mark.parametrize(
    ("password", "why"),
    [("", "cannot be empty"), ("p" * 5_000, "at most 256"), ("p" * 10_000, "Line too long")],
)
async def test_bad_passwords(start: Start, password: str, why: str) -> None:
    service, _ = game()
    await start(service)
    client = await connect(service)
    await client.expect(NAME_Q)
    await client.send("Alice")
    await client.expect("Create it? (yes/no) ")
    await client.send("yes")
    await client.expect("Choose a password: ")
    await client.send(password)
    assert why in await client.read_line()
    assert Account.get("alice") is None


async def test_hashing_does_not_stall_other_players(start: Start) -> None:
    service, _ = game()
    commands = service.accounts.commands  # type: ignore[attr-defined]
    commands.command("ping", lambda e, a: e.client.write("pong"))
    await start(service)
    admin = await arrive(service, "Admin")
    others = [await connect(service) for _ in range(6)]
    for i, other in enumerate(others):
        await other.expect(NAME_Q)
        await other.send(f"Player{'abcdef'[i]}")
        await other.expect("(yes/no) ")
        await other.send("yes")
        await other.expect("password: ")
        await other.send("secret")
        await other.expect("again: ")
    loop = asyncio.get_running_loop()
    for other in others:  # six hashes start now, together
        await other.send("secret")
    worst = 0.0
    for _ in range(10):
        began = loop.time()
        await admin.send("ping")
        assert await admin.read_line() == "pong"
        worst = max(worst, loop.time() - began)
    assert worst < 0.25, worst  # hashing runs in threads, not on the loop
