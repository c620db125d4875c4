"""The handover channel: messages and descriptors between two ends of a real UNIX socket."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from hubbub.restart.channel import FDS_PER_BATCH, Channel, ChannelError


def pair(timeout: float = 5.0) -> tuple[Channel, Channel]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return Channel(a, timeout), Channel(b, timeout)


def test_message_and_sockets_cross_and_still_work() -> None:
    """A listening socket and a connected one arrive as working sockets, in order."""
    sender, receiver = pair()
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    message = {"kind": "handover", "clients": [{"id": "a"}]}
    sender.send(message, [listener.fileno(), accepted.fileno()])
    message, sockets = receiver.receive()
    assert message == {"kind": "handover", "clients": [{"id": "a"}]}
    got_listener, got_client = sockets
    assert got_listener.getsockname() == listener.getsockname()
    # Closing the sender's copies sends nothing: the peer still talks to the copy.
    accepted.close()
    listener.close()
    peer.sendall(b"still here")
    assert got_client.recv(100) == b"still here"
    got_client.sendall(b"and back")
    assert peer.recv(100) == b"and back"
    for sock in (*sockets, peer):
        sock.close()


def test_more_descriptors_than_one_batch() -> None:
    """Thousands of clients cross: descriptors go in batches the kernel accepts."""
    sender, receiver = pair()
    count = FDS_PER_BATCH * 2 + 17
    made = [socket.socketpair() for _ in range(count)]
    fds = [a.fileno() for a, _ in made]
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(receiver.receive()))
    thread.start()
    sender.send({"n": count}, fds)
    thread.join(10)
    message, sockets = result[0]  # type: ignore[misc]
    assert message == {"n": count}
    assert len(sockets) == count
    # Each arrived socket is the same as the one sent (its partner hears it).
    sockets[-1].sendall(b"x")
    assert made[-1][1].recv(1) == b"x"
    for sock in sockets:
        sock.close()
    for a, b in made:
        a.close()
        b.close()


def test_other_end_gone_is_a_clear_error() -> None:
    sender, receiver = pair()
    sender.close()
    with pytest.raises(ChannelError, match="went away"):
        receiver.receive()


def test_silence_times_out() -> None:
    _, receiver = pair(timeout=0.2)
    with pytest.raises(ChannelError, match="in time"):
        receiver.receive()


def test_garbage_is_refused_and_descriptors_are_not_leaked() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    receiver = Channel(b, 5.0)
    a.sendall(struct.pack("!II", 5, 0) + b"nope!")
    with pytest.raises(ChannelError, match="not JSON"):
        receiver.receive()
    a.sendall(struct.pack("!II", 2, 0) + b"[]")
    with pytest.raises(ChannelError, match="not a JSON object"):
        receiver.receive()
    a.sendall(struct.pack("!II", 1 << 30, 0))
    with pytest.raises(ChannelError, match="too large"):
        receiver.receive()


def test_announced_descriptors_that_never_come() -> None:
    """The sender dies after the message but before its descriptors: an error, and any
    descriptors that did arrive are closed."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    receiver = Channel(b, 5.0)
    extra = socket.socket()
    a.sendall(struct.pack("!II", 2, 300) + b"{}")
    socket.send_fds(a, [b"F"], [extra.fileno()])
    a.close()
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(ChannelError):
        receiver.receive()
    assert len(os.listdir("/proc/self/fd")) == before
    extra.close()
