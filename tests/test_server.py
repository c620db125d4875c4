"""Server (server.py): datagram methods only where a udp:// listener is, and how an
address reads in the log."""

from __future__ import annotations

import pytest

import hubbub
from hubbub.server import format_address

from .conftest import Start


async def test_send_to_and_broadcast_on_a_stream_listener_say_which_kind_has_them(
    start: Start,
) -> None:
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0?name=game"]))
    server = service.servers[0]
    for call in (lambda: server.send_to(b"x", ("127.0.0.1", 9)), lambda: server.broadcast(b"x", 9)):
        with pytest.raises(TypeError, match="only udp:// listeners do; game is a tcp:// listener"):
            call()
    await service.stop()
    with pytest.raises(TypeError, match="only udp:// listeners"):
        server.send_to(b"x", ("127.0.0.1", 9))


def test_format_address() -> None:
    assert format_address(("127.0.0.1", 9000)) == "127.0.0.1:9000"
    assert format_address(("::1", 9000, 0, 0)) == "::1:9000"
    assert format_address("/run/game/admin.sock") == "/run/game/admin.sock"
    assert format_address(None) == "?"
