"""``unix://``: lines (or raw chunks) over a UNIX stream socket.

The same connection as ``tcp://`` and the same accept loop
(:class:`~hubbub.transports.listener.StreamListener`); what is particular to
a socket file is here:

* the file is made with mode 0o660 (owner and group may connect) before the
  socket listens, so there is no moment when anyone else could;
* a socket file nobody listens on any more (left by a crash) is replaced; a
  path where a live server listens is refused ("address already in use");
  a path that exists and is not a socket is refused and never touched;
* the file is removed when the listener closes, if it is still the one this
  listener made (same device and inode): a newer server's socket at the
  same path is left alone.

A UNIX peer has no address of its own worth showing (it is usually
unnamed), so ``client.address`` is ``(path, 0)``: the listener's socket
path and port 0. It reads as ``/run/game/admin.sock:0`` in logs, and it is
never an IP address: rules keyed by IP treat such peers as local (access
to a socket file is governed by its permissions).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
import sys
from typing import Any, Final

from ..server import Server
from .base import Host
from .listener import BACKLOG, Factory, StreamListener
from .tcp import StreamConnection

__all__ = ["MODE", "UnixConnection", "UnixListener", "bind_unix", "open_listener"]

log = logging.getLogger("hubbub.transport")

#: Permissions of the socket file: its owner and group may connect.
MODE: Final = 0o660
#: Longest socket path the kernel takes, in bytes (``sun_path`` less its NUL).
MAX_PATH: Final = 107 if sys.platform.startswith("linux") else 103


class UnixConnection(StreamConnection):
    """One client on a UNIX stream socket: a tcp:// connection with a path for an address."""

    kind = "unix"
    #: A local socket has nothing for TLS to protect: start_tls() refuses it.
    secure_kind = ""

    __slots__ = ()

    def peer(self, peername: Any) -> tuple[Any, ...]:
        return (self.server.endpoint.path, 0)


class UnixListener(StreamListener):
    """A listening socket file, removed again when the listener closes."""

    def __init__(self, host: Host, server: Server, sock: socket.socket, factory: Factory) -> None:
        self.path = server.endpoint.path
        super().__init__(host, server, [sock], factory, address=self.path)
        made = os.stat(self.path)
        # Which file is ours: a later server may have replaced it by then.
        self.identity = (made.st_dev, made.st_ino)

    def peer(self, address: Any) -> tuple[Any, ...]:
        return (self.path, 0)

    def close(self) -> None:
        if self.closed:
            return
        super().close()
        try:
            now = os.lstat(self.path)
        except OSError:
            return  # already gone
        if (now.st_dev, now.st_ino) == self.identity:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        else:
            log.info("%s: the socket file was replaced by another; left it alone", self.server.url)


def _clear_stale(path: str) -> None:
    """Remove a socket file nobody listens on; refuse anything else that is there."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(found.st_mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket; it was left alone")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)  # a live server with a full backlog must not block us
        code = probe.connect_ex(path)
    finally:
        probe.close()
    if code in (0, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINPROGRESS):
        raise OSError(errno.EADDRINUSE, "address already in use")
    if code == errno.ECONNREFUSED:
        log.info("removing stale socket file %s (nothing listens on it)", path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
    elif code != errno.ENOENT:
        raise OSError(code, f"cannot tell whether {path} is in use: {os.strerror(code)}")


def bind_unix(path: str) -> socket.socket:
    """A listening, non-blocking UNIX stream socket at ``path``, mode :data:`MODE`."""
    size = len(os.fsencode(path))
    if size > MAX_PATH:
        raise OSError(
            errno.ENAMETOOLONG,
            f"the path is {size} bytes; a UNIX socket path may have at most {MAX_PATH}",
        )
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise OSError(errno.ENOENT, f"directory {directory} does not exist")
    _clear_stale(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    bound = False
    try:
        sock.bind(path)
        bound = True
        # Before listen(): until then nobody can connect, whatever the umask made.
        os.chmod(path, MODE)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        if bound:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    return sock


async def open_listener(host: Host, server: Server) -> UnixListener:
    inherited = server.take_inherited()  # handed over by a restart: the file is ours
    sock = inherited[0] if inherited else bind_unix(server.endpoint.path)
    try:
        listener = UnixListener(host, server, sock, lambda: UnixConnection(host, server))
    except BaseException:
        sock.close()
        raise
    listener.start()
    return listener
