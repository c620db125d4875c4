"""ECHO, option 1 (RFC 857): we offer it only to hide what the user types.

The server never echoes typed text. ``WILL ECHO`` tells the client to stop
echoing locally (for a password); ``WONT ECHO`` gives echoing back to it.
A client's own offer to echo is refused: a client never echoes for us.
"""

from __future__ import annotations

from .codes import ECHO
from .option import Option

__all__ = ["Echo"]


class Echo(Option):
    """Our side only, and only while the application hides input (see the transport)."""

    code = ECHO
    name = "ECHO"
