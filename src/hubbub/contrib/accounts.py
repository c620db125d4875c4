"""Accounts: logging in and registering, as MUDs and talkers do it.

```python
accounts = Accounts(service, commands=commands)
```

A player who connects is asked for a name. A known name asks for the
password (typed hidden); a new one asks for a password twice and creates
the account. Then ``client.account`` is the account's key (a string: the
client's state stays plain data), ``client.name`` its name as spelled,
``client.roles`` its roles, and
``events.Login`` fires; when the client leaves, ``events.Logout``.

- Names are NFKC-normalised and compared case-folded (fullwidth ``Alice`` and
  ``ALICE`` are ``alice``), letters only (and ``-``/``'`` inside), 2 to 20
  of them, and never a command's name.
- Passwords are hashed with argon2id (``argon2-cffi``), off the event loop,
  on at most ``HASHING_THREADS`` threads (one core's fewer than the machine
  has, at least one): a login never stalls other players, a burst of logins
  queues instead of taking every core, and the memory argon2 uses (64 MiB a
  hash) stays bounded. At most 256 characters; none is refused.
- Five failed logins in five minutes from one address, or for one account,
  and that address or account must wait.
- Logging in to an account already in use takes it over: the old
  connection is told and closed.
- The first account created in an empty store is an administrator
  (``roles == ["admin"]``).
"""

from __future__ import annotations

import asyncio
import os
import time
import unicodedata
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .. import Client, Disconnected, Service, Store, events

__all__ = ["Account", "Accounts", "Throttle", "fold_name"]

MAX_PASSWORD = 256
#: Threads hashing passwords at once: a core stays free for the event loop.
HASHING_THREADS = max(1, (os.cpu_count() or 2) - 1)
_hashing: list[ThreadPoolExecutor] = []
T = TypeVar("T")


async def _off_loop(func: Callable[..., T], *args: Any) -> T:
    """Run a password hash or check on the hashing threads."""
    if not _hashing:
        _hashing.append(
            ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="hubbub-argon2")
        )
    return await asyncio.get_running_loop().run_in_executor(_hashing[0], func, *args)
FAILURES = 5
WINDOW = 300.0


class Account(Store, kind="accounts"):
    """A player's account: key = the folded name."""

    name: str = ""  # as the player spelled it
    password: str = ""  # an argon2id hash
    roles: list[str] = []  # noqa: RUF012 (a Store default is copied per record)
    created: float = 0.0
    last_login: float = 0.0


def fold_name(text: str) -> str:
    """How names are compared: NFKC, case-folded, blanks stripped."""
    return unicodedata.normalize("NFKC", text).strip().casefold()


def check_name(text: str) -> str | None:
    """What is wrong with ``text`` as a name, or None."""
    name = unicodedata.normalize("NFKC", text).strip()
    if not 2 <= len(name) <= 20:
        return "A name is 2 to 20 letters."
    if not name[0].isalpha() or not name[-1].isalpha():
        return "A name starts and ends with a letter."
    if not all(ch.isalpha() or ch in "-'" for ch in name):
        return "A name is letters only (and - or ' inside)."
    return None


class Throttle:
    """Failures per key in a sliding window, for a bounded number of keys."""

    def __init__(self, limit: int = FAILURES, window: float = WINDOW, keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.keys = keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._seen.get(key)
        if times is not None:
            while times and times[0] <= now - self.window:
                times.popleft()
        return times

    def wait(self, key: str) -> float:
        """Seconds ``key`` must wait before trying again (0: it may try)."""
        now = time.monotonic()
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[0] + self.window - now

    def failed(self, key: str) -> None:
        now = time.monotonic()
        times = self._recent(key, now)
        if times is None:
            times = self._seen[key] = deque()
            if len(self._seen) > self.keys:
                self._seen.popitem(last=False)  # the oldest key goes: memory is bounded
        self._seen.move_to_end(key)
        times.append(now)


class Accounts:
    """The login and registration flow, bound to ``Connect``."""

    def __init__(
        self,
        service: Service,
        *,
        commands: Any = None,
        account: type[Account] = Account,
        welcome: str = "Welcome!",
    ) -> None:
        try:
            from argon2 import PasswordHasher
        except ImportError:
            raise ImportError(
                "hubbub.contrib.accounts needs argon2-cffi: pip install 'hubbub[accounts]'"
            ) from None

        self.service = service
        self.commands = commands
        self.account = account
        self.welcome = welcome
        self.hasher = PasswordHasher()
        self.by_address = Throttle()
        self.by_account = Throttle()
        self.online: dict[str, Client] = {}
        service.listen(events.Connect, self.login)
        service.listen(events.Disconnect, self._left)

    # --- the flow ------------------------------------------------------------------------
    async def login(self, event: events.Connect) -> None:
        client = event.client
        try:
            record = await self._ask(client)
        except Disconnected:
            return
        if record is None:
            client.close()
            return
        self._enter(client, record)

    async def _ask(self, client: Client) -> Account | None:
        address = str(client.address[0]) if client.address else "?"
        for _ in range(10):  # a client that never gets it right is let go
            if (wait := self.by_address.wait(address)) > 0:
                client.write(f"Too many failed logins. Try again in {_minutes(wait)}.")
                return None
            client.prompt("By what name do you wish to be known? ")
            typed = str(await client.read())
            problem = check_name(typed)
            key = fold_name(typed)
            if problem is None and self.commands is not None and self.commands.is_command(key):
                problem = "That name is a command here; choose another."
            if problem is not None:
                client.write(problem)
                continue
            record = self.account.get(key)
            if record is None:
                record = await self._register(client, key, unicodedata.normalize("NFKC", typed))
            else:
                record = await self._check_password(client, record, address)
            if record is not None:
                return record
        return None

    async def _secret(self, client: Client, question: str, *, hide_after: bool = False) -> str:
        """Ask with input hidden; ``hide_after`` keeps it hidden for a second question
        (switching echo back and forth between two questions races some clients)."""
        client.echo = False
        try:
            client.prompt(question)
            return str(await client.read())
        finally:
            if client.connected and not hide_after:
                client.echo = True

    async def _check_password(
        self, client: Client, record: Account, address: str
    ) -> Account | None:
        if (wait := self.by_account.wait(record.key)) > 0:
            client.write(
                f"Too many failed logins for {record.name}. Try again in {_minutes(wait)}."
            )
            return None
        password = await self._secret(client, "Password: ")
        if password and len(password) <= MAX_PASSWORD and await self._verify(record, password):
            return record
        self.by_address.failed(address)
        self.by_account.failed(record.key)
        client.write("Wrong password.")
        return None

    async def _verify(self, record: Account, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            await _off_loop(self.hasher.verify, record.password, password)
        except (VerificationError, InvalidHashError):
            return False
        if self.hasher.check_needs_rehash(record.password):
            record.password = await _off_loop(self.hasher.hash, password)
            record.save()
        return True

    async def _register(self, client: Client, key: str, name: str) -> Account | None:
        answer = await self._ask_line(client, f"{name} is a new name. Create it? (yes/no) ")
        if not answer.lower().startswith("y"):
            return None
        password = await self._secret(client, "Choose a password: ", hide_after=True)
        if not password:
            client.echo = True
            client.write("A password cannot be empty.")
            return None
        if len(password) > MAX_PASSWORD:
            client.echo = True
            client.write(f"A password is at most {MAX_PASSWORD} characters.")
            return None
        if await self._secret(client, "The same again: ") != password:
            client.write("The passwords differ.")
            return None
        hashed = await _off_loop(self.hasher.hash, password)
        if self.account.get(key) is not None:  # taken while we hashed
            client.write("That name was just taken.")
            return None
        first = not self.account.all()
        return self.account.create(
            key, name=name, password=hashed, roles=["admin"] if first else [], created=time.time()
        )

    async def _ask_line(self, client: Client, question: str) -> str:
        client.prompt(question)
        return str(await client.read()).strip()

    def _enter(self, client: Client, record: Account) -> None:
        old = self.online.get(record.key)
        if old is not None and old is not client and old.connected:
            old.write("You have logged in from elsewhere; this connection is closed.")
            self._logout(old, "taken over")
            old.close()
        record.last_login = time.time()
        record.save()
        client.account = record.key
        client.name = record.name
        client.roles = list(record.roles)
        self.online[record.key] = client
        client.write(f"{self.welcome} You are {record.name}.")
        self.service.trigger(events.Login(client=client, server=client.server, account=record.key))

    def _logout(self, client: Client, reason: str) -> None:
        key = getattr(client, "account", None)
        if key is None:
            return
        client.account = None
        if self.online.get(key) is client:
            del self.online[key]
        self.service.trigger(
            events.Logout(client=client, server=client.server, account=key, reason=reason)
        )

    def _left(self, event: events.Disconnect) -> None:
        self._logout(event.client, "disconnected")


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
