"""Helpers for testing hubbub services over real sockets.

Two ways in:

* :func:`serve` runs a service in a background thread on free ports, for
  plain synchronous tests; :class:`TestClient` talks to it with a blocking
  socket.
* :func:`serving` and :class:`AsyncTestClient` do the same inside a running
  event loop, for ``async def`` tests.

Both clients strip telnet negotiation from what they receive (it is answered
by nobody, as a dumb client would) and read text as UTF-8::

    from hubbub.testing import serve

    def test_greeting():
        with serve(service) as running:
            client = running.connect()
            client.expect("Please enter your name: ")
            client.send("alice")
            assert client.read_line() == "Welcome, alice"

The pytest plugin (installed with hubbub) offers the same as the
``hubbub_serve`` fixture, which stops every service it started.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .protocols.telnet import OptionSet, TelnetProtocol
from .service import Service

__all__ = [
    "AsyncTestClient",
    "RunningService",
    "TestClient",
    "local_urls",
    "serve",
    "serving",
]

T = TypeVar("T")
DEFAULT_TIMEOUT = 5.0


def _listen_locally(service: Service, listen: Sequence[str] | None) -> None:
    urls = list(listen) if listen is not None else local_urls(service.settings.listen)
    # The strongest source, so neither a config file nor HUBBUB_LISTEN moves it.
    service.settings.update("cli", {"listen": urls}, origin="hubbub.testing")


def local_urls(urls: Sequence[str]) -> list[str]:
    """The same listeners on 127.0.0.1 with free ports, keeping scheme and options."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() == "unix":
            out.append(url)  # a socket path: already local
            continue
        out.append(urlunsplit((parts.scheme, "127.0.0.1:0", parts.path, parts.query, "")))
    return out


class _Transcript:
    """What a test client has received: telnet stripped, decoded, searchable."""

    def __init__(self, telnet: bool, encoding: str) -> None:
        # A client that supports no option: it strips negotiation and answers none.
        self.telnet = TelnetProtocol(OptionSet(())) if telnet else None
        self.decoder = codecs.getincrementaldecoder(encoding)("replace")
        self.text = ""
        self.eof = False

    def add(self, data: bytes) -> None:
        if self.telnet is not None:
            data = self.telnet.receive_data(data)
            self.telnet.data_to_send()
            self.telnet.events_received()
        self.text += self.decoder.decode(data)

    def take_until(self, marker: str) -> str | None:
        index = self.text.find(marker)
        if index < 0:
            return None
        end = index + len(marker)
        found, self.text = self.text[:end], self.text[end:]
        return found

    def take_line(self) -> str | None:
        found = self.take_until("\n")
        return None if found is None else found.rstrip("\r\n")

    def missing(self, what: str) -> AssertionError:
        state = "connection closed" if self.eof else "timed out"
        return AssertionError(f"{state} waiting for {what}; received so far: {self.text!r}")


class TestClient:
    """A blocking test client over a real socket."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        address: tuple[Any, ...] | str,
        *,
        telnet: bool = False,
        encoding: str = "utf-8",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.timeout = timeout
        self.encoding = encoding
        if isinstance(address, str):  # a unix:// listener's socket path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(address)
        else:
            self.sock = socket.create_connection(address[:2], timeout=timeout)
        self._received = _Transcript(telnet, encoding)

    def send(self, line: str, newline: str = "\r\n") -> None:
        """Send one line of text."""
        self.sock.sendall((line + newline).encode(self.encoding))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self._received.eof:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return False
        except OSError:
            data = b""
        if not data:
            self._received.eof = True
            return False
        self._received.add(data)
        return True

    def _wait(self, take: Callable[[], str | None], what: str, timeout: float | None) -> str:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            found = take()
            if found is not None:
                return found
            if not self._fill(deadline):
                raise self._received.missing(what)

    def expect(self, text: str, timeout: float | None = None) -> str:
        """Wait for ``text``; return everything received up to and including it."""
        return self._wait(lambda: self._received.take_until(text), repr(text), timeout)

    def read_line(self, timeout: float | None = None) -> str:
        """The next complete line, without its line ending."""
        return self._wait(self._received.take_line, "a line", timeout)

    def closed(self, timeout: float | None = None) -> bool:
        """Wait for the server to close the connection; True if it did in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._received.eof:
            if not self._fill(deadline) and not self._received.eof:
                return False
        return True

    @property
    def pending(self) -> str:
        """Text received but not yet taken by expect/read_line."""
        return self._received.text

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> TestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncTestClient:
    """An asyncio test client over a real socket."""

    __test__ = False

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        telnet: bool = False,
        encoding: str = "utf-8",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.encoding = encoding
        self.timeout = timeout
        self._received = _Transcript(telnet, encoding)

    @classmethod
    async def connect(
        cls, address: tuple[Any, ...] | str, *, telnet: bool = False, **kwargs: Any
    ) -> AsyncTestClient:
        """Connect to (host, port), or to a unix:// listener's socket path."""
        if isinstance(address, str):
            reader, writer = await asyncio.open_unix_connection(address, limit=1 << 24)
        else:
            reader, writer = await asyncio.open_connection(*address[:2], limit=1 << 24)
        return cls(reader, writer, telnet=telnet, **kwargs)

    async def send(self, line: str, newline: str = "\r\n") -> None:
        self.writer.write((line + newline).encode(self.encoding))
        await self.writer.drain()

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def _wait(self, take: Callable[[], str | None], what: str, timeout: float | None) -> str:
        deadline = asyncio.get_running_loop().time() + (
            self.timeout if timeout is None else timeout
        )
        while True:
            found = take()
            if found is not None:
                return found
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0 or self._received.eof:
                raise self._received.missing(what)
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except TimeoutError:
                raise self._received.missing(what) from None
            except ConnectionError:
                data = b""
            if not data:
                self._received.eof = True
            self._received.add(data)

    async def expect(self, text: str, timeout: float | None = None) -> str:
        return await self._wait(lambda: self._received.take_until(text), repr(text), timeout)

    async def read_line(self, timeout: float | None = None) -> str:
        return await self._wait(self._received.take_line, "a line", timeout)

    async def closed(self, timeout: float | None = None) -> bool:
        try:
            await self._wait(lambda: None, "close", timeout)
        except AssertionError:
            return self._received.eof
        return True  # pragma: no cover - _wait never returns for a None taker

    @property
    def pending(self) -> str:
        return self._received.text

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class RunningService:
    """A service running in a background thread (see :func:`serve`)."""

    def __init__(self, service: Service, listen: Sequence[str] | None = None) -> None:
        self.service = service
        _listen_locally(service, listen)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="hubbub-test", daemon=True)

    def _main(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            try:
                await self.service.start()
            except BaseException as exc:
                self._error = exc
                self._ready.set()
                return
            self._ready.set()
            await self.service.wait_stopped()

        # The same event loop run() would use (the service's loop setting).
        with asyncio.Runner(loop_factory=self.service.loop_factory()) as runner:
            runner.run(main())

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> RunningService:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("service did not start in time")
        if self._error is not None:
            raise self._error
        return self

    @property
    def address(self) -> tuple[Any, ...] | str:
        """The first listener's bound (host, port), or its socket path."""
        address = self.service.servers[0].address
        assert address is not None
        return address

    def connect(self, server: int = 0, **kwargs: Any) -> TestClient:
        """A :class:`TestClient` on one of the listeners (telnet is detected)."""
        srv = self.service.servers[server]
        assert srv.address is not None
        kwargs.setdefault("telnet", srv.endpoint.scheme == "telnet")
        return TestClient(srv.address, **kwargs)

    def call(self, func: Callable[..., T | Awaitable[T]], *args: Any) -> T:
        """Run ``func(*args)`` on the service's loop (awaiting it if async); return its result."""
        assert self.loop is not None

        async def run() -> T:
            result = func(*args)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                return await result  # type: ignore[no-any-return]
            return result  # type: ignore[return-value]

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(DEFAULT_TIMEOUT * 2)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT) -> None:
        """Poll ``predicate`` on the service's loop until it holds."""
        deadline = time.monotonic() + timeout
        while not self.call(predicate):
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            time.sleep(0.01)

    def stop(self, timeout: float = DEFAULT_TIMEOUT * 3) -> None:
        if self.loop is not None and self._thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop)
            fut.result(timeout)
        self._thread.join(timeout)


@contextlib.contextmanager
def serve(service: Service, listen: Sequence[str] | None = None) -> Iterator[RunningService]:
    """Run ``service`` in a background thread for the ``with`` block.

    Its listeners move to 127.0.0.1 on free ports unless ``listen`` is given.
    """
    running = RunningService(service, listen).start()
    try:
        yield running
    finally:
        running.stop()


@contextlib.asynccontextmanager
async def serving(service: Service, listen: Sequence[str] | None = None) -> AsyncIterator[Service]:
    """Start ``service`` in the running loop for the ``async with`` block."""
    _listen_locally(service, listen)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
