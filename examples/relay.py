"""A relay: people connected here talk to a far service through one outbound link.

Run it with ``hubbub run examples/relay.py`` and connect with
``telnet 127.0.0.1 9000``. It connects out to ``RELAY_TARGET`` (an
environment variable; default ``telnet://127.0.0.1:4000``):

* each line someone types here is sent to the target as ``[relay] LINE``;
* each line the target sends is shown to everyone here as ``[far] LINE``;
* when the target goes away, everyone here is told, and the link is
  reopened (waits of 1 s, 2 s, 4 s … up to 60 s) until it is back.

``RELAY_RETRY`` sets the first wait in seconds (default 1). The target may
be down when the relay starts: it is dialled with the same waits.

Try it with the chat example as the target::

    hubbub run examples/chat.py --listen telnet://127.0.0.1:4000
    RELAY_TARGET=telnet://127.0.0.1:4000 hubbub run examples/relay.py

(the chat asks the relay for a name first: the first line anyone types here
becomes the relay's name there.)
"""

from __future__ import annotations

import asyncio
import logging
import os

import hubbub
from hubbub import events
from hubbub.outbound import Backoff

service = hubbub.Service()
log = logging.getLogger("relay")

FAR = "far"  # the link's name: handlers below filter on it
TO_FAR = "[relay] "
FROM_FAR = "[far] "


class Relay:
    """The link (a hubbub Client) and the task that opens it the first time."""

    link: hubbub.Client | None = None
    dialling: asyncio.Task[None] | None = None


relay = Relay()


def target() -> str:
    return os.environ.get("RELAY_TARGET", "telnet://127.0.0.1:4000")


def backoff() -> Backoff:
    return Backoff(first=float(os.environ.get("RELAY_RETRY", "1")))


async def dial() -> None:
    """Open the link, waiting longer after each failure; hubbub keeps it up after that."""
    waits = backoff()
    failures = 0
    while True:
        try:
            relay.link = await service.connect(target(), name=FAR, reconnect=waits)
            return
        except hubbub.Unreachable:
            await asyncio.sleep(waits.delay(failures, 0.0))
            failures += 1


@service.listen(events.PostStart)
def start_dialling(event: events.PostStart) -> None:
    relay.dialling = asyncio.get_running_loop().create_task(dial())


@service.listen(events.PreStop)
def stop_dialling(event: events.PreStop) -> None:
    if relay.dialling is not None:
        relay.dialling.cancel()


@service.listen(events.Unreachable, server=FAR)
def unreachable(event: events.Unreachable) -> None:
    log.info("relay target %s unreachable: %s", event.url, event.reason)


@service.listen(events.Connect, server=FAR)
def linked(event: events.Connect) -> None:
    service.write_all(f"*** linked to {event.server.url}")


@service.listen(events.Disconnect, server=FAR)
def unlinked(event: events.Disconnect) -> None:
    service.write_all(f"*** lost the link to {event.server.url}; reconnecting")


@service.listen(events.Receive)
def receive(event: events.Receive) -> None:
    if event.server.outbound:  # a line from the far side
        service.write_all(FROM_FAR + event.data)
    elif relay.link is not None and relay.link.connected:
        relay.link.write(TO_FAR + event.data)
    else:
        event.client.write("*** no link right now; that line was not sent")


if __name__ == "__main__":
    service.run()
