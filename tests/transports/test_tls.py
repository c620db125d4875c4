"""TLS (transports/tls.py): tls:// and telnets:// listeners, certificates and their
errors, failed and stalled handshakes, and STARTTLS; real TLS over real sockets."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

import hubbub
from hubbub import events
from hubbub.protocols.telnet import codes
from hubbub.testing import AsyncTestClient

from ..conftest import Start, connect, until
from ..tls_certs import client_hello, make_certs, open_tls, raw_connection, read_to_end
from ..tls_certs import shared as certs

ROOT = Path(__file__).parents[2]


def echo_service(*urls: str, **settings: Any) -> hubbub.Service:
    settings = {**certs().settings(), **settings}
    service = hubbub.Service(listen=list(urls), **settings)
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service


def recording(*urls: str, **settings: Any) -> tuple[hubbub.Service, list[hubbub.Client]]:
    """An echo service, and the clients it has seen connect."""
    service = echo_service(*urls, **settings)
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))
    return service, connects


def address(service: hubbub.Service, index: int = 0) -> tuple[Any, ...]:
    found = service.servers[index].address
    assert found is not None
    return found


def failures(service: hubbub.Service, index: int = 0) -> int:
    listener = service.servers[index].listener
    return int(listener.tls.failures)  # type: ignore[union-attr]


def info_lines(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    return [message for message in messages if text in message]


def loud_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Anything at WARNING or above (asyncio's own "SSL handshake failed" errors included)."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ------------------------------------------------------------------ tls:// and telnets://


async def test_tls_listener_serves_lines(start: Start) -> None:
    """tls:// is tcp:// over TLS: lines both ways, the client says it is secure."""
    service, connects = recording("tls://127.0.0.1:0")
    await start(service)
    client = await open_tls(address(service))
    await client.send("hello")
    assert await client.read_line() == "echo: hello"
    [accepted] = connects
    assert accepted.secure is True
    assert accepted.transport == "tls"
    state = accepted.snapshot()
    assert state["secure"] is True and state["transport"] == "tls"
    assert client.writer.get_extra_info("ssl_object").version() in ("TLSv1.2", "TLSv1.3")
    await client.close()


async def test_telnets_listener_negotiates_telnet_inside_tls(start: Start) -> None:
    """telnets:// sends telnet negotiation once the handshake is done."""
    service, connects = recording("telnets://127.0.0.1:0")
    await start(service)
    context = certs().client_context()
    reader, writer = await asyncio.open_connection(
        *address(service)[:2], ssl=context, server_hostname="localhost"
    )
    first = await asyncio.wait_for(reader.read(100), 5)
    assert first[0] == codes.IAC  # negotiation, encrypted on the wire
    client = AsyncTestClient(reader, writer, telnet=True)
    await until(lambda: connects)
    assert connects[0].transport == "telnets" and connects[0].secure
    await client.send("hi")
    assert await client.read_line() == "echo: hi"
    await client.close()


async def test_plain_clients_say_so(start: Start) -> None:
    """On tcp:// and telnet:// client.secure is False and transport names the scheme."""
    service, connects = recording("tcp://127.0.0.1:0", "telnet://127.0.0.1:0", tls_cert="")
    await start(service)
    one = await connect(service, 0)
    two = await connect(service, 1)
    await until(lambda: len(connects) == 2)
    assert {(c.transport, c.secure) for c in connects} == {("tcp", False), ("telnet", False)}
    await one.close()
    await two.close()


async def test_transport_and_secure_survive_snapshot_and_restore(start: Start) -> None:
    """They are client state: Client.restore() gives them back."""
    service, connects = recording("telnets://127.0.0.1:0")
    await start(service)
    client = await open_tls(address(service), telnet=True)
    await until(lambda: connects)
    [accepted] = connects
    restored = hubbub.Client.restore(accepted.snapshot(), accepted.connection, accepted.server)
    assert (restored.transport, restored.secure) == ("telnets", True)
    await client.close()


async def test_certificate_and_key_in_one_file(start: Start) -> None:
    """With tls_key unset the key is read from the certificate's file."""
    service = echo_service("tls://127.0.0.1:0", tls_cert=certs().combined, tls_key="")
    await start(service)
    client = await open_tls(address(service))
    await client.send("one file")
    assert await client.read_line() == "echo: one file"
    await client.close()


async def test_listener_certificate_overrides_the_service_one(start: Start, tmp_path: Path) -> None:
    """?cert=&key= gives one listener its own certificate; the others keep the service's."""
    other = make_certs(tmp_path)
    url = f"tls://127.0.0.1:0?cert={other.cert}&key={other.key}"
    service = echo_service("tls://127.0.0.1:0", url)
    await start(service)
    mine = await open_tls(address(service, 1), certs=other)
    await mine.send("own")
    assert await mine.read_line() == "echo: own"
    with pytest.raises(ssl.SSLCertVerificationError):
        await open_tls(address(service, 1))  # not the service's certificate
    theirs = await open_tls(address(service, 0))
    await theirs.send("shared")
    assert await theirs.read_line() == "echo: shared"
    await mine.close()
    await theirs.close()


# ------------------------------------------------------------------ certificate errors


def _spoiled(tmp_path: Path, case: str) -> tuple[dict[str, str], str]:
    """Settings with one thing wrong, and the file the error must name."""
    good = make_certs(tmp_path)
    missing = str(tmp_path / "absent.pem")
    if case == "missing cert":
        return {"tls_cert": missing, "tls_key": good.key}, missing
    if case == "missing key":
        return {"tls_cert": good.cert, "tls_key": missing}, missing
    if case == "unreadable cert":  # a directory: unreadable even for root
        return {"tls_cert": str(tmp_path), "tls_key": good.key}, str(tmp_path)
    if case == "cert not PEM":
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("this is not a certificate\n")
        return {"tls_cert": str(garbage), "tls_key": good.key}, str(garbage)
    if case == "key not PEM":
        garbage = tmp_path / "garbage.key"
        garbage.write_text("nor a key\n")
        return {"tls_cert": good.cert, "tls_key": str(garbage)}, str(garbage)
    if case == "no key in cert file":
        return {"tls_cert": good.cert, "tls_key": ""}, good.cert
    if case == "mismatched key":
        stranger = trustme.CA().issue_cert("localhost")
        key = tmp_path / "stranger.key"
        stranger.private_key_pem.write_to_path(key)
        return {"tls_cert": good.cert, "tls_key": str(key)}, str(key)
    if case == "encrypted key":
        issued = trustme.CA().issue_cert("localhost")
        private = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
        locked = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        key = tmp_path / "locked.key"
        key.write_bytes(locked)
        cert = tmp_path / "locked.pem"
        issued.cert_chain_pems[0].write_to_path(cert)
        return {"tls_cert": str(cert), "tls_key": str(key)}, str(key)
    raise AssertionError(case)


CASES = [
    "missing cert",
    "missing key",
    "unreadable cert",
    "cert not PEM",
    "key not PEM",
    "no key in cert file",
    "mismatched key",
    "encrypted key",
]


@pytest.mark.parametrize("case", CASES)
async def test_bad_certificate_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    settings, named = _spoiled(tmp_path, case)
    service = hubbub.Service(listen=["tls://127.0.0.1:0"], **settings)
    with pytest.raises(hubbub.ListenError) as raised:
        await service.start()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("cannot listen on tls://127.0.0.1:0: ")
    assert repr(named) in message
    assert not service.clients and service.servers[0].listener is None


async def test_tls_listener_without_certificate_is_an_error() -> None:
    service = hubbub.Service(listen=["telnets://127.0.0.1:0"])
    with pytest.raises(hubbub.ListenError, match="needs a TLS certificate: set tls_cert"):
        await service.start()


async def test_configured_certificate_is_checked_on_plain_listeners_too(tmp_path: Path) -> None:
    """A plain listener keeps the service's certificate for STARTTLS: a bad one stops the start."""
    missing = str(tmp_path / "absent.pem")
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], tls_cert=missing)
    with pytest.raises(hubbub.ListenError, match=r"absent\.pem"):
        await service.start()


def test_run_exits_with_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.pem")
    service = hubbub.Service(listen=["tls://127.0.0.1:0"], tls_cert=missing, loop="asyncio")
    with pytest.raises(SystemExit) as raised:
        service.run()
    assert str(raised.value) == (
        f"hubbub: cannot listen on tls://127.0.0.1:0: cannot read TLS certificate file "
        f"{missing!r}: No such file or directory"
    )


def test_hubbub_run_exits_with_one_line(tmp_path: Path) -> None:
    settings, named = _spoiled(tmp_path, "mismatched key")
    env = {
        "PATH": "/usr/bin:/bin",
        "HUBBUB_TLS_CERT": settings["tls_cert"],
        "HUBBUB_TLS_KEY": settings["tls_key"],
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hubbub",
            "run",
            "examples/chat.py",
            "--listen",
            "telnets://127.0.0.1:0",
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        f"hubbub: cannot listen on telnets://127.0.0.1:0: TLS key file {named!r} "
        f"does not match certificate file {settings['tls_cert']!r}"
    )


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("tcp://127.0.0.1:0?tls=maybe", "tls='maybe' is not auto or off"),
        ("tls://127.0.0.1:0?cert=", "cert= and key= need a file's path"),
        ("tls://127.0.0.1:0?tls=auto", "unknown option 'tls'"),
    ],
)
def test_bad_tls_options_in_urls(url: str, complaint: str) -> None:
    with pytest.raises(hubbub.SettingsError, match=complaint):
        hubbub.Service(listen=[url])


@pytest.mark.parametrize("value", [0, -1, "soon"])
def test_handshake_timeout_must_be_positive(value: object) -> None:
    with pytest.raises(hubbub.SettingsError, match="tls_handshake_timeout"):
        hubbub.Service(tls_handshake_timeout=value)


# ------------------------------------------------------------------ failed handshakes


async def test_plain_text_to_a_tls_port(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """Plain bytes on tls://: closed, logged at INFO, counted; no client; nobody else affected."""
    service, connects = recording("tls://127.0.0.1:0")
    await start(service)
    other = await open_tls(address(service))
    sock = await raw_connection(address(service))
    await asyncio.get_running_loop().sock_sendall(sock, b"hello\r\n")
    received = await read_to_end(sock)
    sock.close()
    assert b"hello" not in received  # an alert at most, never an echo
    await until(lambda: failures(service) == 1)
    [line] = info_lines(caplog, "TLS handshake from 127.0.0.1:")
    assert "failed" in line and "tls://127.0.0.1:0" in line
    assert loud_lines(caplog) == []
    assert len(connects) == 1 and len(service.clients) == 1
    await other.send("still fine")
    assert await other.read_line() == "echo: still fine"
    await other.close()


async def test_stalled_handshake_holds_up_nobody_and_times_out(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Half a ClientHello, then silence: others connect and chat meanwhile; a timeout ends it."""
    service = echo_service("telnets://127.0.0.1:0", tls_handshake_timeout=0.5)
    await start(service)
    stalled = await raw_connection(address(service))
    await asyncio.get_running_loop().sock_sendall(stalled, client_hello()[:40])
    other = await open_tls(address(service), telnet=True)
    await other.send("meanwhile")
    assert await other.read_line() == "echo: meanwhile"
    assert await read_to_end(stalled) == b""  # closed by the timeout, nothing sent
    stalled.close()
    assert failures(service) == 1
    [line] = info_lines(caplog, "TLS handshake from")
    assert "no handshake within the time allowed" in line
    assert loud_lines(caplog) == []
    assert len(service.clients) == 1
    await other.send("after")
    assert await other.read_line() == "echo: after"
    await other.close()


async def test_failed_handshakes_are_counted_and_logged_at_a_bounded_rate(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service = echo_service("tls://127.0.0.1:0")
    await start(service)
    loop = asyncio.get_running_loop()
    for _ in range(8):
        sock = await raw_connection(address(service))
        await loop.sock_sendall(sock, b"GET / HTTP/1.0\r\n\r\n")
        await read_to_end(sock)
        sock.close()
    await until(lambda: failures(service) == 8)
    assert len(info_lines(caplog, "TLS handshake from")) == 5
    assert not service.clients


# ------------------------------------------------------------------ STARTTLS


class StartTLSApp:
    """An app whose ``starttls`` command answers "go ahead" and upgrades the client."""

    def __init__(self, url: str, **settings: Any) -> None:
        self.service = hubbub.Service(listen=[url], **{**certs().settings(), **settings})
        self.outcomes: list[object] = []
        self.lines: list[str] = []
        self.connects: list[hubbub.Client] = []
        self.disconnects: list[hubbub.Client] = []
        self.service.listen(events.Connect, lambda e: self.connects.append(e.client))
        self.service.listen(events.Disconnect, lambda e: self.disconnects.append(e.client))
        self.service.listen(events.Receive, self.receive)

    async def receive(self, event: events.Receive) -> None:
        client = event.client
        if event.data == "starttls":
            client.write("go ahead")
            try:
                await client.start_tls()
            except hubbub.TLSError as exc:
                client.write(f"refused: {exc}")
                self.outcomes.append(exc)
            except hubbub.Disconnected:
                self.outcomes.append("disconnected")
            else:
                self.outcomes.append(client.transport)
        elif event.data == "shout":
            self.service.write_all("everyone: shout")
        else:
            self.lines.append(event.data)
            client.write(f"echo: {event.data} ({client.transport})")

    def address(self) -> tuple[Any, ...]:
        return address(self.service)


async def upgrade(client: AsyncTestClient) -> None:
    """The client side of STARTTLS, once the server said "go ahead"."""
    await client.writer.start_tls(certs().client_context(), server_hostname="localhost")


async def test_starttls_upgrades_in_place_keeping_a_partial_line(start: Start) -> None:
    """Same Client, same id; secure and transport change; bytes read before are kept."""
    app = StartTLSApp("tcp://127.0.0.1:0")
    await start(app.service)
    client = await AsyncTestClient.connect(app.address())
    await client.send_raw(b"starttls\r\npart")
    assert await client.read_line() == "go ahead"
    await upgrade(client)
    await client.send("ial")
    assert await client.read_line() == "echo: partial (tls)"
    [accepted] = app.connects
    assert app.outcomes == ["tls"]
    assert accepted.secure and accepted.transport == "tls"
    assert accepted in app.service.clients and app.service.clients.get(accepted.id) is accepted
    assert app.lines == ["partial"]  # nothing of the handshake ever reached the line stage
    assert accepted.snapshot()["transport"] == "tls"
    await client.close()
    await until(lambda: app.disconnects == [accepted])


async def test_starttls_on_telnet_keeps_the_telnet_session(start: Start) -> None:
    """telnet becomes telnets; negotiation after the upgrade still reaches the same machine."""
    app = StartTLSApp("telnet://127.0.0.1:0")
    sizes: list[tuple[int, int]] = []
    app.service.listen(events.WindowSize, lambda e: sizes.append((e.width, e.height)))
    await start(app.service)
    client = await connect(app.service)
    await client.send("starttls")
    await client.expect("go ahead\r\n")
    await upgrade(client)
    iac, sb, se, will, naws = codes.IAC, codes.SB, codes.SE, codes.WILL, codes.NAWS
    size = bytes([iac, will, naws, iac, sb, naws, 0, 100, 0, 40, iac, se])
    await client.send_raw(size + b"hi\r\n")
    assert await client.read_line() == "echo: hi (telnets)"
    assert sizes == [(100, 40)]
    assert app.connects[0].secure
    await client.close()


async def test_output_written_during_the_handshake_arrives_encrypted(start: Start) -> None:
    """A broadcast that comes while the handshake has not started waits for it, intact."""
    app = StartTLSApp("tcp://127.0.0.1:0")
    await start(app.service)
    upgrading = await AsyncTestClient.connect(app.address())
    bystander = await AsyncTestClient.connect(app.address())
    await upgrading.send("starttls")
    assert await upgrading.read_line() == "go ahead"
    await bystander.send("shout")
    assert await bystander.read_line() == "everyone: shout"
    await upgrade(upgrading)  # would fail if the broadcast had come in plain
    assert await upgrading.read_line() == "everyone: shout"
    await upgrading.send("after")
    assert await upgrading.read_line() == "echo: after (tls)"
    await upgrading.close()
    await bystander.close()


async def test_starttls_when_already_secure_is_refused(start: Start) -> None:
    app = StartTLSApp("tls://127.0.0.1:0")
    await start(app.service)
    client = await open_tls(app.address())
    await client.send("starttls")
    assert await client.read_line() == "go ahead"
    line = await client.read_line()
    assert line.startswith("refused: ") and "already secure (tls)" in line
    await client.send("still")
    assert await client.read_line() == "echo: still (tls)"
    await client.close()


async def test_starttls_without_a_certificate_is_refused(start: Start) -> None:
    app = StartTLSApp("telnet://127.0.0.1:0", tls_cert="", tls_key="")
    await start(app.service)
    client = await connect(app.service)
    await client.send("starttls")
    await client.expect("go ahead\r\n")
    line = await client.read_line()
    assert "no TLS certificate for STARTTLS" in line and "set tls_cert" in line
    await client.send("plain")
    assert await client.read_line() == "echo: plain (telnet)"
    await client.close()


async def test_plain_text_after_starttls_closes_that_client_only(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """The client answers "go ahead" with plain text: closed, logged, Disconnect; others fine."""
    app = StartTLSApp("tcp://127.0.0.1:0")
    failures: list[events.ConnectionError] = []
    app.service.listen(events.ConnectionError, failures.append)
    await start(app.service)
    liar = await AsyncTestClient.connect(app.address())
    other = await AsyncTestClient.connect(app.address())
    await liar.send("starttls")
    assert await liar.read_line() == "go ahead"
    await liar.send("hello in plain")
    assert await liar.closed()
    await until(lambda: len(app.disconnects) == 1)
    assert app.disconnects == [app.connects[0]]
    assert [f.client for f in failures] == [app.connects[0]]  # (before Disconnect)
    assert isinstance(failures[0].error, ssl.SSLError)
    assert app.outcomes == ["disconnected"]
    [line] = info_lines(caplog, "STARTTLS handshake from")
    assert "failed" in line
    assert any("STARTTLS handshake failed" in m for m in info_lines(caplog, "disconnected after"))
    assert loud_lines(caplog) == []
    assert app.lines == []
    await other.send("fine")
    assert await other.read_line() == "echo: fine (tcp)"
    await liar.close()
    await other.close()


async def test_silence_after_starttls_times_out(start: Start) -> None:
    app = StartTLSApp("telnet://127.0.0.1:0", tls_handshake_timeout=0.3)
    await start(app.service)
    client = await connect(app.service)
    await client.send("starttls")
    await client.expect("go ahead\r\n")
    assert await client.closed()
    await until(lambda: app.disconnects)
    assert app.outcomes == ["disconnected"]
    await client.close()
