"""Every contrib test keeps its records in memory, forgotten after the test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubbub.stores import storage

from ..conftest import forget_storage


@pytest.fixture(autouse=True)
def memory_store() -> Iterator[None]:
    storage.configure("memory://", 0.01)
    yield
    forget_storage()
