"""The helpers app authors use: serving()/AsyncTestClient and RunningService.call."""

from __future__ import annotations

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient, serve, serving


def greeter() -> hubbub.Service:
    service = hubbub.Service()  # default listener: telnet://127.0.0.1:9000

    @service.listen(events.Connect)
    def hello(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.write("Please enter your name: ", newline=False)
        name = yield
        event.client.name = name
        event.client.write(f"Welcome, {name}")

    return service


async def test_serving_moves_listeners_to_free_local_ports() -> None:
    service = greeter()
    async with serving(service):
        server = service.servers[0]
        assert server.endpoint.scheme == "telnet"
        assert server.address is not None and server.address[1] != 9000
        client = await AsyncTestClient.connect(server.address, telnet=True)
        await client.expect("name: ")
        await client.send("alice")
        assert await client.read_line() == "Welcome, alice"
        await client.close()
    assert len(service.clients) == 0


def test_call_runs_on_the_service_loop() -> None:
    service = greeter()
    with serve(service) as running:
        client = running.connect()
        client.expect("name: ")
        client.send("bob")
        client.read_line()
        names = running.call(lambda: [c.name for c in running.service.clients])
        assert names == ["bob"]

        async def shout() -> int:
            running.service.write_all("HELLO")
            return len(running.service.clients)

        assert running.call(shout) == 1
        assert client.read_line() == "HELLO"
        client.close()
        running.wait_for(lambda: len(running.service.clients) == 0)
