"""Each store test gets the process's storage to itself, closed (and forgotten) after."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from hubbub.stores import Storage, storage

from ..conftest import forget_storage

Use = Callable[..., Storage]


@pytest.fixture
def use_storage() -> Iterator[Use]:
    def use(url: str, flush: float = 0.01) -> Storage:
        storage.configure(url, flush)
        return storage

    yield use
    forget_storage()
