"""A talker: accounts, rooms, chat and administration, from hubbub's contrib kit.

Run it with ``hubbub run examples/talker.py`` and connect with
``telnet 127.0.0.1 9000`` (or add ``--listen ws://127.0.0.1:9080`` and open it
in a browser). The first account created is the administrator. Accounts,
rooms and bans are kept in ``talker.db`` in the working directory.

Commands: ``look``, ``go <exit>`` (or the exit's name: ``north``, ``n``),
``say`` (``'``), ``emote`` (``:``), ``who``, ``shout`` (everyone, in every
room), ``help``, ``quit``; administrators also ``kick``, ``ban``,
``unban``, ``bans``, ``announce``, ``grant``, ``revoke``, ``shutdown``.
"""

from __future__ import annotations

import hubbub
from hubbub import events
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.admin import Admin
from hubbub.contrib.commands import Commands
from hubbub.contrib.rooms import Room, Rooms, name_of

service = hubbub.Service(storage="sqlite:///talker.db")
commands = Commands(service)
accounts = Accounts(service, commands=commands, welcome="Welcome to the talker!")
admin = Admin(service, commands)  # before Rooms: a banned player never arrives
rooms = Rooms(service, commands, start="lobby")


@service.listen(events.PostStart)
def build(event: events.PostStart) -> None:
    """The world, made once (builders change it later; it is kept in the store)."""
    if Room.get("lobby") is None:
        rooms.add(
            "lobby",
            "The Lobby",
            "A bright hall with deep chairs. A door leads north to the garden, "
            "and stairs go up to the library.",
            exits={"north": "garden", "up": "library"},
        )
        rooms.add(
            "garden",
            "The Garden",
            "Roses climb the old walls. The lobby is south.",
            exits={"south": "lobby"},
        )
        rooms.add(
            "library",
            "The Library",
            "Quiet shelves, and a window over the garden. Stairs lead down.",
            exits={"down": "lobby"},
        )


@commands.command("shout", help="shout <text>: everyone hears it, in every room")
def shout(event: events.Receive, text: str) -> None:
    if not text:
        event.client.write("Shout what?")
        return
    name = name_of(event.client)
    service.write_all(
        f'{name} shouts: "{text[:300]}"',
        exclude=event.client,
        filter=lambda c: getattr(c, "account", None) is not None,  # logged in only
    )
    event.client.write(f'You shout: "{text[:300]}"')


@commands.command("quit", help="quit: leave the talker")
def leave(event: events.Receive, args: str) -> None:
    event.client.write("Goodbye!")
    event.client.close()


if __name__ == "__main__":
    service.run()
