"""Dispatch semantics that need no connection: ordering, stop, inheritance, kinds."""

from __future__ import annotations

import asyncio
import logging

import pytest

import hubbub
from hubbub import events


class Custom(events.Event):
    """Something custom happened."""


class Level1(events.Event):
    pass


class Level2(Level1):
    pass


class Level3(Level2):
    pass


def test_event_attributes_stop_and_str() -> None:
    event = Custom(a=1, name="x")
    assert event.a == 1
    assert event.name == "x"
    assert not event.stopped
    event.stop()
    assert event.stopped
    text = str(event)
    assert text.startswith("Something custom happened.")
    assert "a=1" in text and "name='x'" in text
    assert "stopped" not in text


def test_taxonomy() -> None:
    for cls in (events.PreStart, events.PostStart, events.PreStop, events.PostStop,
                events.PreRestart, events.PostRestart):
        assert issubclass(cls, events.Service)
    for cls in (events.ListenStart, events.ListenStop):
        assert issubclass(cls, events.Server)
    for cls in (events.Connect, events.Receive, events.Disconnect):
        assert issubclass(cls, events.Client)
    for cls in (events.WindowSize, events.TerminalType):
        assert issubclass(cls, events.Telnet)
        assert not issubclass(cls, events.Client)
    assert str(events.Connect()) == "Client has connected."


def test_handlers_run_in_binding_order_and_trigger_returns_after_them() -> None:
    service = hubbub.Service()
    seen: list[str] = []
    service.listen(Custom, lambda e: seen.append("a"))

    @service.listen(Custom)
    def second(event: Custom) -> None:
        seen.append("b")

    service.listen(Custom, lambda e: seen.append("c"))
    result = service.trigger(Custom())
    assert seen == ["a", "b", "c"]
    assert isinstance(result, Custom)
    assert second.__name__ == "second"  # the decorator returns the function


def test_stop_skips_later_handlers() -> None:
    service = hubbub.Service()
    seen: list[str] = []
    service.listen(Custom, lambda e: seen.append("a"))
    service.listen(Custom, lambda e: (seen.append("b"), e.stop()))
    service.listen(Custom, lambda e: seen.append("c"))
    event = service.trigger(Custom())
    assert seen == ["a", "b"]
    assert event.stopped


def test_handlers_may_amend_the_event_for_later_ones() -> None:
    service = hubbub.Service()
    service.listen(Custom, lambda e: setattr(e, "value", 1))
    service.listen(Custom, lambda e: setattr(e, "value", e.value + 1))
    assert service.trigger(Custom()).value == 2


def test_base_binding_reaches_existing_and_later_subclasses_in_binding_order() -> None:
    service = hubbub.Service()
    seen: list[str] = []
    service.listen(Level3, lambda e: seen.append("sub-first"))
    service.listen(Level1, lambda e: seen.append("base"))
    service.listen(Level3, lambda e: seen.append("sub-last"))

    class Later(Level2):
        pass

    service.trigger(Level3())
    assert seen == ["sub-first", "base", "sub-last"]
    seen.clear()
    service.trigger(Later())
    assert seen == ["base"]
    seen.clear()
    service.trigger(Level1())
    assert seen == ["base"]


def test_binding_to_event_reaches_everything() -> None:
    service = hubbub.Service()
    seen: list[type] = []
    service.listen(events.Event, lambda e: seen.append(type(e)))
    service.trigger(Custom())
    service.trigger(events.PreStart(service=service))
    assert seen == [Custom, events.PreStart]


def test_multiple_bases_inherit_first_base_only_before_and_after_binding() -> None:
    service = hubbub.Service()

    class A(events.Event):
        pass

    class B(events.Event):
        pass

    class EarlyAB(A, B):
        pass

    seen: list[str] = []
    service.listen(A, lambda e: seen.append("A"))
    service.listen(B, lambda e: seen.append("B"))

    class LateAB(A, B):
        pass

    class LateBA(B, A):
        pass

    service.trigger(EarlyAB())
    assert seen == ["A"]
    seen.clear()
    service.trigger(LateAB())
    assert seen == ["A"]
    seen.clear()
    service.trigger(LateBA())
    assert seen == ["B"]


def test_same_name_in_different_scopes_are_different_events() -> None:
    service = hubbub.Service()

    def make() -> type[events.Event]:
        class Thing(events.Event):
            pass

        return Thing

    first, second = make(), make()
    assert first.__name__ == second.__name__
    seen: list[str] = []
    service.listen(first, lambda e: seen.append("first"))
    service.trigger(second())
    assert seen == []
    service.trigger(first())
    assert seen == ["first"]


def test_filters_match_event_attributes() -> None:
    service = hubbub.Service()
    seen: list[str] = []
    service.listen(Custom, lambda e: seen.append(e.room), room="hall")
    service.listen(Custom, lambda e: seen.append("any"))
    service.trigger(Custom(room="hall"))
    service.trigger(Custom(room="cellar"))
    service.trigger(Custom())
    assert seen == ["hall", "any", "any", "any"]


def test_unlisten() -> None:
    service = hubbub.Service()
    seen: list[str] = []

    def handler(event: events.Event) -> None:
        seen.append("x")

    service.listen(Level1, handler)
    service.trigger(Level3())
    service.unlisten(Level1, handler)
    service.trigger(Level3())
    assert seen == ["x"]
    with pytest.raises(ValueError, match="not bound"):
        service.unlisten(Level1, handler)


def test_listen_rejects_non_events_and_non_handlers() -> None:
    service = hubbub.Service()
    with pytest.raises(TypeError):
        service.listen(int, lambda e: None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        service.listen(Custom, 42)

    class NotAHandler:
        pass

    with pytest.raises(TypeError, match=r"not a hubbub\.Handler"):
        service.listen(Custom, NotAHandler)

    async def agen(event: events.Event):  # type: ignore[no-untyped-def]
        yield

    with pytest.raises(TypeError, match="async generator"):
        service.listen(Custom, agen)


def test_raising_handler_is_logged_and_the_rest_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = hubbub.Service()
    seen: list[str] = []

    def broken(event: events.Event) -> None:
        raise RuntimeError("boom")

    service.listen(Custom, broken)
    service.listen(Custom, lambda e: seen.append("after"))
    service.trigger(Custom(tag=7))
    assert seen == ["after"]
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1
    message = failures[0].getMessage()
    assert "broken" in message and "tag=7" in message
    assert failures[0].exc_info is not None and "boom" in str(failures[0].exc_info[1])


def test_generator_without_client_fails_clearly(caplog: pytest.LogCaptureFixture) -> None:
    service = hubbub.Service()
    seen: list[str] = []
    closed: list[bool] = []

    def wants_input(event: events.Event):  # type: ignore[no-untyped-def]
        try:
            yield
            seen.append("resumed")
        finally:
            closed.append(True)

    service.listen(Custom, wants_input)
    service.listen(Custom, lambda e: seen.append("next"))
    service.trigger(Custom())
    assert seen == ["next"]
    assert closed == [True]
    assert any("no client" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_generator_that_never_yields_runs_inline() -> None:
    service = hubbub.Service()
    seen: list[str] = []

    def gen(event: events.Event):  # type: ignore[no-untyped-def]
        seen.append("gen")
        return
        yield

    service.listen(Custom, gen)
    service.listen(Custom, lambda e: seen.append("next"))
    service.trigger(Custom())
    assert seen == ["gen", "next"]


async def test_async_handler_suspends_chain_and_trigger_is_awaitable() -> None:
    service = hubbub.Service()
    seen: list[str] = []
    gate = asyncio.Event()

    async def slow(event: events.Event) -> None:
        seen.append("slow-start")
        await gate.wait()
        seen.append("slow-end")

    service.listen(Custom, lambda e: seen.append("first"))
    service.listen(Custom, slow)
    service.listen(Custom, lambda e: seen.append("last"))
    event = service.trigger(Custom())
    assert seen == ["first"]
    waiter = asyncio.ensure_future(event)
    await asyncio.sleep(0.01)
    assert seen == ["first", "slow-start"]
    assert not waiter.done()
    gate.set()
    assert await waiter is event
    assert seen == ["first", "slow-start", "slow-end", "last"]


async def test_await_trigger_of_plain_chain_returns_event() -> None:
    service = hubbub.Service()
    service.listen(Custom, lambda e: setattr(e, "done", True))
    event = await service.trigger(Custom())
    assert event.done is True


async def test_async_handler_exception_is_logged_and_chain_continues(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = hubbub.Service()
    seen: list[str] = []

    async def broken(event: events.Event) -> None:
        await asyncio.sleep(0)
        raise ValueError("async boom")

    service.listen(Custom, broken)
    service.listen(Custom, lambda e: seen.append("after"))
    await service.trigger(Custom())
    assert seen == ["after"]
    assert any("async boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


async def test_stop_in_async_handler_is_respected() -> None:
    service = hubbub.Service()
    seen: list[str] = []

    async def stopper(event: events.Event) -> None:
        await asyncio.sleep(0)
        event.stop()

    service.listen(Custom, stopper)
    service.listen(Custom, lambda e: seen.append("never"))
    await service.trigger(Custom())
    assert seen == []


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
    service = hubbub.Service()
    service.listen(Custom, Steps)
    event = service.trigger(Custom(log=[]))
    assert event.log == [("first", True), ("second", True), ("third", 3)]


def test_handler_class_gets_a_fresh_instance_per_event() -> None:
    service = hubbub.Service()
    instances: list[int] = []

    class Counter(hubbub.Handler):
        count = 0

        def handler_a(self, event: events.Event) -> None:
            self.count += 1
            instances.append(id(self))
            event.count = self.count

    service.listen(Custom, Counter)
    first = service.trigger(Custom())
    second = service.trigger(Custom())
    assert first.count == 1 and second.count == 1


def test_handler_queue_can_be_edited_and_stop_respected() -> None:
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
    assert any("Broken" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)


def test_handler_class_loop_reset_with_get_handlers() -> None:
    service = hubbub.Service()

    class Loop(hubbub.Handler):
        def handler_a(self, event: events.Event) -> None:
            event.count += 1
            if event.count < 3:
                self.handlers = self.get_handlers()

    service.listen(Custom, Loop)
    assert service.trigger(Custom(count=0)).count == 3
