"""Log lines that a remote peer or a looping bug can cause, kept to a bounded rate.

A client sending a megabyte of bad telnet, or a handler raising on every
line of a flood, must not grow the operator's log without bound. A
:class:`LogLimit` lets the first few occurrences through in full, then
swallows the rest and writes one summary line per period saying how many
were left out.
"""

from __future__ import annotations

import logging
import time
from typing import Any

__all__ = ["LogLimit"]


class LogLimit:
    """Rate limit for one kind of log line from one source (a client, a handler).

    ``burst`` lines are logged as they come; after that, at most one line per
    ``period`` seconds, counting what was suppressed since the last one.
    """

    __slots__ = ("burst", "count", "period", "since", "suppressed")

    def __init__(self, burst: int = 3, period: float = 60.0) -> None:
        self.burst = burst
        self.period = period
        self.count = 0
        self.suppressed = 0
        self.since = 0.0

    def log(
        self,
        logger: logging.Logger,
        level: int,
        message: str,
        *args: Any,
        exc_info: bool = False,
    ) -> bool:
        """Log ``message % args`` if the limit allows; True if it was written."""
        self.count += 1
        if self.count < self.burst:
            logger.log(level, message, *args, exc_info=exc_info)
            return True
        if self.count == self.burst:
            logger.log(
                level,
                message + " (more like this are counted, and logged once per %g s)",
                *args,
                self.period,
                exc_info=exc_info,
            )
            self.since = time.monotonic()
            return True
        now = time.monotonic()
        if now - self.since < self.period:
            self.suppressed += 1
            return False
        suppressed, self.suppressed, self.since = self.suppressed, 0, now
        if suppressed:
            logger.log(
                level,
                message + " (and %d more like it in the last %g s, not logged)",
                *args,
                suppressed,
                self.period,
                exc_info=exc_info,
            )
        else:
            logger.log(level, message, *args, exc_info=exc_info)
        return True

    def summary(self, logger: logging.Logger, level: int, message: str, *args: Any) -> None:
        """Log how many lines were left out since the last one, if any (e.g. at disconnect)."""
        if self.suppressed:
            logger.log(level, message + ": %d more not logged", *args, self.suppressed)
            self.suppressed = 0
