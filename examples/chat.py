"""A chat server: the classic first program for hubbub.

Run it with ``hubbub run examples/chat.py`` (or ``python examples/chat.py``)
and connect with ``telnet 127.0.0.1 9000``.

Commands: ``/me ACTION``, ``/who``, ``/quit``. Anything else is said to
everyone. Only people who have given a name see the chat.

hubbub has already removed control characters and escape sequences from
every line; the example also drops the invisible characters that reorder
text (right-to-left overrides), so nobody can make a line read backwards,
and compares names as Unicode does (``Zoë`` typed two ways is one name).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Generator
from typing import Any

import hubbub
from hubbub import events

service = hubbub.Service()

MAX_NAME = 24
# Bidirectional overrides, embeddings and isolates: invisible, and they can
# make the rest of a line display in reverse.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """What a user typed, in one Unicode form and without bidi controls."""
    return BIDI_CONTROLS.sub("", unicodedata.normalize("NFC", text)).strip()


def named(client: hubbub.Client) -> bool:
    return getattr(client, "username", None) is not None


def name_problem(name: str) -> str | None:
    if not name:
        return "A name needs at least one character."
    if len(name) > MAX_NAME or not name.isprintable() or name.startswith("/"):
        return f"Names are up to {MAX_NAME} printable characters and don't start with /."
    if any(c.username.casefold() == name.casefold() for c in service.clients if named(c)):
        return f"{name} is already here."
    return None


@service.listen(events.Connect)
def connect(event: events.Connect) -> Generator[None, Any, None]:
    client = event.client
    client.prompt("Welcome. Please enter your name: ")
    while True:
        username = clean((yield))
        problem = name_problem(username)
        if problem is None:
            break
        client.prompt(problem, "Please enter your name: ")
    client.username = username
    client.write(f"Welcome, {username}")
    service.write_all(f"{username} has connected", exclude=client, filter=named)


@service.listen(events.Receive)
def receive(event: events.Receive) -> None:
    client = event.client
    if not named(client):
        return
    text = clean(event.data)
    if not text:
        return
    if text.startswith("/"):
        command, _, rest = text.partition(" ")
        command = command.lower()
        if command == "/me" and rest.strip():
            service.write_all(f"{client.username} {rest.strip()}", filter=named)
        elif command == "/who":
            names = sorted(c.username for c in service.clients if named(c))
            client.write(f"Here now ({len(names)}): {', '.join(names)}")
        elif command == "/quit":
            client.write("Goodbye!")
            client.close()
        else:
            client.write(f"Unknown command {command}. Try /me ACTION, /who or /quit.")
        return
    service.write_all(f"{client.username}> {text}", filter=named)


@service.listen(events.Disconnect)
def disconnect(event: events.Disconnect) -> None:
    if named(event.client):
        service.write_all(f"{event.client.username} has disconnected", filter=named)


@service.listen(events.PreStop)
def shutting_down(event: events.PreStop) -> None:
    service.write_all("", "The chat server is shutting down. Goodbye!")


if __name__ == "__main__":
    service.run()
