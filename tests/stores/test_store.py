"""The Store API on memory:// and sqlite:// (real SQLite files): fields, defaults,
create/get/find/save/delete, write-behind, session fields, JSON-only values."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import hubbub
from hubbub.stores import storage

from .conftest import Use


class Account(hubbub.Store):
    password: str = ""
    rooms: list[str] = []
    seen: float = 0.0
    prefs: dict[str, Any] = {}
    idle: int = hubbub.session(0)


class Room(hubbub.Store, kind="rooms"):
    title: str = "A room"
    exits: dict[str, str] = {}


@pytest.fixture(params=["memory", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/game.db"


def rows(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT key, data FROM records WHERE kind = ?", (kind,)).fetchall()
    return {key: json.loads(data) for key, data in found}


def test_defaults_are_copied_per_record(use_storage: Use, url: str) -> None:
    use_storage(url)
    a = Account.create("alice")
    b = Account.create("bob")
    a.rooms.append("inn")
    a.prefs["color"] = True
    assert b.rooms == [] and b.prefs == {}
    assert Account.rooms == []  # the class default is untouched


def test_create_get_find_all_delete(use_storage: Use, url: str) -> None:
    use_storage(url)
    alice = Account.create("alice", password="x", rooms=["inn"])
    assert Account.get("alice") is alice  # served from memory: the same object
    assert Account.get("nobody") is None
    with pytest.raises(hubbub.Exists):
        Account.create("alice")
    bob = Account.get_or_create("bob", password="y")
    assert bob.password == "y"
    assert Account.get_or_create("bob", password="ignored") is bob
    assert {a.key for a in Account.all()} == {"alice", "bob"}
    assert Account.find(password="x") == [alice]
    assert Account.find(password="x", rooms=["inn"]) == [alice]
    with pytest.raises(TypeError, match="no field"):
        Account.find(colour="red")
    with pytest.raises(TypeError, match="no field"):
        Account.create("carol", colour="red")
    bob.delete()
    assert Account.get("bob") is None
    bob.delete()  # twice: nothing more happens
    assert Room.create("inn").title == "A room"  # kinds do not mix
    assert Account.get("inn") is None


async def test_saves_are_durable_within_storage_flush(use_storage: Use, tmp_path: Path) -> None:
    use_storage(f"sqlite:///{tmp_path}/game.db", flush=0.05)
    alice = Account.create("alice")
    alice.seen = 12.5
    alice.idle = 99  # a session field: never written
    alice.save()
    assert rows(tmp_path / "game.db", "Account") == {}  # written behind
    await asyncio.sleep(0.2)
    assert rows(tmp_path / "game.db", "Account") == {
        "alice": {"password": "", "rooms": [], "seen": 12.5, "prefs": {}}
    }
    alice.delete()
    await storage.flush()  # what service.flush_stores() waits for
    assert rows(tmp_path / "game.db", "Account") == {}


def test_records_come_back_after_a_reopen(use_storage: Use, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/game.db"
    use_storage(url)
    Account.create("alice", password="x", rooms=["inn", "hall"])
    Room.create("inn", exits={"north": "hall"})
    storage.close()  # written out, forgotten
    use_storage(url)
    alice = Account.get("alice")
    assert alice is not None and alice.rooms == ["inn", "hall"] and alice.idle == 0
    inn = Room.get("inn")
    assert inn is not None and inn.exits == {"north": "hall"}


def test_fields_the_class_no_longer_has_are_kept(use_storage: Use, tmp_path: Path) -> None:
    path = tmp_path / "game.db"
    use_storage(f"sqlite:///{path}")
    Account.create("alice")
    storage.close()
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE records SET data = ? WHERE key = 'alice'",
            (json.dumps({"password": "x", "retired": 7}),),
        )
    use_storage(f"sqlite:///{path}")
    alice = Account.get("alice")
    assert alice is not None and alice.password == "x"
    alice.save()
    storage.close()
    assert rows(path, "Account")["alice"]["retired"] == 7  # nothing silently lost


@pytest.mark.parametrize(
    ("value", "name"),
    [({1, 2}, "set"), (object(), "object"), (math.nan, "float"), (b"x", "bytes")],
)
def test_save_refuses_what_is_not_json_naming_the_field(
    use_storage: Use, url: str, value: Any, name: str
) -> None:
    use_storage(url)
    alice = Account.create("alice")
    alice.prefs = {"bad": value}
    with pytest.raises(TypeError, match="'prefs' is not a JSON value"):
        alice.save()
    with pytest.raises(TypeError, match="key is a string"):
        Account(42)  # type: ignore[arg-type]


def test_a_record_that_is_not_json_stops_the_load(use_storage: Use, tmp_path: Path) -> None:
    path = tmp_path / "game.db"
    use_storage(f"sqlite:///{path}")
    Account.create("alice")
    storage.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE records SET data = '{oops' WHERE key = 'alice'")
    use_storage(f"sqlite:///{path}")
    with pytest.raises(hubbub.StoreError, match="'alice' is not a JSON object"):
        Account.get("alice")
    with sqlite3.connect(path) as db:  # left as it was
        assert db.execute("SELECT data FROM records").fetchone() == ("{oops",)


def test_without_an_event_loop_saves_are_written_at_once(use_storage: Use, tmp_path: Path) -> None:
    use_storage(f"sqlite:///{tmp_path}/game.db")
    Account.create("alice", seen=1.0)
    assert rows(tmp_path / "game.db", "Account")["alice"]["seen"] == 1.0


def test_a_bad_storage_url_is_a_clear_error(use_storage: Use) -> None:
    use_storage("sqlite://relative-without-slash")
    with pytest.raises(hubbub.StoreError, match="sqlite:///relative/path"):
        Account.get("x")
    with pytest.raises(hubbub.SettingsError):
        hubbub.Service(storage="postgres://x")


def test_a_field_cannot_hide_a_method() -> None:
    with pytest.raises(TypeError, match="cannot be named 'save'"):

        class Bad(hubbub.Store):
            save: int = 0  # type: ignore[assignment]
