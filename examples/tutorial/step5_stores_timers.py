"""Tutorial step 5: a record of your own (lantern oil) and a timer that burns it."""

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
#: Seconds between the lantern's flickers (a test shortens it).
FLICKER = 30.0


class Lantern(hubbub.Store):
    """One lantern per player: kept across logins and restarts."""

    oil: int = 3
    lit: bool = False


@service.listen(events.PostStart)
def build(event: events.PostStart) -> None:
    if Room.get("hilltop") is None:
        rooms.add("hilltop", "The Hilltop", "A lantern hangs from an old post.", {"down": "path"})
        rooms.add("path", "A Steep Path", "It winds down to a village.", {"up": "hilltop"})


@commands.command("light", help="light: light your lantern")
def light(event: events.Receive, args: str) -> None:
    lantern = Lantern.get_or_create(event.client.account)
    if lantern.oil <= 0:
        event.client.write("Your lantern has no oil left.")
        return
    lantern.lit = True
    lantern.save()
    event.client.write(f"Your lantern glows. ({lantern.oil} oil left)")


@service.every(FLICKER)
def burn(event: events.Tick) -> None:
    """Every lit lantern of a player who is here burns one oil."""
    for client in service.clients:
        account = getattr(client, "account", None)
        lantern = Lantern.get(account) if account else None
        if lantern is None or not lantern.lit:
            continue
        lantern.oil -= 1
        if lantern.oil <= 0:
            lantern.lit = False
            client.write("Your lantern flickers and goes out.")
        lantern.save()


if __name__ == "__main__":
    service.run()
