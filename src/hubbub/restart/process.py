"""Starting the process that takes over, and the pid file that names the live one."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Final

from .channel import Channel

__all__ = [
    "HANDOVER_ENV",
    "inherited_channel",
    "read_pid_file",
    "remove_pid_file",
    "report_failure",
    "spawn",
    "write_pid_file",
]

#: Names the descriptor of the handover socket in the new process's
#: environment. (Not ``HUBBUB_*``: those are settings.)
HANDOVER_ENV: Final = "_HUBBUB_HANDOVER_FD"

# Where the process started: the new one starts there too, even if the
# application changed directory since.
_START_DIR = os.getcwd()


def command() -> list[str]:
    """The command line this process was started with (``python -m hubbub run …``)."""
    return [sys.executable, *sys.orig_argv[1:]]


def spawn(timeout: float) -> tuple[subprocess.Popen[bytes], Channel]:
    """Start the current code again as a new process, connected by a handover channel."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        env = dict(os.environ)
        env[HANDOVER_ENV] = str(theirs.fileno())
        process = subprocess.Popen(
            command(), pass_fds=[theirs.fileno()], env=env, cwd=_START_DIR, close_fds=True
        )
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    return process, Channel(ours, timeout)


def inherited_channel() -> Channel | None:
    """The handover channel, in a process started by :func:`spawn` (once; else None)."""
    value = os.environ.pop(HANDOVER_ENV, None)
    if value is None:
        return None
    try:
        sock = socket.socket(fileno=int(value))
    except (ValueError, OSError) as exc:
        raise RuntimeError(f"{HANDOVER_ENV}={value!r} names no usable socket: {exc}") from None
    return Channel(sock)


def report_failure(error: BaseException) -> None:
    """In a process a restart started: tell the old process why this one cannot take over.

    The old process logs it and serves on. (Nothing happens in any other process.)
    """
    channel = inherited_channel()
    if channel is None:
        return
    if isinstance(error, SyntaxError):
        where = f" ({error.filename}, line {error.lineno})" if error.filename else ""
        text = f"SyntaxError: {error.msg}{where}"
    else:
        text = f"{type(error).__name__}: {error}"
    with contextlib.suppress(Exception):
        channel.send({"kind": "failed", "error": text})
    channel.close()


def write_pid_file(path: str) -> None:
    """Write this process's pid to ``path`` (atomically: readers never see half of it)."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}")
    temporary.write_text(f"{os.getpid()}\n")
    temporary.replace(target)


def read_pid_file(path: str) -> int:
    """The pid ``path`` names (OSError or ValueError when there is none)."""
    return int(Path(path).read_text().strip())


def remove_pid_file(path: str) -> None:
    """Remove ``path`` if it still names this process (a successor may have taken it)."""
    with contextlib.suppress(OSError, ValueError):
        if read_pid_file(path) == os.getpid():
            os.unlink(path)
