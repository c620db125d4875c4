"""The logins scenario's server (bench/logins.py): accounts and one command, ``ping``."""

from __future__ import annotations

import hubbub
from hubbub.contrib.accounts import Accounts
from hubbub.contrib.commands import Commands

service = hubbub.Service(keepalive=0, max_connections_per_ip=0, connection_rate=0)
commands = Commands(service)
accounts = Accounts(service, commands=commands)


@commands.command("ping", help="ping: pong")
def ping(event: hubbub.events.Receive, args: str) -> None:
    event.client.write("pong")
