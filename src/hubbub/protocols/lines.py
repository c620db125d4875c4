"""Line framing, sans-IO: bytes in, complete lines out.

Any of ``\\r\\n``, ``\\n``, ``\\r\\0`` and a lone ``\\r`` ends a line, because
real clients send all four (telnet NVT sends CR NUL for a bare return). A CR
at the very end of a chunk ends its line at once; a LF or NUL starting the
next chunk is then swallowed, so the result never depends on how the stream
was split.

A line longer than ``max_line_length`` bytes is never buffered: the moment it
passes the limit the buffer is dropped and everything up to the next line end
is discarded; :data:`TOO_LONG` stands in the place of the line when its end
arrives (a client that sends each key as typed would otherwise get the
refusal in the middle of its typing).
"""

from __future__ import annotations

import re

__all__ = ["TOO_LONG", "LineBuffer", "LineTooLong"]

_ENDINGS = re.compile(rb"\r\n|\r\0|\r|\n")


class LineTooLong:
    """Marker: a line passed the length limit and was discarded."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "TOO_LONG"


TOO_LONG = LineTooLong()


class LineBuffer:
    """Incremental line splitter with a hard length limit."""

    __slots__ = ("_after_cr", "_buf", "_skipping", "max_line_length")

    def __init__(self, max_line_length: int = 8192) -> None:
        self.max_line_length = max_line_length
        self._buf = b""
        self._skipping = False
        self._after_cr = False

    def receive_data(self, data: bytes) -> list[bytes | LineTooLong]:
        """Add bytes; return the lines they complete (without their endings)."""
        if not data:
            return []
        if self._after_cr:
            self._after_cr = False
            if data[0] == 10 or data[0] == 0:  # the LF or NUL of a CR LF / CR NUL
                data = data[1:]
                if not data:
                    return []
        # Membership tests use ints: ``b"\r" in data`` costs an exception
        # raised and cleared inside CPython, ``0 in data`` a memchr.
        last = data[-1]
        if 0 in data and 13 in data:
            parts = _ENDINGS.split(data)  # CR NUL endings: the general splitter
            tail = parts.pop()
        else:
            parts = data.splitlines()  # CR LF, CR and LF, and nothing else
            tail = b"" if last == 10 or last == 13 else parts.pop()
        self._after_cr = last == 13
        limit = self.max_line_length
        if not self._buf and not self._skipping and len(data) <= limit:
            # Common case: nothing pending and nothing can be too long.
            self._buf = tail
            return parts  # type: ignore[return-value,unused-ignore]
        out: list[bytes | LineTooLong] = []
        for part in parts:
            if self._skipping:
                self._skipping = False  # this ending closes the discarded line:
                out.append(TOO_LONG)  # reported now, where the line would have been
                continue
            if self._buf:
                part = self._buf + part
                self._buf = b""
            out.append(TOO_LONG if len(part) > limit else part)
        if self._skipping:
            return out
        if self._buf:
            tail = self._buf + tail
        if len(tail) > limit:
            self._buf = b""
            self._skipping = True
        else:
            self._buf = tail
        return out

    def take_partial(self) -> bytes:
        """Remove and return the unfinished line (for a switch to raw mode)."""
        partial, self._buf = self._buf, b""
        self._skipping = False
        self._after_cr = False
        return partial

    def mark(self) -> tuple[bytes, bool, bool]:
        """A cheap value that changes whenever :meth:`snapshot` would."""
        return (self._buf, self._skipping, self._after_cr)

    def snapshot(self) -> dict[str, object]:
        """The unfinished line and framing state, as JSON-able values.

        The partial line is kept as Latin-1 text so that any bytes (even half
        a UTF-8 character) survive a trip through JSON unchanged.
        """
        return {
            "partial": self._buf.decode("latin-1"),
            "skipping": self._skipping,
            "after_cr": self._after_cr,
        }

    def restore(self, saved: dict[str, object]) -> None:
        """Take back what :meth:`snapshot` gave."""
        self._buf = str(saved.get("partial", "")).encode("latin-1")
        self._skipping = bool(saved.get("skipping", False))
        self._after_cr = bool(saved.get("after_cr", False))

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished line (never more than the limit)."""
        return len(self._buf)
