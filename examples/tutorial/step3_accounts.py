"""Tutorial step 3: players log in; their accounts are kept in lantern.db."""

from __future__ import annotations

import hubbub
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.commands import Commands

service = hubbub.Service(listen=["telnet://127.0.0.1:9000"], storage="sqlite:///lantern.db")
commands = Commands(service)
accounts = Accounts(service, commands=commands, welcome="Welcome to Lantern Hill!")


@commands.command("look", aliases=["l"], help="look: where you are")
def look(event: hubbub.events.Receive, args: str) -> None:
    event.client.write("A hilltop. A lantern hangs from an old post.")


@commands.command("whoami", help="whoami: your name")
def whoami(event: hubbub.events.Receive, args: str) -> None:
    event.client.write(f"You are {event.client.name}.")


if __name__ == "__main__":
    service.run()
