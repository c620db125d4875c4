"""Rooms: places with exits, where what is said is heard by those present.

```python
rooms = Rooms(service, commands)
rooms.add("lobby", "The Lobby", "A quiet hall.", exits={"north": "garden"})
rooms.add("garden", "The Garden", "Roses.", exits={"south": "lobby"})
```

Rooms and exits are a store (``Room``, kind "rooms"): made in code or by
builders, they persist. A player is put in a room at ``events.Login`` (the
one they left last time, else ``start``) and joins its group
(``room:<key>``), so ``say`` and ``emote`` reach exactly those present.
Commands: ``look`` (``l``), ``go <exit>`` and the exit's bare name (also
``n``, ``s``, ``e``, ``w``, ``u``, ``d`` and any unique prefix of an exit),
``say`` (``'``), ``emote`` (``:``), ``who``. Where each player is lives in
the ``Whereabouts`` store, keyed by account.
"""

from __future__ import annotations

from typing import Any

from .. import Client, Service, Store, ansi, events

__all__ = ["Room", "Rooms", "Whereabouts"]

SHORT = {"n": "north", "s": "south", "e": "east", "w": "west", "u": "up", "d": "down"}
MAX_SAY = 500


class Room(Store, kind="rooms"):
    """A place: its title, description and exits (direction to room key)."""

    title: str = "Somewhere"
    description: str = ""
    exits: dict[str, str] = {}  # noqa: RUF012 (copied per record)


class Whereabouts(Store, kind="whereabouts"):
    """Where an account's player was last (key: the account)."""

    room: str = ""


def name_of(client: Client) -> str:
    return str(getattr(client, "name", None) or getattr(client, "account", None) or "Someone")


class Rooms:
    """Rooms with exits, and the commands to move and talk in them."""

    def __init__(self, service: Service, commands: Any, *, start: str = "lobby") -> None:
        self.service = service
        self.commands = commands
        self.start = start
        commands.command("look", self.look, aliases=["l"], help="look: the room you are in")
        commands.command("go", self.go, help="go <exit>: leave by an exit (or type the exit)")
        commands.command("say", self.say, aliases=["'"], help="say <text>: speak to the room")
        commands.command("emote", self.emote, aliases=[":"], help="emote <action>: act it out")
        commands.command("who", self.who, help="who: who is in this room")
        commands.fallback(self._exit_word)
        service.listen(events.Login, self._arrive)
        service.listen(events.Logout, self._depart)

    # --- the world ----------------------------------------------------------------------
    def add(
        self, key: str, title: str, description: str = "", exits: dict[str, str] | None = None
    ) -> Room:
        """Make (or update) a room and save it."""
        room = Room.get_or_create(key)
        room.title, room.description, room.exits = title, description, dict(exits or {})
        room.save()
        return room

    def room_of(self, client: Client) -> Room | None:
        key = getattr(client, "room", None)
        return Room.get(key) if isinstance(key, str) else None

    def present(self, room: Room) -> list[Client]:
        return list(self.service.groups.members(f"room:{room.key}"))

    def enter(self, client: Client, key: str, *, arriving: str = "arrives") -> None:
        """Move ``client`` into room ``key`` (leaving the one it is in quietly)."""
        room = Room.get(key) or Room.get(self.start) or self.add(self.start, "The Lobby")
        old = getattr(client, "room", None)
        if isinstance(old, str):
            client.leave(f"room:{old}")
        self.service.write_to(f"room:{room.key}", f"{name_of(client)} {arriving}.")
        client.join(f"room:{room.key}")
        client.room = room.key
        account = getattr(client, "account", None)
        if isinstance(account, str):
            where = Whereabouts.get_or_create(account)
            where.room = room.key
            where.save()
        self._show(client, room)

    def _show(self, client: Client, room: Room) -> None:
        others = [name_of(c) for c in self.present(room) if c is not client]
        exits = ", ".join(room.exits) or "none"
        client.write(ansi.render("{bold}" + room.title.replace("{", "{{") + "{/}", client))
        if room.description:
            client.write(room.description)
        client.write(f"Exits: {exits}.")
        if others:
            client.write(f"Here: {', '.join(others)}.")

    # --- events -------------------------------------------------------------------------
    def _arrive(self, event: events.Login) -> None:
        where = Whereabouts.get(event.account)
        self.enter(event.client, where.room if where and where.room else self.start)

    def _depart(self, event: events.Logout) -> None:
        client = event.client
        key = getattr(client, "room", None)
        if isinstance(key, str):
            client.leave(f"room:{key}")
            self.service.write_to(f"room:{key}", f"{name_of(client)} leaves.")
            client.room = None

    # --- commands -----------------------------------------------------------------------
    def look(self, event: events.Receive, args: str) -> None:
        room = self.room_of(event.client)
        if room is None:
            event.client.write("You are nowhere.")
        else:
            self._show(event.client, room)

    def go(self, event: events.Receive, args: str) -> None:
        if not args:
            event.client.write("Go where?")
        elif not self._move(event.client, args.split()[0].casefold()):
            event.client.write(f"There is no exit {args[:40]}.")

    def _exit_word(self, event: events.Receive, word: str, args: str) -> bool:
        return self._move(event.client, word)

    def _move(self, client: Client, word: str) -> bool:
        room = self.room_of(client)
        if room is None:
            return False
        word = SHORT.get(word, word)
        exits = [name for name in room.exits if name.casefold() == word]
        if not exits:
            exits = [name for name in room.exits if name.casefold().startswith(word)]
        if len(exits) != 1:
            if len(exits) > 1:
                client.write(f"{word} could be: {', '.join(exits)}.")
                return True
            return False
        direction = exits[0]
        self.service.write_to(
            f"room:{room.key}", f"{name_of(client)} leaves {direction}.", exclude=client
        )
        self.enter(client, room.exits[direction])
        return True

    def say(self, event: events.Receive, text: str) -> None:
        client = event.client
        room = self.room_of(client)
        if not text:
            client.write("Say what?")
            return
        text = text[:MAX_SAY]
        client.write(f'You say: "{text}"')
        if room is not None:
            self.service.write_to(
                f"room:{room.key}", f'{name_of(client)} says: "{text}"', exclude=client
            )

    def emote(self, event: events.Receive, text: str) -> None:
        client = event.client
        room = self.room_of(client)
        if not text:
            client.write("Emote what?")
            return
        line = f"{name_of(client)} {text[:MAX_SAY]}"
        if room is None:
            client.write(line)
        else:
            self.service.write_to(f"room:{room.key}", line)

    def who(self, event: events.Receive, args: str) -> None:
        room = self.room_of(event.client)
        if room is None:
            event.client.write("You are nowhere.")
            return
        names = sorted(name_of(c) for c in self.present(room))
        event.client.write(f"In {room.title}:", *(f"  {name}" for name in names))
