"""``sqlite:///path``: records in one SQLite file (WAL), the default storage.

One table, ``records(kind, key, data)``: a store is a kind, a record one row of
JSON. The file is created on first use only. Opening checks that the file is
a database and that it can be written (not read-only, not locked by another
process), and says which file and why when it cannot: nothing is ever
silently replaced.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from ..errors import StoreError
from .backend import Change

__all__ = ["SqliteBackend", "path_of"]

_SCHEMA = """CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL, key TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, key)
) WITHOUT ROWID"""


def path_of(url: str) -> Path:
    """``sqlite:///relative`` and ``sqlite:////absolute`` as a path."""
    rest = url[len("sqlite://") :]
    if not rest.startswith("/") or rest == "/":
        raise StoreError(f"storage {url!r}: write sqlite:///relative/path or sqlite:////abs/path")
    return Path(rest[1:])


class SqliteBackend:
    """One SQLite connection, used by one writer thread at a time (a lock)."""

    threaded = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = path_of(url)
        self._lock = threading.Lock()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        where = f"storage file {str(self.path)!r}"
        if not self.path.parent.is_dir():
            raise StoreError(f"{where}: its directory does not exist")
        try:
            db = sqlite3.connect(
                self.path, timeout=1.0, check_same_thread=False, isolation_level=None
            )
        except sqlite3.Error as error:
            raise StoreError(f"{where} cannot be opened: {error}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")  # fails now if read-only or locked, not later
            db.execute(_SCHEMA)
            db.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            db.close()
            text = str(error)
            if "not a database" in text or "malformed" in text:
                why = "is not a hubbub store (not a SQLite database, or damaged); left as it is"
            elif "readonly" in text or "read-only" in text:
                why = "is read-only"
            elif "locked" in text or "busy" in text:
                why = "is locked by another process (is another service using it?)"
            else:
                why = f"cannot be used: {text}"
            raise StoreError(f"{where} {why}") from None
        return db

    def load(self, kind: str) -> dict[str, str]:
        with self._lock:
            rows = self._db.execute("SELECT key, data FROM records WHERE kind = ?", (kind,))
            return dict(rows.fetchall())

    def write(self, changes: list[Change]) -> None:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT OR REPLACE INTO records (kind, key, data) VALUES (?, ?, ?)",
                    [c for c in changes if c[2] is not None],
                )
                db.executemany(
                    "DELETE FROM records WHERE kind = ? AND key = ?",
                    [(kind, key) for kind, key, text in changes if text is None],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()
