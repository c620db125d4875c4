"""Admin: roles, kick, ban, announce, shutdown and restart, for players with the ``admin`` role.

```python
admin = Admin(service, commands)
```

- **Roles** live on the account (``Account.roles``) and are copied to
  ``client.roles`` at login; ``grant <name> <role>`` and ``revoke <name>
  <role>`` change them (the first account is an administrator, see
  :mod:`hubbub.contrib.accounts`). A command with ``permission="builder"``
  is then a builder's.
- ``kick <name> [reason]`` closes that player's connection, telling them why.
- ``ban <name or address/CIDR> [reason]`` kicks and keeps them out: bans are a
  store (``Ban``, persisted). An address ban is applied through
  ``events.Connecting`` (refused before ``Connect``, ``Blocked`` fires); an
  account ban at login. ``unban`` lifts one, ``bans`` lists them.
- ``announce <text>`` reaches everyone; ``shutdown [seconds]`` announces,
  waits, and stops the service gracefully (everything saved is written).
- ``restart`` hot-restarts the service with the code as it is now on disk
  (see docs/restart.md): nobody is disconnected; if the new code does not
  load, the running version serves on and the log says why.

Built only on hubbub's public API and the accounts and commands modules.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from typing import Any

from .. import Client, Service, Store, events
from .accounts import Account, fold_name

__all__ = ["Admin", "Ban"]

ADMIN = "admin"


class Ban(Store, kind="bans"):
    """A ban: key ``account:<name>`` or ``net:<CIDR>``."""

    reason: str = ""
    by: str = ""
    since: float = 0.0


def network_of(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """``text`` as a network (an address alone is a /32 or /128), or None."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


class Admin:
    """The administrators' commands, and the bans they set."""

    def __init__(self, service: Service, commands: Any) -> None:
        self.service = service
        self.commands = commands
        for name, func, text in (
            ("kick", self.kick, "kick <name> [reason]: disconnect a player"),
            ("ban", self.ban, "ban <name or address/CIDR> [reason]: keep them out"),
            ("unban", self.unban, "unban <name or address/CIDR>: lift a ban"),
            ("bans", self.bans, "bans: the bans in force"),
            ("announce", self.announce, "announce <text>: tell everyone"),
            ("shutdown", self.shutdown, "shutdown [seconds]: stop the service"),
            ("restart", self.restart, "restart: load the code anew; nobody is disconnected"),
            ("grant", self.grant, "grant <name> <role>: give a player a role"),
            ("revoke", self.revoke, "revoke <name> <role>: take a role away"),
        ):
            commands.command(name, func, help=text, permission=ADMIN)
        service.listen(events.Connecting, self._screen)
        service.listen(events.Login, self._check_login)

    # --- finding players ----------------------------------------------------------------
    def online(self, name: str) -> Client | None:
        key = fold_name(name)
        for client in self.service.clients:
            if getattr(client, "account", None) == key:
                return client
        return None

    # --- bans -------------------------------------------------------------------------------
    def banned_address(self, address: str) -> Ban | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None
        for ban in Ban.all():
            if ban.key.startswith("net:"):
                net = network_of(ban.key[4:])
                if net is not None and ip.version == net.version and ip in net:
                    return ban
        return None

    def _screen(self, event: events.Connecting) -> None:
        address = event.client.address[0] if event.client.address else ""
        ban = self.banned_address(str(address))
        if ban is not None:
            event.refuse(f"You are banned from here{': ' + ban.reason if ban.reason else '.'}")

    def _check_login(self, event: events.Login) -> None:
        ban = Ban.get(f"account:{event.account}")
        if ban is not None:
            event.stop()  # (make Admin before Rooms, so nobody sees them arrive)
            event.client.write(f"{event.client.name} is banned: {ban.reason or 'no reason given'}.")
            event.client.close()

    # --- commands -------------------------------------------------------------------------
    def kick(self, event: events.Receive, args: str) -> None:
        name, _, reason = args.partition(" ")
        target = self.online(name) if name else None
        if target is None:
            event.client.write(f"Nobody called {name[:40] or '…'} is here.")
            return
        target.write(f"You have been kicked{': ' + reason.strip() if reason.strip() else '.'}")
        target.close()
        event.client.write(f"{target.name} is kicked.")

    def ban(self, event: events.Receive, args: str) -> None:
        what, _, reason = args.partition(" ")
        if not what:
            event.client.write("Ban whom? ban <name or address/CIDR> [reason]")
            return
        net = network_of(what)
        by = str(getattr(event.client, "account", "") or "")
        if net is not None:
            key = f"net:{net}"
            victims = [
                c
                for c in self.service.clients
                if c.address and self._in(str(c.address[0]), net) and c is not event.client
            ]
        else:
            account = Account.get(fold_name(what))
            if account is None:
                event.client.write(f"There is no account {what[:40]}.")
                return
            key = f"account:{account.key}"
            victims = [c for c in [self.online(account.key)] if c is not None]
        Ban.get_or_create(key, reason=reason.strip(), by=by, since=time.time())
        for victim in victims:
            victim.write(f"You are banned{': ' + reason.strip() if reason.strip() else '.'}")
            victim.close()
        event.client.write(f"Banned {key.split(':', 1)[1]}.")

    @staticmethod
    def _in(address: str, net: Any) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return bool(ip.version == net.version and ip in net)

    def unban(self, event: events.Receive, args: str) -> None:
        what = args.strip()
        net = network_of(what) if what else None
        key = f"net:{net}" if net is not None else f"account:{fold_name(what)}"
        ban = Ban.get(key)
        if ban is None:
            event.client.write(f"{what[:40] or 'That'} is not banned.")
            return
        ban.delete()
        event.client.write(f"Unbanned {what}.")

    def bans(self, event: events.Receive, args: str) -> None:
        found = sorted(Ban.all(), key=lambda b: b.key)
        if not found:
            event.client.write("Nobody is banned.")
            return
        event.client.write(
            "Bans:",
            *(f"  {b.key.split(':', 1)[1]}: {b.reason or 'no reason'} (by {b.by})" for b in found),
        )

    def announce(self, event: events.Receive, args: str) -> None:
        if not args:
            event.client.write("Announce what?")
            return
        self.service.write_all(f"[Announcement] {args[:500]}")

    def shutdown(self, event: events.Receive, args: str) -> None:
        try:
            delay = min(max(float(args), 0.0), 3600.0) if args else 0.0
        except ValueError:
            event.client.write("shutdown [seconds]: the seconds are a number.")
            return
        when = f" in {delay:g} seconds" if delay else " now"
        self.service.write_all(f"[Announcement] The service is shutting down{when}.")

        async def later() -> None:
            await asyncio.sleep(delay)
            await self.service.stop()

        asyncio.get_running_loop().create_task(later())

    def restart(self, event: events.Receive, args: str) -> None:
        event.client.write("Restarting with the code on disk; everyone stays connected.")
        self.service.restart()

    def _roles(self, event: events.Receive, args: str, add: bool) -> None:
        name, _, role = args.partition(" ")
        role = role.strip().lower()
        account = Account.get(fold_name(name)) if name else None
        if account is None or not role:
            verb = "grant" if add else "revoke"
            event.client.write(f"{verb} <name> <role>: no account {name[:40] or '…'}, or no role.")
            return
        roles = [r for r in account.roles if r != role] + ([role] if add else [])
        account.roles = roles
        account.save()
        online = self.online(account.key)
        if online is not None:
            online.roles = list(roles)
        event.client.write(f"{account.name}: {', '.join(roles) or 'no roles'}.")

    def grant(self, event: events.Receive, args: str) -> None:
        self._roles(event, args, True)

    def revoke(self, event: events.Receive, args: str) -> None:
        self._roles(event, args, False)
