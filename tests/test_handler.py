"""The ``Handler`` base class: ``handler_*`` methods in name order, plain, generator or async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from typing import Any

import pytest

import hubbub
from hubbub import events

from .conftest import Start, connect, until


class Custom(events.Event):
    """Something custom happened."""


def tcp_service() -> hubbub.Service:
    return hubbub.Service(listen=["tcp://127.0.0.1:0"])


def errors_from(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.levelno == logging.ERROR and text in r.getMessage()
    ]


# --- plain methods ------------------------------------------------------------------


class Steps(hubbub.Handler):
    def handler_20_second(self, event: events.Event) -> None:
        event.log.append(("second", self.event is event))

    def handler_10_first(self, event: events.Event) -> None:
        event.log.append(("first", self.event is event))

    def handler_30_third(self, event: events.Event) -> None:
        event.log.append(("third", len(self.get_handlers())))

    def not_a_step(self, event: events.Event) -> None:
        event.log.append(("never", None))


def test_handler_class_runs_methods_in_name_order() -> None:
    """Methods run sorted by name (not definition order); other methods never run."""
    service = hubbub.Service()
    service.listen(Custom, Steps)
    event = service.trigger(Custom(log=[]))
    assert event.log == [("first", True), ("second", True), ("third", 3)]


def test_handler_class_gets_a_fresh_instance_per_event() -> None:
    """State on ``self`` is never shared between two events."""
    service = hubbub.Service()

    class Counter(hubbub.Handler):
        count = 0

        def handler_a(self, event: events.Event) -> None:
            self.count += 1
            event.count = self.count

    service.listen(Custom, Counter)
    first = service.trigger(Custom())
    second = service.trigger(Custom())
    assert first.count == 1 and second.count == 1


def test_handler_queue_can_be_edited_and_stop_respected() -> None:
    """Removing a method from ``self.handlers`` skips it; ``event.stop()`` ends everything."""
    service = hubbub.Service()

    class Flow(hubbub.Handler):
        def handler_1(self, event: events.Event) -> None:
            event.log.append(1)
            self.handlers = [h for h in self.handlers if h.__name__ != "handler_2"]

        def handler_2(self, event: events.Event) -> None:
            event.log.append(2)

        def handler_3(self, event: events.Event) -> None:
            event.log.append(3)
            event.stop()

        def handler_4(self, event: events.Event) -> None:
            event.log.append(4)

    service.listen(Custom, Flow)
    service.listen(Custom, lambda e: e.log.append("later"))
    assert service.trigger(Custom(log=[])).log == [1, 3]


def test_handler_method_exception_ends_only_that_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A raising method skips the rest of its Handler, is logged, and later handlers run."""
    service = hubbub.Service()

    class Broken(hubbub.Handler):
        def handler_1(self, event: events.Event) -> None:
            event.log.append(1)
            raise KeyError("nope")

        def handler_2(self, event: events.Event) -> None:
            event.log.append(2)

    service.listen(Custom, Broken)
    service.listen(Custom, lambda e: e.log.append("later"))
    assert service.trigger(Custom(log=[])).log == [1, "later"]
    records = errors_from(caplog, "Broken")
    assert len(records) == 1
    assert records[0].exc_info is not None and isinstance(records[0].exc_info[1], KeyError)


def test_handler_class_loop_reset_with_get_handlers() -> None:
    """``self.handlers = self.get_handlers()`` runs the methods again."""
    service = hubbub.Service()

    class Loop(hubbub.Handler):
        def handler_a(self, event: events.Event) -> None:
            event.count += 1
            if event.count < 3:
                self.handlers = self.get_handlers()

    service.listen(Custom, Loop)
    assert service.trigger(Custom(count=0)).count == 3


def test_async_method_added_to_a_plain_handler_is_refused_clearly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A coroutine put into ``self.handlers`` of a Handler without async methods would
    never run; it is an error naming the class, not a silently dropped coroutine."""
    service = hubbub.Service()
    ran: list[str] = []

    async def sneaky(event: events.Event) -> None:
        ran.append("sneaky")

    class Plain(hubbub.Handler):
        def handler_1(self, event: events.Event) -> None:
            self.handlers.append(sneaky)

        def handler_2(self, event: events.Event) -> None:
            ran.append("two")

    service.listen(Custom, Plain)
    service.listen(Custom, lambda e: ran.append("later"))
    service.trigger(Custom())
    assert ran == ["two", "later"]
    records = errors_from(caplog, "Plain")
    assert len(records) == 1
    error = records[0].exc_info[1] if records[0].exc_info else None
    assert isinstance(error, TypeError) and "define it on the class" in str(error)


# --- async methods ----------------------------------------------------------------


async def test_async_methods_run_and_the_chain_waits_for_them() -> None:
    """``async def handler_*`` methods are awaited in order; the next bound handler
    runs only after the Handler has finished."""
    service = hubbub.Service()

    class Slow(hubbub.Handler):
        async def handler_1(self, event: events.Event) -> None:
            await asyncio.sleep(0.01)
            event.log.append("one")

        async def handler_2(self, event: events.Event) -> None:
            await asyncio.sleep(0)
            event.log.append("two")

    service.listen(Custom, Slow)
    service.listen(Custom, lambda e: e.log.append("later"))
    event = service.trigger(Custom(log=[]))
    assert event.log == []  # suspended: nothing of the async Handler ran inline
    assert event.pending
    assert await asyncio.wait_for(event, 5) is event
    assert event.log == ["one", "two", "later"]
    assert not event.pending


async def test_mixed_plain_generator_and_async_methods_in_name_order(start: Start) -> None:
    """In a Handler with an async method, plain methods run, generator methods get each
    line through ``yield``, async ones may ``await client.read()``; all in name order."""
    service = tcp_service()
    order: list[str] = []
    received: list[str] = []

    class Login(hubbub.Handler):
        def handler_10_ask(self, event: events.Connect) -> None:
            order.append("ask")
            event.client.write("Name: ", newline=False)

        def handler_20_name(self, event: events.Connect) -> Generator[None, Any, None]:
            order.append("name")
            self.name = yield
            event.client.write("Colour: ", newline=False)
            self.colour = yield

        async def handler_30_password(self, event: events.Connect) -> None:
            order.append("password")
            await asyncio.sleep(0.01)
            event.client.write("Password: ", newline=False)
            self.password = await event.client.read()

        def handler_40_done(self, event: events.Connect) -> None:
            order.append("done")
            event.client.write(f"{self.name}/{self.colour}/{len(self.password)}")

    service.listen(events.Connect, Login)
    service.listen(events.Receive, lambda e: received.append(e.data))
    await start(service)
    client = await connect(service)
    await client.expect("Name: ")
    await client.send("ann")
    await client.expect("Colour: ")
    await client.send("blue")
    await client.expect("Password: ")
    await client.send("secret")
    assert await client.read_line() == "ann/blue/6"
    assert order == ["ask", "name", "password", "done"]
    await client.send("chat")
    await until(lambda: received)
    assert received == ["chat"]  # the answers were taken by the Handler, not Receive
    await client.close()


async def test_exception_in_async_method_ends_that_handler_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An async method that raises skips its Handler's later methods; the error is
    logged with its traceback; the next bound handler still runs."""
    service = hubbub.Service()

    class Broken(hubbub.Handler):
        async def handler_1(self, event: events.Event) -> None:
            event.log.append(1)
            await asyncio.sleep(0)
            raise ValueError("async boom")

        def handler_2(self, event: events.Event) -> None:
            event.log.append(2)

    service.listen(Custom, Broken)
    service.listen(Custom, lambda e: e.log.append("later"))
    event = await asyncio.wait_for(service.trigger(Custom(log=[])), 5)
    assert event.log == [1, "later"]
    records = errors_from(caplog, "Broken")
    assert len(records) == 1
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "async boom"


async def test_stop_is_respected_between_async_methods() -> None:
    """``event.stop()`` in an async method ends the Handler and the rest of the chain."""
    service = hubbub.Service()

    class Stopper(hubbub.Handler):
        async def handler_1(self, event: events.Event) -> None:
            await asyncio.sleep(0)
            event.log.append(1)
            event.stop()

        async def handler_2(self, event: events.Event) -> None:
            event.log.append(2)

    service.listen(Custom, Stopper)
    service.listen(Custom, lambda e: e.log.append("later"))
    event = await asyncio.wait_for(service.trigger(Custom(log=[])), 5)
    assert event.log == [1]
    assert event.stopped


async def test_async_handler_keeps_per_client_order(start: Start) -> None:
    """While an async Handler works on one line, the client's next line waits its
    turn (no second Receive runs alongside); another client is not held up."""
    service = tcp_service()
    gate = asyncio.Event()
    handled: list[tuple[int, str]] = []

    class Work(hubbub.Handler):
        async def handler_1(self, event: events.Receive) -> None:
            handled.append((event.client.address[1], "start " + event.data))
            if event.data == "slow":
                await gate.wait()

        def handler_2(self, event: events.Receive) -> None:
            handled.append((event.client.address[1], "end " + event.data))
            event.client.write(f"done {event.data}")

    service.listen(events.Receive, Work)
    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.send_raw(b"slow\r\nnext\r\n")
    await until(lambda: handled)
    await b.send("other")
    assert await b.read_line() == "done other"  # b is not held up by a's slow line
    a_port = a.writer.get_extra_info("sockname")[1]
    assert [text for port, text in handled if port == a_port] == ["start slow"]
    gate.set()
    assert await a.read_line() == "done slow"
    assert await a.read_line() == "done next"
    assert [text for port, text in handled if port == a_port] == [
        "start slow", "end slow", "start next", "end next",
    ]
    await a.close()
    await b.close()


async def test_generator_method_of_async_handler_ends_on_disconnect(start: Start) -> None:
    """A generator method waiting for input in an async Handler is closed when its
    client goes away; the Handler's later methods are skipped; Disconnect still runs."""
    service = tcp_service()
    outcomes: list[str] = []

    class Prompt(hubbub.Handler):
        async def handler_1(self, event: events.Connect) -> None:
            await asyncio.sleep(0)

        def handler_2(self, event: events.Connect) -> Generator[None, Any, None]:
            try:
                outcomes.append("waiting")
                yield
                outcomes.append("got a line")
            finally:
                outcomes.append("closed")

        def handler_3(self, event: events.Connect) -> None:
            outcomes.append("never")

    service.listen(events.Connect, Prompt)
    service.listen(events.Disconnect, lambda e: outcomes.append("Disconnect"))
    await start(service)
    client = await connect(service)
    await until(lambda: "waiting" in outcomes)
    await client.close()
    await until(lambda: "Disconnect" in outcomes)
    assert outcomes == ["waiting", "closed", "Disconnect"]
