"""hubbub line server: ``tcp://`` or ``telnet://`` on the stdlib asyncio loop or uvloop.

Written as a hubbub user would: a ``Service``, one ``Receive`` handler, ``run()``.
The listening port is announced from a ``PostStart`` handler.

``--transport tls`` listens on ``tls://`` (``telnets://`` with ``--proto telnet``)
with the certificate in the ``tls_cert`` and ``tls_key`` settings; ``--transport
unix`` on ``unix://PATH``. ``--limits off`` (the default) sets the per-IP and
per-client limits to 0, so that hubbub is compared with bare servers that have
none; ``--limits on`` leaves them at their defaults. A hubbub without the scheme
or the limit settings exits with a one-line reason (status 3).
"""

from __future__ import annotations

import sys
from typing import Any

from _common import announce, parse_args

import hubbub
from hubbub import events
from hubbub.settings import FIELDS
from hubbub.transports import SCHEMES

SCHEME = {
    ("tcp", "tcp"): "tcp",
    ("tcp", "telnet"): "telnet",
    ("tls", "tcp"): "tls",
    ("tls", "telnet"): "telnets",
    ("unix", "tcp"): "unix",
    ("ws", "tcp"): "ws",
}

# Every per-IP and per-client limit, and its "off" value.
LIMITS_OFF = {"max_connections_per_ip": 0, "connection_rate": 0, "max_lines_per_second": 0}

UNSUPPORTED = 3


def unsupported(why: str) -> None:
    sys.stderr.write(f"unsupported: {why}\n")
    sys.exit(UNSUPPORTED)


def main() -> None:
    args = parse_args(
        __doc__.splitlines()[0],
        loops=("asyncio", "uvloop"),
        choices={"--limits": ("off", "on")},
    )
    scheme = SCHEME.get((args.transport, args.proto))
    if scheme is None:
        unsupported(f"no {args.proto} line mode over {args.transport}")
    if scheme not in SCHEMES:
        unsupported(f"this hubbub has no {scheme}:// listener")
    settings: dict[str, Any] = {}
    listen = f"unix://{args.path}" if args.transport == "unix" else f"{scheme}://{args.host}:0"
    if args.transport == "ws":
        # Like the websockets baseline: no page, no keepalive pings.
        listen += "?page=0"
        settings.update(ws_ping_interval=0)
    if args.transport == "tls":
        settings.update(tls_cert=args.cert, tls_key=args.key)
    missing = [name for name in LIMITS_OFF if name not in FIELDS]
    if args.limits == "on":
        if missing:
            unsupported(f"this hubbub has no limit settings {', '.join(missing)}")
    else:
        settings.update({k: v for k, v in LIMITS_OFF.items() if k in FIELDS})
    service = hubbub.Service(
        listen=[listen],
        loop=args.loop,
        max_connections=50_000,
        # Like the Mara peer (LOGLEVEL=WARNING): no log line per connect/disconnect.
        log_level="WARNING",
        **settings,
    )

    @service.listen(events.PostStart)
    def started(event: events.PostStart) -> None:
        announce(args.path if args.transport == "unix" else service.servers[0].address[1])

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
