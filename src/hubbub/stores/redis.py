"""``redis://host:port/db``: records in Redis, for stores several processes share.

A kind is one hash, ``hubbub:<kind>``, field = key, value = the record's JSON.
Loading a kind is one ``HGETALL``; a batch of changes is one ``MULTI``/``EXEC``
transaction. The calls are blocking ones made by the store layer's writer
thread (never on the event loop). When Redis goes away, saves wait in the
store layer (one entry per record, however often it is saved), reads keep
coming from memory, and the writes go through once it is back.
"""

from __future__ import annotations

from typing import Any

import redis

from ..errors import StoreError
from .backend import Change

__all__ = ["RedisBackend"]

PREFIX = "hubbub:"


class RedisBackend:
    """A redis-py client; connections are made (and remade) as calls need them."""

    threaded = True

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self._redis: Any = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=5, decode_responses=True
            )
            self._redis.ping()
        except (redis.RedisError, ValueError) as error:
            raise StoreError(f"storage {url}: {error}") from None

    def load(self, kind: str) -> dict[str, str]:
        try:
            return dict(self._redis.hgetall(PREFIX + kind))
        except redis.RedisError as error:
            raise StoreError(f"storage {self.url}: loading {kind}: {error}") from None

    def write(self, changes: list[Change]) -> None:
        pipe = self._redis.pipeline(transaction=True)
        for kind, key, text in changes:
            if text is None:
                pipe.hdel(PREFIX + kind, key)
            else:
                pipe.hset(PREFIX + kind, key, text)
        pipe.execute()

    def close(self) -> None:
        self._redis.close()
