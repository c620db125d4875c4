"""Throwaway certificates for TLS tests (``trustme``), and TLS test clients.

:func:`shared` makes one certificate authority and one server certificate
for ``127.0.0.1``/``localhost`` per test process, written to a temporary
directory that is removed at exit; :func:`make_certs` writes a fresh set
where a test wants files of its own to spoil.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme

from hubbub.testing import AsyncTestClient


@dataclass(frozen=True)
class Certs:
    """A CA and a server certificate signed by it, as PEM files."""

    ca: trustme.CA
    #: The server's certificate chain.
    cert: str
    #: The server's private key.
    key: str
    #: Chain and key in one file (tls_key unset).
    combined: str

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA (and checks the host name)."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        return context

    def settings(self) -> dict[str, str]:
        return {"tls_cert": self.cert, "tls_key": self.key}


def make_certs(directory: Path) -> Certs:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert = directory / "cert.pem"
    key = directory / "key.pem"
    combined = directory / "combined.pem"
    issued.private_key_pem.write_to_path(key)
    cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    combined.write_bytes(cert.read_bytes() + key.read_bytes())
    return Certs(ca, str(cert), str(key), str(combined))


_shared: list[Certs] = []


def shared() -> Certs:
    """One set of certificates for the whole test run."""
    if not _shared:
        directory = Path(tempfile.mkdtemp(prefix="hubbub-tls-"))
        _shared.append(make_certs(directory))
        atexit.register(shutil.rmtree, directory, True)
    return _shared[0]


async def open_tls(
    address: tuple[Any, ...], *, telnet: bool = False, certs: Certs | None = None
) -> AsyncTestClient:
    """A test client that connects with TLS, trusting ``certs`` (default: :func:`shared`)."""
    context = (certs or shared()).client_context()
    reader, writer = await asyncio.open_connection(
        *address[:2], ssl=context, server_hostname="localhost", limit=1 << 24
    )
    return AsyncTestClient(reader, writer, telnet=telnet)


def client_hello() -> bytes:
    """The bytes a TLS client sends first (a whole ClientHello record)."""
    context = shared().client_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the server's answer
        tls.do_handshake()
    return outgoing.read()


async def raw_connection(address: tuple[Any, ...]) -> socket.socket:
    """A plain non-blocking socket connected to ``address``, for bytes by hand."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, address[:2])
    return sock


async def read_to_end(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything ``sock`` receives until the peer closes (a reset counts as closed)."""
    loop = asyncio.get_running_loop()
    data = b""
    async with asyncio.timeout(timeout):
        while True:
            try:
                chunk = await loop.sock_recv(sock, 65536)
            except ConnectionError:
                return data
            if not chunk:
                return data
            data += chunk
