"""telnet:// against real client programs: TinTin++ (driven on a pseudo-terminal) and
telnetlib3's client. What each negotiated is checked on both ends.

Without ``tt++`` or ``telnetlib3`` these tests skip; ``REQUIRE_REAL_CLIENTS=1``
(CI sets it, and installs both) makes that a failure.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import shutil
import struct
import subprocess
import termios
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hubbub
from hubbub import events
from hubbub.ansi import TRUECOLOR
from hubbub.protocols import telnet as t
from hubbub.protocols.telnet.codes import OPTION_NAMES

from ..conftest import Start

TINTIN = shutil.which("tt++") or shutil.which("tt++", path="/usr/games")


def require(what: str, present: bool) -> None:
    if not present:
        if os.environ.get("REQUIRE_REAL_CLIENTS") == "1":
            pytest.fail(f"REQUIRE_REAL_CLIENTS=1 but {what} is not installed")
        pytest.skip(f"{what} is not installed")


def mud(**settings: Any) -> tuple[hubbub.Service, list[hubbub.Client], list[Any]]:
    """A service answering each line with text, a prompt, MSDP and GMCP."""
    service = hubbub.Service(listen=["telnet://127.0.0.1:0"], **settings)
    clients: list[hubbub.Client] = []
    seen: list[Any] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    service.listen(events.Data, lambda e: seen.append((e.package, e.data)))

    @service.listen(events.Receive)
    def answer(event: events.Receive) -> None:
        client = event.client
        seen.append(("line", event.data))
        client.write(f"you said {event.data} ÿé")
        client.prompt("HP 10> ")
        client.send_data("MSDP", {"HEALTH": 10})
        client.send_data("Char.Vitals", {"hp": 10})

    return service, clients, seen


def port_of(service: hubbub.Service) -> int:
    address = service.servers[0].address
    assert isinstance(address, tuple)
    return int(address[1])


# TinTin++ agrees to GMCP and MSDP only when a script asks for them; it answers
# the server's GMCP and MSDP messages through events, shown with #showme.
_DO_GMCP = r"#send {\xFF\xFD\xC9\}"
_HELLO = r'#send {\xFF\xFA\xC9Core.Hello {"client":"TinTin++","version":"2"}\xFF\xF0\}'
_DO_MSDP = r"#send {\xFF\xFD\x45\}"
_REPORT = r"#send {\xFF\xFA\x45\x01REPORT\x02HEALTH\x02MANA\xFF\xF0\}"
TINTIN_SCRIPT = "\n".join(
    [
        "#config {debug telnet} on",
        f"#event {{IAC WILL GMCP}} {{{_DO_GMCP};{_HELLO}}}",
        f"#event {{IAC WILL MSDP}} {{{_DO_MSDP};{_REPORT}}}",
        "#event {IAC SB GMCP Char.Vitals IAC SE} {#showme GOT-GMCP %0}",
        "#event {IAC SB MSDP} {#showme GOT-MSDP %0=%1}",
        "#session x 127.0.0.1 {port}",
        "#delay {1} {#send hello}",
        "#delay {3} {#end}",
    ]
)


class Terminal:
    """A program on a pseudo-terminal (TinTin++ needs one, with a window size)."""

    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.process = subprocess.Popen(
            argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=cwd,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""
        os.set_blocking(self.master, False)

    def read(self) -> None:
        try:
            while chunk := os.read(self.master, 65536):
                self.output += chunk
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(5)
        os.close(self.master)


@pytest.fixture
def tintin(tmp_path: Path) -> Iterator[Any]:
    require("TinTin++ (tt++)", TINTIN is not None)
    terminals: list[Terminal] = []

    def run(port: int) -> Terminal:
        script = tmp_path / "session.tin"
        script.write_text(TINTIN_SCRIPT.strip().replace("{port}", str(port)) + "\n")
        assert TINTIN is not None
        terminal = Terminal([TINTIN, "-G", str(script)], tmp_path)
        terminals.append(terminal)
        return terminal

    yield run
    for terminal in terminals:
        terminal.close()


async def test_tintin_negotiates_the_whole_family(start: Start, tintin: Any) -> None:
    service, clients, seen = mud()
    await start(service)
    terminal = tintin(port_of(service))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while b"GOT-GMCP" not in terminal.output or b"HP 10>" not in terminal.output:
        assert loop.time() < deadline, terminal.output[-2000:]
        await asyncio.sleep(0.05)
        terminal.read()
    shown = terminal.output.decode("utf-8", "replace")
    # the client's side: compression both ways, UTF-8, our data
    assert "MCCP2 INITIALIZED" in shown and "MCCP3 INITIALIZED" in shown
    assert "you said hello ÿé" in shown
    assert "GOT-MSDP HEALTH=10" in shown
    assert "GOT-GMCP {hp}{10}" in shown
    # ours: what TinTin++ said about itself
    [client] = clients
    assert client.terminal == "TINTIN++"
    assert client.terminal_types[1:] == ["xterm-256color", "MTTS " + str(client.mtts & 0x1FF)]
    assert client.mtts & 512  # the MNES bit, from NEW-ENVIRON's MTTS
    assert (client.colors, client.utf8, client.encoding) == (TRUECOLOR, True, "utf-8")
    assert client.environ["CLIENT_NAME"] == "TinTin++"
    assert client.environ["CHARSET"] == "UTF-8"
    proto = client.connection.telnet  # type: ignore[attr-defined]
    for option in (t.MCCP2, t.MCCP3, t.EOR_OPT, t.CHARSET, t.GMCP, t.MSDP):
        assert proto.local_enabled(option), OPTION_NAMES[option]
    assert ("line", "hello") in seen  # typed after MCCP3 began: compressed on the wire
    assert ("MSDP", {"REPORT": ["HEALTH", "MANA"]}) in seen
    assert ("Core.Hello", {"client": "TinTin++", "version": "2"}) in seen


async def telnetlib3_session(port: int) -> str:
    """telnetlib3's client: negotiate, type one line, read up to the prompt."""
    import telnetlib3  # type: ignore[import-untyped]

    reader, writer = await telnetlib3.open_connection(
        "127.0.0.1", port, term="xterm-256color", encoding="utf8", cols=100, rows=30,
        connect_minwait=0.2,
    )  # fmt: skip
    await asyncio.sleep(0.5)  # the TTYPE cycle, NEW-ENVIRON, CHARSET, MCCP
    writer.write("hello\r\n")
    out = ""
    while "HP 10>" not in out:
        out += await asyncio.wait_for(reader.read(1024), 5)
    writer.close()
    return str(out)


async def test_telnetlib3_client(start: Start) -> None:
    """(The client runs on its own asyncio loop in a thread: its MCCP3 replaces
    ``transport.write``, which uvloop's transports refuse.)"""
    try:
        import telnetlib3  # noqa: F401
    except ImportError:
        require("telnetlib3", False)
    service, clients, seen = mud()
    await start(service)
    out = await asyncio.to_thread(asyncio.run, telnetlib3_session(port_of(service)))
    assert "you said hello ÿé\r\nHP 10> " in out
    [client] = clients
    assert client.terminal == "xterm-256color" and client.colors == 256
    assert (client.width, client.height) == (100, 30)
    assert client.encoding == "utf-8"
    # NEW-ENVIRON is answered with empty values only; GMCP's Core.Hello names it
    assert client.environ["CLIENT_NAME"] == "telnetlib3"
    assert ("line", "hello") in seen  # compressed on the wire (MCCP3)
    assert any(package == "Core.Hello" for package, _ in seen)
    assert client.gmcp_supports  # Core.Supports.Set
