"""``ws://`` and ``wss://``: lines as WebSocket text messages, and the browser client page.

The ``websockets`` package's sans-IO :class:`~websockets.server.ServerProtocol`
does the handshake and parses frames; this module feeds it bytes from an
ordinary asyncio protocol (no task per connection) and turns what it reports
into lines, structured data and the browser client page.

On the wire (see docs/browser.md):

* a text message is one or more lines, joined by ``\\n``; one ``client.write``
  is one message;
* a text message that starts with ``{`` is JSON: ``{"text": ...}`` (text that
  starts with a brace), ``{"prompt": ...}`` (a prompt, server to browser),
  ``{"echo": bool}`` (hide or show typing), ``{"data": [package, data]}``
  (structured data, both ways), ``{"screen_reader": bool}`` (browser to
  server). Text an application writes that starts with ``{`` is sent as
  ``{"text": ...}``, so a player can never forge a control message;
* a plain HTTP GET (no Upgrade) of the listener's path, or of ``/``, serves
  the browser client page (``?page=0`` turns it off; the ``ws_page`` setting
  serves another file).

Output is framed here with the package's :class:`~websockets.frames.Frame`,
not through the protocol object, so a broadcast frames (and compresses) a
message once for every connection with the same extensions
(:attr:`~hubbub.transports.base.BaseConnection.share_key`). Compression,
when the browser offers it, is negotiated without context takeover both
ways: each message is compressed on its own, which is what lets the bytes be
shared (and a connection cross a restart). Messages shorter than
:data:`COMPRESS_MIN` bytes go uncompressed.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import weakref
from functools import lru_cache
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit

from ..ansi import TRUECOLOR
from ..client import Client
from ..errors import ListenError, TLSError
from ..log_limit import LogLimit
from ..server import Server
from .base import Host
from .listener import StreamListener, open_tcp_listener
from .tcp import StreamConnection

try:
    from websockets.client import ClientProtocol
    from websockets.datastructures import Headers
    from websockets.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        PerMessageDeflate,
        ServerPerMessageDeflateFactory,
    )
    from websockets.frames import Frame, Opcode
    from websockets.http11 import Request, Response
    from websockets.protocol import State
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri
except ImportError:  # the hint is given when a ws:// listener opens
    ServerProtocol = None  # type: ignore[assignment,misc]

__all__ = [
    "COMPRESS_MIN",
    "HANDSHAKE_SECONDS",
    "MISSING",
    "WebSocketConnection",
    "WebSocketLink",
    "available",
    "open_listener",
    "refusal_answer",
]

log = logging.getLogger("hubbub.transport")
# The websockets package's own lines ("connection open", each HTTP answer) are
# one per connection: only its warnings are worth an operator's log.
_library_log = logging.getLogger("hubbub.transport.websockets")
_library_log.setLevel(logging.WARNING)

#: What is said when the websockets package is not installed.
MISSING: Final = "needs the websockets package: pip install 'hubbub[web]'"
#: Shorter messages are sent uncompressed even when compression was agreed.
COMPRESS_MIN: Final = 128
#: Seconds a peer has to send its HTTP request once connected.
HANDSHAKE_SECONDS: Final = 10.0
#: Status lines for the HTTP answers this module gives itself.
_STATUS: Final = {200: "OK", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed"}
_CSP: Final = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src data:; base-uri 'none'; form-action 'none'"
)


class WebSocketConnection(StreamConnection):
    """One client over WebSocket (after the handshake) or one HTTP request (before it)."""

    kind = "ws"
    secure_kind = "wss"
    newline = "\n"

    __slots__ = (
        "_address",
        "_compressed",
        "_deflate",
        "_fragment_kind",
        "_fragments",
        "_masked",
        "_open",
        "_page",
        "_ping_timer",
        "_pinged",
        "_timer",
        "ws",
    )

    def __init__(self, host: Host, server: Server, page: bytes | None) -> None:
        super().__init__(host, server)
        settings = host.settings
        self.ws = ServerProtocol(
            extensions=[
                ServerPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                    compress_settings={"memLevel": 5},
                )
            ],
            max_size=settings.max_line_length,
            logger=_library_log,
        )
        self._page = page
        self._masked = False  # a server's frames are not masked; a client's are
        self._open = False
        self._address: tuple[Any, ...] = ("?", 0)
        self._fragments: list[bytes] | None = None
        self._fragment_kind = Opcode.TEXT
        self._deflate: list[Any] = []
        self._compressed = False
        self._pinged = False
        self._ping_timer: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio callbacks ------------------------------------------------------

    def describe(self, client: Client) -> None:
        client.colors = TRUECOLOR  # the browser client renders any colour
        client.utf8 = True  # WebSocket text is UTF-8 by definition

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        address = self.peer(transport.get_extra_info("peername"))
        prelude, self.prelude = self.prelude, None
        self._address = prelude or address
        if self.carried is not None:  # handed over by a restart: the handshake is done
            self.send_wire = self.transport.write  # type: ignore[union-attr]
            self.start(self._address)
            self._keep_pinging()
            return
        # The client (and Connect) comes once the handshake is done.
        self._timer = asyncio.get_running_loop().call_later(
            HANDSHAKE_SECONDS, self._handshake_timed_out
        )

    def data_received(self, data: bytes) -> None:
        ws = self.ws
        ws.receive_data(data)
        for event in ws.events_received():
            if type(event) is Frame:
                # The common case inline: one whole line of ASCII text.
                payload = event.data
                if (
                    event.opcode is Opcode.TEXT
                    and event.fin
                    and self._fragments is None
                    and type(payload) is bytes
                    and payload.isascii()
                    and b"\n" not in payload
                    and payload[:1] != b"{"
                    and not self._raw
                    and self.client is not None
                ):
                    self.receive_line(payload[:-1] if payload[-1:] == b"\r" else payload)
                else:
                    self._frame(event)
            elif isinstance(event, Request):
                self._request(event)
            elif isinstance(event, Response):
                self._response(event)
        self._flush_protocol()

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._flush_protocol()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._ping_timer = None
        if self.client is None and not self.is_lost:
            # Never became a client (an HTTP request, a failed handshake).
            self.is_lost = True
            if self.admitted:
                self.admitted = False
                self.host.arrived(self.server)
            return
        self.lost(exc)

    def _flush_protocol(self) -> None:
        """Send what the protocol object queued (handshake answers, pongs, close frames)."""
        transport = self.transport
        if transport is None:
            return
        for chunk in self.ws.data_to_send():
            if chunk:
                transport.write(chunk)
            elif not transport.is_closing():
                transport.close()  # the protocol is done with the connection
        if self._open and self.ws.state is not State.OPEN and self.client is not None:
            if self.ended is None:
                close = self.ws.close_rcvd
                self.ended = "closed by the client" + (f" ({close.code})" if close else "")
            if not self.closing:
                self.close()

    # --- the handshake, or a plain HTTP request -----------------------------------------
    def _request(self, request: Request) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        path = urlsplit(request.path).path or "/"
        resource = self.server.endpoint.resource
        if getattr(request, "method", "GET") != "GET":
            self._answer(405, b"Only GET is served here.\n", "text/plain; charset=utf-8")
            return
        if "upgrade" not in {token.strip().lower() for token in _tokens(request, "Connection")}:
            # A browser opening the page, or something that is not a WebSocket client.
            if self._page is not None and path in (resource, "/"):
                self._answer(200, self._page, "text/html; charset=utf-8")
                return
            if self._page is None and path == resource:
                self._reject(request, 426, "This is a WebSocket endpoint.\n")
                return
            self._answer(404, b"Not found.\n", "text/plain; charset=utf-8")
            return
        if path != resource:
            self._answer(404, b"No WebSocket endpoint here.\n", "text/plain; charset=utf-8")
            return
        origin = request.headers.get("Origin")
        if origin is not None and not self._origin_allowed(origin, request):
            _listener_log(self.server).log(
                log,
                logging.INFO,
                "refused a WebSocket from %s on %s: origin %r not allowed",
                _where(self._address),
                self.server.url,
                origin[:100],
            )
            self._answer(403, b"Origin not allowed.\n", "text/plain; charset=utf-8")
            return
        response = self.ws.accept(request)
        self.ws.send_response(response)
        if response.status_code != 101:
            _listener_log(self.server).log(
                log,
                logging.INFO,
                "bad WebSocket handshake from %s on %s: %s",
                _where(self._address),
                self.server.url,
                self.ws.handshake_exc,
            )
            return
        self._opened()
        # Frames for equal extensions are equal bytes: a broadcast shares them.
        self.share_key = (self.kind, response.headers.get("Sec-WebSocket-Extensions", ""))
        self.send_wire = self.transport.write  # type: ignore[union-attr]
        self.start(self._address)
        self._keep_pinging()

    def _keep_pinging(self) -> None:
        interval = self.host.settings.ws_ping_interval
        if interval and not self.closing:
            self._ping_timer = asyncio.get_running_loop().call_later(interval, self._ping)

    # --- a restart: the protocol state after the handshake is data ------------------------
    def transport_mark(self) -> Any:
        buffered = self.ws.reader.buffer
        fragments = self._fragments
        return (bytes(buffered) if buffered else b"", len(fragments) if fragments else 0)

    def transport_state(self) -> dict[str, Any]:
        extensions = [
            {
                "name": "permessage-deflate",
                "remote_no_context_takeover": extension.remote_no_context_takeover,
                "local_no_context_takeover": extension.local_no_context_takeover,
                "remote_max_window_bits": extension.remote_max_window_bits,
                "local_max_window_bits": extension.local_max_window_bits,
            }
            for extension in self._deflate
            if isinstance(extension, PerMessageDeflate)
        ]
        state: dict[str, Any] = {
            "extensions": extensions,
            "share": self.share_key[1] if len(self.share_key) > 1 else "",
            # Part of a frame read but not yet parsed (the library's read buffer).
            "unparsed": bytes(self.ws.reader.buffer).decode("latin-1"),
        }
        if self._fragments is not None:
            state["fragments"] = [part.decode("latin-1") for part in self._fragments]
            state["fragment_kind"] = int(self._fragment_kind)
        return state

    def restore_transport_state(self, saved: dict[str, Any]) -> None:
        """An open WebSocket again: a protocol object past its handshake, the same
        compression (negotiated without context takeover, so it can cross)."""
        self.ws = ServerProtocol(
            state=State.OPEN, max_size=self.host.settings.max_line_length, logger=_library_log
        )
        self.ws.extensions = [
            PerMessageDeflate(
                bool(entry["remote_no_context_takeover"]),
                bool(entry["local_no_context_takeover"]),
                int(entry["remote_max_window_bits"]),
                int(entry["local_max_window_bits"]),
                {"memLevel": 5},
            )
            for entry in saved.get("extensions", ())
            if entry.get("name") == "permessage-deflate"
        ]
        self._open = True
        self._deflate = list(self.ws.extensions)
        self._compressed = bool(self._deflate)
        self.share_key = (self.kind, str(saved.get("share", "")))
        fragments = saved.get("fragments")
        if fragments is not None:
            self._fragments = [str(part).encode("latin-1") for part in fragments]
            self._fragment_kind = Opcode(int(saved.get("fragment_kind", 1)))
        unparsed = str(saved.get("unparsed", ""))
        if unparsed:
            self.ws.receive_data(unparsed.encode("latin-1"))  # (part of a frame: no events)

    def _response(self, response: Response) -> None:
        """The server's answer to our handshake (a link this service opened)."""

    def _opened(self) -> None:
        """The handshake is done: the peer becomes a client (``Connect``)."""
        self._flush_protocol()
        self._open = True
        self._deflate = list(self.ws.extensions)
        self._compressed = bool(self._deflate)

    def _origin_allowed(self, origin: str, request: Request) -> bool:
        allowed = self.host.settings.origins
        origin = origin.strip().rstrip("/").lower()
        if allowed:
            return "*" in allowed or origin in allowed
        # Default: the page must come from this listener's own host.
        host = (request.headers.get("Host") or "").strip().lower()
        return urlsplit(origin).netloc == host and host != ""

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        headers = Headers()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(body))
        headers["Cache-Control"] = "no-cache"
        headers["X-Content-Type-Options"] = "nosniff"
        if status == 200:
            headers["Content-Security-Policy"] = _CSP
            headers["Referrer-Policy"] = "no-referrer"
        headers["Connection"] = "close"
        self.ws.send_response(Response(status, _STATUS.get(status, "Error"), headers, body))

    def _reject(self, request: Request, status: int, text: str) -> None:
        response = self.ws.reject(status, text)
        response.headers["Upgrade"] = "websocket"
        self.ws.send_response(response)

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if not self._open and self.transport is not None:
            log.debug(
                "%s sent no HTTP request in %.0f s; closed",
                _where(self._address),
                HANDSHAKE_SECONDS,
            )
            self.transport.abort()

    # --- frames ---------------------------------------------------------------------
    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._message(opcode, bytes(frame.data))
            else:
                self._fragment_kind = opcode
                self._fragments = [bytes(frame.data)]
        elif opcode is Opcode.CONT:
            fragments = self._fragments
            if fragments is None:
                return  # the protocol object fails such a stream itself
            fragments.append(bytes(frame.data))
            if frame.fin:
                self._fragments = None
                self._message(self._fragment_kind, b"".join(fragments))
        elif opcode is Opcode.PONG:
            self._pinged = False
        # PING is answered and CLOSE handled by the protocol object.

    def _message(self, opcode: Opcode, payload: bytes) -> None:
        if self.client is None or self.closing:
            return
        if opcode is Opcode.BINARY:
            if self._raw:
                self._receive_chunk(payload)
                return
            self.log_limited(
                "binary", logging.INFO, "%r sent a binary message; closed", self.client
            )
            self._fail(1003, "text messages only")
            return
        if not payload.isascii():
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                self.log_limited("utf8", logging.INFO, "%r sent invalid UTF-8; closed", self.client)
                self._fail(1007, "invalid UTF-8")
                return
        if payload[:1] == b"{":
            self._control(payload)
            return
        self._text(payload)

    def _text(self, payload: bytes) -> None:
        """A text message: one line, or several joined by newlines."""
        if self._raw:
            self._receive_chunk(payload)
            return
        if b"\n" not in payload:
            self.receive_line(payload[:-1] if payload[-1:] == b"\r" else payload)
            return
        lines = payload.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # a message ending in a newline holds no extra empty line
        for line in lines:
            self.receive_line(line[:-1] if line[-1:] == b"\r" else line)

    def _control(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
        except ValueError as exc:
            self._bad_json(f"not JSON ({exc})")
            return
        if not isinstance(message, dict):
            self._bad_json("not a JSON object")
            return
        client = self.client
        assert client is not None
        if "text" in message and isinstance(message["text"], str):
            self._text(message["text"].encode("utf-8"))
        elif "data" in message:
            pair = message["data"]
            if (
                not isinstance(pair, list)
                or not pair
                or len(pair) > 2
                or not isinstance(pair[0], str)
                or not pair[0]
            ):
                self._bad_json('"data" is not [package, data]')
                return
            self.receive_data(pair[0], pair[1] if len(pair) == 2 else None)
        elif isinstance(message.get("screen_reader"), bool):
            client.screen_reader = message["screen_reader"]
        elif self._masked and isinstance(message.get("prompt"), str):
            self._text(message["prompt"].encode("utf-8"))  # a server's prompt, as a line
        elif self._masked and isinstance(message.get("echo"), bool):
            pass  # a server hiding what its player types: nothing to do for a link
        else:
            self._bad_json("no text, data or screen_reader")

    def _bad_json(self, why: str) -> None:
        self.log_limited(
            "json", logging.INFO, "%r sent a bad JSON message (%s); ignored", self.client, why
        )

    def _fail(self, code: int, reason: str) -> None:
        self.ws.fail(code, reason)
        self.ended = f"WebSocket failed ({code}: {reason})"
        self._flush_protocol()

    def _ping(self) -> None:
        self._ping_timer = None
        if self.closing or not self._open:
            return
        interval = self.host.settings.ws_ping_interval
        if self._pinged:
            log.info("%r answered no ping in %.0f s; closed", self.client, interval)
            self.ended = "no answer to a ping"
            self.abort()
            return
        self._pinged = True
        self.write_bytes(Frame(Opcode.PING, b"hubbub").serialize(mask=self._masked))
        self._ping_timer = asyncio.get_running_loop().call_later(interval, self._ping)

    # --- output ---------------------------------------------------------------------
    def prepare(self, text: str, prompt: bool = False) -> bytes:
        if text[-1:] == "\n" and text[:1] != "{" and "\r" not in text:  # lines: the usual
            return self._serialize(Opcode.TEXT, text[:-1].encode("utf-8", "replace"))
        if "\r" in text:  # composed with another newline (a broadcast to mixed clients)
            text = text.replace("\r\n", "\n")
        if text.endswith("\n"):
            return self._text_frame(text[:-1])
        # Text left open: a prompt (after any whole lines before it).
        head, newline, tail = text.rpartition("\n")
        frame = self._json_frame({"prompt": tail})
        return self._text_frame(head) + frame if newline else frame

    def _text_frame(self, text: str) -> bytes:
        if text[:1] == "{":
            return self._json_frame({"text": text})
        return self._serialize(Opcode.TEXT, text.encode("utf-8", "replace"))

    def _json_frame(self, message: dict[str, Any]) -> bytes:
        payload = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        return self._serialize(Opcode.TEXT, payload.encode("utf-8", "replace"))

    def _serialize(self, opcode: Opcode, payload: bytes) -> bytes:
        extensions = self._deflate if self._compressed and len(payload) >= COMPRESS_MIN else None
        return Frame(opcode, payload).serialize(mask=self._masked, extensions=extensions)

    def send_text(self, text: str, prompt: bool = False) -> None:
        if self._open:  # before the handshake there is nobody to send to
            self.send_prepared(self.prepare(text, prompt))

    def prepare_raw(self, data: bytes) -> bytes:
        return self._serialize(Opcode.BINARY, data)

    def send_raw(self, data: bytes) -> None:
        if self._open:
            super().send_raw(data)

    @property
    def supports_data(self) -> bool:
        return True

    def send_data(self, package: str, data: Any) -> None:
        if self._open:
            self.send_prepared(self._json_frame({"data": [package, data]}))

    def set_echo(self, enabled: bool) -> None:
        super().set_echo(enabled)
        if self._open:
            self.send_prepared(self._json_frame({"echo": enabled}))

    def hidden_line_ended(self) -> None:
        """The browser shows nothing for a hidden line: nothing to echo."""

    def close_transport(self) -> None:
        if self._open and self.ws.state is State.OPEN:
            self.ws.send_close(1000)
            for chunk in self.ws.data_to_send():
                if chunk and self.transport is not None:
                    self.transport.write(chunk)
        super().close_transport()

    async def start_tls(self) -> None:
        raise TLSError(f"a {self.kind} connection cannot start TLS (use wss://)")


_listener_logs: weakref.WeakKeyDictionary[Server, LogLimit] = weakref.WeakKeyDictionary()


def _listener_log(server: Server) -> LogLimit:
    """One bounded log per listener, for what peers do before they are clients."""
    limit = _listener_logs.get(server)
    if limit is None:
        limit = _listener_logs[server] = LogLimit()
    return limit


class WebSocketLink(WebSocketConnection):
    """A link this service opened to a WebSocket server (``service.connect("ws://…")``).

    The same messages as the server side, the other way round: frames are
    masked, a server's ``{"prompt": …}`` arrives as a line, and ``Connect``
    fires once the server accepted the handshake (:attr:`handshake`).
    """

    __slots__ = ("handshake",)

    def __init__(self, host: Host, server: Server, url: str) -> None:
        super().__init__(host, server, None)
        self.ws = ClientProtocol(  # type: ignore[assignment]
            parse_uri(url),
            extensions=[
                ClientPerMessageDeflateFactory(
                    server_no_context_takeover=True,
                    client_no_context_takeover=True,
                    compress_settings={"memLevel": 5},
                )
            ],
            max_size=host.settings.max_line_length,
            logger=_library_log,
        )
        self._masked = True
        #: Done once the handshake is (its exception: why it failed).
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._timer is not None:  # the caller's timeout covers the handshake
            self._timer.cancel()
            self._timer = None
        ws: Any = self.ws
        ws.send_request(ws.connect())
        self._flush_protocol()

    def _request(self, request: Request) -> None:
        """A server never sends a request."""

    def _response(self, response: Response) -> None:
        if response.status_code != 101 or self.ws.handshake_exc is not None:
            why = f"the WebSocket handshake was refused ({response.status_code})"
            if not self.handshake.done():
                self.handshake.set_exception(OSError(why))
            if self.transport is not None:
                self.transport.abort()
            return
        self._opened()
        self.share_key = (self.kind, id(self))  # masked frames are never shared
        self.start(self._address)
        if not self.handshake.done():
            self.handshake.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(
                exc or ConnectionResetError("closed during the WebSocket handshake")
            )
        super().connection_lost(exc)


def available() -> bool:
    """Whether the websockets package (the ``web`` extra) is installed."""
    return ServerProtocol is not None


def _tokens(request: Request, name: str) -> list[str]:
    return [part for value in request.headers.get_all(name) for part in value.split(",")]


def _where(address: tuple[Any, ...]) -> str:
    host, port = (*address, "?", "?")[:2]
    return f"{host}:{port}"


@lru_cache(maxsize=8)
def _page_template(path: str) -> str:
    if path:
        with open(path, encoding="utf-8") as file:
            return file.read()
    return resources.files("hubbub.web").joinpath("client.html").read_text(encoding="utf-8")


def page_for(server: Server, path: str) -> bytes:
    """The browser client page for ``server``, with its WebSocket path and title filled in."""
    template = _page_template(path)
    page = template.replace("{{HUBBUB_WS_PATH}}", html.escape(server.endpoint.resource))
    page = page.replace(
        "{{HUBBUB_TITLE}}", html.escape(server.name if server.name != server.url else "hubbub")
    )
    return page.encode("utf-8")


async def open_listener(host: Host, server: Server) -> StreamListener:
    if ServerProtocol is None:
        raise ListenError(MISSING)
    page: bytes | None = None
    if server.endpoint.flag("page", True):
        path = host.settings.ws_page
        try:
            page = page_for(server, path)
        except OSError as exc:
            raise ListenError(f"cannot read the ws_page file {path!r}: {exc.strerror}") from None
    listener = await open_tcp_listener(
        host, server, lambda: WebSocketConnection(host, server, page)
    )
    listener.refusal = refusal_answer
    return listener


def refusal_answer(reason: str) -> bytes:
    """A peer turned away before its request was read: an HTTP 503 with the reason.

    A browser opening the page shows the reason; a WebSocket client sees a
    failed handshake (status 503) and tries again later.
    """
    body = (reason + "\n").encode("utf-8", "replace")
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Retry-After: 5\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
