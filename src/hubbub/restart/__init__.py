"""Hot restart: hand every listener and client to a new process running the current code.

* :mod:`.channel` — JSON messages and socket descriptors over a UNIX socket;
* :mod:`.process` — starting the new process, and the pid file;
* :mod:`.state` — what crosses beyond a client's snapshot (queued input, the
  chain that was running), and how it is put back;
* :mod:`.outgoing` — the old process's side; :mod:`.incoming` — the new one's.
"""

from __future__ import annotations

from .incoming import Incoming
from .outgoing import Outgoing

__all__ = ["Incoming", "Outgoing"]
