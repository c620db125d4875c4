"""Sans-IO telnet protocol state machine for the server side.

The parser never touches a socket: the transport feeds it bytes with
:meth:`TelnetProtocol.receive_data`, gets the application data back with every
telnet command stripped, reads :attr:`TelnetProtocol.events` for anything the
application may care about, and writes :meth:`TelnetProtocol.data_to_send` to the
peer. Keeping IO out makes the machine trivially testable and lets any transport
(asyncio, threads, a test harness) drive it.

Option negotiation follows RFC 1143's "Q method" so that two implementations can
never talk themselves into an endless WILL/DO loop, however badly the peer behaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, TypeAlias

__all__ = [
    "AO",
    "AYT",
    "BRK",
    "CHARSET",
    "DM",
    "DO",
    "DONT",
    "EC",
    "ECHO",
    "EL",
    "EOR",
    "EOR_OPT",
    "GA",
    "GMCP",
    "IAC",
    "IP",
    "LINEMODE",
    "MCCP2",
    "MSSP",
    "NAWS",
    "NOP",
    "SB",
    "SE",
    "SGA",
    "TTYPE",
    "WILL",
    "WONT",
    "Command",
    "OptionChanged",
    "ProtocolError",
    "TelnetEvent",
    "TelnetProtocol",
    "TerminalType",
    "WindowSize",
]

# --- command bytes (RFC 854, RFC 885 for EOR) ---------------------------------
IAC: Final = 255
DONT: Final = 254
DO: Final = 253
WONT: Final = 252
WILL: Final = 251
SB: Final = 250
GA: Final = 249
EL: Final = 248
EC: Final = 247
AYT: Final = 246
AO: Final = 245
IP: Final = 244
BRK: Final = 243
DM: Final = 242
NOP: Final = 241
SE: Final = 240
EOR: Final = 239

# --- option codes ---------------------------------------------------------------
ECHO: Final = 1
SGA: Final = 3
TTYPE: Final = 24
EOR_OPT: Final = 25
NAWS: Final = 31
LINEMODE: Final = 34
CHARSET: Final = 42
MSSP: Final = 70
MCCP2: Final = 86
GMCP: Final = 201

# TTYPE subnegotiation verbs (RFC 1091).
_TTYPE_IS: Final = 0
_TTYPE_SEND: Final = 1
_TTYPE_MAX_NAME: Final = 64

_IAC_BYTE: Final = b"\xff"
_IAC_IAC: Final = b"\xff\xff"
_TTYPE_SEND_BYTES: Final = bytes((IAC, SB, TTYPE, _TTYPE_SEND, IAC, SE))


# --- events ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class WindowSize:
    """The peer reported its window size (NAWS, RFC 1073); sent again on every resize."""

    width: int
    height: int


@dataclass(frozen=True, slots=True)
class TerminalType:
    """The peer named its terminal (TTYPE IS, RFC 1091), sanitised to printable ASCII."""

    name: str


@dataclass(frozen=True, slots=True)
class OptionChanged:
    """An option's enabled state actually changed.

    ``local=True`` is our side of the option (we WILL/WONT it); ``local=False`` is the
    peer's side (it WILL/WONT, we DO/DONT).
    """

    option: int
    local: bool
    enabled: bool


@dataclass(frozen=True, slots=True)
class Command:
    """IAC followed by a non-negotiation command byte (NOP, AYT, IP, GA, ... or unknown)."""

    command: int


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Something malformed arrived and was dropped; meant for the operator's log only."""

    message: str


TelnetEvent: TypeAlias = WindowSize | TerminalType | OptionChanged | Command | ProtocolError

# --- parser states -----------------------------------------------------------------
_DATA: Final = 0  # plain application data
_IAC: Final = 1  # saw IAC in data
_NEG: Final = 2  # saw IAC WILL/WONT/DO/DONT, waiting for the option byte
_SB_OPT: Final = 3  # saw IAC SB, waiting for the option byte
_SB_DATA: Final = 4  # collecting subnegotiation payload
_SB_IAC: Final = 5  # saw IAC inside a subnegotiation

# --- RFC 1143 Q-method states --------------------------------------------------------
_NO: Final = 0
_YES: Final = 1
_WANTNO: Final = 2
_WANTYES: Final = 3
_EMPTY: Final = 0
_OPPOSITE: Final = 1


def _clean_terminal_name(raw: bytes) -> str:
    """Reduce a peer-supplied terminal name to something safe to log and compare."""
    text = raw.decode("ascii", errors="replace")
    printable = "".join(ch for ch in text if " " <= ch <= "~")
    return printable.strip()[:_TTYPE_MAX_NAME].rstrip()


class _Table(dict[int, int]):
    """Per-option small integers; options never set read as 0."""

    __slots__ = ()

    def __missing__(self, option: int) -> int:
        return 0


class TelnetProtocol:
    """Server-side telnet state machine: strips commands, negotiates options, reports events.

    All state is per connection and survives across :meth:`receive_data` calls, so a
    command split over several TCP reads is handled exactly as if it arrived at once.
    Memory is bounded: the only buffer is one subnegotiation payload, capped at
    ``max_subnegotiation`` bytes; option state lives in fixed 256-entry tables.
    """

    __slots__ = (
        "_him",
        "_himq",
        "_local_wanted",
        "_max_sb",
        "_neg_cmd",
        "_out",
        "_remote_wanted",
        "_sb_buf",
        "_sb_option",
        "_state",
        "_us",
        "_usq",
        "events",
    )

    def __init__(self, *, max_subnegotiation: int = 1024) -> None:
        self.events: list[TelnetEvent] = []
        self._max_sb = max(0, max_subnegotiation)
        self._state = _DATA
        self._neg_cmd = 0
        self._sb_option: int | None = None
        self._sb_buf = bytearray()
        self._out = bytearray()
        # Q-method state per option: ours (WILL/WONT) and the peer's (DO/DONT).
        # Sparse (a handful of options are ever touched) to keep idle
        # connections small; a missing option reads as 0 (NO / EMPTY).
        self._us = _Table()
        self._usq = _Table()
        self._him = _Table()
        self._himq = _Table()
        # Options we agree to when the peer proposes them; request_* updates these.
        self._local_wanted = _Table({SGA: 1})
        self._remote_wanted = _Table({NAWS: 1, TTYPE: 1, SGA: 1})

    # ------------------------------------------------------------------ public API
    def initiate(self) -> None:
        """Queue the server's opening offers so clients learn what we support up front."""
        self.request_remote(NAWS, True)
        self.request_remote(TTYPE, True)

    def data_to_send(self) -> bytes:
        """Return and clear the queued negotiation bytes (``b""`` when there are none)."""
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        return out

    def local_enabled(self, option: int) -> bool:
        """Whether we have agreed to perform ``option`` (our WILL was accepted)."""
        return 0 <= option <= 255 and self._us[option] == _YES

    def remote_enabled(self, option: int) -> bool:
        """Whether the peer has agreed to perform ``option`` (its WILL was accepted)."""
        return 0 <= option <= 255 and self._him[option] == _YES

    def request_local(self, option: int, enabled: bool) -> None:
        """Ask to enable/disable our side of ``option`` (sends WILL/WONT via the Q method).

        Also records whether we want the option, so a later unsolicited DO for it is
        accepted or refused accordingly. Disabling takes effect at once (a WONT can't be
        refused), so the OptionChanged for it is appended to :attr:`events` immediately.
        """
        _check_option(option)
        self._local_wanted[option] = 1 if enabled else 0
        self._request(True, option, enabled)

    def request_remote(self, option: int, enabled: bool) -> None:
        """Ask the peer to enable/disable its side of ``option`` (sends DO/DONT)."""
        _check_option(option)
        self._remote_wanted[option] = 1 if enabled else 0
        self._request(False, option, enabled)

    @staticmethod
    def escape(data: bytes) -> bytes:
        """Double every 0xFF so outgoing application data can't be read as a command."""
        if _IAC_BYTE not in data:
            return data
        return data.replace(_IAC_BYTE, _IAC_IAC)

    def receive_data(self, data: bytes) -> bytes:
        """Consume bytes from the peer; return the application data with telnet removed.

        Never raises: malformed input becomes :class:`ProtocolError` events instead.
        """
        if self._state == _DATA and _IAC_BYTE not in data:
            return data  # hot path: the overwhelmingly common case, zero-copy
        out: list[bytes] = []
        i = 0
        n = len(data)
        while i < n:
            state = self._state
            if state == _DATA:
                j = data.find(_IAC_BYTE, i)
                if j < 0:
                    out.append(data[i:])
                    break
                if j > i:
                    out.append(data[i:j])
                self._state = _IAC
                i = j + 1
            elif state == _IAC:
                b = data[i]
                i += 1
                if b == IAC:
                    out.append(_IAC_BYTE)
                    self._state = _DATA
                elif WILL <= b <= DONT:
                    self._neg_cmd = b
                    self._state = _NEG
                elif b == SB:
                    self._state = _SB_OPT
                else:
                    self.events.append(Command(b))
                    self._state = _DATA
            elif state == _NEG:
                b = data[i]
                i += 1
                self._state = _DATA
                self._negotiate(self._neg_cmd, b)
            elif state == _SB_OPT:
                b = data[i]
                i += 1
                self._sb_buf.clear()
                if b == IAC:
                    # Either an escaped option 255 (IAC IAC) or a missing option byte.
                    self._sb_option = None
                    self._state = _SB_IAC
                else:
                    self._sb_option = b
                    self._state = _SB_DATA
            elif state == _SB_DATA:
                j = data.find(_IAC_BYTE, i)
                end = n if j < 0 else j
                room = self._max_sb - len(self._sb_buf)
                if end - i > room:
                    # The byte at i + room overflows the cap: drop it with the payload.
                    self._abandon_oversize()
                    i += room + 1
                    continue
                self._sb_buf += data[i:end]
                if j < 0:
                    break
                self._state = _SB_IAC
                i = j + 1
            else:  # _SB_IAC
                b = data[i]
                if b == SE:
                    i += 1
                    self._state = _DATA
                    self._finish_subnegotiation()
                elif b == IAC:
                    i += 1
                    if self._sb_option is None:
                        self._sb_option = IAC
                        self._state = _SB_DATA
                    elif len(self._sb_buf) >= self._max_sb:
                        self._abandon_oversize()
                    else:
                        self._sb_buf.append(IAC)
                        self._state = _SB_DATA
                else:
                    # The peer never closed the SB; treat this IAC as a fresh command.
                    if self._sb_option is None:
                        msg = "subnegotiation without an option byte (unterminated)"
                    else:
                        msg = f"unterminated subnegotiation for option {self._sb_option}"
                    self.events.append(ProtocolError(msg))
                    self._sb_buf.clear()
                    self._sb_option = None
                    self._state = _IAC  # reprocess b as the byte after IAC
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    # ------------------------------------------------------------ subnegotiation
    def _abandon_oversize(self) -> None:
        """Drop a subnegotiation that exceeds the cap so a peer can't make us buffer forever."""
        self.events.append(
            ProtocolError(
                f"subnegotiation for option {self._sb_option} exceeded "
                f"{self._max_sb} bytes; dropped"
            )
        )
        self._sb_buf.clear()
        self._sb_option = None
        self._state = _DATA

    def _finish_subnegotiation(self) -> None:
        """Interpret a complete ``IAC SB <option> <payload> IAC SE``."""
        option = self._sb_option
        payload = bytes(self._sb_buf)
        self._sb_buf.clear()
        self._sb_option = None
        if option is None:
            self.events.append(ProtocolError("subnegotiation without an option byte"))
        elif option == NAWS:
            if len(payload) != 4:
                self.events.append(
                    ProtocolError(f"NAWS payload of {len(payload)} bytes (expected 4)")
                )
                return
            width = (payload[0] << 8) | payload[1]
            height = (payload[2] << 8) | payload[3]
            self.events.append(WindowSize(width, height))
        elif option == TTYPE:
            if not payload or payload[0] != _TTYPE_IS:
                self.events.append(ProtocolError("TTYPE subnegotiation is not IS <name>"))
                return
            name = _clean_terminal_name(payload[1:])
            if not name:
                self.events.append(ProtocolError("TTYPE IS with an empty terminal name"))
                return
            self.events.append(TerminalType(name))
        # Any other option's subnegotiation is consumed silently.

    # ------------------------------------------------------- RFC 1143 negotiation
    def _send(self, command: int, option: int) -> None:
        self._out += bytes((IAC, command, option))

    def _set(self, local: bool, option: int, new: int) -> None:
        """Move an option to a new Q-method state, reporting real enable/disable edges."""
        table = self._us if local else self._him
        old = table[option]
        table[option] = new
        if (old == _YES) == (new == _YES):
            return
        self.events.append(OptionChanged(option, local, new == _YES))
        if not local and option == TTYPE and new == _YES:
            # Ask once per enablement; the answer arrives as SB TTYPE IS.
            self._out += _TTYPE_SEND_BYTES

    def _side(self, local: bool) -> tuple[_Table, _Table, _Table, int, int]:
        """One side's tables and verbs: (states, queue bits, wanted, enable verb, disable verb)."""
        if local:
            return self._us, self._usq, self._local_wanted, WILL, WONT
        return self._him, self._himq, self._remote_wanted, DO, DONT

    def _negotiate(self, command: int, option: int) -> None:
        if command == WILL:
            self._receive_enable(False, option)
        elif command == WONT:
            self._receive_disable(False, option)
        elif command == DO:
            self._receive_enable(True, option)
        else:
            self._receive_disable(True, option)

    def _receive_enable(self, local: bool, option: int) -> None:
        """Peer sent WILL (``local=False``) or DO (``local=True``)."""
        state, queue, wanted, yes_cmd, no_cmd = self._side(local)
        s = state[option]
        if s == _NO:
            if wanted[option]:
                self._send(yes_cmd, option)
                self._set(local, option, _YES)
            else:
                self._send(no_cmd, option)
        elif s == _YES:
            pass  # already enabled: answering would start a loop
        elif s == _WANTNO:
            # Our disable request was answered with an enable: an error per RFC 1143.
            if queue[option] == _EMPTY:
                self._set(local, option, _NO)
            else:
                queue[option] = _EMPTY
                self._set(local, option, _YES)
        elif queue[option] == _EMPTY:  # _WANTYES: this is the answer we asked for
            self._set(local, option, _YES)
        else:  # _WANTYES, but we changed our mind meanwhile
            queue[option] = _EMPTY
            self._set(local, option, _WANTNO)
            self._send(no_cmd, option)

    def _receive_disable(self, local: bool, option: int) -> None:
        """Peer sent WONT (``local=False``) or DONT (``local=True``)."""
        state, queue, _, yes_cmd, no_cmd = self._side(local)
        s = state[option]
        if s == _NO:
            pass  # already off: no reply, no loop
        elif s == _YES:
            self._send(no_cmd, option)
            self._set(local, option, _NO)
        elif s == _WANTNO:
            if queue[option] == _EMPTY:
                self._set(local, option, _NO)
            else:
                queue[option] = _EMPTY
                self._set(local, option, _WANTYES)
                self._send(yes_cmd, option)
        else:  # _WANTYES: refused (or the peer changed its mind)
            queue[option] = _EMPTY
            self._set(local, option, _NO)

    def _request(self, local: bool, option: int, enabled: bool) -> None:
        """Our own request to change an option, queued per RFC 1143 if one is in flight."""
        state, queue, _, yes_cmd, no_cmd = self._side(local)
        s = state[option]
        q = queue[option]
        if enabled:
            if s == _NO:
                self._set(local, option, _WANTYES)
                self._send(yes_cmd, option)
            elif s == _WANTNO and q == _EMPTY:
                queue[option] = _OPPOSITE
            elif s == _WANTYES and q == _OPPOSITE:
                queue[option] = _EMPTY
            # _YES, or already heading to yes: nothing to do.
        elif s == _YES:
            self._send(no_cmd, option)
            self._set(local, option, _WANTNO)
        elif s == _WANTYES and q == _EMPTY:
            queue[option] = _OPPOSITE
        elif s == _WANTNO and q == _OPPOSITE:
            queue[option] = _EMPTY
        # _NO, or already heading to no: nothing to do.


def _check_option(option: int) -> None:
    if not 0 <= option <= 255:
        raise ValueError(f"telnet option must be 0..255, got {option}")
