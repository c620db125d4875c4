"""Tutorial step 4: a world of rooms, built once and kept in the store."""

from __future__ import annotations

import hubbub
from hubbub import events
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.commands import Commands
from hubbub.contrib.rooms import Room, Rooms

service = hubbub.Service(listen=["telnet://127.0.0.1:9000"], storage="sqlite:///lantern.db")
commands = Commands(service)
accounts = Accounts(service, commands=commands, welcome="Welcome to Lantern Hill!")
rooms = Rooms(service, commands, start="hilltop")


@service.listen(events.PostStart)
def build(event: events.PostStart) -> None:
    if Room.get("hilltop") is None:
        rooms.add("hilltop", "The Hilltop", "A lantern hangs from an old post.", {"down": "path"})
        rooms.add("path", "A Steep Path", "It winds down to a village.", {"up": "hilltop"})


if __name__ == "__main__":
    service.run()
