"""Sans-IO telnet, server and client role: bytes in, application bytes and records out.

The transport hands every packet to :meth:`TelnetProtocol.receive_data`, which
returns the application data with every telnet command removed; then, when
:attr:`TelnetProtocol.pending` says so, it takes :meth:`events_received` (the
records the options produced) and :meth:`data_to_send` (negotiation replies).
No socket, no asyncio: the machine is driven the same way by the transport,
the tests and the fuzzer.

Negotiation follows RFC 1143's Q method, so no peer, however badly it
behaves, can talk us into a WILL/DO loop. What each option means is decided
by the option handlers of the listener's :class:`OptionSet`; every option
not in the set is refused.
"""

from __future__ import annotations

import base64
import copy
import zlib
from typing import Any, Final, TypeAlias

from .charset import CharsetAccepted
from .codes import AYT, DO, DONT, EC, EL, EOR, GA, IAC, SB, SE, WILL, WONT
from .environ import Environ
from .gmcp import GmcpMessage
from .mccp import INFLATE_CHUNK, WINDOW, Compress
from .msdp import MsdpMessage
from .naws import WindowSize
from .option import LOCAL_WANTED, REMOTE_WANTED, Option, OptionSet
from .records import Command, OptionChanged, Prompt, ProtocolError
from .ttype import TerminalType

__all__ = [
    "Command",
    "OptionChanged",
    "Prompt",
    "ProtocolError",
    "Record",
    "TelnetProtocol",
]


Record: TypeAlias = (
    OptionChanged
    | Command
    | ProtocolError
    | Prompt
    | WindowSize
    | TerminalType
    | GmcpMessage
    | CharsetAccepted
    | Environ
    | MsdpMessage
    | Compress
)

# --- parser states ------------------------------------------------------------------
_DATA: Final = 0  # application data
_IAC: Final = 1  # after IAC in data
_NEG: Final = 2  # after IAC WILL/WONT/DO/DONT, waiting for the option byte
_SB_OPT: Final = 3  # after IAC SB, waiting for the option byte
_SB_DATA: Final = 4  # collecting a subnegotiation payload
_SB_IAC: Final = 5  # after IAC inside a subnegotiation
_SKIP: Final = 6  # discarding an oversize subnegotiation up to its IAC SE
_SKIP_IAC: Final = 7  # after IAC while discarding
_DEAD: Final = 8  # after a fatal error: nothing more is read

# --- RFC 1143 Q method, packed per option into one small int ---------------------
# bits 0-1: our state, bit 2: our queue, bits 3-4: peer state, bit 5: peer queue,
# bit 6 / bit 7: whether we agree to our side / the peer's side (LOCAL/REMOTE_WANTED).
_NO: Final = 0
_YES: Final = 1
_WANTNO: Final = 2
_WANTYES: Final = 3
# (state shift, queue bit, wanted bit, enable verb, disable verb) per side.
_Side: TypeAlias = tuple[int, int, int, int, int]
_LOCAL: Final[_Side] = (0, 1 << 2, LOCAL_WANTED, WILL, WONT)
_REMOTE: Final[_Side] = (3, 1 << 5, REMOTE_WANTED, DO, DONT)

# Erase-character and erase-line arrive as commands but act on the line being
# typed; they are put back into the data as the keys that do the same (BS, ^U),
# so the line editor sees them in their place.
_INLINE: Final = {EC: b"\x08", EL: b"\x15"}
_IAC_BYTE: Final = b"\xff"
# In the client role (OptionSet.prompts) these end a server's prompt.
_PROMPT_MARKS: Final = frozenset({GA, EOR})
_AYT_REPLY: Final = b"\r\n[Yes]\r\n"


def _salvage(inflate: Any, data: bytes) -> bytes:
    """What ``inflate`` gives for ``data`` up to the byte it fails on (at most a piece)."""
    out = bytearray()
    for i in range(len(data)):
        try:
            out += inflate.decompress(data[i : i + 1])
        except zlib.error:
            break
        if len(out) >= INFLATE_CHUNK:
            break
    return bytes(out[:INFLATE_CHUNK])


class TelnetProtocol:
    """One connection's telnet state machine.

    Memory is bounded: the one buffer is a subnegotiation payload, capped at
    ``max_subnegotiation`` bytes (a longer one is dropped whole, up to its
    closing ``IAC SE``); negotiation state is one small int per option touched.
    """

    __slots__ = (
        "_again",
        "_app",
        "_broken",
        "_events",
        "_fed",
        "_inflate",
        "_max_sb",
        "_neg_cmd",
        "_options",
        "_out",
        "_q",
        "_sb_buf",
        "_sb_option",
        "_state",
        "_tail",
        "_trailer",
        "_window",
        "changes",
        "more",
        "pending",
        "state",
    )

    def __init__(self, options: OptionSet, *, max_subnegotiation: int = 1024) -> None:
        self._options = options
        self._max_sb = max(0, max_subnegotiation)
        self._state = _DATA
        self._neg_cmd = 0
        self._sb_option: int | None = None
        self._sb_buf = bytearray()
        self._out = bytearray()
        self._events: list[Record] = []
        self._q: dict[int, int] = {}
        # MCCP3: the client's compressed stream, and input not yet decompressed
        # (compressed) or not yet parsed (after the stream's start, or end).
        self._inflate: Any = None
        self._tail = b""
        self._again = False  # zlib may hold output back when a piece is full
        self._broken = False  # the compressed stream failed: nothing more is read
        # The last WINDOW bytes the stream gave: with them a new decompressor can
        # take the stream over in another process (a restart), see restore().
        self._window: bytearray | None = None  # (made when MCCP3 starts)
        self._fed = False  # the stream's zlib header has been read
        self._trailer = 0  # bytes of a zlib trailer to drop after such a stream's end
        #: True when input from earlier calls still waits (MCCP3 hands compressed
        #: input on in bounded pieces): call :meth:`receive_data` again with ``b""``.
        self.more = False
        #: Counts input that may have changed the state :meth:`snapshot` saves
        #: (commands, subnegotiations, compressed input): a cheap "did it change".
        self.changes = 0
        #: True when records or replies are waiting to be taken.
        self.pending = False
        #: Plain data option handlers keep per connection (saved with the client).
        self._app: list[bytes] | None = None  # the application data being collected
        self.state: dict[str, Any] = {}

    # ------------------------------------------------------------------ public API
    def start(self) -> None:
        """Queue the listener's opening proposals (its options' ``ask_*``)."""
        for code, local, remote in self._options.opening:
            if local:
                self.request_local(code, True)
            if remote:
                self.request_remote(code, True)

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes from the peer; return its application data with telnet removed.

        Never raises: malformed input becomes :class:`ProtocolError` records.
        When :attr:`more` is True afterwards, input is left over (compressed
        input is handed on in bounded pieces): call again with ``b""``.
        """
        # The common case: nothing to do, nothing copied (``IAC not in`` is a memchr).
        if self._state == _DATA and IAC not in data and self._inflate is None and not self._tail:
            return data
        self.changes += 1  # (not on the common path above: plain text changes nothing)
        if self._inflate is not None or self._tail:
            return self._next_piece(data)
        return self._parse(data)

    @property
    def decompressing(self) -> bool:
        """True while the peer's input is compressed (MCCP3)."""
        return self._inflate is not None

    def start_decompressing(self) -> None:
        """The peer's input is compressed from the end of this subnegotiation on (MCCP3)."""
        if self._inflate is None and not self._broken:
            self._inflate = zlib.decompressobj()
            self._window = bytearray()
            self._app = None  # tells the parser to stop here

    def _next_piece(self, data: bytes) -> bytes:
        """Decompress (at most INFLATE_CHUNK out) and parse what is waiting and ``data``."""
        pending = self._tail + data if self._tail else data
        inflate = self._inflate
        if inflate is None:  # the compressed stream ended: the rest is plain
            self._tail = b""
            result = self._parse(pending)
            self.more = bool(self._tail)
            return result
        before = inflate.copy()  # (cheap: under a microsecond)
        self._fed = self._fed or bool(pending)
        try:
            plain = inflate.decompress(pending, INFLATE_CHUNK)
        except zlib.error as error:
            # What came before the broken byte is delivered, however the input
            # was cut into packets; then the stream is dead.
            self._inflate = None
            self._window = None
            self._tail = b""
            self._again = False
            self.more = False
            self._broken = True
            result = self._parse(_salvage(before, pending))
            self.emit(ProtocolError(f"MCCP3 input is not a zlib stream ({error})", fatal=True))
            self._state = _DEAD
            return result
        window = self._window
        if window is not None:
            window += plain
            if len(window) > 2 * WINDOW:
                del window[:-WINDOW]
        # (Parsed while the stream is still on: an MCCP3 start inside it means
        # nothing, wherever the packets happened to end.)
        result = self._parse(plain)
        if inflate.eof:  # the client ended compression: what follows is plain
            self._inflate = None
            self._window = None
            self._tail = inflate.unused_data[self._trailer :]
            self._trailer = 0
            self._again = False
        else:
            self._tail = inflate.unconsumed_tail
            self._again = len(plain) >= INFLATE_CHUNK
        self.more = self._again or bool(self._tail)
        return result

    def _parse(self, data: bytes) -> bytes:
        if self._state == _DEAD:
            return b""
        out: list[bytes] = []
        self._app = out
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
                self._state = _DATA
                if b == IAC:
                    out.append(_IAC_BYTE)
                elif WILL <= b <= DONT:
                    self._neg_cmd = b
                    self._state = _NEG
                elif b == SB:
                    self._state = _SB_OPT
                elif b in _INLINE:
                    out.append(_INLINE[b])
                elif b in _PROMPT_MARKS and self._options.prompts:
                    self.emit(Prompt(sum(map(len, out))))  # where the prompt ends
                else:
                    self._command(b)
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
                    # An escaped option 255 (IAC IAC) or a missing option byte.
                    self._sb_option = None
                    self._state = _SB_IAC
                else:
                    self._sb_option = b
                    self._state = _SB_DATA
            elif state == _SB_DATA:
                j = data.find(_IAC_BYTE, i)
                end = n if j < 0 else j
                if end - i > self._max_sb - len(self._sb_buf):
                    self._oversize()
                    continue  # the rest is skipped from i on
                self._sb_buf += data[i:end]
                if j < 0:
                    break
                self._state = _SB_IAC
                i = j + 1
            elif state == _SB_IAC:
                b = data[i]
                if b == SE:
                    i += 1
                    self._state = _DATA
                    self._finish_subnegotiation()
                    if self._app is None:  # MCCP3 started: the rest is compressed
                        self._app = out
                        self._tail = data[i:] + self._tail
                        self.more = True
                        break
                elif b == IAC:
                    i += 1
                    if self._sb_option is None:
                        self._sb_option = IAC
                        self._state = _SB_DATA
                    elif len(self._sb_buf) >= self._max_sb:
                        self._oversize()
                    else:
                        self._sb_buf.append(IAC)
                        self._state = _SB_DATA
                else:
                    self._unterminated()
            elif state == _SKIP:
                j = data.find(_IAC_BYTE, i)
                if j < 0:
                    break
                self._state = _SKIP_IAC
                i = j + 1
            else:  # _SKIP_IAC
                b = data[i]
                if b == SE:
                    i += 1
                    self._state = _DATA
                elif b == IAC:
                    i += 1
                    self._state = _SKIP  # an escaped 0xFF inside the dropped payload
                else:
                    self._unterminated()
        if len(out) == 1:
            return out[0]
        return b"".join(out)

    @property
    def options(self) -> OptionSet:
        """The listener's options (shared, read-only)."""
        return self._options

    def position(self) -> int:
        """Where in the application data of this :meth:`receive_data` call we are.

        For option handlers whose records must keep their place among the
        lines around them (a GMCP message between two typed lines).
        """
        app = self._app
        return sum(map(len, app)) if app else 0

    def events_received(self) -> list[Record]:
        """Take the records produced since the last call (a new list each time)."""
        events = self._events
        if not events:
            return []
        self._events = []
        if not self._out:
            self.pending = False
        return events

    def data_to_send(self) -> bytes:
        """Take the negotiation bytes queued for the peer (``b""`` when there are none)."""
        if not self._out:
            return b""
        out = bytes(self._out)
        self._out.clear()
        if not self._events:
            self.pending = False
        return out

    def local_enabled(self, option: int) -> bool:
        """Whether we perform ``option`` (our WILL was agreed)."""
        return 0 <= option <= 255 and self._get(option) & 3 == _YES

    def remote_enabled(self, option: int) -> bool:
        """Whether the peer performs ``option`` (its WILL was agreed)."""
        return 0 <= option <= 255 and (self._get(option) >> 3) & 3 == _YES

    def request_local(self, option: int, enabled: bool) -> None:
        """Offer (WILL) or withdraw (WONT) our side of ``option``, per the Q method.

        Also sets whether a later DO for it is agreed to. Withdrawing takes
        effect at once (a WONT cannot be refused).
        """
        self._want(_LOCAL, option, enabled)
        self._request(_LOCAL, option, enabled)

    def request_remote(self, option: int, enabled: bool) -> None:
        """Ask the peer to start (DO) or stop (DONT) performing ``option``."""
        self._want(_REMOTE, option, enabled)
        self._request(_REMOTE, option, enabled)

    # -------------------------------------------------------- for option handlers
    def emit(self, record: Record) -> None:
        """Hand a record to the transport (called by option handlers)."""
        self._events.append(record)
        self.pending = True

    def send(self, data: bytes) -> None:
        """Queue raw telnet bytes for the peer (called by option handlers)."""
        self._out += data
        self.pending = True

    def send_subnegotiation(self, option: int, payload: bytes) -> None:
        """Queue ``IAC SB option payload IAC SE``, escaping 0xFF in the payload."""
        payload = payload.replace(_IAC_BYTE, _IAC_BYTE + _IAC_BYTE)
        self.send(bytes((IAC, SB, option)) + payload + bytes((IAC, SE)))

    # ----------------------------------------------------------- saving the state
    def snapshot(self) -> dict[str, Any]:
        """Negotiated options and option data, as JSON-able values.

        A half-received command is not kept: a transport saves state between
        packets, where the parser is normally idle.
        """
        saved: dict[str, Any] = {
            "options": {str(k): v for k, v in self._q.items()},
            "state": copy.deepcopy(self.state),
        }
        if self._inflate is not None:
            # MCCP3 crosses as its window and the input not yet decompressed.
            # Clients flush their stream at every write, so between packets a
            # new decompressor primed with the window goes on where this one was.
            saved["mccp3"] = {
                "window": base64.b64encode(bytes((self._window or b"")[-WINDOW:])).decode(),
                "tail": base64.b64encode(self._tail).decode("ascii"),
                "started": self._fed,
            }
        return saved

    def restore(self, saved: dict[str, Any]) -> None:
        """Take back what :meth:`snapshot` gave; nothing is renegotiated."""
        self._q = {int(k): int(v) for k, v in saved.get("options", {}).items()}
        self.state = copy.deepcopy(dict(saved.get("state", {})))
        stream = saved.get("mccp3")
        if stream:
            window = base64.b64decode(stream.get("window", ""))
            if stream.get("started"):
                # A raw deflate decompressor (the zlib header was read before):
                # the zlib trailer after the stream's end is dropped.
                self._inflate = zlib.decompressobj(-15, zdict=window)
                self._trailer = 4
                self._fed = True
            else:
                self._inflate = zlib.decompressobj()
            self._window = bytearray(window)
            self._tail = base64.b64decode(stream.get("tail", ""))
            self.more = bool(self._tail)

    # ------------------------------------------------------------ subnegotiation
    def _oversize(self) -> None:
        """Drop a subnegotiation past the cap, up to and including its IAC SE."""
        self.emit(
            ProtocolError(
                f"subnegotiation for option {self._sb_option} exceeded "
                f"{self._max_sb} bytes; dropped"
            )
        )
        self._sb_buf.clear()
        self._sb_option = None
        self._state = _SKIP

    def _unterminated(self) -> None:
        """IAC + a command inside a subnegotiation: the SB was never closed."""
        if self._sb_option is None:
            message = "subnegotiation without an option byte (unterminated)"
        else:
            message = f"unterminated subnegotiation for option {self._sb_option}"
        self.emit(ProtocolError(message))
        self._sb_buf.clear()
        self._sb_option = None
        self._state = _IAC  # the byte after this IAC is read as a command

    def _finish_subnegotiation(self) -> None:
        option = self._sb_option
        payload = bytes(self._sb_buf)
        self._sb_buf.clear()
        self._sb_option = None
        if option is None:
            self.emit(ProtocolError("subnegotiation without an option byte"))
            return
        handler = self._options.get(option)
        if handler is not None:
            handler.subnegotiation(self, payload)
        # Subnegotiations of options we do not support are dropped silently.

    def _command(self, command: int) -> None:
        if command == AYT:
            self.send(_AYT_REPLY)
        else:
            self.emit(Command(command))

    # ------------------------------------------------------- RFC 1143 negotiation
    def _get(self, option: int) -> int:
        return self._q.get(option, self._options.defaults[option])

    def _want(self, side: _Side, option: int, enabled: bool) -> None:
        if not 0 <= option <= 255:
            raise ValueError(f"telnet option must be 0..255, got {option}")
        bits = self._get(option)
        self._q[option] = bits | side[2] if enabled else bits & ~side[2]

    def _set(self, side: _Side, option: int, new: int) -> None:
        """Move one side to a new Q state, telling the option about real on/off edges."""
        shift = side[0]
        bits = self._get(option)
        old = (bits >> shift) & 3
        self._q[option] = (bits & ~(3 << shift)) | (new << shift)
        if (old == _YES) == (new == _YES):
            return
        local = side is _LOCAL
        enabled = new == _YES
        self.emit(OptionChanged(option, local, enabled))
        handler: Option | None = self._options.get(option)
        if handler is not None:
            handler.changed(self, local, enabled)

    def _queue(self, side: _Side, option: int, value: bool) -> None:
        bits = self._get(option)
        self._q[option] = bits | side[1] if value else bits & ~side[1]

    def _reply(self, command: int, option: int) -> None:
        self.send(bytes((IAC, command, option)))

    def _negotiate(self, command: int, option: int) -> None:
        if command == WILL:
            self._receive_enable(_REMOTE, option)
        elif command == WONT:
            self._receive_disable(_REMOTE, option)
        elif command == DO:
            self._receive_enable(_LOCAL, option)
        else:
            self._receive_disable(_LOCAL, option)

    def _receive_enable(self, side: _Side, option: int) -> None:
        """The peer sent WILL (remote side) or DO (our side)."""
        bits = self._get(option)
        state = (bits >> side[0]) & 3
        queued = bool(bits & side[1])
        if state == _NO:
            if bits & side[2]:
                self._reply(side[3], option)
                self._set(side, option, _YES)
            else:
                self._reply(side[4], option)
        elif state == _YES:
            pass  # already on: answering again would start a loop
        elif state == _WANTNO:
            # Our disable was answered with an enable: an error per RFC 1143.
            if queued:
                self._queue(side, option, False)
            self._set(side, option, _YES if queued else _NO)
        elif not queued:  # _WANTYES: the answer we asked for
            self._set(side, option, _YES)
        else:  # _WANTYES, but we changed our mind meanwhile
            self._queue(side, option, False)
            self._set(side, option, _WANTNO)
            self._reply(side[4], option)

    def _receive_disable(self, side: _Side, option: int) -> None:
        """The peer sent WONT (remote side) or DONT (our side)."""
        bits = self._get(option)
        state = (bits >> side[0]) & 3
        queued = bool(bits & side[1])
        if state == _NO:
            pass  # already off: no reply, no loop
        elif state == _YES:
            self._reply(side[4], option)
            self._set(side, option, _NO)
        elif state == _WANTNO:
            if queued:
                self._queue(side, option, False)
                self._set(side, option, _WANTYES)
                self._reply(side[3], option)
            else:
                self._set(side, option, _NO)
        else:  # _WANTYES: refused, or the peer changed its mind
            self._queue(side, option, False)
            self._set(side, option, _NO)
            handler = self._options.get(option)
            if handler is not None:
                handler.refused(self, side is _LOCAL)

    def _request(self, side: _Side, option: int, enabled: bool) -> None:
        """Our own change of mind, queued per RFC 1143 while a request is in flight."""
        bits = self._get(option)
        state = (bits >> side[0]) & 3
        queued = bool(bits & side[1])
        if enabled:
            if state == _NO:
                self._set(side, option, _WANTYES)
                self._reply(side[3], option)
            elif state == _WANTNO and not queued:
                self._queue(side, option, True)
            elif state == _WANTYES and queued:
                self._queue(side, option, False)
        elif state == _YES:
            self._reply(side[4], option)
            # Our WONT cannot be refused, and several MUD clients (TinTin++
            # among them) never acknowledge it with DONT: waiting for that in
            # WANTNO would swallow our next WILL (a second password prompt
            # would echo). So our side is off at once; a late DONT finds it
            # off and is ignored. The peer's side keeps the full Q method.
            self._set(side, option, _NO if side is _LOCAL else _WANTNO)
        elif state == _WANTYES and not queued:
            self._queue(side, option, True)
        elif state == _WANTNO and queued:
            self._queue(side, option, False)
