"""The shape of a storage backend: load a kind's records, write a batch of changes.

Records travel as JSON text keyed by (kind, key); ``None`` text deletes. A
backend is opened on the first use of any store, so a service that uses none
touches nothing.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Backend", "Change"]

#: One change: the kind, the key, and the record's JSON (None: delete it).
Change = tuple[str, str, str | None]


class Backend(Protocol):
    """What the store layer needs of a place to keep records."""

    #: The URL it was opened from (for log lines and errors).
    url: str
    #: True when a write waits on the network (Redis): it runs in a worker thread.
    #: A local file's batch is written on the event loop, in a millisecond or two:
    #: in a thread, SQLite would take the GIL back once per row, and behind a busy
    #: loop each of those waits out the interpreter's switch interval.
    threaded: bool

    def load(self, kind: str) -> dict[str, str]:
        """Every record of ``kind``: key to JSON text (synchronous: runs once per kind)."""
        ...

    def write(self, changes: list[Change]) -> None:
        """Make ``changes`` durable, all or nothing."""
        ...

    def close(self) -> None:
        """Release the file or connection (after the last write)."""
        ...
