"""The ``Handler`` base class: a compound handler built from ``handler_*`` methods.

A ``Handler`` subclass is bound like a function. Each event gets a fresh
instance, so state kept on ``self`` is never shared between two clients. Its
methods run as one generator, which is what lets any of them ``yield`` for
input without the dispatcher knowing about classes at all.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from types import GeneratorType
from typing import Any, ClassVar

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
    def run(cls, event: Event) -> Generator[Any, Any, None]:
        """Run a fresh instance's methods for ``event``.

        An exception ends this handler (the dispatcher logs it and moves on to
        the next bound handler), as a failing plain function would.
        """
        self = cls(event)
        while self.handlers and not event.stopped:
            result = self.handlers.pop(0)(event)
            if type(result) is GeneratorType:
                yield from result
