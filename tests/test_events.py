"""Events as data: readable ``str()``, declared fields, and waiting for a chain to settle."""

from __future__ import annotations

import asyncio

import hubbub
from hubbub import events


class Marked(events.Event):
    """Player ``x`` used :class:`Foo` via :meth:`~a.b` and `c`.

    More text that is not part of the title, with :func:`ignored`.
    """


class Untitled(events.Event):
    pass


class Arrived(events.Client):
    """Someone arrived in a room (room)."""

    fields = ("room",)


class Lit(Arrived):
    """The room was lit."""

    fields = ("brightness",)


# --- str() ------------------------------------------------------------------------------


def test_str_of_rest_markup_is_plain_text() -> None:
    """Log lines show the docstring's first line without reStructuredText roles or
    literals: ````x```` is x, ``:class:`Foo``` is Foo, ``:meth:`~a.b``` has no markup."""
    text = str(Marked(n=1))
    title, _, attrs = text.partition(" (")
    assert title in ("Player x used Foo via a.b and c.", "Player x used Foo via b and c.")
    for markup in ("`", ":class:", ":meth:", "~"):
        assert markup not in title
    assert attrs == "n=1)"
    assert "More text" not in text
    assert Marked.title() == title


def test_str_of_class_without_docstring_is_its_name() -> None:
    """A custom event with no docstring is shown by its class name."""
    assert str(Untitled()) == "Untitled"
    assert str(Untitled(a=1, b="two")) == "Untitled (a=1, b='two')"


def test_str_leaves_out_private_and_dispatch_state() -> None:
    """``stopped``, ``pending`` and ``_private`` attributes are not part of the text;
    what handlers added later is."""
    event = Untitled(a=1)
    event._secret = "hidden"
    event.stop()
    event.pending = True
    event.added = [1, 2]
    assert str(event) == "Untitled (a=1, added=[1, 2])"
    assert repr(event) == "<Untitled Untitled (a=1, added=[1, 2])>"


def test_str_of_hubbub_events_uses_their_titles() -> None:
    """hubbub's own events read as sentences in logs."""
    assert str(events.Disconnect()) == "Client has disconnected."
    assert str(events.Receive(data="hi")).startswith("Client has sent a line")
    assert "data='hi'" in str(events.Receive(data="hi"))
    assert "``" not in str(events.Receive(data="hi"))


# --- fields ------------------------------------------------------------------------------


def test_all_fields_of_hubbub_events() -> None:
    """``all_fields()`` joins a class's ``fields`` with every base's."""
    assert events.Event.all_fields() == frozenset()
    assert events.Connect.all_fields() == {"client", "server"}
    assert events.Receive.all_fields() == {"client", "server", "data"}
    assert events.WindowSize.all_fields() == {"client", "server", "width", "height"}
    assert events.TerminalType.all_fields() == {"client", "server", "terminal"}
    assert events.ListenStart.all_fields() == {"service", "server"}
    assert events.PostStop.all_fields() == {"service"}


def test_all_fields_of_custom_subclasses() -> None:
    """A custom subclass adds its own fields to its bases', without changing theirs."""
    assert Arrived.all_fields() == {"client", "server", "room"}
    assert Lit.all_fields() == {"client", "server", "room", "brightness"}
    assert events.Client.all_fields() == {"client", "server"}
    assert isinstance(Lit.all_fields(), frozenset)


def test_ordered_flag() -> None:
    """Only the telnet facts are handled out of turn."""
    assert events.Receive.ordered and events.Connect.ordered and Lit.ordered
    assert not events.WindowSize.ordered and not events.TerminalType.ordered


# --- pending, settle, await -------------------------------------------------------------


async def test_awaiting_an_event_that_is_not_pending_returns_it_at_once() -> None:
    """An event whose chain has finished (or never ran) is its own result."""
    event = Untitled()
    assert not event.pending
    assert await event is event


async def test_settle_wakes_every_waiter() -> None:
    """While ``pending``, awaiting waits; ``settle()`` wakes all waiters and clears it."""
    event = Untitled()
    event.pending = True
    first = asyncio.ensure_future(event)
    second = asyncio.ensure_future(event)
    await asyncio.sleep(0.01)
    assert not first.done() and not second.done()
    event.settle()
    assert not event.pending
    assert await asyncio.wait_for(first, 5) is event
    assert await asyncio.wait_for(second, 5) is event
    event.settle()  # a second settle is harmless
    assert await event is event


async def test_settle_before_anyone_waits() -> None:
    """Settling an event nobody awaited yet leaves it ready."""
    event = Untitled()
    event.pending = True
    event.settle()
    assert await asyncio.wait_for(event, 1) is event


async def test_pending_follows_a_suspended_chain() -> None:
    """The dispatcher marks an event pending while an async handler holds its chain,
    and settles it when the chain ends; awaiting it waits for that."""
    service = hubbub.Service()
    gate = asyncio.Event()
    seen: list[str] = []

    async def slow(event: Untitled) -> None:
        await gate.wait()
        seen.append("slow")

    service.listen(Untitled, slow)
    service.listen(Untitled, lambda e: seen.append("last"))
    event = service.trigger(Untitled())
    assert event.pending
    waiter = asyncio.ensure_future(event)
    await asyncio.sleep(0.01)
    assert not waiter.done() and seen == []
    gate.set()
    assert await asyncio.wait_for(waiter, 5) is event
    assert not event.pending
    assert seen == ["slow", "last"]


async def test_plain_chain_is_never_pending() -> None:
    """A chain of plain functions has finished when trigger returns."""
    service = hubbub.Service()
    service.listen(Untitled, lambda e: None)
    event = service.trigger(Untitled())
    assert not event.pending
    assert await event is event


def test_str_of_datagram_shows_the_start_of_its_data() -> None:
    """A datagram can be 64 KiB of anything; a log line shows 48 bytes and the length."""
    small = events.Datagram(server=None, address=("10.0.0.1", 5), data=b"ping")
    assert str(small) == (
        "A datagram arrived on a udp:// listener. "
        "(server=None, address=('10.0.0.1', 5), data=b'ping')"
    )
    big = events.Datagram(server=None, address=("10.0.0.1", 5), data=b"\xff" * 65507)
    assert str(big).endswith("… (65507 bytes))")
    assert len(str(big)) < 400
    assert events.Datagram.all_fields() == {"service", "server", "address", "data"}
