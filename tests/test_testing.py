"""The helpers app authors use: serving()/AsyncTestClient and RunningService.call."""

from __future__ import annotations

import logging

import pytest

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


# --- unix:// listeners --------------------------------------------------------------------


def test_serve_leaves_a_socket_path_alone(
    socket_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    """serve() keeps a unix:// path (it is local already); TestClient connects to it."""
    caplog.set_level(logging.INFO, logger="hubbub")
    path = f"{socket_dir}/a.sock"
    service = hubbub.Service(listen=[f"unix://{path}"])
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    with serve(service) as running:
        assert running.address == path
        with running.connect() as client:
            client.send("hello")
            assert client.read_line() == "echo: hello"
    assert f"{path}:0> connected to" in caplog.text


async def test_async_client_connects_to_a_socket_path(socket_dir: str) -> None:
    path = f"{socket_dir}/b.sock"
    service = hubbub.Service(listen=[f"unix://{path}"])
    service.listen(events.Connect, lambda e: e.client.write("hi"))
    async with serving(service):
        client = await AsyncTestClient.connect(path)
        assert await client.read_line() == "hi"
        await client.close()
