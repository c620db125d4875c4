"""Commands: what a player types, routed to the function for its first word.

```python
commands = Commands(service)

@commands.command("say", aliases=["'"], help="say <text>: speak to the room")
def say(event, text):
    event.client.write(f"You say: {text}")
```

- The first word picks the command: its name, an alias, then whatever a
  :meth:`Commands.fallback` takes (a room's exit: ``u`` is up), then a prefix
  of a name that only one command has (``sc`` for ``score``); an ambiguous
  prefix is answered with the candidates. An alias made of punctuation needs no
  space (``'hello`` is ``say hello``).
- The handler gets the event and the rest of the line (stripped); it may be
  a function, a generator (``answer = yield`` to ask something), an
  ``async def``, or a ``hubbub.Handler`` class (which reads
  ``event.command`` and ``event.args``).
- ``permission="admin"`` limits a command to clients the ``allowed`` check
  lets through (by default: the permission is in ``client.roles``); to
  anyone else it does not exist, in ``help`` or when typed.
- ``help`` lists the commands a client may use, one per line; ``help NAME``
  shows one. Unknown commands get one line.

Built only on hubbub's public API: a ``Receive`` handler.
"""

from __future__ import annotations

import inspect
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import Client, Handler, Service, events

__all__ = ["Command", "Commands"]


def _default_allowed(client: Client, permission: str) -> bool:
    return permission in set(getattr(client, "roles", ()) or ())


@dataclass
class Command:
    """One command: its name, aliases, help text, permission and handler."""

    name: str
    handler: Any
    aliases: tuple[str, ...] = ()
    help: str = ""
    permission: str | None = None
    _call: Callable[[events.Receive, str], Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        handler = self.handler
        if isinstance(handler, type) and issubclass(handler, Handler):
            runner = handler.run_async if handler.is_async() else handler.run
            self._call = lambda event, args: runner(event)
        elif callable(handler) and not inspect.isasyncgenfunction(handler):
            self._call = handler
        else:
            raise TypeError(f"command {self.name!r}: {handler!r} is not a handler")


def _fold(word: str) -> str:
    """How typed words are compared: NFKC, case-folded."""
    return unicodedata.normalize("NFKC", word).casefold()


class Commands:
    """A registry of commands, answering each line a client types."""

    def __init__(
        self,
        service: Service,
        *,
        allowed: Callable[[Client, str], bool] = _default_allowed,
        unknown: str = "Unknown command: {word}. Type help for the list.",
        help_command: bool = True,
    ) -> None:
        self.service = service
        self.allowed = allowed
        self.unknown = unknown
        self._commands: dict[str, Command] = {}
        self._words: dict[str, Command] = {}  # names and aliases, folded
        self._marks: dict[str, Command] = {}  # punctuation aliases: no space needed
        self._fallbacks: list[Callable[[events.Receive, str, str], bool]] = []
        if help_command:
            self.command("help", self._help, aliases=["?"], help="help [command]: what you can do")
        service.listen(events.Receive, self.dispatch)

    # --- registering ----------------------------------------------------------------
    def command(
        self,
        name: str,
        handler: Any = None,
        *,
        aliases: Iterable[str] = (),
        help: str = "",
        permission: str | None = None,
    ) -> Any:
        """Register ``handler`` for ``name`` (as a decorator when ``handler`` is None)."""

        def register(func: Any) -> Any:
            cmd = Command(_fold(name), func, tuple(aliases), help, permission)
            for word in (cmd.name, *(_fold(a) for a in cmd.aliases)):
                if not word or any(ch.isspace() for ch in word):
                    raise ValueError(f"command word {word!r} must be one word")
                taken = self._words.get(word)
                if taken is not None and taken.name != cmd.name:
                    raise ValueError(f"{word!r} is already the command {taken.name!r}")
                self._words[word] = cmd
                if not any(ch.isalnum() for ch in word):
                    self._marks[word] = cmd
            self._commands[cmd.name] = cmd
            return func

        return register(handler) if handler is not None else register

    # --- answering ----------------------------------------------------------------------
    def usable(self, client: Client) -> list[Command]:
        """The commands ``client`` may use, by name."""
        return [
            cmd
            for name, cmd in sorted(self._commands.items())
            if cmd.permission is None or self.allowed(client, cmd.permission)
        ]

    def find(self, client: Client, word: str) -> Command | list[Command] | None:
        """The command ``word`` means for ``client``: one, the candidates, or None."""
        word = _fold(word)
        usable = self.usable(client)
        exact = self._words.get(word)
        if exact is not None and exact in usable:
            return exact
        matches = [cmd for cmd in usable if cmd.name.startswith(word)]
        if len(matches) == 1:
            return matches[0]
        return matches or None

    def fallback(self, func: Callable[[events.Receive, str, str], bool]) -> None:
        """Ask ``func(event, word, args)`` about a word no command has, before saying it
        is unknown (rooms use it for exit names); True means it was handled."""
        self._fallbacks.append(func)

    def is_command(self, word: str) -> bool:
        """Whether ``word`` is a command's name or alias (for anyone)."""
        return _fold(word) in self._words

    def dispatch(self, event: events.Receive) -> Any:
        """The ``Receive`` handler: route the line to its command."""
        line = event.data
        if not isinstance(line, str):
            return None
        line = line.strip()
        if not line:
            return None
        client = event.client
        mark = next((m for m in self._marks if line.startswith(m)), None)
        if mark is not None:
            word, args = mark, line[len(mark) :].strip()
        else:
            word, _, args = line.partition(" ")
            args = args.strip()
        folded = _fold(word)
        exact = self._words.get(folded)
        # A word no command has: an exit's name ("u" is up before it is unban)…
        if (exact is None or exact not in self.usable(client)) and any(
            func(event, folded, args) for func in self._fallbacks
        ):
            return None
        found = self.find(client, word)  # …then a prefix of a command
        if found is None:
            client.write(self.unknown.format(word=word[:40]))
            return None
        if isinstance(found, list):
            names = ", ".join(cmd.name for cmd in found)
            client.write(f"{word[:40]} could be: {names}.")
            return None
        event.command = found.name  # type: ignore[attr-defined]
        event.args = args  # type: ignore[attr-defined]
        return found._call(event, args)

    def _help(self, event: events.Receive, args: str) -> None:
        client = event.client
        if args:
            found = self.find(client, args.split()[0])
            if isinstance(found, Command):
                aliases = f" (also: {', '.join(found.aliases)})" if found.aliases else ""
                client.write(f"{found.name}{aliases}: {found.help or 'no help written'}")
            elif isinstance(found, list):
                client.write(f"{args} could be: {', '.join(c.name for c in found)}.")
            else:
                client.write(f"There is no command {args[:40]}.")
            return
        client.write("Commands:", *(f"  {cmd.name}" for cmd in self.usable(client)))
        client.write("Type help and a command's name for more.")
