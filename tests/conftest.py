"""Shared fixtures: services on free ports in the test's own event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

import hubbub
from hubbub.stores import storage
from hubbub.testing import AsyncTestClient

Start = Callable[..., Awaitable[hubbub.Service]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """``await start(service)`` starts it (default: one tcp:// listener on a free port)."""
    started: list[hubbub.Service] = []

    async def _start(service: hubbub.Service | None = None) -> hubbub.Service:
        if service is None:
            service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
        await service.start()
        started.append(service)
        return service

    yield _start
    for service in reversed(started):
        await service.stop()


async def connect(service: hubbub.Service, index: int = 0, **kwargs: object) -> AsyncTestClient:
    server = service.servers[index]
    assert server.address is not None
    telnet = server.endpoint.scheme == "telnet"
    return await AsyncTestClient.connect(server.address, telnet=telnet, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def socket_dir() -> Iterator[str]:
    """A fresh directory with a short path, for UNIX sockets (paths end at 107 bytes)."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    directory = tempfile.mkdtemp(prefix="hb-", dir=base)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def _hubbub_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hubbub")


def forget_storage() -> None:
    """Close the process's storage (writing what is queued) and put back the default,
    so the next test starts with none loaded."""
    storage.close()
    storage.configure("sqlite:///hubbub.db", 0.1)


async def until(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Yield to the loop until ``predicate()`` holds; fail (not hang) after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.005)



def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on the stdlib loop and, where installed, on uvloop."""
    factories: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
        "asyncio": asyncio.new_event_loop
    }
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a test dependency where it builds
        return factories
    factories["uvloop"] = uvloop.new_event_loop
    return factories
