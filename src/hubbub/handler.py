"""The ``Handler`` base class: a compound handler built from ``handler_*`` methods.

A ``Handler`` subclass is bound like a function. Each event gets a fresh
instance, so state kept on ``self`` is never shared between two clients. Its
methods run as one generator, which is what lets any of them ``yield`` for
input without the dispatcher knowing about classes at all.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Generator
from types import CoroutineType, GeneratorType
from typing import Any, ClassVar

from .errors import Disconnected
from .events import Event

__all__ = ["Handler"]

HandlerMethod = Callable[[Event], Any]


class Handler:
    """Compound event handler: runs its ``handler_*`` methods in name order.

    Name methods ``handler_10_name``, ``handler_20_password``… when order
    matters. Edit ``self.handlers`` (the queue of methods still to run) to
    change the flow; :meth:`get_handlers` gives the full list again.
    """

    _method_names: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, event: Event) -> None:
        self.event = event
        self.handlers: list[HandlerMethod] = self.get_handlers()

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        names = cls.__dict__.get("_method_names")
        if names is None:
            names = tuple(
                sorted(
                    name
                    for name in dir(cls)
                    if name.startswith("handler_") and callable(getattr(cls, name))
                )
            )
            cls._method_names = names
        return names

    def get_handlers(self) -> list[HandlerMethod]:
        """Every ``handler_*`` method, bound, in alphanumeric order."""
        return [getattr(self, name) for name in self._names()]

    @classmethod
    def is_async(cls) -> bool:
        """True when any ``handler_*`` method is ``async def`` (see :meth:`run_async`)."""
        return any(inspect.iscoroutinefunction(getattr(cls, name)) for name in cls._names())

    @classmethod
    def run(cls, event: Event) -> Generator[Any, Any, None]:
        """Run a fresh instance's methods for ``event``, as one generator.

        An exception ends this handler (the dispatcher logs it and moves on to
        the next bound handler), as a failing plain function would.
        """
        self = cls(event)
        while self.handlers and not event.stopped:
            result = self.handlers.pop(0)(event)
            if type(result) is GeneratorType:
                yield from result
            elif type(result) is CoroutineType:
                result.close()
                raise TypeError(
                    f"{cls.__qualname__}: an async method was added to self.handlers of a "
                    "Handler with no async def handler_* methods; define it on the class"
                )

    @classmethod
    async def run_async(cls, event: Event) -> None:
        """Run a fresh instance's methods for ``event``, as one coroutine.

        Used when the class has ``async def`` methods. Generator methods still
        take input with ``yield``: each line is read with ``client.read()``.
        """
        self = cls(event)
        while self.handlers and not event.stopped:
            result = self.handlers.pop(0)(event)
            if type(result) is GeneratorType:
                await _drive_generator(result, event)
            elif inspect.isawaitable(result):
                await result


async def _drive_generator(gen: Generator[Any, Any, Any], event: Event) -> None:
    """Run a generator method, giving each ``yield`` the client's next line."""
    try:
        next(gen)
    except StopIteration:
        return
    client = getattr(event, "client", None)
    if client is None:
        gen.close()
        raise TypeError(f"a handler yielded for input, but {event} has no client to read from")
    while True:
        try:
            line = await client.read()
        except Disconnected:
            gen.close()
            raise
        try:
            gen.send(line)
        except StopIteration:
            return
