"""unix:// (transports/unix.py): lines over a UNIX stream socket, and the socket file's
life: mode 0o660, a stale file replaced, a live one or a non-socket refused, removed
at stop. The conformance suite runs the shared behaviour; these are the file's."""

from __future__ import annotations

import os
import socket
import stat

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient

from ..conftest import Start, until


def unix_service(path: str, **settings: object) -> hubbub.Service:
    service = hubbub.Service(listen=[f"unix://{path}?name=admin"], **settings)
    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return service


async def test_lines_over_a_socket_file(
    start: Start, socket_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Line mode as on tcp://; the file is a socket with mode 0o660; addresses are the path."""
    path = f"{socket_dir}/admin.sock"
    service = unix_service(path)
    connects: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: connects.append(e.client))
    await start(service)
    server = service.servers[0]
    assert server.name == "admin"
    assert server.address == path
    mode = os.stat(path).st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660
    assert f"listening on unix://{path}?name=admin ({path})" in caplog.text
    client = await AsyncTestClient.connect(path)
    await client.send("status")
    assert await client.read_line() == "echo: status"
    [accepted] = connects
    assert accepted.connection.kind == "unix"
    assert accepted.address == (path, 0)
    assert f"{path}:0" in repr(accepted)
    assert (accepted.transport, accepted.secure) == ("unix", False)
    with pytest.raises(hubbub.TLSError, match="unix connection cannot start TLS"):
        await accepted.start_tls()
    await client.send("still plain")
    assert await client.read_line() == "echo: still plain"
    await client.close()


async def test_stale_socket_file_is_replaced(
    start: Start, socket_dir: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A socket file nobody listens on (a crashed server's) is removed and bound again."""
    path = f"{socket_dir}/game.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # the file stays, with nothing behind it
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    service = await start(unix_service(path))
    assert "removing stale socket file" in caplog.text
    client = await AsyncTestClient.connect(path)
    await client.send("hi")
    assert await client.read_line() == "echo: hi"
    await client.close()
    await service.stop()


@pytest.mark.parametrize("what", ["file", "directory"])
async def test_path_that_is_not_a_socket_is_refused_and_left_alone(
    socket_dir: str, what: str
) -> None:
    path = f"{socket_dir}/important"
    if what == "file":
        with open(path, "w") as fh:
            fh.write("do not delete\n")
    else:
        os.mkdir(path)
    service = unix_service(path)
    with pytest.raises(hubbub.ListenError) as info:
        await service.start()
    assert str(info.value) == (
        f"cannot listen on unix://{path}?name=admin: "
        f"{path} exists and is not a socket; it was left alone"
    )
    if what == "file":
        with open(path) as fh:
            assert fh.read() == "do not delete\n"
    else:
        assert os.path.isdir(path)


async def test_path_where_a_server_listens_is_refused(start: Start, socket_dir: str) -> None:
    """A second service on the same path fails to start; the first is unharmed."""
    path = f"{socket_dir}/game.sock"
    first = await start(unix_service(path))
    inode = os.stat(path).st_ino
    second = unix_service(path)
    with pytest.raises(hubbub.ListenError) as info:
        await second.start()
    assert str(info.value) == f"cannot listen on unix://{path}?name=admin: address already in use"
    assert os.stat(path).st_ino == inode
    client = await AsyncTestClient.connect(path)
    await client.send("still mine")
    assert await client.read_line() == "echo: still mine"
    await client.close()
    await first.stop()


async def test_file_removed_at_stop_only_if_still_ours(start: Start, socket_dir: str) -> None:
    path = f"{socket_dir}/game.sock"
    service = await start(unix_service(path))
    await service.stop()
    assert not os.path.exists(path)
    # Someone replaced the file while we ran: theirs is not ours to remove.
    service = await start(unix_service(path))
    os.unlink(path)
    with open(path, "w") as fh:
        fh.write("theirs")
    await service.stop()
    with open(path) as fh:
        assert fh.read() == "theirs"


async def test_bad_places_are_one_line_errors(socket_dir: str) -> None:
    """A missing directory or a path too long for the kernel: said plainly at start."""
    missing = f"{socket_dir}/nowhere/x.sock"
    with pytest.raises(hubbub.ListenError, match=f"directory {socket_dir}/nowhere does not exist"):
        await unix_service(missing).start()
    long = f"{socket_dir}/{'x' * 120}.sock"
    with pytest.raises(hubbub.ListenError, match=r"a UNIX socket path may have at most 10[37]"):
        await unix_service(long).start()


async def test_peer_that_resets_mid_line(start: Start, socket_dir: str) -> None:
    """Half a line, then the peer goes with output unread: Disconnect, no Receive, others fine."""
    path = f"{socket_dir}/game.sock"
    service = unix_service(path)
    got: list[str] = []
    gone: list[hubbub.Client] = []
    service.listen(events.Receive, lambda e: got.append(e.data))
    service.listen(events.Disconnect, lambda e: gone.append(e.client))
    service.listen(events.Connect, lambda e: e.client.write("x" * 100_000))
    await start(service)
    leaving = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leaving.connect(path)
    leaving.sendall(b"half a li")
    await until(lambda: len(service.clients) == 1)
    leaving.close()  # unread output in its buffer: the server's side sees a reset
    await until(lambda: gone)
    assert got == []
    bystander = await AsyncTestClient.connect(path)
    await bystander.expect("x" * 100_000 + "\r\n")
    await bystander.send("ping")
    assert await bystander.read_line() == "echo: ping"
    await bystander.close()


async def test_raw_mode(start: Start, socket_dir: str) -> None:
    """?raw=1 works as on tcp://: chunks of bytes, no framing."""
    path = f"{socket_dir}/raw.sock"
    service = hubbub.Service(listen=[f"unix://{path}?raw=1"])
    chunks: list[bytes] = []
    service.listen(events.Receive, lambda e: chunks.append(e.data))
    await start(service)
    client = await AsyncTestClient.connect(path)
    await client.send_raw(b"\xff\x00no newline")
    await until(lambda: b"".join(chunks) == b"\xff\x00no newline")
    await client.close()


async def test_address_rules_do_not_apply(start: Start, socket_dir: str) -> None:
    """A UNIX peer has no IP: deny-all, one per IP and a burst of one leave it alone."""
    path = f"{socket_dir}/admin.sock"
    service = unix_service(
        path, deny=["0.0.0.0/0", "::/0"], max_connections_per_ip=1, connection_burst=1
    )
    await start(service)
    clients = [await AsyncTestClient.connect(path) for _ in range(5)]
    for number, client in enumerate(clients):
        await client.send(f"hello {number}")
        assert await client.read_line() == f"echo: hello {number}"
    assert len(service.clients) == 5
    for client in clients:
        await client.close()
