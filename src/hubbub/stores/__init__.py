"""Stores: persistent records as plain classes, read from memory, written behind.

```python
class Account(hubbub.Store):
    password: str = ""
    rooms: list[str] = []           # mutable defaults are copied per record
    idle: int = hubbub.session(0)   # kept in memory only, never written
```

A store is one *kind* of record keyed by a string. The first use of a kind
loads all of its records (one query), so reads are dictionary lookups and
never wait. ``save()`` checks the record is JSON at once (naming the field
that is not) and queues it; the queue is written in one transaction every
``storage_flush`` seconds (SQLite on the loop, a millisecond or two per
batch; Redis from a worker thread), and at once when the service stops.
The backend comes from the ``storage`` setting: ``sqlite:///path`` (the
default, ``sqlite:///hubbub.db``), ``memory://``, or ``redis://``.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
from collections.abc import Iterator
from typing import Any, ClassVar, TypeVar, get_origin

from ..errors import Exists, StoreError
from ..log_limit import LogLimit
from .backend import Backend, Change

__all__ = ["Exists", "Store", "StoreError", "open_backend", "session", "storage"]

log = logging.getLogger("hubbub.stores")

S = TypeVar("S", bound="Store")
_MUTABLE = (list, dict, set)


class _Session:
    """The marker ``session(default)`` leaves on a class until the class is made."""

    __slots__ = ("default",)

    def __init__(self, default: Any) -> None:
        self.default = default


def session(default: Any = None) -> Any:
    """A field kept with the record in memory (and across restarts), never on disk."""
    return _Session(default)


def open_backend(url: str) -> Backend:
    """The backend a ``storage`` URL names (opening files or connections now)."""
    if url.startswith("sqlite://"):
        from .sqlite import SqliteBackend

        return SqliteBackend(url)
    if url.startswith("memory://"):
        from .memory import MemoryBackend

        return MemoryBackend(url)
    if url.startswith("redis://"):
        try:
            from .redis import RedisBackend
        except ImportError:  # the redis package is an extra
            raise StoreError(
                "storage redis:// needs the redis extra: pip install 'hubbub[redis]'"
            ) from None
        return RedisBackend(url)
    raise StoreError(f"storage {url!r}: use sqlite:///path, memory:// or redis://host:port/db")


class Storage:
    """The process's records, the backend they live in, and what waits to be written."""

    def __init__(self) -> None:
        self.url = "sqlite:///hubbub.db"
        self.flush_seconds = 0.1
        self._backend: Backend | None = None
        self._kinds: dict[str, dict[str, Store]] = {}
        self._dirty: dict[tuple[str, str], str | None] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        self._errors = LogLimit()
        # Session fields a restart carried, put on records as their kind loads.
        self._carried: dict[str, dict[str, dict[str, Any]]] = {}

    # --- set-up ------------------------------------------------------------------------
    def configure(self, url: str, flush_seconds: float) -> None:
        """Use ``url`` from now on (a service starting). Records of another URL are
        written out first and forgotten."""
        if url != self.url and (self._backend is not None or self._kinds):
            self.close()
        self.url = url
        self.flush_seconds = flush_seconds

    def check(self) -> None:
        """At start: open an existing store file now, so a bad one stops the start."""
        if self._backend is None and self.url.startswith("sqlite://"):
            from .sqlite import path_of

            if path_of(self.url).exists():
                self._backend = open_backend(self.url)

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = open_backend(self.url)
        return self._backend

    # --- records ----------------------------------------------------------------------
    def records(self, cls: type[Store]) -> dict[str, Store]:
        """The records of ``cls``'s kind, loaded on first use."""
        kind = cls._kind
        loaded = self._kinds.get(kind)
        if loaded is None:
            loaded = {}
            for key, text in self.backend.load(kind).items():
                try:
                    data = json.loads(text)
                    if not isinstance(data, dict):
                        raise ValueError
                except ValueError:
                    raise StoreError(
                        f"{self.url}: the {kind} record {key!r} is not a JSON object; left as it is"
                    ) from None
                loaded[key] = cls._from_data(key, data)
            for key, values in self._carried.pop(kind, {}).items():
                record = loaded.get(key)
                if record is not None:
                    record._take_session(values)
            self._kinds[kind] = loaded
        return loaded

    # --- a restart ---------------------------------------------------------------------
    def session_values(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Every loaded record's session fields (JSON values only): what a restart carries."""
        carried: dict[str, dict[str, dict[str, Any]]] = {}
        for kind, records in self._kinds.items():
            if not records or not next(iter(records.values()))._session:
                continue  # a kind without session fields (most): nothing to look at
            for key, record in records.items():
                values = record._session_values()
                if values:
                    carried.setdefault(kind, {})[key] = values
        return carried

    def take_sessions(self, carried: dict[str, dict[str, dict[str, Any]]]) -> None:
        """Session fields from the process before a restart, for records as they load."""
        self._carried = {kind: dict(records) for kind, records in carried.items()}

    def changed(self, kind: str, key: str, text: str | None) -> None:
        """Queue a record's new JSON (None: its deletion) for the next write."""
        self._dirty[(kind, key)] = text
        if self._timer is None and self._flushing is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a script): written at once
                self.flush_now()
                return
            self._timer = loop.call_later(self.flush_seconds, self._start_flush)

    # --- writing ------------------------------------------------------------------------
    def _take(self) -> list[Change]:
        dirty, self._dirty = self._dirty, {}
        return [(kind, key, text) for (kind, key), text in dirty.items()]

    def _start_flush(self) -> None:
        self._timer = None
        if self._flushing is None and self._dirty:
            self._flushing = asyncio.get_running_loop().create_task(self._flush_once())

    async def _flush_once(self) -> None:
        """Write what is queued; what is saved meanwhile waits for the next turn."""
        delay = self.flush_seconds
        try:
            changes = self._take()
            try:
                await self._write(changes)
            except Exception as error:  # the disk is full, Redis went away…
                self._requeue(changes)
                delay = max(delay, 1.0)
                self._errors.log(
                    log, logging.ERROR, "saving to %s failed (%s); will retry", self.url, error
                )
        finally:
            self._flushing = None
        if self._dirty and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(delay, self._start_flush)

    def _requeue(self, changes: list[Change]) -> None:
        """Put back what failed to write, unless a newer change replaced it meanwhile."""
        for kind, key, text in changes:
            self._dirty.setdefault((kind, key), text)

    async def flush(self) -> None:
        """Write everything queued now, and wait until it is durable."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.shield(self._flushing)
        if self._dirty:
            changes = self._take()
            try:
                await self._write(changes)
            except Exception:
                self._requeue(changes)
                raise

    async def _write(self, changes: list[Change]) -> None:
        backend = self.backend
        if backend.threaded:
            await asyncio.to_thread(backend.write, changes)
        else:
            backend.write(changes)
            await asyncio.sleep(0)  # one write per loop turn, however much is saved

    def flush_now(self) -> None:
        """Write everything queued, blocking (no event loop, or the process is ending)."""
        if self._dirty:
            changes = self._take()
            try:
                self.backend.write(changes)
            except Exception:
                self._requeue(changes)
                raise

    def close(self) -> None:
        """Write what is queued, release the backend and forget the records."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush_now()
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        self._kinds.clear()


#: The process's storage (configured by the service that starts).
storage = Storage()


class Store:
    """One kind of persistent record, keyed by a string: subclass it and annotate fields.

    Class attributes give the defaults (``rooms: list[str] = []`` is copied for
    each record); ``hubbub.session(default)`` marks a field kept in memory only.
    """

    _kind: ClassVar[str]
    _fields: ClassVar[dict[str, Any]]
    _session: ClassVar[frozenset[str]]

    key: str

    def __init_subclass__(cls, kind: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._kind = kind or cls.__name__
        fields: dict[str, Any] = {}
        sessions: set[str] = set()
        for klass in reversed(cls.__mro__):
            for name, hint in inspect.get_annotations(klass).items():
                if name.startswith("_") or name == "key" or _is_classvar(hint):
                    continue
                if name in _RESERVED:
                    raise TypeError(f"{cls.__name__}.{name}: a field cannot be named {name!r}")
                default = klass.__dict__.get(name)
                if isinstance(default, _Session):
                    sessions.add(name)
                    default = default.default
                    setattr(cls, name, default)
                fields[name] = default
        cls._fields = fields
        cls._session = frozenset(sessions)

    def __init__(self, key: str, **values: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"a {type(self).__name__} key is a string, not {key!r}")
        unknown = set(values) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {', '.join(sorted(unknown))}")
        self.key = key
        for name, default in self._fields.items():
            value = values.get(name, default)
            setattr(self, name, copy.deepcopy(value) if isinstance(value, _MUTABLE) else value)
        self._extra: dict[str, Any] = {}

    @classmethod
    def _from_data(cls: type[S], key: str, data: dict[str, Any]) -> S:
        known = {k: v for k, v in data.items() if k in cls._fields and k not in cls._session}
        record = cls(key, **known)
        # Fields the class no longer has are kept, and written back as they were.
        record._extra = {k: v for k, v in data.items() if k not in cls._fields}
        return record

    # --- reading -----------------------------------------------------------------------
    @classmethod
    def get(cls: type[S], key: str) -> S | None:
        """The record with ``key``, or None."""
        return storage.records(cls).get(key)  # type: ignore[return-value]

    @classmethod
    def all(cls: type[S]) -> list[S]:
        """Every record of this kind."""
        return list(storage.records(cls).values())  # type: ignore[arg-type]

    @classmethod
    def find(cls: type[S], **equals: Any) -> list[S]:
        """The records whose fields equal the values given."""
        unknown = set(equals) - set(cls._fields)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {', '.join(sorted(unknown))}")
        return [
            record  # type: ignore[misc]
            for record in storage.records(cls).values()
            if all(getattr(record, name) == value for name, value in equals.items())
        ]

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name in self._fields:
            yield name, getattr(self, name)

    # --- writing ------------------------------------------------------------------------
    @classmethod
    def create(cls: type[S], key: str, **values: Any) -> S:
        """A new record, saved; ``hubbub.Exists`` if ``key`` is taken."""
        records = storage.records(cls)
        if key in records:
            raise Exists(f"a {cls.__name__} {key!r} exists already")
        record = cls(key, **values)
        record.save()
        return record

    @classmethod
    def get_or_create(cls: type[S], key: str, **values: Any) -> S:
        """The record with ``key``; made (with ``values``) and saved if there is none."""
        record = cls.get(key)
        return record if record is not None else cls.create(key, **values)

    def data(self) -> dict[str, Any]:
        """The fields written to storage (session fields left out)."""
        data = dict(self._extra)
        for name in self._fields:
            if name not in self._session:
                data[name] = getattr(self, name)
        return data

    def _session_values(self) -> dict[str, Any]:
        """Session fields that are JSON values (what a restart carries)."""
        values = {name: getattr(self, name) for name in self._session}
        return {name: value for name, value in values.items() if _is_json(value)}

    def _take_session(self, values: dict[str, Any]) -> None:
        for name, value in values.items():
            if name in self._session:
                setattr(self, name, value)

    def save(self) -> None:
        """Queue this record for writing; raises now if a field is not a JSON value."""
        data = self.data()
        try:
            text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError):
            bad = next(name for name, value in data.items() if not _is_json(value))
            raise TypeError(
                f"{type(self).__name__} {self.key!r}: field {bad!r} is not a JSON value "
                f"({type(data[bad]).__name__})"
            ) from None
        storage.records(type(self))[self.key] = self
        storage.changed(self._kind, self.key, text)

    def delete(self) -> None:
        """Remove this record (``get`` returns None from now on)."""
        records = storage.records(type(self))
        if records.get(self.key) is self:
            del records[self.key]
            storage.changed(self._kind, self.key, None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}>"


#: Names a field cannot take: the record's own methods.
_RESERVED = frozenset(name for name in dir(Store) if not name.startswith("_") and name != "key")


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def _is_classvar(hint: Any) -> bool:
    if isinstance(hint, str):
        return hint.startswith(("ClassVar", "typing.ClassVar"))
    return get_origin(hint) is ClassVar
