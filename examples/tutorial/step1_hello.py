"""Tutorial step 1: a service that greets and echoes (see docs/tutorial.md)."""

from __future__ import annotations

import hubbub
from hubbub import events

service = hubbub.Service(listen=["telnet://127.0.0.1:9000"])


@service.listen(events.Connect)
def greet(event: events.Connect) -> None:
    event.client.write("Welcome to Lantern Hill. Type something.")


@service.listen(events.Receive)
def echo(event: events.Receive) -> None:
    event.client.write(f"You typed: {event.data}")


if __name__ == "__main__":
    service.run()
