"""Line editing, sans-IO: what the user meant by the keys they pressed.

Clients in line mode send a finished line, but many leave editing keys in
it: a name typed ``dorx``, backspace, ``a`` can arrive as ``dorx\\x7fa``.
Before a line reaches a handler, :func:`edit_line` applies the keys a
terminal user expects:

* BS (``^H``) and DEL erase the character before them (telnet's ``IAC EC``
  arrives here as BS);
* ``^U`` erases the whole line so far (telnet's ``IAC EL`` arrives as ``^U``);
* ``^W`` erases the word before it;
* escape sequences (arrow keys, colour codes, window titles, hyperlinks,
  their 8-bit forms) are removed whole, text inside them included;
* every other C0 and C1 control character is removed; TAB is kept.
"""

from __future__ import annotations

import re

__all__ = ["edit_line", "needs_editing"]

# Anything edit_line would change: C0 controls except TAB, DEL, C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# Escape sequences are removed whole, so no text from inside one is left:
# - string controls: OSC (ESC ], a title or a hyperlink), DCS (ESC P), SOS,
#   PM and APC (ESC X, ESC ^, ESC _), up to BEL or ST (ESC \\), or the line's
#   end; and their 8-bit forms (U+0090, U+0098, U+009D, U+009E, U+009F);
# - CSI (ESC [ or U+009B, parameters, a final byte): cursor keys, colours;
# - SS3 (ESC O + one byte): cursor and function keys in application mode;
# - any other ESC + one byte, and a lone ESC.
_ESCAPES = re.compile(
    "(?:\x1b[\\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\\\|\x9c)?"
    "|(?:\x1b\\[|\x9b)[0-?]*[ -/]*[@-~]"
    "|\x1bO[ -~]"
    "|\x1b[@-Z\\\\-_]"
    "|\x1b"
)


def needs_editing(text: str) -> bool:
    """True when ``text`` holds a control character that :func:`edit_line` acts on."""
    return _CONTROL.search(text) is not None


def edit_line(text: str) -> str:
    """Apply the editing keys in ``text`` and drop the other control characters."""
    if _CONTROL.search(text) is None:
        return text
    text = _ESCAPES.sub("", text)
    out: list[str] = []
    for ch in text:
        if (ch >= " " and not "\x7f" <= ch <= "\x9f") or ch == "\t":
            out.append(ch)
        elif ch == "\x08" or ch == "\x7f":
            if out:
                out.pop()
        elif ch == "\x15":
            out.clear()
        elif ch == "\x17":
            while out and out[-1] in " \t":
                out.pop()
            while out and out[-1] not in " \t":
                out.pop()
        # Any other control character is dropped.
    return "".join(out)
