"""Dialling out (transports/connector.py): outbound URLs, TLS verification, UNIX sockets,
and timeouts, over real sockets (TLS with a throwaway CA from trustme)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import hubbub
from hubbub import events
from hubbub.protocols.telnet import DO, IAC, NAWS, SB, SE, WILL
from hubbub.transports.connector import parse_target

from ..conftest import Start, until
from ..remotes import RawRemote, silent_listener


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A TLS server context whose certificate names 127.0.0.1 and localhost."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    yield str(path)


# ============================================================ URLs


def test_outbound_urls_parse_with_their_own_options() -> None:
    target = parse_target("tls://example.org:4000?ca=/etc/ca.pem&verify=1")
    assert (target.scheme, target.host, target.port) == ("tls", "example.org", 4000)
    assert dict(target.options) == {"ca": "/etc/ca.pem", "verify": "1"}
    assert target.name == "tls://example.org:4000?ca=/etc/ca.pem&verify=1"
    assert parse_target("telnets://h:992?name=mud").name == "mud"
    assert parse_target("telnet://h:23?name=mud", "given").name == "given"
    assert parse_target("tcp://h:1?raw=1").raw
    unix = parse_target("unix:///run/app.sock")
    assert (unix.path, unix.host, unix.port) == ("/run/app.sock", "/run/app.sock", 0)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("telnet://h:23?ca=x", "unknown option 'ca'"),  # TLS options on a plain link
        ("tls://h:1?verify=maybe", "verify='maybe' is not 1 or 0"),
        ("tls://h:1?ca=", "ca= needs"),
        ("tcp://h:1?raw=1&raw=0", "given twice"),
        ("tcp://h:1?name=", "name= needs"),
        ("tcp://:1", "no host"),
        ("tcp://h:1/path", "unexpected path"),
        ("tcp://h:99999", "bad connect URL"),
        ("unix://", "no path"),
        ("udp://h:1", "unknown scheme"),
    ],
)
def test_bad_outbound_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(url)


# ============================================================ TLS


async def test_tls_link_verified_with_a_given_ca(
    start: Start, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    service = await start()
    received: list[str] = []
    service.listen(events.Receive, lambda e: received.append(e.data))
    async with RawRemote(ssl=server_tls, greeting=b"secure hello\r\n") as remote:
        link = await service.connect(remote.url("tls", f"ca={ca_file}"))
        assert (link.transport, link.secure) == ("tls", True)
        await until(lambda: received == ["secure hello"])
        peer = await remote.next_peer()
        link.write("over tls")
        assert await peer.read_until(b"\n") == b"over tls\r\n"


async def test_an_untrusted_certificate_is_unreachable(
    start: Start, server_tls: ssl.SSLContext
) -> None:
    """Verified against the system CAs by default: a private CA's certificate fails,
    with a reason that says so, an Unreachable event, and no client left behind."""
    service = await start()
    failures: list[events.Unreachable] = []
    service.listen(events.Unreachable, failures.append)
    async with RawRemote(ssl=server_tls) as remote:
        with pytest.raises(hubbub.Unreachable) as info:
            await service.connect(remote.url("tls"), timeout=5)
        assert info.value.reason.startswith("TLS certificate not accepted")
        assert "certificate" in info.value.reason.split(":", 1)[1]
        assert [f.reason for f in failures] == [info.value.reason]
        assert len(service.outbound) == 0


async def test_a_name_mismatch_is_refused_even_with_the_ca(
    start: Start, ca: trustme.CA, ca_file: str
) -> None:
    other = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("elsewhere.example").configure_cert(other)
    service = await start()
    async with RawRemote(ssl=other) as remote:
        with pytest.raises(hubbub.Unreachable, match="TLS certificate not accepted"):
            await service.connect(remote.url("tls", f"ca={ca_file}"), timeout=5)


async def test_verify_0_accepts_any_certificate(
    start: Start, server_tls: ssl.SSLContext
) -> None:
    service = await start()
    async with RawRemote(ssl=server_tls) as remote:
        link = await service.connect(remote.url("tls", "verify=0"))
        peer = await remote.next_peer()
        link.write("unverified but encrypted")
        assert await peer.read_until(b"\n") == b"unverified but encrypted\r\n"


async def test_telnets_negotiates_over_tls(
    start: Start, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    service = await start()
    async with RawRemote(ssl=server_tls, greeting=bytes((IAC, DO, NAWS))) as remote:
        link = await service.connect(remote.url("telnets", f"ca={ca_file}"))
        assert (link.transport, link.secure) == ("telnets", True)
        peer = await remote.next_peer()
        answer = bytes((IAC, WILL, NAWS, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE))
        assert await peer.read_exactly(len(answer)) == answer


async def test_a_tls_handshake_that_never_completes_times_out(start: Start) -> None:
    """The TCP connect succeeds, the server never answers the ClientHello: Unreachable
    after ``timeout``, with the Unreachable event, and nothing left in outbound."""
    service = await start()
    failures: list[events.Unreachable] = []
    service.listen(events.Unreachable, failures.append)
    sock, port = await silent_listener()
    try:
        with pytest.raises(hubbub.Unreachable) as info:
            await service.connect(f"tls://127.0.0.1:{port}?verify=0", timeout=0.3)
        assert info.value.reason == "timed out after 0.3s"
        assert [f.reason for f in failures] == ["timed out after 0.3s"]
        assert len(service.outbound) == 0
    finally:
        sock.close()


async def test_an_unreadable_ca_file_is_an_error_at_connect(start: Start, tmp_path: Path) -> None:
    service = await start()
    with pytest.raises(ValueError, match="cannot load ca="):
        await service.connect(f"tls://127.0.0.1:1?ca={tmp_path / 'missing.pem'}")


# ============================================================ UNIX sockets


async def test_unix_link(start: Start, tmp_path: Path) -> None:
    service = await start()
    received: list[str] = []
    service.listen(events.Receive, lambda e: received.append(e.data))
    path = str(tmp_path / "app.sock")
    async with RawRemote(path=path, greeting=b"over a unix socket\n") as remote:
        link = await service.connect(remote.url("unix"))
        assert link.server.address == (path,)
        assert (link.transport, link.secure) == ("unix", False)
        await until(lambda: received == ["over a unix socket"])
        peer = await remote.next_peer()
        link.write("back")
        assert await peer.read_until(b"\n") == b"back\r\n"


async def test_a_missing_unix_socket_is_unreachable(start: Start, tmp_path: Path) -> None:
    service = await start()
    path = str(tmp_path / "nothing.sock")
    with pytest.raises(hubbub.Unreachable) as info:
        await service.connect(f"unix://{path}")
    assert (info.value.host, info.value.port, info.value.reason) == (path, None, "no such socket")


async def test_a_unix_socket_nobody_listens_on_is_refused(start: Start, tmp_path: Path) -> None:
    service = await start()
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens: what a crashed server leaves
    with pytest.raises(hubbub.Unreachable, match="connection refused"):
        await service.connect(f"unix://{path}")
    await asyncio.sleep(0)
