"""Reload on save (``hubbub run --reload``): a change to the app's files is a hot restart.

A developer edits code and nobody is disconnected. A version that does not
import is reported by the restart and the running one keeps serving, so a
half-typed edit costs nothing. Only ``.py`` and ``.toml`` files count: a
store's database files change all the time and must not restart anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from .. import events

__all__ = ["MISSING", "Reloader"]

log = logging.getLogger("hubbub.restart")

MISSING: Final = "--reload needs the reload extra: pip install 'hubbub[reload]'"
#: Changes closer together than this are one change (an editor writes in steps).
DEBOUNCE_MS: Final = 300
WATCHED: Final = (".py", ".toml")
SKIPPED: Final = frozenset({"__pycache__", ".git", ".venv", "venv", "node_modules", ".mypy_cache"})


def available() -> bool:
    try:
        import watchfiles  # noqa: F401
    except ImportError:
        return False
    return True


def wanted(change: Any, path: str) -> bool:
    """Whether a change to ``path`` should restart the service."""
    parts = Path(path).parts
    return path.endswith(WATCHED) and not SKIPPED.intersection(parts)


class Reloader:
    """Watches ``paths`` while the service runs; a change calls ``restart``."""

    def __init__(self, paths: Sequence[Path], restart: Callable[[], None]) -> None:
        self.paths = [Path(path) for path in paths]
        self.restart = restart
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None

    def bind(self, service: Any) -> None:
        """Watch from ``PostStart`` to ``PreStop``. (Through a restart too: a change
        made while one is under way joins it, and if it fails, the next change tries
        again.)"""
        service.listen(events.PostStart, self._start)
        service.listen(events.PreStop, self._end)

    def _start(self, event: events.PostStart) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._watch(self._stop))
        log.info("reloading on changes to %s", ", ".join(str(path) for path in self.paths))

    def _end(self, event: events.Event) -> None:
        if self._stop is not None:
            self._stop.set()

    async def _watch(self, stop: asyncio.Event) -> None:
        from watchfiles import awatch

        async for changes in awatch(
            *self.paths, watch_filter=wanted, debounce=DEBOUNCE_MS, step=50, stop_event=stop
        ):
            names = sorted({Path(path).name for _, path in changes})
            log.info("changed: %s; restarting", ", ".join(names))
            self.restart()
