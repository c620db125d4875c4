"""Outbound links (outbound.py): service.connect, the Remote, reconnecting, stopping,
and what a remote that misbehaves gets, all over real sockets."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

import hubbub
from hubbub import events
from hubbub.limits import DENIED
from hubbub.outbound import BACKOFF_CAP, BACKOFF_FIRST, Backoff
from hubbub.protocols.telnet import EOR, GA, IAC

from .conftest import Start, connect, until
from .remotes import RawRemote, closed_port

FAST = Backoff(first=0.01, cap=0.04, jitter=0.0)


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and text in r.getMessage()]


def echo_target() -> hubbub.Service:
    """A real hubbub service that answers each line with ``echo: LINE``."""
    target = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    target.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    return target


def url_of(service: hubbub.Service, index: int = 0) -> str:
    server = service.servers[index]
    assert server.address is not None
    return f"{server.endpoint.scheme}://127.0.0.1:{server.address[1]}"


class Seen:
    """The client events a service raised, in order, as (kind, client, server name)."""

    def __init__(self, service: hubbub.Service) -> None:
        self.log: list[tuple[str, hubbub.Client, str]] = []
        self.lines: list[str] = []
        self.unreachable: list[events.Unreachable] = []
        for kind in (events.Connect, events.Disconnect):
            service.listen(kind, self._record)
        service.listen(events.Receive, lambda e: self.lines.append(e.data))
        service.listen(events.Unreachable, self.unreachable.append)

    def _record(self, event: events.Client) -> None:
        self.log.append((type(event).__name__, event.client, event.server.name))

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.log]


# ============================================================ the ordinary client


async def test_a_link_is_an_ordinary_client_listed_in_outbound_only(start: Start) -> None:
    """connect() returns a connected Client whose server is a Remote named by the URL;
    Connect fired for it (before connect returned); it is in outbound, not clients;
    write and read work as on any client."""
    target = await start(echo_target())
    service = await start()
    seen = Seen(service)
    url = url_of(target)
    client = await service.connect(url)
    assert seen.log == [("Connect", client, url)]
    assert isinstance(client, hubbub.Client) and client.connected
    assert isinstance(client.server, hubbub.Remote)
    assert client.server.outbound is True
    assert service.servers[0].outbound is False
    assert (client.server.name, client.server.url) == (url, url)
    assert client.server.address == ("127.0.0.1", target.servers[0].address[1])  # type: ignore[index]
    assert client in service.outbound and len(service.outbound) == 1
    assert client not in service.clients and len(service.clients) == 0
    assert service.outbound.get(client.id) is client
    await until(lambda: len(target.clients) == 1)

    reader = asyncio.ensure_future(client.read())
    client.write("hello")
    assert await asyncio.wait_for(reader, 5) == "echo: hello"
    client.write("again")
    await until(lambda: seen.lines == ["echo: again"])  # no reader waits: a Receive


async def test_server_filters_select_a_link_by_name(start: Start) -> None:
    """listen(..., server="name") picks the link's events, as it picks a listener's."""
    target = await start(echo_target())
    service = await start()
    mine: list[str] = []
    others: list[str] = []
    service.listen(events.Receive, lambda e: mine.append(e.data), server="far")
    service.listen(events.Receive, lambda e: others.append(e.data), server=service.servers[0].name)
    link = await service.connect(url_of(target), name="far")
    assert link.server.name == "far" and link.server == "far"
    inbound = await connect(service)
    link.write("over the link")
    await inbound.send("typed locally")
    await until(lambda: mine and others)
    assert mine == ["echo: over the link"]
    assert others == ["typed locally"]
    await inbound.close()


async def test_write_all_never_reaches_a_link(start: Start) -> None:
    """write_all is for the service's own clients; a link hears only what it is sent."""
    service = await start()
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), name="far")
        peer = await remote.next_peer()
        local = await connect(service)
        await until(lambda: len(service.clients) == 1)
        service.write_all("to everyone")
        assert await local.read_line() == "to everyone"
        link.write("to the link only")
        assert await peer.read_until(b"\n") == b"to the link only\r\n"
        await local.close()


async def test_name_may_come_from_the_url(start: Start) -> None:
    service = await start()
    async with RawRemote() as remote:
        link = await service.connect(remote.url(query="name=relay"))
        assert link.server.name == "relay"
        other = await service.connect(remote.url(query="name=relay"), name="given")
        assert other.server.name == "given"


async def test_a_link_state_is_plain_data(start: Start) -> None:
    """client.link says how the link is kept, as JSON values saved with the client."""
    service = await start()
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), timeout=3, reconnect=FAST)
        state = link.snapshot()
        assert json.loads(json.dumps(state)) == state
        assert state["attributes"]["link"] == {
            "url": remote.url(),
            "timeout": 3.0,
            "reconnect": {"first": 0.01, "cap": 0.04, "factor": 2.0, "jitter": 0.0, "stable": 10.0},
            "links": 1,
            "failures": 0,
            "retry_at": None,
        }


# ============================================================ failures


async def test_a_refused_link_raises_unreachable_and_fires_the_event(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service = await start()
    seen = Seen(service)
    port = await closed_port()
    url = f"tcp://127.0.0.1:{port}"
    with pytest.raises(hubbub.Unreachable) as info:
        await service.connect(url, name="gone")
    error = info.value
    assert (error.host, error.port, error.reason) == ("127.0.0.1", port, "connection refused")
    assert isinstance(error, hubbub.HubbubError) and isinstance(error, ConnectionError)
    assert str(error) == f"cannot reach 127.0.0.1:{port}: connection refused"
    [event] = seen.unreachable
    assert (event.url, event.reason, event.server.name) == (url, "connection refused", "gone")
    assert event.service is service
    assert seen.log == [] and len(service.outbound) == 0
    assert records(caplog, logging.INFO, "cannot reach gone: connection refused")


async def test_an_unresolvable_host_says_so(start: Start) -> None:
    service = await start()
    with pytest.raises(hubbub.Unreachable) as info:
        await service.connect("telnet://nonexistent.invalid:4000", timeout=5)
    assert info.value.reason.startswith("cannot resolve 'nonexistent.invalid'")
    assert info.value.host == "nonexistent.invalid" and info.value.port == 4000


async def test_a_plain_tcp_target_that_never_answers_is_a_quiet_link(start: Start) -> None:
    """TCP has no handshake of its own: the link is up at once, and a read waits
    (for as long as the remote says nothing; there is no idle timeout)."""
    service = await start()
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), timeout=0.5)
        await remote.next_peer()
        assert link.connected
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(link.read(), 0.3)
        assert link.connected and link in service.outbound


async def test_connect_needs_a_running_service_and_good_arguments() -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    with pytest.raises(RuntimeError, match="running"):
        await service.connect("tcp://127.0.0.1:9")
    await service.start()
    try:
        for url, message in [
            ("127.0.0.1:4000", "no scheme"),
            ("gopher://h:70", "unknown scheme"),
            ("ws://h", "no port"),
            ("wss://h:443/?page=0", "unknown option 'page'"),
            ("tcp://h", "no port"),
            ("tcp://h:1?cert=x", "unknown option 'cert'"),
        ]:
            with pytest.raises(ValueError, match=message):
                await service.connect(url)
        with pytest.raises(TypeError, match="reconnect"):
            await service.connect("tcp://127.0.0.1:9", reconnect="yes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timeout"):
            await service.connect("tcp://127.0.0.1:9", timeout=0)
    finally:
        await service.stop()


def test_backoff_doubles_is_capped_and_checked() -> None:
    """1 s, 2 s, 4 s … 60 s by default; jitter only ever shortens a wait."""
    default = Backoff()
    assert (default.first, default.cap) == (BACKOFF_FIRST, BACKOFF_CAP) == (1.0, 60.0)
    assert [default.delay(n, 0.0) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert default.delay(10_000, 0.0) == 60.0  # no overflow, however long it failed
    assert default.delay(0, 0.999) == pytest.approx(0.75, abs=0.001)
    for bad in (
        {"first": 0},
        {"first": 5, "cap": 1},
        {"factor": 0.5},
        {"jitter": 1.0},
        {"stable": -1},
    ):
        with pytest.raises(ValueError, match="Backoff"):
            Backoff(**bad)  # type: ignore[arg-type]


# ============================================================ reconnecting


async def test_a_link_comes_back_as_the_same_client(start: Start) -> None:
    """reconnect: when the far service restarts, Disconnect fires, then Connect again
    with the same Client object (same id); connected goes False, then True."""
    target = await start(echo_target())
    port = target.servers[0].address[1]  # type: ignore[index]
    service = await start()
    seen = Seen(service)
    link = await service.connect(url_of(target), name="far", reconnect=FAST)
    first_id = link.id
    await target.stop()
    await until(lambda: seen.kinds() == ["Connect", "Disconnect"])
    assert not link.connected
    assert link in service.outbound  # still listed while it is being reopened
    link.write("dropped while down")  # harmless
    with pytest.raises(hubbub.Disconnected):
        await link.flush()
    with pytest.raises(hubbub.Disconnected):
        await link.start_tls()  # nothing to upgrade while the link is down

    again = hubbub.Service(listen=[f"tcp://127.0.0.1:{port}"])
    again.listen(events.Receive, lambda e: e.client.write(f"again: {e.data}"))
    await start(again)
    await until(lambda: seen.kinds() == ["Connect", "Disconnect", "Connect"])
    assert all(client is link for _, client, _ in seen.log)
    assert link.id == first_id and link.connected
    assert link.link["links"] == 2 and link.link["retry_at"] is None
    link.write("hello")
    await until(lambda: seen.lines == ["again: hello"])


async def test_a_refused_peer_is_retried_with_growing_waits_and_a_bounded_log(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failed retry fires Unreachable and counts a failure; the waits follow the
    Backoff; the log says it a few times, then goes quiet (rate-limited)."""
    service = await start()
    seen = Seen(service)
    remote = await RawRemote().start()
    link = await service.connect(remote.url(), name="flaky", reconnect=FAST)
    await remote.next_peer()
    await remote.close()  # the peer is dropped and the port now refuses
    await until(lambda: len(seen.unreachable) >= 12)
    assert {e.reason for e in seen.unreachable} == {"connection refused"}
    assert {e.server.name for e in seen.unreachable} == {"flaky"}
    assert seen.kinds() == ["Connect", "Disconnect"]  # no client-level event per retry
    assert link.link["failures"] >= 12
    assert FAST.delay(link.link["failures"], 0.0) == FAST.cap
    warnings = records(caplog, logging.WARNING, "cannot reach flaky: connection refused")
    assert 1 <= len(warnings) <= 3
    said = [r for r in caplog.records if r.name == "hubbub.outbound" and r.levelno >= logging.INFO]
    assert len(said) <= 5  # linked, reopening once, the rate-limited failures: not one per try
    assert link in service.outbound and not link.connected


async def test_a_peer_that_hangs_up_at_once_is_retried_ever_more_slowly(start: Start) -> None:
    """A link that does not stay up for Backoff.stable counts as a failure, so a remote
    that accepts and closes at once is not redialled at the first wait for ever."""
    service = await start()
    seen = Seen(service)
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), reconnect=FAST)
        for expected in (1, 2, 3):
            (await remote.next_peer()).close()
            await until(lambda n=expected: link.link["failures"] == n)  # type: ignore[misc]
        await remote.next_peer()
        await until(lambda: link.connected)
        assert seen.kinds() == ["Connect", "Disconnect"] * 3 + ["Connect"]
        assert {id(c) for _, c, _ in seen.log} == {id(link)}


async def test_close_by_the_app_ends_the_link_for_good(start: Start) -> None:
    """client.close() on a link that is up: Disconnect, and it is not reopened."""
    service = await start()
    seen = Seen(service)
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), reconnect=FAST)
        peer = await remote.next_peer()
        link.write("bye")
        link.close()
        assert await peer.read_to_end() == b"bye\r\n"
        await until(lambda: seen.kinds() == ["Connect", "Disconnect"])
        await asyncio.sleep(0.1)  # ten first-waits: a reopened link would be here by now
        assert len(remote.peers) == 1
        assert link not in service.outbound


async def test_close_while_waiting_stops_the_retries(start: Start) -> None:
    service = await start()
    seen = Seen(service)
    remote = await RawRemote().start()
    link = await service.connect(remote.url(), reconnect=FAST)
    await remote.next_peer()
    await remote.close()
    await until(lambda: len(seen.unreachable) >= 2)
    link.close()
    assert link not in service.outbound
    count = len(seen.unreachable)
    await asyncio.sleep(0.1)
    assert len(seen.unreachable) == count
    assert link.link["retry_at"] is None


async def test_disconnect_handler_may_give_up_on_the_link(start: Start) -> None:
    """Closing the client from its own Disconnect handler also stops the retrying."""
    service = await start()
    service.listen(events.Disconnect, lambda e: e.client.close())
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), reconnect=FAST)
        (await remote.next_peer()).close()
        await until(lambda: link not in service.outbound)
        await asyncio.sleep(0.1)
        assert len(remote.peers) == 1


async def test_stop_closes_links_with_disconnect_and_ends_retries(start: Start) -> None:
    """A link that is up closes with the clients at stop (Disconnect between PreStop and
    PostStop); one waiting to be reopened is dropped, and nothing retries after."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    order: list[str] = []
    for kind in (events.PreStop, events.Disconnect, events.ListenStop, events.PostStop):
        service.listen(kind, lambda e: order.append(type(e).__name__))
    failures: list[events.Unreachable] = []
    service.listen(events.Unreachable, failures.append)
    await service.start()
    async with RawRemote() as up, RawRemote() as down:
        link = await service.connect(up.url(), reconnect=FAST)
        peer = await up.next_peer()
        link.write("last words")
        waiting = await service.connect(down.url(), reconnect=FAST)
        await down.next_peer()
        await down.close()
        await until(lambda: failures)
        order.clear()  # (the waiting link had its Disconnect when it was lost)
        await service.stop()
        assert order == ["PreStop", "Disconnect", "ListenStop", "PostStop"]
        assert await peer.read_to_end() == b"last words\r\n"
        assert len(service.outbound) == 0
        assert not link.connected and not waiting.connected
        count = len(failures)
        await asyncio.sleep(0.1)
        assert len(failures) == count


# ============================================================ what remotes send


async def test_a_reset_mid_line_drops_the_partial_line(start: Start) -> None:
    """The remote resets with half a line sent: Disconnect fires, the half line is
    never delivered, and the next link starts clean."""
    service = await start()
    seen = Seen(service)
    async with RawRemote() as remote:
        link = await service.connect(remote.url(), reconnect=FAST)
        peer = await remote.next_peer()
        peer.send(b"whole\r\nhalf a li")
        await until(lambda: seen.lines == ["whole"])
        peer.reset()
        await until(lambda: seen.kinds() == ["Connect", "Disconnect"])
        peer = await remote.next_peer()
        await until(lambda: link.connected)
        peer.send(b"ne\r\nnext\r\n")
        await until(lambda: len(seen.lines) == 3)
        assert seen.lines == ["whole", "ne", "next"]


async def test_a_telnet_prompt_is_a_line_at_its_ga(start: Start) -> None:
    """A telnet server's prompt (no line end, then IAC GA or IAC EOR) arrives at once."""
    service = await start()
    seen = Seen(service)
    async with RawRemote(greeting=b"Name: " + bytes((IAC, GA))) as remote:
        link = await service.connect(remote.url("telnet"))
        await until(lambda: seen.lines == ["Name: "])
        peer = await remote.next_peer()
        peer.send(b"HP 10> " + bytes((IAC, EOR)) + b"A troll arrives.\r\n")
        await until(lambda: len(seen.lines) == 3)
        assert seen.lines == ["Name: ", "HP 10> ", "A troll arrives."]
        assert link.connected


async def test_a_prompt_without_a_mark_waits_for_the_next_line_end(start: Start) -> None:
    """tcp (or telnet without GA): a prompt is the start of the next line."""
    service = await start()
    seen = Seen(service)
    async with RawRemote(greeting=b"Name: ") as remote:
        await service.connect(remote.url())
        peer = await remote.next_peer()
        await asyncio.sleep(0.05)
        assert seen.lines == []
        peer.send(b"\r\n")
        await until(lambda: seen.lines == ["Name: "])


async def test_telnet_outward_is_a_polite_client_of_a_hubbub_server(start: Start) -> None:
    """A hubbub telnet listener learns 80x24 and terminal "hubbub" from the link."""
    target = hubbub.Service(listen=["telnet://127.0.0.1:0"])
    facts: list[tuple[str, object]] = []
    target.listen(events.WindowSize, lambda e: facts.append(("size", (e.width, e.height))))
    target.listen(events.TerminalType, lambda e: facts.append(("terminal", e.terminal)))
    target.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(target)
    service = await start()
    link = await service.connect(url_of(target))
    await until(lambda: len(facts) == 2)
    assert sorted(facts) == [("size", (80, 24)), ("terminal", "hubbub")]
    reader = asyncio.ensure_future(link.read())
    link.write("héllo")
    assert await asyncio.wait_for(reader, 5) == "echo: héllo"


async def test_a_flooding_remote_is_held_to_the_fairness_rule(start: Start) -> None:
    """A remote sending many lines at once does not hold up the service's own clients:
    a local client is answered while the flood is being worked through, and every
    flooded line still arrives, in order."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    flood: list[str] = []
    at_reply: list[int] = []

    @service.listen(events.Receive)
    def receive(event: events.Receive) -> None:
        if event.server.outbound:
            flood.append(event.data)
        else:
            at_reply.append(len(flood))
            event.client.write("pong")

    await start(service)
    total = 30_000
    async with RawRemote() as remote:
        await service.connect(remote.url())
        peer = await remote.next_peer()
        local = await connect(service)
        await until(lambda: len(service.clients) == 1)
        peer.send(b"".join(b"%d\r\n" % i for i in range(total)))
        await until(lambda: flood)
        await local.send("ping")
        assert await local.read_line() == "pong"
        assert at_reply[0] < total
        await until(lambda: len(flood) == total, timeout=10)
        assert flood == [str(i) for i in range(total)]
        await local.close()


async def test_a_remote_that_does_not_read_is_cut_off_without_a_notice(start: Start) -> None:
    """The output limit holds for links: a remote that takes nothing is cut off
    (Disconnect), and is sent no notice text (a server would take it for a command)."""
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"], max_output_buffer=16384))
    seen = Seen(service)
    async with RawRemote() as remote:
        link = await service.connect(remote.url())
        peer = await remote.next_peer()
        chunk = "x" * 8191
        while link.connected:
            link.write(chunk)
            await asyncio.sleep(0)
        await until(lambda: seen.kinds() == ["Connect", "Disconnect"])
        received = await peer.read_to_end(timeout=10)
        assert b"Disconnected" not in received
        assert link not in service.outbound


async def test_an_over_long_line_from_a_remote_is_logged_not_answered(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    service = await start(hubbub.Service(listen=["tcp://127.0.0.1:0"], max_line_length=100))
    seen = Seen(service)
    async with RawRemote() as remote:
        link = await service.connect(remote.url())
        peer = await remote.next_peer()
        peer.send(b"y" * 500 + b"\r\nshort\r\n")
        await until(lambda: seen.lines == ["short"])
        assert records(caplog, logging.WARNING, "over 100 bytes")
        link.write("mine")
        assert await peer.read_until(b"\n") == b"mine\r\n"  # and nothing before it
        assert link.connected


async def test_address_rules_screen_inbound_peers_only(start: Start) -> None:
    """deny and the per-IP rules are for peers that come in: a link the service opens
    to a denied address, many times over, is not screened, while an inbound peer from
    the same address is refused."""
    service = await start(
        hubbub.Service(listen=["tcp://127.0.0.1:0"], deny=["127.0.0.0/8"], max_connections_per_ip=1)
    )
    async with RawRemote() as remote:
        links = [await service.connect(remote.url()) for _ in range(3)]
        assert len(service.outbound) == 3
        peer = await remote.next_peer()
        peer.send(b"from afar\r\n")
        inbound = await connect(service)
        assert await inbound.read_line() == DENIED
        assert await inbound.closed()
        assert all(link.connected for link in links)
