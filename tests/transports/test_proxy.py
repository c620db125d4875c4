"""Tests for ``?proxy=1`` listeners: the PROXY header read over real sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.limits import DENIED
from hubbub.protocols.proxy import V2_SIGNATURE
from hubbub.testing import AsyncTestClient

from ..conftest import Start, until
from ..tls_certs import shared


def proxy_service(**settings: Any) -> tuple[hubbub.Service, list[tuple[Any, ...]], list[str]]:
    settings.setdefault("listen", ["tcp://127.0.0.1:0?proxy=1"])
    service = hubbub.Service(**settings)
    addresses: list[tuple[Any, ...]] = []
    lines: list[str] = []
    service.listen(events.Connect, lambda e: addresses.append(e.client.address))
    service.listen(events.Receive, lambda e: lines.append(e.data))
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service, addresses, lines


async def open_raw(service: hubbub.Service) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = service.servers[0].address
    assert address is not None
    return await asyncio.open_connection(address[0], address[1])


def v2_inet(source: str, port: int, rest: bytes = b"") -> bytes:
    body = socket.inet_aton(source) + socket.inet_aton("10.0.0.1") + struct.pack("!HH", port, 4000)
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body + rest


async def test_v1_gives_the_real_address_and_keeps_the_bytes_after(start: Start) -> None:
    service, addresses, lines = proxy_service()
    await start(service)
    reader, writer = await open_raw(service)
    writer.write(b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 4000\r\nfirst\r\n")
    assert await reader.readline() == b"echo: first\r\n"
    assert addresses == [("203.0.113.9", 51000)]
    assert lines == ["first"]
    writer.close()


async def test_v2_header_in_pieces(start: Start) -> None:
    service, addresses, _ = proxy_service()
    await start(service)
    reader, writer = await open_raw(service)
    data = v2_inet("198.51.100.4", 6000, b"hi\r\n")
    for i in range(0, len(data), 5):
        writer.write(data[i : i + 5])
        await writer.drain()
        await asyncio.sleep(0.005)
    assert await reader.readline() == b"echo: hi\r\n"
    assert addresses == [("198.51.100.4", 6000)]
    writer.close()


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"PROXY " + b"X" * 120,  # v1 without CRLF within 107 bytes
        V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", 4) + b"\x00" * 4,  # too short
    ],
    ids=["garbage", "v1-no-crlf", "v2-wrong-length"],
)
async def test_bad_header_closes_only_that_connection(
    start: Start, caplog: pytest.LogCaptureFixture, data: bytes
) -> None:
    service, addresses, _ = proxy_service()
    await start(service)
    good_reader, good_writer = await open_raw(service)
    good_writer.write(b"PROXY TCP4 203.0.113.1 10.0.0.1 5 6\r\n")
    await until(lambda: len(addresses) == 1)
    reader, writer = await open_raw(service)
    writer.write(data)
    assert await asyncio.wait_for(reader.read(), 2) == b""  # closed, nothing sent
    assert any("bad PROXY header" in r.getMessage() for r in caplog.records)
    good_writer.write(b"still\r\n")
    assert await good_reader.readline() == b"echo: still\r\n"
    assert len(addresses) == 1
    writer.close()
    good_writer.close()


async def test_bad_headers_are_logged_at_a_bounded_rate(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service, _, _ = proxy_service()
    await start(service)
    for _ in range(50):
        reader, writer = await open_raw(service)
        writer.write(b"garbage\r\n")
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    logged = [r for r in caplog.records if "bad PROXY header" in r.getMessage()]
    assert 1 <= len(logged) <= 5


async def test_address_rules_apply_to_the_real_address(start: Start) -> None:
    service, addresses, _ = proxy_service(deny=["203.0.113.0/24"])
    blocked: list[tuple[Any, ...]] = []
    service.listen(events.Blocked, lambda e: blocked.append(e.address))
    await start(service)
    reader, writer = await open_raw(service)
    writer.write(b"PROXY TCP4 203.0.113.9 10.0.0.1 51000 4000\r\n")
    assert await reader.readline() == DENIED.encode() + b"\r\n"
    assert await reader.read() == b""
    assert blocked == [("203.0.113.9", 51000)]
    reader, writer = await open_raw(service)
    writer.write(b"PROXY TCP4 192.0.2.9 10.0.0.1 51000 4000\r\nok\r\n")
    assert await reader.readline() == b"echo: ok\r\n"
    assert addresses == [("192.0.2.9", 51000)]
    writer.close()


async def test_silent_peer_is_closed_after_proxy_timeout(start: Start) -> None:
    service, addresses, _ = proxy_service(proxy_timeout=0.2)
    await start(service)
    reader, writer = await open_raw(service)
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert addresses == []
    writer.close()


@pytest.mark.parametrize("url", ["tls://127.0.0.1:0?proxy=1", "tcp://127.0.0.1:0?tls=auto&proxy=1"])
async def test_tls_after_the_header(start: Start, url: str) -> None:
    """The header is read off alone, so the TLS handshake that follows it is intact."""
    service, addresses, _ = proxy_service(listen=[url], **shared().settings())
    await start(service)
    reader, writer = await open_raw(service)
    writer.write(b"PROXY TCP6 2001:db8::7 2001:db8::1 40000 4000\r\n")
    await writer.drain()
    await writer.start_tls(shared().client_context(), server_hostname="localhost")
    client = AsyncTestClient(reader, writer)
    await client.send("secret")
    assert await client.read_line() == "echo: secret"
    assert addresses == [("2001:db8::7", 40000)]
    [connected] = service.clients
    assert connected.secure
    await client.close()
