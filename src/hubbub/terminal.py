"""What a client's terminal can do, learnt from what it says about itself.

Telnet clients say it several ways: the TTYPE/MTTS cycle (names and a
bitvector), NEW-ENVIRON variables (MNES: CHARSET, MTTS, SCREEN_READER…) and
GMCP ``Core.Hello``. Each source adds to the client's facts (``colors``,
``utf8``, ``screen_reader``); a later, more specific one (an MTTS
bitvector, Mudlet's ``SCREEN_READER`` update) refines them. One place
decides, so every source means the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Final

from .ansi import TRUECOLOR
from .protocols.telnet.ttype import MTTS

if TYPE_CHECKING:
    from .client import Client

__all__ = ["colors_of", "colors_of_mtts", "learn_environ", "learn_terminal_types"]

_UTF8_NAMES: Final = frozenset({"UTF-8", "UTF8"})
#: Variables kept in ``client.environ`` at most.
MAX_ENVIRON: Final = 64
_TRUE: Final = frozenset({"1", "ON", "YES", "TRUE"})
_FALSE: Final = frozenset({"0", "OFF", "NO", "FALSE"})


def colors_of(terminal: str) -> int:
    """What a terminal name says about colours (MTTS refines it): 0 when it says nothing."""
    name = terminal.upper()
    if "TRUECOLOR" in name or "DIRECT" in name or "24BIT" in name:
        return TRUECOLOR
    if "256" in name:
        return 256
    if name.startswith(("XTERM", "ANSI", "VT100", "VT220", "LINUX", "SCREEN", "TMUX", "RXVT")):
        return 16
    return 0


def colors_of_mtts(mtts: int) -> int:
    """The colours an MTTS bitvector claims: truecolour, 256, 16 (ANSI) or 0."""
    if mtts & MTTS.TRUECOLOR:
        return TRUECOLOR
    if mtts & MTTS.COLORS_256:
        return 256
    if mtts & MTTS.ANSI:
        return 16
    return 0


def learn_mtts(client: Client, mtts: int) -> None:
    """Take an MTTS bitvector: colours, UTF-8 and a screen reader when its bits say so.

    Bits add up: TinTin++ says ``MTTS 271`` in TTYPE and 783 (the same and the
    MNES bit) in NEW-ENVIRON; the client claims all of them.
    """
    client.mtts |= mtts
    client.colors = max(client.colors, colors_of_mtts(mtts))
    if mtts & MTTS.UTF8:
        client.utf8 = True
    if mtts & MTTS.SCREEN_READER:
        client.screen_reader = True


def learn_terminal_types(client: Client, names: Iterable[str], mtts: int | None) -> None:
    """The TTYPE cycle's answers: ``terminal`` is the first, colours from every name."""
    names = list(names)
    if names:
        client.terminal = names[0]
        client.terminal_types = names
    for name in names:
        client.colors = max(client.colors, colors_of(name))
        if "UTF-8" in name.upper():
            client.utf8 = True
    if mtts is not None:
        learn_mtts(client, mtts)


def learn_environ(client: Client, changes: Mapping[str, str]) -> None:
    """NEW-ENVIRON variables (IS or a later INFO): kept in ``environ``, facts derived.

    ``SCREEN_READER`` (Mudlet sends it, and updates it when the player
    switches the option) sets ``screen_reader`` either way; the others only
    ever add what the client can do.
    """
    environ = client.environ
    for name, value in changes.items():
        if name not in environ and len(environ) >= MAX_ENVIRON:
            continue  # a client cannot grow it without bound
        environ[name] = value
        upper = value.strip().upper()
        if name == "CHARSET" and upper in _UTF8_NAMES:
            client.utf8 = True
        elif name == "MTTS" and upper.isdigit() and len(upper) <= 9:
            learn_mtts(client, int(upper))
        elif name == "TERMINAL_TYPE" and client.terminal is None and value:
            client.terminal = value
            client.colors = max(client.colors, colors_of(value))
        elif name == "SCREEN_READER":
            if upper in _TRUE:
                client.screen_reader = True
            elif upper in _FALSE:
                client.screen_reader = False
