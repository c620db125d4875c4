"""redis:// against a real redis-server: records shared through Redis, and Redis going
away mid-run (reads keep working, saves wait, one log line, written once it is back).

Without ``redis-server`` or the redis package these tests skip;
``REQUIRE_REDIS=1`` (CI sets it, and installs both) makes that a failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import hubbub
from hubbub.stores import storage

from .conftest import Use

SERVER = shutil.which("redis-server")


class Player(hubbub.Store):
    level: int = 1
    items: list[str] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start (and restart) a throwaway redis-server on one port; its URL is .url."""
    try:
        import redis
    except ImportError:
        redis = None  # type: ignore[assignment]
    if SERVER is None or redis is None:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail("REQUIRE_REDIS=1 but redis-server or the redis package is missing")
        pytest.skip("redis-server or the redis package is not installed")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def launch() -> subprocess.Popen[bytes]:
        assert SERVER is not None
        proc = subprocess.Popen(
            [SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(tmp_path)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        procs.append(proc)
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.02)
        client.close()
        return proc

    launch.url = f"redis://127.0.0.1:{port}/0"  # type: ignore[attr-defined]
    yield launch
    for proc in procs:
        proc.terminate()
        proc.wait(5)


async def test_records_live_in_redis(redis_server: Callable[..., object], use_storage: Use) -> None:
    redis_server()
    url = redis_server.url  # type: ignore[attr-defined]
    use_storage(url)
    Player.create("alice", level=3, items=["sword"])
    Player.create("bob")
    await storage.flush()
    storage.close()  # another process would see the same: load again from Redis
    use_storage(url)
    alice = Player.get("alice")
    assert alice is not None and (alice.level, alice.items) == (3, ["sword"])
    Player.get("bob").delete()  # type: ignore[union-attr]
    await storage.flush()
    storage.close()
    use_storage(url)
    assert Player.get("bob") is None


async def test_redis_going_away_mid_run(
    redis_server: Callable[..., subprocess.Popen[bytes]],
    use_storage: Use,
    caplog: pytest.LogCaptureFixture,
) -> None:
    proc = redis_server()
    url = redis_server.url  # type: ignore[attr-defined]
    use_storage(url, flush=0.05)
    alice = Player.create("alice")
    await storage.flush()
    proc.terminate()
    proc.wait(5)
    with caplog.at_level(logging.ERROR, logger="hubbub.stores"):
        for level in range(2, 200):
            alice.level = level
            alice.save()  # saves queue up: one entry per record, however many saves
            await asyncio.sleep(0.005)
        assert Player.get("alice") is alice  # reads come from memory
        await asyncio.sleep(0.3)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert 1 <= len(failures) <= 2  # logged once (then counted), not per save
    redis_server()  # Redis is back on its port
    deadline = time.monotonic() + 10
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    while client.hget("hubbub:Player", "alice") != '{"level":199,"items":[]}':
        assert time.monotonic() < deadline, client.hget("hubbub:Player", "alice")
        await asyncio.sleep(0.1)
    client.close()


def test_an_unreachable_redis_is_a_clear_error(use_storage: Use) -> None:
    pytest.importorskip("redis")
    use_storage(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(hubbub.StoreError, match=r"redis://127\.0\.0\.1"):
        Player.get("x")
