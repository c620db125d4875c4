"""hubbub line server: ``tcp://`` or ``telnet://`` on the stdlib asyncio loop or uvloop.

Written as a hubbub user would: a ``Service``, one ``Receive`` handler, ``run()``.
The listening port is announced from a ``PostStart`` handler.
"""

from __future__ import annotations

from _common import announce, parse_args

import hubbub
import hubbub.settings
from hubbub import events

# The baselines have no limits: run hubbub's built-in ones off (where this version has them).
LIMITS_OFF = {
    name: 0
    for name in ("max_connections_per_ip", "connection_rate", "max_lines_per_second")
    if name in hubbub.settings.FIELDS
}


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], loops=("asyncio", "uvloop"))
    service = hubbub.Service(
        listen=[f"{args.proto}://{args.host}:0"],
        loop=args.loop,
        max_connections=50_000,
        # Like the Mara peer (LOGLEVEL=WARNING): no log line per connect/disconnect.
        log_level="WARNING",
        **LIMITS_OFF,
    )

    @service.listen(events.PostStart)
    def started(event: events.PostStart) -> None:
        announce(service.servers[0].address[1])

    if args.mode == "echo":

        @service.listen(events.Receive)
        def echo(event: events.Receive) -> None:
            event.client.write(event.data)

    else:

        @service.listen(events.Receive)
        def chat(event: events.Receive) -> None:
            service.write_all(event.data)

    service.run()


if __name__ == "__main__":
    main()
