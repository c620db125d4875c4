"""Colour markup: ``"{red}HP{/} 10"`` rendered for what each client can show.

A game writes colour once, as markup, and :func:`render` turns it into the
ANSI escape sequences a client can display: truecolour, else the nearest of
the 256 xterm colours, else the nearest of the 16, else none at all, by
``client.colors`` (0, 16, 256 or 16_777_216). A client with
``client.screen_reader`` set gets no escape sequences: speech does not need
them, and some screen readers read them out. :func:`strip` gives the plain
text.

The markup (see docs/colour.md for the full list):

* ``{red}``, ``{bright_red}``, … — the 16 colours as foreground;
  ``{on_red}`` as background;
* ``{#ff8800}`` (or ``{#f80}``) — any colour; ``{on_#ff8800}`` as background;
* ``{bold}``, ``{dim}``, ``{italic}``, ``{underline}``, ``{blink}``,
  ``{reverse}``, ``{strike}`` — styles;
* ``{/}`` — back to plain (the end of a rendered string resets too, so
  colour never leaks into the next line);
* ``{{`` and ``}}`` — a literal brace. Anything else in braces (``{grin}``)
  is left as it is, so players' text cannot break the markup.

Rendering is cached per (markup, depth), so a broadcast renders a string
once per colour depth in use.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .client import Client

__all__ = ["COLORS", "STYLES", "TRUECOLOR", "render", "strip"]

#: ``client.colors`` of a client that shows any RGB colour.
TRUECOLOR: Final = 16_777_216

_NAMES: Final = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
#: The 16 colour names and their index (0-7 normal, 8-15 bright).
COLORS: Final[dict[str, int]] = {
    **{name: i for i, name in enumerate(_NAMES)},
    **{f"bright_{name}": i + 8 for i, name in enumerate(_NAMES)},
    "grey": 8,
    "gray": 8,
}
#: Style names and their SGR codes.
STYLES: Final[dict[str, int]] = {
    "bold": 1,
    "dim": 2,
    "italic": 3,
    "underline": 4,
    "blink": 5,
    "reverse": 7,
    "strike": 9,
}
# The 16 colours as xterm shows them, for picking the nearest one.
_RGB16: Final = (
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
    (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
)  # fmt: skip
_CUBE: Final = (0, 95, 135, 175, 215, 255)
#: Longer strings are rendered every time, not cached (the cache stays small).
_CACHED: Final = 1024

_TAG = re.compile(r"\{\{|\}\}|\{(on_)?(#[0-9a-fA-F]{6}|#[0-9a-fA-F]{3}|[a-z_]+|/)\}")

# Parsed markup: text pieces (str) and tags (tuple: kind, background, value).
_Token = str | tuple[str, bool, object]


def render(markup: str, client: Client | None = None, *, colors: int | None = None) -> str:
    """``markup`` with its tags as escape sequences for ``client`` (or for ``colors``).

    With neither, or a client using a screen reader, the tags are removed.
    """
    if colors is None:
        colors = 0 if client is None or client.screen_reader else client.colors
    depth = _depth(colors)
    if len(markup) > _CACHED:
        return _render.__wrapped__(markup, depth)
    return _render(markup, depth)


def strip(markup: str) -> str:
    """``markup`` as plain text: tags removed, ``{{`` and ``}}`` made single braces."""
    return _render(markup, 0) if len(markup) <= _CACHED else _render.__wrapped__(markup, 0)


def _depth(colors: int) -> int:
    if colors >= TRUECOLOR:
        return TRUECOLOR
    if colors >= 256:
        return 256
    return 16 if colors >= 8 else 0


@lru_cache(maxsize=2048)
def _render(markup: str, depth: int) -> str:
    if "{" not in markup and "}" not in markup:
        return markup
    out: list[str] = []
    styled = False
    for token in _parse(markup):
        if isinstance(token, str):
            out.append(token)
            continue
        if not depth:
            continue
        kind, background, value = token
        if kind == "reset":
            if styled:
                out.append("\x1b[0m")
                styled = False
            continue
        codes = _codes(kind, background, value, depth)
        if codes:
            out.append(f"\x1b[{codes}m")
            styled = True
    if styled:
        out.append("\x1b[0m")
    return "".join(out)


@lru_cache(maxsize=2048)
def _parse(markup: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    at = 0
    for match in _TAG.finditer(markup):
        text = match.group(0)
        token: _Token | None = None
        if text in ("{{", "}}"):
            token = text[0]
        else:
            background, value = bool(match.group(1)), match.group(2)
            if value == "/":
                token = None if background else ("reset", False, None)
            elif value.startswith("#"):
                token = ("rgb", background, _hex(value))
            elif value in COLORS:
                token = ("color", background, COLORS[value])
            elif value in STYLES and not background:
                token = ("style", False, STYLES[value])
        if token is None:
            continue  # not a tag of ours: left in the text as it is
        if match.start() > at:
            tokens.append(markup[at : match.start()])
        tokens.append(token)
        at = match.end()
    if at < len(markup):
        tokens.append(markup[at:])
    return tuple(tokens)


def _hex(value: str) -> tuple[int, int, int]:
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _codes(kind: str, background: bool, value: object, depth: int) -> str:
    if kind == "style":
        return str(value)
    if kind == "color":
        index = value if isinstance(value, int) else 7
        return _sgr16(index, background)
    assert isinstance(value, tuple)
    r, g, b = value
    if depth >= TRUECOLOR:
        return f"{48 if background else 38};2;{r};{g};{b}"
    if depth >= 256:
        return f"{48 if background else 38};5;{_nearest256(r, g, b)}"
    return _sgr16(_nearest16(r, g, b), background)


def _sgr16(index: int, background: bool) -> str:
    base = (40 if background else 30) if index < 8 else (100 if background else 90)
    return str(base + index % 8)


def _nearest16(r: int, g: int, b: int) -> int:
    def distance(i: int) -> int:
        return sum((c - p) ** 2 for c, p in zip((r, g, b), _RGB16[i], strict=True))

    return min(range(16), key=distance)


def _nearest256(r: int, g: int, b: int) -> int:
    def level(c: int) -> int:
        return min(range(6), key=lambda i: abs(_CUBE[i] - c))

    cube = (level(r), level(g), level(b))
    cube_rgb = tuple(_CUBE[i] for i in cube)
    grey_index = min(23, max(0, round((sum((r, g, b)) / 3 - 8) / 10)))
    grey = 8 + 10 * grey_index

    def distance(other: tuple[int, ...]) -> int:
        return sum((c - o) ** 2 for c, o in zip((r, g, b), other, strict=True))

    if distance((grey, grey, grey)) < distance(cube_rgb):
        return 232 + grey_index
    return 16 + 36 * cube[0] + 6 * cube[1] + cube[2]
