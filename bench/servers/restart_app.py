"""The restart scenario's server (bench/restart.py): a telnet echo whose replies name
the process that sent them, so the load generator sees the handover."""

from __future__ import annotations

import os

import hubbub
from hubbub import events

PID = str(os.getpid())
# Every client comes from 127.0.0.1: the per-address limits are off, as they are
# for clients behind one proxy.
service = hubbub.Service(
    keepalive=0, storage="memory://", max_connections_per_ip=0, connection_rate=0
)


@service.listen(events.Connect)
def ready(event: events.Connect) -> None:
    event.client.write(f"{PID} ready")


@service.listen(events.Receive)
def echo(event: events.Receive) -> None:
    event.client.write(f"{PID} {event.data}")
