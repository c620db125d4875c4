"""Dispatch semantics: ordering, stop, inheritance, handler kinds, filters, failing handlers."""

from __future__ import annotations

import asyncio
import logging

import pytest

import hubbub
from hubbub import events
from hubbub.endpoints import parse_url
from hubbub.server import Server

from .conftest import Start, connect, until


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


# --- filters --------------------------------------------------------------------------


def test_filter_typo_on_hubbub_event_is_refused_at_listen() -> None:
    """``sever=`` for ``server=`` on a hubbub event is a TypeError at listen() naming
    the bad key and the attributes there are, and nothing is bound."""
    service = hubbub.Service()
    seen: list[str] = []

    def handler(event: events.Receive) -> None:
        seen.append(event.data)

    with pytest.raises(TypeError) as info:
        service.listen(events.Receive, handler, sever="x")
    message = str(info.value)
    assert "'sever'" in message
    assert "Receive" in message and "handler" in message
    for known in ("client", "data", "server"):
        assert known in message
    service.trigger(events.Receive(client=None, server="x", data="hi"))
    assert seen == []  # the refused binding was not made


def test_filter_typo_in_decorator_form_is_refused_too() -> None:
    """The decorator form checks the filters as well (when the function is bound)."""
    service = hubbub.Service()
    with pytest.raises(TypeError, match="'width'"):

        @service.listen(events.Connect, width=80)
        def connect(event: events.Connect) -> None:
            pass


def test_filters_on_inherited_fields_of_hubbub_events_are_accepted() -> None:
    """Fields of a base count: ``WindowSize`` filters on ``client`` (from ``Telnet``)."""
    service = hubbub.Service()
    seen: list[int] = []
    service.listen(events.WindowSize, lambda e: seen.append(e.width), client="c1", width=80)
    service.trigger(events.WindowSize(client="c1", server="s", width=80, height=24))
    service.trigger(events.WindowSize(client="c1", server="s", width=100, height=24))
    service.trigger(events.WindowSize(client="c2", server="s", width=80, height=24))
    assert seen == [80]


def test_server_and_data_filters_select_events() -> None:
    """Valid filters on ``Receive`` (server by name, data by value) pick the events
    they name and no others."""
    game = Server(parse_url("tcp://127.0.0.1:0?name=game"))
    admin = Server(parse_url("tcp://127.0.0.1:0?name=admin"))
    service = hubbub.Service()
    seen: list[str] = []
    service.listen(events.Receive, lambda e: seen.append(f"game:{e.data}"), server="game")
    service.listen(events.Receive, lambda e: seen.append(f"quit:{e.server.name}"), data="/quit")
    service.listen(
        events.Receive, lambda e: seen.append("admin quit"), server="admin", data="/quit"
    )
    service.trigger(events.Receive(client=None, server=game, data="hello"))
    service.trigger(events.Receive(client=None, server=admin, data="hello"))
    service.trigger(events.Receive(client=None, server=admin, data="/quit"))
    service.trigger(events.Receive(client=None, server=game, data="/quit"))
    assert seen == [
        "game:hello",
        "quit:admin",
        "admin quit",
        "game:/quit",
        "quit:game",
    ]


def test_custom_event_missing_filtered_attribute_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A custom event class may carry anything, so an unknown filter is not refused at
    listen(); the first event that lacks it logs one WARNING naming the filter and the
    handler, however many follow; events that have it still match."""
    service = hubbub.Service()
    seen: list[str] = []

    def on_custom(event: Custom) -> None:
        seen.append(event.room)

    service.listen(Custom, on_custom, room="hall")  # no TypeError
    for _ in range(200):
        service.trigger(Custom(tag=1))
    service.trigger(Custom(room="hall"))
    service.trigger(Custom(room="cellar"))
    for _ in range(200):
        service.trigger(Custom())
    assert seen == ["hall"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "'room'" in message and "on_custom" in message and "Custom" in message


def test_missing_attribute_warning_is_per_binding(caplog: pytest.LogCaptureFixture) -> None:
    """Two handlers with the same unmatched filter each get their one warning."""
    service = hubbub.Service()

    def first(event: Custom) -> None:
        pass

    def second(event: Custom) -> None:
        pass

    service.listen(Custom, first, room="hall")
    service.listen(Custom, second, room="hall")
    for _ in range(50):
        service.trigger(Custom())
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert sum("first" in w for w in warnings) == 1
    assert sum("second" in w for w in warnings) == 1


# --- a handler that raises on every event ------------------------------------------------


async def test_handler_raising_on_every_event_is_logged_at_a_bounded_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """1,000 lines, each making a handler raise: the log gets a few ERROR records (the
    first ones with their traceback), not 1,000; every line still reaches the handler
    bound after it, and the service keeps answering."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], max_lines_per_second=0)
    after: list[str] = []

    def broken(event: events.Receive) -> None:
        raise RuntimeError(f"bad line {event.data}")

    def counter(event: events.Receive) -> None:
        after.append(event.data)
        if event.data == "ping":
            event.client.write("pong")

    service.listen(events.Receive, broken)
    service.listen(events.Receive, counter)
    await service.start()
    try:
        client = await connect(service)
        await client.send_raw(b"".join(b"line %d\r\n" % i for i in range(1000)))
        await until(lambda: len(after) == 1000)
        await client.send("ping")
        assert await client.read_line() == "pong"
        errors = [
            r for r in caplog.records if r.levelno == logging.ERROR and "broken" in r.getMessage()
        ]
        assert 1 <= len(errors) <= 5
        assert all(r.exc_info is not None for r in errors[:2])
        first = errors[0]
        assert first.exc_info is not None and "bad line line 0" in str(first.exc_info[1])
        assert "line 0" in first.getMessage()
        assert any("counted" in r.getMessage() for r in errors)
        assert len(service.clients) == 1
        await client.close()
    finally:
        await service.stop()


# --- handlers that misbehave, over real sockets ----------------------------------


async def test_raising_handler_leaves_connection_and_others_alone(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that raises is logged with the client named; later handlers still run,
    and the connection and the other clients go on."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])

    @service.listen(events.Receive)
    def fragile(event: events.Receive) -> None:
        if event.data == "crash":
            raise ZeroDivisionError("handler bug")

    service.listen(events.Receive, lambda e: e.client.write(f"echo: {e.data}"))
    await start(service)
    a = await connect(service)
    b = await connect(service)
    await a.send("crash")
    assert await a.read_line() == "echo: crash"  # later handlers still ran
    await b.send("ok")
    assert await b.read_line() == "echo: ok"
    await a.send("again")
    assert await a.read_line() == "echo: again"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "fragile" in errors[0].getMessage()
    assert "Client" in errors[0].getMessage()  # names the client
    await a.close()
    await b.close()


async def test_handler_that_never_returns_holds_only_its_client(start: Start) -> None:
    """A handler stuck forever holds its own client's later input, nobody else's, and
    does not hold back that client's Disconnect."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    disconnects: list[hubbub.Client] = []

    @service.listen(events.Receive)
    async def hang(event: events.Receive) -> None:
        if event.data == "hang":
            await asyncio.Event().wait()
        event.client.write(f"echo: {event.data}")

    service.listen(events.Disconnect, lambda e: disconnects.append(e.client))
    await start(service)
    stuck = await connect(service)
    free = await connect(service)
    await stuck.send("hang")
    await stuck.send("queued")
    for i in range(3):
        await free.send(str(i))
        assert await free.read_line() == f"echo: {i}"
    with pytest.raises(AssertionError, match="timed out"):
        await stuck.read_line(timeout=0.05)  # "queued" waits behind the stuck handler
    await stuck.close()  # Disconnect is not held back by the hung handler
    await until(lambda: len(disconnects) == 1)
    assert len(service.clients) == 1
    await free.close()


async def test_disconnect_mid_prompt(start: Start) -> None:
    """A client leaving while a generator waits at a prompt, or while an async handler
    awaits read(): the generator is closed, read() raises Disconnected, the rest of the
    chain is skipped, then Disconnect runs with the client already unlisted."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    log: list[str] = []

    @service.listen(events.Connect)
    def prompt(event: events.Connect):  # type: ignore[no-untyped-def]
        event.client.write("Name: ", newline=False)
        try:
            yield
            log.append("answered")
        except GeneratorExit:
            log.append("closed")
            raise

    service.listen(events.Connect, lambda e: log.append("rest of chain"))

    @service.listen(events.Receive)
    async def reader(event: events.Receive) -> None:
        try:
            await event.client.read()
        except hubbub.Disconnected:
            log.append("read raised Disconnected")

    service.listen(
        events.Disconnect, lambda e: log.append(f"disconnect {e.client in service.clients}")
    )
    await start(service)
    first = await connect(service)
    await first.expect("Name: ")
    await first.close()
    await until(lambda: any(x.startswith("disconnect") for x in log))
    assert log == ["closed", "disconnect False"]
    log.clear()
    second = await connect(service)
    await second.expect("Name: ")
    await second.send("x")  # answers the prompt
    await second.send("start reading")
    await until(lambda: len(log) >= 2)
    await second.close()
    await until(lambda: len(log) >= 4)
    assert log == ["answered", "rest of chain", "read raised Disconnected", "disconnect False"]
    assert len(service.clients) == 0


# ============================================================ HandlerError


async def test_a_raising_handler_fires_handler_error(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    """After the traceback is logged, HandlerError carries the event, the handler and
    the exception; the client's other handlers and later lines carry on."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    errors: list[events.HandlerError] = []

    def broken(event: events.Receive) -> None:
        if event.data == "boom":
            raise ValueError("bad input: boom")

    service.listen(events.Receive, broken)
    service.listen(events.Receive, lambda e: e.client.write(f"ok {e.data}"))
    service.listen(events.HandlerError, errors.append)
    await start(service)
    client = await connect(service)
    await client.send("boom")
    assert await client.read_line() == "ok boom"
    [error] = errors
    assert isinstance(error.event, events.Receive) and error.event.data == "boom"
    assert error.handler is broken
    assert isinstance(error.error, ValueError) and str(error.error) == "bad input: boom"
    assert any("bad input: boom" in (r.exc_text or "") for r in caplog.records)
    await client.send("fine")
    assert await client.read_line() == "ok fine"
    assert len(errors) == 1
    await client.close()


async def test_a_raising_handler_error_handler_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A HandlerError handler that raises is logged and sets off nothing more."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    seen: list[events.HandlerError] = []

    def first(event: events.PostStart) -> None:
        raise RuntimeError("first failure")

    def reporter(event: events.HandlerError) -> None:
        seen.append(event)
        raise RuntimeError("the reporter fails too")

    service.listen(events.PostStart, first)
    service.listen(events.HandlerError, reporter)
    await service.trigger(events.PostStart(service=service))
    await asyncio.sleep(0)
    assert len(seen) == 1 and str(seen[0].error) == "first failure"
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 2
    assert "reporter failed on A handler raised" in logged[1].getMessage()
    assert "the reporter fails too" in (logged[1].exc_text or "")
