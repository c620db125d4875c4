"""pytest plugin (registered by entry point): the ``hubbub_serve`` fixture."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import pytest

from .service import Service
from .testing import RunningService

__all__ = ["hubbub_serve"]


@pytest.fixture
def hubbub_serve() -> Iterator[Callable[..., RunningService]]:
    """Start services in background threads on free ports; stopped after the test.

    ``running = hubbub_serve(service)`` then ``running.connect()`` gives a
    :class:`hubbub.testing.TestClient`.
    """
    started: list[RunningService] = []

    def start(service: Service, listen: Sequence[str] | None = None) -> RunningService:
        running = RunningService(service, listen).start()
        started.append(running)
        return running

    yield start
    for running in reversed(started):
        running.stop()
