"""Tutorial step 2: commands instead of one echo handler."""

from __future__ import annotations

import hubbub
from hubbub import events
from hubbub.contrib.commands import Commands

service = hubbub.Service(listen=["telnet://127.0.0.1:9000"])
commands = Commands(service)  # answers every line; "help" comes built in


@service.listen(events.Connect)
def greet(event: events.Connect) -> None:
    event.client.write("Welcome to Lantern Hill. Type help.")


@commands.command("look", aliases=["l"], help="look: where you are")
def look(event: events.Receive, args: str) -> None:
    event.client.write("A hilltop. A lantern hangs from an old post.")


@commands.command("light", help="light: light the lantern")
def light(event: events.Receive, args: str) -> None:
    event.client.write("The lantern glows.")


if __name__ == "__main__":
    service.run()
