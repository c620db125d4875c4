"""The worker's side of the supervisor: what its checkpoints send, and when.

A real service with real clients on 127.0.0.1; the supervisor's end of the
link is read here with the handover channel, as the supervisor reads it.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
from typing import Any

import hubbub
from hubbub import events
from hubbub.restart.channel import Channel, ChannelError
from hubbub.restart.supervised import Supervised

from ..conftest import Start, connect


class Supervisor:
    """The far end of the link: every message the worker sends, in order."""

    def __init__(self, sock: socket.socket) -> None:
        self.channel = Channel(sock, 10)
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message, sockets = self.channel.receive()
            except ChannelError:
                return
            for sock in sockets:
                message.setdefault("fds", []).append(sock)
            self.messages.put(message)

    async def next(self, kind: str) -> dict[str, Any]:
        """The next message of ``kind``; what came before it is skipped."""
        while True:
            message = await asyncio.to_thread(self.messages.get, True, 5)
            if message["kind"] == kind:
                return message

    async def checkpoint(self) -> dict[str, dict[str, Any]]:
        """The states sent with the next checkpoint (only those that changed)."""
        states: dict[str, dict[str, Any]] = {}
        while True:
            message = await asyncio.to_thread(self.messages.get, True, 5)
            if message["kind"] == "states":
                states.update(message["clients"])
            elif message["kind"] == "checkpoint":
                return states


def supervised(service: hubbub.Service) -> tuple[Supervised, Supervisor]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    link = Supervised(
        ours,
        interval=0.05,
        timeout=5,
        clients=lambda: list(service.clients),
        servers=lambda: service.servers,
        restart_into=lambda pid, channel: None,
        orphaned=lambda: None,
    )
    link.start()
    return link, Supervisor(theirs)


async def test_a_checkpoint_sends_only_the_states_that_changed(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")

    @service.listen(events.Receive)
    def note(event: events.Receive) -> None:
        if event.data == "add":
            event.client.items.append(len(event.client.items))  # changed in place
        elif event.data == "same":
            event.client.write("nothing changes")

    @service.listen(events.Connect)
    def hello(event: events.Connect) -> None:
        event.client.items = []

    await start(service)
    link, far = supervised(service)
    client = await connect(service)
    [served] = list(service.clients)
    first = await far.checkpoint()
    while served.id not in first:  # (the checkpoint may have run before it came)
        first = await far.checkpoint()
    assert first[served.id]["attributes"] == {"items": []}
    assert await far.checkpoint() == {}  # idle: nothing is sent
    await client.send("same")
    await client.expect("nothing changes")
    assert await far.checkpoint() == {}  # a line that changes nothing kept
    await client.send("add")
    await asyncio.sleep(0.1)
    states = await far.checkpoint()
    while served.id not in states:
        states = await far.checkpoint()
    assert states[served.id]["attributes"] == {"items": [0]}
    await client.send_raw(b"half a li")  # a partial line is state too
    states = await far.checkpoint()
    while served.id not in states:
        states = await far.checkpoint()
    assert states[served.id]["connection"]["lines"]["partial"] == "half a li"
    link.close()
    await client.close()


async def test_clients_are_registered_with_their_socket_and_reported_gone(start: Start) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")
    await start(service)
    link, far = supervised(service)
    client = await connect(service)
    [served] = list(service.clients)
    link.register(served)  # (the service is not supervised itself: by hand here)
    registered = await far.next("client")
    assert registered["id"] == served.id and len(registered["fds"]) == 1
    copy = registered["fds"][0]
    assert copy.getpeername() == served.address  # a copy of the client's own socket
    copy.close()
    link.gone(served.id)
    assert (await far.next("gone"))["id"] == served.id
    checkpoint = await far.next("checkpoint")
    assert checkpoint["ids"] == [served.id]
    link.close()
    await client.close()


async def test_an_attribute_that_cannot_be_copied_is_sent_each_time_and_warned_once(
    start: Start, caplog: Any
) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage="memory://")

    @service.listen(events.Connect)
    def hello(event: events.Connect) -> None:
        event.client.lock = threading.Lock()  # neither JSON nor copyable

    await start(service)
    link, far = supervised(service)
    client = await connect(service)
    [served] = list(service.clients)
    for _ in range(3):
        states = await far.checkpoint()
        while served.id not in states:
            states = await far.checkpoint()
        assert states[served.id]["attributes"] == {}
    warnings = [r for r in caplog.records if "not JSON values" in r.getMessage()]
    assert len(warnings) == 1
    link.close()
    await client.close()
