"""Tests for the built-in address rules: allow/deny, per-IP count, connection rate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import hubbub
from hubbub import SettingsError, events
from hubbub.limits import DENIED, MAX_TRACKED, TOO_FAST, TOO_MANY, AddressLimits
from hubbub.settings import Settings

from .conftest import Start, connect, until


def blocking_service(**settings: Any) -> tuple[hubbub.Service, list[str], list[str]]:
    settings.setdefault("listen", ["tcp://127.0.0.1:0"])
    service = hubbub.Service(**settings)
    blocked: list[str] = []
    connected: list[str] = []
    service.listen(events.Blocked, lambda e: blocked.append(e.reason))
    service.listen(events.Connect, lambda e: connected.append(e.client.address[0]))
    return service, blocked, connected


async def refused_with(service: hubbub.Service) -> str:
    peer = await connect(service)
    line = await peer.read_line()
    assert await peer.closed()
    return line


async def test_deny_refuses_with_a_line(start: Start) -> None:
    service, blocked, connected = blocking_service(deny=["127.0.0.0/8"])
    await start(service)
    assert await refused_with(service) == DENIED
    await until(lambda: blocked)
    assert blocked == [DENIED] and connected == []


async def test_allow_list_only_when_not_empty(start: Start) -> None:
    service, blocked, _ = blocking_service(allow=["10.0.0.0/8"])
    await start(service)
    assert await refused_with(service) == DENIED
    await until(lambda: blocked == [DENIED])

    open_service, _, connected = blocking_service(allow=["127.0.0.1", "10.0.0.0/8"])
    await start(open_service)
    peer = await connect(open_service)
    await until(lambda: connected == ["127.0.0.1"])
    await peer.close()


@pytest.mark.parametrize("setting", ["allow", "deny"])
def test_bad_cidr_names_the_entry(setting: str) -> None:
    with pytest.raises(SettingsError, match=r"10\.0\.0\.300/8"):
        hubbub.Service(**{setting: ["127.0.0.1", "10.0.0.300/8"]})


async def test_max_connections_per_ip(start: Start) -> None:
    service, blocked, connected = blocking_service(max_connections_per_ip=2)
    await start(service)
    first = await connect(service)
    second = await connect(service)
    await until(lambda: len(connected) == 2)
    assert await refused_with(service) == TOO_MANY.format(limit=2)
    await until(lambda: blocked)
    await first.close()
    await until(lambda: len(service.clients) == 1)
    third = await connect(service)
    await until(lambda: len(connected) == 3)
    await second.close()
    await third.close()


async def test_connection_rate_and_burst(start: Start) -> None:
    service, blocked, connected = blocking_service(connection_rate=0.5, connection_burst=3)
    await start(service)
    peers = [await connect(service) for _ in range(3)]
    await until(lambda: len(connected) == 3)
    assert await refused_with(service) == TOO_FAST
    assert blocked == [TOO_FAST]
    for peer in peers:
        await peer.close()


async def test_zero_turns_rules_off(start: Start) -> None:
    service, blocked, connected = blocking_service(
        max_connections_per_ip=0, connection_rate=0, connection_burst=1
    )
    await start(service)
    peers = [await connect(service) for _ in range(40)]
    await until(lambda: len(connected) == 40)
    assert blocked == []
    for peer in peers:
        await peer.close()


async def test_peer_that_keeps_reconnecting(start: Start, caplog: pytest.LogCaptureFixture) -> None:
    """300 refused attempts: each refused quickly, a few log lines, the service unharmed."""
    service, blocked, connected = blocking_service(deny=["127.0.0.1/32"])
    await start(service)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert server_address(service)
    for _ in range(300):
        reader, writer = await asyncio.open_connection(*server_address(service))
        assert (await reader.readline()).rstrip() == DENIED.encode()
        assert await reader.read() == b""
        writer.close()
    assert loop.time() - began < 10
    await until(lambda: len(blocked) == 300)
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused")]
    assert 1 <= len(refusals) <= 10
    assert connected == []


def settings(**values: Any) -> Settings:
    chosen = Settings()
    chosen.update("code", values)
    return chosen


def server_address(service: hubbub.Service) -> tuple[str, int]:
    address = service.servers[0].address
    assert address is not None
    return address[0], address[1]


def test_address_table_is_bounded() -> None:
    """Many addresses, each connecting once: the rate table stays bounded."""
    limits = AddressLimits(settings(connection_rate=1, connection_burst=5))
    for n in range(MAX_TRACKED + 5000):
        assert limits.screen((f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 1)) is None
    assert limits.tracked <= MAX_TRACKED + 1024


def test_non_ip_peers_are_exempt() -> None:
    """A UNIX-socket peer has no IP: the address rules do not apply to it."""
    limits = AddressLimits(
        settings(deny=["0.0.0.0/0", "::/0"], max_connections_per_ip=1, connection_burst=1)
    )
    for _ in range(5):
        assert limits.screen(("/run/hubbub.sock", 0)) is None
        assert limits.join(("/run/hubbub.sock", 0)) is None
    assert limits.screen(("192.0.2.1", 5)) is not None


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    limits = AddressLimits(settings(connection_rate=0, max_connections_per_ip=1))
    assert limits.join(("2001:db8::1", 1)) is None
    assert limits.join(("2001:db8::ffff", 1)) == TOO_MANY.format(limit=1)
    assert limits.join(("2001:db8:0:1::1", 1)) is None
    assert limits.join(("192.0.2.7", 1)) is None
    assert limits.join(("::ffff:192.0.2.7", 1)) == TOO_MANY.format(limit=1)
