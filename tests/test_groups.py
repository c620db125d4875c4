"""Groups: client.join/leave/groups, service.write_to/send_to and the group index,
over real sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.testing import AsyncTestClient

from .conftest import Start, connect, until


async def clients(service: hubbub.Service, n: int) -> list[tuple[hubbub.Client, AsyncTestClient]]:
    """``n`` connected clients, each with the test's end of it, in connecting order."""
    pairs = []
    for _ in range(n):
        peer = await connect(service)
        await until(lambda: len(service.clients) == len(pairs) + 1)
        client = next(c for c in service.clients if c not in {p[0] for p in pairs})
        pairs.append((client, peer))
    return pairs


async def nothing_more(client: hubbub.Client, peer: AsyncTestClient) -> None:
    """Show ``peer`` got nothing else: a marker written now is the next thing it reads."""
    client.write("-- marker --")
    assert await peer.read_line() == "-- marker --"


async def test_join_leave_and_write_to_reach_only_members(start: Start) -> None:
    """write_to reaches the members of a group, in joining order, and nobody else;
    join/leave say whether they changed anything; client.groups is a frozenset."""
    service = await start()
    (ann, ann_peer), (bob, bob_peer), (cat, cat_peer) = await clients(service, 3)
    assert ann.groups == frozenset()
    assert ann.join("ooc") is True
    assert ann.join("ooc") is False  # already in it
    assert bob.join("ooc") and bob.join("guild")
    assert cat.join("guild")
    assert isinstance(ann.groups, frozenset) and bob.groups == {"ooc", "guild"}
    assert service.groups.members("ooc") == (ann, bob)
    assert sorted(service.groups) == ["guild", "ooc"] and len(service.groups) == 2
    assert "ooc" in service.groups and "nobody" not in service.groups

    service.write_to("ooc", "ooc: hi", "two lines")
    service.write_to("guild", "guild: hello")
    assert await ann_peer.read_line() == "ooc: hi"
    assert await ann_peer.read_line() == "two lines"
    assert await bob_peer.expect("guild: hello\r\n") == "ooc: hi\r\ntwo lines\r\nguild: hello\r\n"
    assert await cat_peer.read_line() == "guild: hello"

    assert bob.leave("ooc") is True
    assert bob.leave("ooc") is False  # not in it any more
    assert bob.groups == {"guild"}
    service.write_to("ooc", "after bob left")
    assert await ann_peer.read_line() == "after bob left"
    await nothing_more(bob, bob_peer)
    await nothing_more(cat, cat_peer)
    service.write_to("nobody-here", "lost")  # a group without members: nothing, no error
    await nothing_more(ann, ann_peer)
    for peer in (ann_peer, bob_peer, cat_peer):
        await peer.close()


async def test_write_to_exclude_and_newline_false(start: Start) -> None:
    """``exclude`` takes a client or a collection; ``newline=False`` leaves the line open."""
    service = await start()
    pairs = await clients(service, 3)
    for client, _ in pairs:
        client.join("room")
    (ann, ann_peer), (bob, bob_peer), (_, cat_peer) = pairs
    service.write_to("room", "ann says hi", exclude=ann)
    service.write_to("room", "to cat only", exclude=[ann, bob])
    service.write_to("room", "> ", newline=False, exclude={bob})
    assert await bob_peer.read_line() == "ann says hi"
    assert await cat_peer.expect("> ") == "ann says hi\r\nto cat only\r\n> "
    assert await ann_peer.expect("> ") == "> "
    await nothing_more(bob, bob_peer)
    for _, peer in pairs:
        await peer.close()


async def test_group_names_must_be_non_empty_strings(start: Start) -> None:
    """A group name is a non-empty str; anything else is a clear error, for join,
    leave, write_to and members, and nothing changes."""
    service = await start()
    [(client, peer)] = await clients(service, 1)
    for bad, error in ((None, TypeError), (3, TypeError), (b"ooc", TypeError), ("", ValueError)):
        with pytest.raises(error, match="group name"):
            client.join(bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="group name"):
            client.leave(bad)  # type: ignore[arg-type]
        with pytest.raises(error, match="group name"):
            service.write_to(bad, "x")  # type: ignore[arg-type]
        with pytest.raises(error, match="group name"):
            service.groups.members(bad)  # type: ignore[arg-type]
    assert client.groups == frozenset() and len(service.groups) == 0
    client.join("OOC")
    assert service.groups.members("ooc") == ()  # names are compared exactly
    await peer.close()


async def test_send_to_one_client_by_id(start: Start) -> None:
    """send_to writes to the client with that id and says True; an unknown id, or a
    client that has just left, gets False and no exception."""
    service = await start()
    left: list[hubbub.Client] = []
    service.listen(events.Disconnect, lambda e: left.append(e.client))
    (ann, ann_peer), (bob, bob_peer) = await clients(service, 2)
    assert service.send_to(bob.id, "psst", "bob") is True
    assert service.send_to(ann.id, "Name: ", newline=False) is True
    assert await bob_peer.expect("bob\r\n") == "psst\r\nbob\r\n"
    assert await ann_peer.expect("Name: ") == "Name: "
    assert service.send_to("no-such-id", "hello?") is False
    with pytest.raises(TypeError, match="client id"):
        service.send_to(bob, "x")  # type: ignore[arg-type]
    await bob_peer.close()
    await until(lambda: left == [bob])
    assert service.send_to(bob.id, "are you there?") is False
    await nothing_more(ann, ann_peer)
    await ann_peer.close()


async def test_disconnect_leaves_every_group_and_the_index_empties(start: Start) -> None:
    """A client that disconnects is out of its groups before Disconnect runs (so a
    departure notice to its rooms reaches the others, not it); client.groups still
    names the rooms it was in; once everyone has gone the index is empty."""
    service = await start()
    seen: list[frozenset[str]] = []

    @service.listen(events.Disconnect)
    def announce(event: events.Disconnect) -> None:
        seen.append(event.client.groups)
        for group in sorted(event.client.groups):
            service.write_to(group, f"{event.client.id} left {group}")

    pairs = await clients(service, 3)
    (ann, ann_peer), (bob, bob_peer), (cat, cat_peer) = pairs
    for client in (ann, bob, cat):
        client.join("hall")
    ann.join("kitchen")
    bob.join("kitchen")
    await ann_peer.close()
    assert await bob_peer.expect("left kitchen\r\n") == (
        f"{ann.id} left hall\r\n{ann.id} left kitchen\r\n"
    )
    assert await cat_peer.read_line() == f"{ann.id} left hall"
    assert seen == [frozenset({"hall", "kitchen"})]
    assert service.groups.members("hall") == (bob, cat)
    assert service.groups.members("kitchen") == (bob,)
    await bob_peer.close()
    await cat_peer.close()
    await until(lambda: len(service.clients) == 0)
    assert len(service.groups) == 0 and list(service.groups) == []
    assert service.groups.members("hall") == ()


async def test_groups_are_in_the_snapshot_and_come_back_with_adopt(start: Start) -> None:
    """Membership is client state: snapshot() has it (JSON), connection.adopt() of
    the state on a fresh connection puts the restored client back in the index, and
    write_to reaches it there; the placeholder the listener made is in no group."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], close_timeout=0.2)
    waiting: list[dict[str, Any]] = []
    adopted: list[hubbub.Client] = []

    @service.listen(events.Connect)
    def adopt_waiting(event: events.Connect) -> None:
        if waiting:
            event.stop()
            adopted.append(event.client.connection.adopt(waiting.pop()))

    await start(service)
    (original, first), (other, other_peer) = await clients(service, 2)
    original.join("hall")
    original.join("guild")
    other.join("hall")
    state = json.loads(json.dumps(original.snapshot()))
    assert state["groups"] == ["guild", "hall"]
    await first.close()
    await until(lambda: original not in service.clients)
    assert service.groups.members("hall") == (other,)
    assert "guild" not in service.groups

    waiting.append(state)
    second = await connect(service)
    await until(lambda: adopted)
    [moved] = adopted
    assert moved.id == original.id and moved.groups == {"hall", "guild"}
    assert service.groups.members("hall") == (other, moved)
    assert service.groups.members("guild") == (moved,)
    service.write_to("guild", "guild news")
    service.write_to("hall", "hall news", exclude=other)
    assert await second.expect("hall news\r\n") == "guild news\r\nhall news\r\n"
    await nothing_more(other, other_peer)
    await second.close()
    await other_peer.close()
    await until(lambda: len(service.clients) == 0)
    assert len(service.groups) == 0


async def read_marked(reader: asyncio.StreamReader) -> bytes:
    """What the peer got between ``<`` and ``>\\r\\n`` (telnet negotiation before it skipped)."""
    data = await asyncio.wait_for(reader.readuntil(b">\r\n"), 5)
    return data[data.rindex(b"<") :]


async def test_one_group_across_transports_and_encodings(start: Start) -> None:
    """A group of telnet and tcp clients in UTF-8 and latin-1: one write_to gives each
    the bytes its own connection needs (the text is prepared once per kind of
    connection and encoding): latin-1 telnet gets 0xFF doubled, latin-1 tcp gets a
    bare 0xFF, UTF-8 clients get UTF-8, whichever order they joined in."""
    service = await start(
        hubbub.Service(listen=["telnet://127.0.0.1:0", "tcp://127.0.0.1:0"])
    )
    peers: dict[tuple[str, str], tuple[asyncio.StreamReader, asyncio.StreamWriter]] = {}
    for index, scheme in ((0, "telnet"), (1, "tcp"), (0, "telnet"), (1, "tcp")):
        address = service.servers[index].address
        assert address is not None
        encoding = "latin-1" if (scheme, "latin-1") not in peers else "utf-8"
        before = set(service.clients)
        peers[(scheme, encoding)] = await asyncio.open_connection(*address[:2])
        want = len(before) + 1
        await until(lambda: len(service.clients) == want)  # noqa: B023 - awaited here
        [client] = set(service.clients) - before
        client.encoding = encoding
        client.join("everyone")
    service.write_to("everyone", "<ÿ café>")
    expected = {
        ("telnet", "latin-1"): b"<\xff\xff caf\xe9>\r\n",
        ("tcp", "latin-1"): b"<\xff caf\xe9>\r\n",
        ("telnet", "utf-8"): "<ÿ café>\r\n".encode(),
        ("tcp", "utf-8"): "<ÿ café>\r\n".encode(),
    }
    for key, (reader, _) in peers.items():
        assert await read_marked(reader) == expected[key], key
    for _, writer in peers.values():
        writer.close()
