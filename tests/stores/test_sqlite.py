"""sqlite:// against real files: created on first use only, bad files stop the start
with a clear error and are left as they were, kill -9 loses at most storage_flush."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import hubbub
from hubbub.stores import storage

from ..conftest import Start
from .conftest import Use


class Note(hubbub.Store):
    text: str = ""
    n: int = 0


async def test_a_service_that_uses_no_store_creates_no_file(
    start: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_storage: Use
) -> None:
    monkeypatch.chdir(tmp_path)
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"]))
    await service.stop()
    assert not (tmp_path / "hubbub.db").exists()
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"]))
    Note.create("first")  # the default storage, sqlite:///hubbub.db, on first use
    await service.flush_stores()
    assert (tmp_path / "hubbub.db").exists()


async def test_stop_makes_every_save_durable(
    start: Start, tmp_path: Path, use_storage: Use
) -> None:
    path = tmp_path / "game.db"
    service = await start(
        hubbub.Service(listen=["tcp://127.0.0.1:0"], storage=f"sqlite:///{path}", storage_flush=60)
    )
    for i in range(100):
        Note.create(f"n{i}", n=i)
    await service.stop()  # long before storage_flush
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM records").fetchone() == (100,)


def garbage_file(path: Path) -> bytes:
    data = b"this is somebody's notes, not a database\n" * 100
    path.write_bytes(data)
    return data


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[Path]:
    """A real store file nobody may write (chattr +i holds even for root)."""
    path = tmp_path / "game.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE records (kind TEXT, key TEXT, data TEXT, PRIMARY KEY (kind, key))")
    if os.geteuid() != 0:
        path.chmod(0o444)
        tmp_path.chmod(0o555)
        yield path
        tmp_path.chmod(0o755)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root without chattr: a file cannot be made read-only")
    yield path
    subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_a_corrupt_file_stops_the_start_and_is_left_alone(
    start: Start, tmp_path: Path, use_storage: Use
) -> None:
    path = tmp_path / "game.db"
    before = garbage_file(path)
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage=f"sqlite:///{path}")
    with pytest.raises(hubbub.StoreError, match=r"game\.db.*not a hubbub store"):
        await service.start()
    assert path.read_bytes() == before


async def test_a_read_only_file_stops_the_start(immutable: Path, use_storage: Use) -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage=f"sqlite:///{immutable}")
    with pytest.raises(hubbub.StoreError, match=r"game\.db.*(read-only|cannot be)"):
        await service.start()


async def test_a_locked_file_stops_the_start(tmp_path: Path, use_storage: Use) -> None:
    path = tmp_path / "game.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another process in the middle of writing
    try:
        service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage=f"sqlite:///{path}")
        with pytest.raises(hubbub.StoreError, match="locked by another process"):
            await service.start()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_missing_directory_is_a_clear_error(tmp_path: Path, use_storage: Use) -> None:
    use_storage(f"sqlite:///{tmp_path}/no/such/dir/game.db")
    with pytest.raises(hubbub.StoreError, match="directory does not exist"):
        Note.get("x")


SAVER = textwrap.dedent(
    """
    import asyncio, sys, time
    import hubbub

    class Note(hubbub.Store):
        text: str = ""
        n: int = 0

    async def main():
        service = hubbub.Service(listen=["tcp://127.0.0.1:0"], storage=sys.argv[1],
                                 storage_flush=0.05)
        await service.start()
        note = Note.get_or_create("counter")
        i = 0
        while True:
            i += 1
            note.n = i
            note.save()
            Note.get_or_create(f"r{i % 500}").save()
            if i % 200 == 0:
                print(i, time.monotonic(), flush=True)
                await asyncio.sleep(0)

    asyncio.run(main())
    """
)


def test_kill_9_during_a_burst_of_saves_loses_at_most_storage_flush(
    tmp_path: Path, use_storage: Use
) -> None:
    path = tmp_path / "game.db"
    child = subprocess.Popen(
        [sys.executable, "-c", SAVER, f"sqlite:///{path}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    marks: list[tuple[int, float]] = []
    started = time.monotonic()
    # Saving for 0.8 s of its own time (however slowly it started), then the kill.
    while not marks or marks[-1][1] - marks[0][1] < 0.8:
        assert time.monotonic() - started < 30, "the saver is too slow to test with"
        line = child.stdout.readline()
        if not line:
            break
        i, at = line.split()
        marks.append((int(i), float(at)))
    child.kill()  # SIGKILL: no flush, no goodbye
    killed = time.monotonic()
    child.wait()
    assert marks, "the saver printed nothing"
    # Saves made more than storage_flush (0.05 s, with room for a write) before the
    # kill must be on disk.
    durable = max((i for i, at in marks if at < killed - 0.05 - 0.25), default=0)
    use_storage(f"sqlite:///{path}")  # the file still opens
    note = Note.get("counter")
    assert note is not None
    assert note.n >= durable > 0
    assert storage.url.endswith("game.db")
