"""``memory://``: records kept in this process only (tests, throwaway games)."""

from __future__ import annotations

from .backend import Change

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """A dict per kind; writes land at once and vanish with the process."""

    threaded = False

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.kinds: dict[str, dict[str, str]] = {}

    def load(self, kind: str) -> dict[str, str]:
        return dict(self.kinds.get(kind, {}))

    def write(self, changes: list[Change]) -> None:
        for kind, key, text in changes:
            records = self.kinds.setdefault(kind, {})
            if text is None:
                records.pop(key, None)
            else:
                records[key] = text

    def close(self) -> None:
        pass
