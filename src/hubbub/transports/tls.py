"""TLS on stream listeners: ``tls://``, ``telnets://``, ``?tls=auto`` and STARTTLS.

TLS here is a layer under a transport, not a transport of its own: a
``tls://`` client is a ``tcp://`` client whose socket is encrypted, a
``telnets://`` client a ``telnet://`` one. The line stage, telnet and
everything else are the same code, and a plain client's per-line path does
not change at all; only ``client.secure`` and ``client.transport`` differ.

This module holds what TLS adds:

* :func:`server_context`: the certificate and key, loaded once per listener
  when the service starts; everything that can go wrong is one line naming
  the file;
* :class:`ListenerTLS`: what a listener does before a client exists (hand
  the accepted socket to the loop's TLS handshake, with a timeout, or sniff
  its first bytes for ``?tls=auto``), and how failed handshakes are logged
  and counted;
* :func:`start_tls`: STARTTLS, upgrading a connected plain client in place.

A TLS session lives in an SSL object, which cannot cross a process: see
``docs/transports/tls.md`` for what that means for a restart.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from typing import TYPE_CHECKING, Any, Final

from ..errors import Disconnected, ListenError, TLSError
from ..log_limit import LogLimit
from .sniff import sniff

if TYPE_CHECKING:
    from ..server import Server
    from .base import Host
    from .tcp import StreamConnection

__all__ = [
    "AUTO",
    "OFF",
    "ON",
    "ListenerTLS",
    "listener_tls",
    "server_context",
    "start_tls",
    "terminated",
]

log = logging.getLogger("hubbub.transport")

#: Every connection is TLS (``tls://``, ``telnets://``).
ON: Final = "on"
#: TLS when the first bytes are a TLS handshake, plain otherwise (``?tls=auto``).
AUTO: Final = "auto"
#: Plain; a certificate is kept only for STARTTLS.
OFF: Final = "off"

#: Schemes whose every connection is TLS.
ALWAYS_TLS: Final = frozenset({"tls", "telnets", "wss"})


class _Passphrase(Exception):
    """The key file is encrypted (raised from the password callback)."""


def _no_passphrase() -> bytes:
    # Without a callback OpenSSL would prompt on the terminal and block the start.
    raise _Passphrase()


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ListenError(f"cannot read TLS {what} file {path!r}: {exc.strerror or exc}") from None


def server_context(cert: str, key: str = "") -> ssl.SSLContext:
    """A server-side context with ``cert`` and ``key`` (PEM; the key may be in ``cert``).

    Raises :class:`~hubbub.ListenError` with one line naming the file for a
    missing or unreadable file, a file holding no PEM certificate or key, a
    key that does not match the certificate, or a passphrase-protected key.
    """
    cert_pem = _read(cert, "certificate")
    key_pem = _read(key, "key") if key else cert_pem
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise ListenError(f"TLS certificate file {cert!r} holds no PEM certificate")
    if b"PRIVATE KEY-----" not in key_pem:
        if key:
            raise ListenError(f"TLS key file {key!r} holds no PEM private key")
        raise ListenError(
            f"TLS certificate file {cert!r} holds no private key "
            "(set tls_key, or ?key= on the listener, to the key's file)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key or None, password=_no_passphrase)
    except _Passphrase:
        raise ListenError(
            f"TLS key file {key or cert!r} is protected by a passphrase, which a server "
            "cannot type in: write it out without one (openssl pkey -in KEY -out NEW)"
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise ListenError(
                f"TLS key file {key or cert!r} does not match certificate file {cert!r}"
            ) from None
        files = f"certificate file {cert!r}" + (f" with key file {key!r}" if key else "")
        raise ListenError(f"cannot load TLS {files}: {exc.reason or exc}") from None
    except OSError as exc:  # the file went away between the read and the load
        raise ListenError(f"cannot read TLS certificate file {cert!r}: {exc}") from None
    return context


def _reason(exc: BaseException) -> str:
    """A failed handshake's cause, short enough for one log line."""
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or exc.strerror or exc).lower().replace("_", " ")
    if isinstance(exc, ConnectionAbortedError | TimeoutError):
        return "no handshake within the time allowed (tls_handshake_timeout)"
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return "connection reset"
    return str(exc) or type(exc).__name__


class ListenerTLS:
    """TLS as one listener does it: the context, the mode, and failed handshakes."""

    __slots__ = (
        "context",
        "failures",
        "handshake",
        "handshake_timeout",
        "logs",
        "mode",
        "sniff_timeout",
        "url",
    )

    def __init__(
        self,
        context: ssl.SSLContext,
        mode: str,
        url: str,
        handshake_timeout: float,
        sniff_timeout: float,
    ) -> None:
        self.context = context
        self.mode = mode
        self.url = url
        self.handshake_timeout = handshake_timeout
        self.sniff_timeout = sniff_timeout
        #: Keyword arguments of ``loop.connect_accepted_socket`` for a TLS peer.
        self.handshake: dict[str, Any] = {
            "ssl": context,
            "ssl_handshake_timeout": handshake_timeout,
        }
        #: Handshakes that failed on this listener (before a client existed, or STARTTLS).
        self.failures = 0
        self.logs = LogLimit(burst=5)

    async def wanted(self, sock: socket.socket) -> bool:
        """Whether this accepted socket starts with a TLS handshake (sniffed under AUTO)."""
        if self.mode == ON:
            return True
        if self.mode == AUTO:
            return await sniff(sock, self.sniff_timeout)
        return False

    def failed(
        self, peer: tuple[Any, ...], exc: BaseException, stage: str = "TLS handshake"
    ) -> None:
        """Log (at INFO, rate-limited) and count a handshake that failed."""
        self.failures += 1
        self.logs.log(
            log,
            logging.INFO,
            "%s from %s:%s on %s failed: %s (%d failed on this listener so far)",
            stage,
            *(*peer, "?", "?")[:2],
            self.url,
            _reason(exc),
            self.failures,
        )


def _terms(host: Host, server: Server) -> tuple[str, str, str]:
    """``server``'s TLS mode, certificate file and key file ("" when none is set)."""
    endpoint = server.endpoint
    settings = host.settings
    options = endpoint.options
    if endpoint.scheme in ALWAYS_TLS:
        mode = ON
    elif options.get("tls", OFF).lower() == AUTO:
        mode = AUTO
    else:
        mode = OFF
    cert = options.get("cert", settings.tls_cert)
    # A listener's own certificate goes with its own key (or has it in its file).
    key = options.get("key", "" if "cert" in options else settings.tls_key)
    return mode, cert, key


def listener_tls(host: Host, server: Server) -> ListenerTLS | None:
    """The TLS of ``server``'s listener, with its certificate loaded; None if it has none.

    ``tls://`` and ``telnets://`` need a certificate; ``tcp://`` and
    ``telnet://`` load one when ``?tls=auto`` asks for it or one is
    configured (then STARTTLS can use it).
    """
    mode, cert, key = _terms(host, server)
    settings = host.settings
    if not cert:
        if mode == OFF:
            return None
        raise ListenError(
            f"{server.url} needs a TLS certificate: set tls_cert (and tls_key), "
            "or add ?cert=PATH to the URL"
        )
    return ListenerTLS(
        server_context(cert, key),
        mode,
        server.url,
        settings.tls_handshake_timeout,
        settings.tls_sniff_timeout,
    )


def terminated(host: Host, server: Server) -> dict[str, Any] | None:
    """What a supervisor needs to accept TLS clients for ``server`` (None: it has none).

    Only listeners whose clients begin in TLS (always, or when sniffed) are
    terminated there; a plain listener offering STARTTLS is not.
    """
    mode, cert, key = _terms(host, server)
    if mode == OFF:
        return None
    return {
        "mode": mode,
        "cert": cert,
        "key": key,
        "handshake_timeout": host.settings.tls_handshake_timeout,
        "sniff_timeout": host.settings.tls_sniff_timeout,
    }


async def start_tls(connection: StreamConnection) -> None:
    """Upgrade a connected plain client to TLS in place (STARTTLS), server side.

    What was written before the call goes out in plain; what is written from
    now on waits and goes out encrypted. Input already read (a partial line)
    stays. On a failed handshake the connection is closed, the client
    disconnected, and :class:`~hubbub.Disconnected` raised.
    """
    client = connection.client
    if client is None or connection.closing or connection.transport is None:
        raise Disconnected()
    if connection.secure:
        raise TLSError(f"{client!r} is already secure ({client.transport}); start_tls() is once")
    if not connection.secure_kind:
        raise TLSError(f"a {connection.kind} connection cannot start TLS")
    tls: ListenerTLS | None = getattr(connection.server.listener, "tls", None)
    if tls is None:
        raise TLSError(
            f"no TLS certificate for STARTTLS on {connection.server.url}: "
            "set tls_cert (and tls_key), or add ?cert=PATH to the listener's URL"
        )
    plain = connection.transport
    # From here the plain wire takes nothing more: writes wait for the encrypted one.
    connection.hold_output()
    loop = asyncio.get_running_loop()
    try:
        # start_tls() hands the socket's reads to the handshake before it first
        # yields, so no byte of it can reach the line stage as text.
        encrypted = await loop.start_tls(
            plain,
            connection,
            tls.context,
            server_side=True,
            ssl_handshake_timeout=tls.handshake_timeout,
        )
    except asyncio.CancelledError:
        plain.abort()
        raise
    except Exception as exc:
        tls.failed(client.address, exc, "STARTTLS handshake")
        connection.ended = f"STARTTLS handshake failed: {_reason(exc)}"
        plain.abort()
        if not connection.is_lost:
            connection.lost(exc)
        raise Disconnected("client disconnected: its STARTTLS handshake failed") from None
    if encrypted is None or connection.is_lost:  # gone during the handshake
        raise Disconnected()
    connection.transport = encrypted
    connection.send_wire = encrypted.write
    connection.secure = True
    client.secure = True
    client.transport = connection.transport_name
    connection.release_output()
    log.info("%r switched to TLS (%s)", client, client.transport)
