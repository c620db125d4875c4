"""What a restart carries for a client beyond its snapshot, and how it is put back.

:meth:`hubbub.Client.snapshot` holds what hubbub keeps about a client. A
restart adds two things only the dispatcher knows: input the client sent
that no handler has taken yet (``"input"``), and the chain that was still
running for it (``"resume"``). A generator or coroutine cannot cross a
process, so in the new process that chain runs again from the handler that
was running: a handler waiting for an answer asks its question again.
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import TYPE_CHECKING, Any

from ..dispatch import Dispatcher, Inbox, handler_name
from ..events import Event

if TYPE_CHECKING:
    from ..client import Client
    from ..server import Server

__all__ = ["pending_mark", "pending_of", "resume"]

log = logging.getLogger("hubbub.restart")

# Event attributes that stand for live objects, saved by name.
_CLIENT = {"$": "client"}
_SERVICE = {"$": "service"}


def pending_of(client: Client) -> dict[str, Any]:
    """The client's queued input and running chain, as JSON data (may be empty)."""
    inbox = client.inbox
    if not isinstance(inbox, Inbox):
        return {}
    saved: dict[str, Any] = {}
    queued = inbox.queued_input()
    if queued:
        saved["input"] = [
            ["text", item] if isinstance(item, str) else ["chunk", item.decode("latin-1")]
            for item in queued
        ]
    running = inbox.running()
    if running is not None:
        event, handler = running
        saved["resume"] = {
            "event": f"{type(event).__module__}:{type(event).__qualname__}",
            "handler": handler_name(handler),
            "attributes": _attributes(event, client),
        }
    return saved


def pending_mark(client: Client) -> tuple[int, int] | None:
    """A cheap value that changes whenever :func:`pending_of` would (None: nothing pending)."""
    inbox = client.inbox
    if not isinstance(inbox, Inbox):
        return None
    items = inbox.items
    running = inbox.running()
    if not items and running is None:
        return None
    return (len(items) if items else 0, id(running[0]) if running is not None else 0)


def _attributes(event: Event, client: Client) -> dict[str, Any]:
    """An event's attributes as JSON: the client and service by mark, a server by name."""
    saved: dict[str, Any] = {}
    for name, value in event.__dict__.items():
        if name.startswith("_") or name in ("stopped", "pending"):
            continue
        if value is client:
            saved[name] = _CLIENT
        elif name == "server" and hasattr(value, "name"):
            saved[name] = {"$": "server", "name": value.name}
        elif name == "service":
            saved[name] = _SERVICE
        else:
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                continue  # a live object: the re-run handler goes without it
            saved[name] = value
    return saved


def _find_class(path: str) -> type[Event] | None:
    module_name, _, qualname = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return found if isinstance(found, type) and issubclass(found, Event) else None


def resume(
    dispatcher: Dispatcher,
    client: Client,
    state: dict[str, Any],
    servers: list[Server],
    service: Any,
) -> None:
    """Put back what :func:`pending_of` saved: re-run the chain, then queue the input."""
    running = state.get("resume")
    if running:
        _rerun(dispatcher, client, running, servers, service)
    for kind, value in state.get("input", ()):
        data: str | bytes = value if kind == "text" else str(value).encode("latin-1")
        dispatcher.receive(client.inbox, data)


def _rerun(
    dispatcher: Dispatcher,
    client: Client,
    running: dict[str, Any],
    servers: list[Server],
    service: Any,
) -> None:
    event_class = _find_class(str(running.get("event", "")))
    handler = str(running.get("handler", ""))
    if event_class is None:
        log.warning(
            "%r: %s was running for it, but that event class is gone; not run again",
            client,
            running.get("event"),
        )
        return
    attributes: dict[str, Any] = {}
    for name, value in dict(running.get("attributes", {})).items():
        if value == _CLIENT:
            value = client
        elif value == _SERVICE:
            value = service
        elif isinstance(value, dict) and value.get("$") == "server":
            value = next((s for s in servers if s.name == value.get("name")), client.server)
        attributes[name] = value
    event = event_class(**attributes)
    if not dispatcher.run_from(event, handler):
        log.warning(
            "%r: handler %s was running for it, but it is no longer bound to %s; not run again",
            client,
            handler,
            event_class.__name__,
        )
