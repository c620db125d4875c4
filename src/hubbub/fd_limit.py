"""The process's open-files limit, raised as far as ``max_connections`` needs.

Every connection costs a file descriptor. Many systems start processes with
a soft limit of 1024 while allowing far more, so a service set up for ten
thousand players would run out at a thousand. At start the soft limit is
raised toward the hard limit as far as needed; when even the hard limit is
too low, the service admits only as many clients as it has descriptors for
(turning the rest away with the "server is full" message) and says so once.
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["RESERVE", "connection_capacity"]

log = logging.getLogger("hubbub.service")

#: Descriptors kept for everything that is not a client: listening sockets,
#: log files, the event loop, databases, a refusal's short-lived socket.
RESERVE: Final = 64


def connection_capacity(max_connections: int) -> int:
    """Raise the soft open-files limit for ``max_connections`` clients; return how many fit."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return max_connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + RESERVE
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
            except (ValueError, OSError) as exc:
                log.debug("could not raise the open-files limit to %d: %s", target, exc)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    capacity = max(1, soft - RESERVE)
    log.warning(
        "the open-files limit is %d (hard limit %s), too low for max_connections=%d: "
        "at most %d clients will be admitted; raise it (ulimit -n) to admit more",
        soft,
        "unlimited" if hard == resource.RLIM_INFINITY else hard,
        max_connections,
        capacity,
    )
    return capacity
