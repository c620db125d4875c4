"""The smallest useful hubbub service: every line comes straight back.

``hubbub run examples/echo.py --listen tcp://127.0.0.1:9001``
"""

from __future__ import annotations

import hubbub
from hubbub import events

service = hubbub.Service(listen=["tcp://127.0.0.1:9001"])


@service.listen(events.Receive)
def echo(event: events.Receive) -> None:
    event.client.write(event.data)


if __name__ == "__main__":
    service.run()
