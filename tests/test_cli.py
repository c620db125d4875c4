"""Tests for the ``hubbub`` command, run as real subprocesses from the repository root."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubbub.testing import TestClient

from .subprocesses import Watched

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
SCRIPT = shutil.which("hubbub", path=str(BIN)) or str(BIN / "hubbub")

COMMANDS = {
    "module": [sys.executable, "-m", "hubbub"],
    "script": [SCRIPT],
}
LISTENING = re.compile(r"listening on (\S+) \((.+):(\d+)\)")
TIMEOUT = 15.0  # safety net only


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    env.update(extra)
    return env


def run_cli(kind: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMANDS[kind], *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("hubbub: "), line
    for fragment in fragments:
        assert fragment in line
    assert result.stdout == ""
    return line


class Running(Watched):
    """A server subprocess whose stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        super().__init__(args, cwd=ROOT, env=env, watch="stderr")

    def address(self) -> tuple[str, int]:
        found = self.wait_for(LISTENING.search, "listening line")
        return found.group(2), int(found.group(3))

    @property
    def stderr_text(self) -> str:
        return self.text


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[Running] = []

    def start(args: list[str], **env: str) -> Running:
        running = Running(args, clean_env(**env))
        started.append(running)
        return running

    yield start
    for running in started:
        running.kill()


@pytest.fixture
def busy_port() -> Iterator[int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# --- failures: one line on stderr, no traceback ----------------------------------------

both = pytest.mark.parametrize("kind", sorted(COMMANDS))


@both
def test_missing_file(kind: str) -> None:
    result = run_cli(kind, "run", "examples/nothing_here.py")
    assert_one_line_error(result, "hubbub: no such file: examples/nothing_here.py")


@both
def test_missing_attribute(kind: str) -> None:
    result = run_cli(kind, "run", "examples/chat.py:nope")
    assert_one_line_error(result, "examples/chat.py", "'nope'")


@both
def test_missing_default_attribute(kind: str, tmp_path: Path) -> None:
    app = tmp_path / "noservice.py"
    app.write_text("app = None\n")
    result = run_cli(kind, "run", str(app))
    assert_one_line_error(result, str(app), "'service'")


@both
def test_attribute_not_a_service(kind: str) -> None:
    result = run_cli(kind, "run", "examples/chat.py:MAX_NAME")
    assert_one_line_error(result, "examples/chat.py:MAX_NAME", "int", "not a hubbub.Service")


@both
def test_unknown_module(kind: str) -> None:
    result = run_cli(kind, "run", "no_such_hubbub_app_module")
    assert_one_line_error(result, "'no_such_hubbub_app_module'")


@both
def test_bad_listen_url(kind: str) -> None:
    result = run_cli(kind, "run", "examples/chat.py", "--listen", "ftp://x:1")
    assert_one_line_error(result, "'listen'", "ftp://x:1")


@both
def test_bad_log_level(kind: str) -> None:
    result = run_cli(kind, "run", "examples/chat.py", "--log-level", "LOUD")
    assert_one_line_error(result, "'log_level'", "LOUD")


@both
def test_port_in_use(kind: str, busy_port: int) -> None:
    url = f"telnet://127.0.0.1:{busy_port}"
    result = run_cli(kind, "run", "examples/chat.py", "--listen", url)
    assert_one_line_error(result, f"cannot listen on {url}: address already in use")


def test_port_in_use_exact_line(busy_port: int) -> None:
    url = f"telnet://127.0.0.1:{busy_port}"
    result = run_cli("module", "run", "examples/chat.py", "--listen", url)
    line = assert_one_line_error(result, url)
    assert line == f"hubbub: cannot listen on {url}: address already in use"


@both
def test_missing_config_file(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    result = run_cli(kind, "run", "examples/chat.py", "--config", str(missing))
    assert_one_line_error(result, str(missing))


def test_invalid_config_file() -> None:
    result = run_cli("module", "run", "examples/chat.py", "--config", "pyproject.toml")
    assert_one_line_error(result, "pyproject.toml", "'build-system'")


def test_bad_environment_variable() -> None:
    result = run_cli("module", "run", "examples/chat.py", HUBBUB_MAX_LINE_LENGTH="-1")
    assert_one_line_error(result, "'max_line_length'", "HUBBUB_MAX_LINE_LENGTH")


def test_missing_import_inside_app_is_not_reported_as_missing_app(tmp_path: Path) -> None:
    (tmp_path / "appmod_x.py").write_text("import appmod\n")
    result = run_cli("module", "run", "appmod_x", PYTHONPATH=str(tmp_path))
    assert result.returncode != 0
    assert "no module named 'appmod_x'" not in result.stderr
    assert "appmod" in result.stderr


# --- running -----------------------------------------------------------------------------


@both
def test_run_chat(kind: str, spawn: Any) -> None:
    server = spawn(
        [
            *COMMANDS[kind],
            "run",
            "examples/chat.py",
            "--listen",
            "telnet://127.0.0.1:0",
            "--log-level",
            "INFO",
        ]
    )
    found = server.wait_for(LISTENING.search, "listening line")
    assert found.group(1) == "telnet://127.0.0.1:0"
    host, port = found.group(2), int(found.group(3))
    assert host == "127.0.0.1"
    assert port != 0
    with TestClient((host, port), telnet=True, timeout=TIMEOUT) as client:
        client.expect("Welcome. Please enter your name: ")
        client.send("alice")
        assert client.read_line() == "Welcome, alice"
        client.send("/who")
        assert client.read_line() == "Here now (1): alice"
        assert server.stop(signal.SIGINT) == 0
        assert client.closed()
    assert "stopped" in server.stderr_text
    assert "Traceback" not in server.stderr_text


def test_python_examples_chat(spawn: Any) -> None:
    # The environment beats the code's default (telnet://127.0.0.1:9000).
    server = spawn([sys.executable, "examples/chat.py"], HUBBUB_LISTEN="telnet://127.0.0.1:0")
    address = server.address()
    with TestClient(address, telnet=True, timeout=TIMEOUT) as client:
        client.expect("Welcome. Please enter your name: ")
        client.send("bob")
        assert client.read_line() == "Welcome, bob"
        assert server.stop(signal.SIGTERM) == 0
    assert "stopped" in server.stderr_text
    assert "Traceback" not in server.stderr_text


def test_cli_listen_beats_environment(spawn: Any) -> None:
    server = spawn(
        [*COMMANDS["module"], "run", "examples/echo.py", "--listen", "tcp://127.0.0.1:0"],
        HUBBUB_LISTEN="telnet://127.0.0.1:1",
    )
    found = server.wait_for(LISTENING.search, "listening line")
    assert found.group(1) == "tcp://127.0.0.1:0"
    with TestClient((found.group(2), int(found.group(3))), timeout=TIMEOUT) as client:
        client.send("hi there")
        assert client.read_line() == "hi there"
    assert server.stop() == 0


@pytest.mark.parametrize(
    "kind",
    [
        "module",
        "script",
    ],
)
def test_module_target(kind: str, spawn: Any) -> None:
    server = spawn(
        [*COMMANDS[kind], "run", "examples.echo:service", "--listen", "tcp://127.0.0.1:0"]
    )
    address = server.address()
    with TestClient(address, timeout=TIMEOUT) as client:
        client.send("by module")
        assert client.read_line() == "by module"
    assert server.stop() == 0


@pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback here")
def test_echo_over_ipv6(spawn: Any) -> None:
    server = spawn([*COMMANDS["module"], "run", "examples/echo.py", "--listen", "tcp://[::1]:0"])
    found = server.wait_for(LISTENING.search, "listening line")
    assert found.group(1) == "tcp://[::1]:0"
    host, port = found.group(2), int(found.group(3))
    assert host == "::1"
    with TestClient((host, port), timeout=TIMEOUT) as client:
        assert client.sock.family == socket.AF_INET6
        client.send("over six")
        assert client.read_line() == "over six"
        client.send("ünïcode ✓")
        assert client.read_line() == "ünïcode ✓"
    assert server.stop(signal.SIGINT) == 0
    assert "Traceback" not in server.stderr_text


@pytest.mark.parametrize(("loop", "expected"), [("asyncio", "asyncio."), ("uvloop", "uvloop.")])
def test_loop_flag_selects_the_event_loop(spawn: Any, loop: str, expected: str) -> None:
    pytest.importorskip(loop)
    server = spawn(
        [*COMMANDS["module"], "run", "examples/echo.py", "--listen", "tcp://127.0.0.1:0",
         "--loop", loop]
    )
    with TestClient(server.address(), timeout=TIMEOUT) as client:
        client.send("loop")
        assert client.read_line() == "loop"
    assert server.stop() == 0
    found = re.search(r"event loop: (\S+)", server.stderr_text)
    assert found is not None and found.group(1).startswith(expected), server.stderr_text


# --- the command line itself -----------------------------------------------------------------


@both
def test_version(kind: str) -> None:
    """``hubbub --version`` prints the package version and exits 0."""
    result = run_cli(kind, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "hubbub 0.1.0"
    assert result.stderr == ""


@both
def test_unknown_run_option_is_reported_by_the_run_parser(kind: str) -> None:
    """An unknown flag after ``run`` is explained with the run sub-command's usage
    (which lists the options it does take), exit status 2, no traceback."""
    result = run_cli(kind, "run", "x.py", "--bogus")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: hubbub run "), result.stderr
    assert "--listen" in result.stderr
    assert lines[-1] == "hubbub run: error: unrecognized arguments: --bogus"


@both
def test_empty_listen_flag(kind: str) -> None:
    """``--listen=`` gives no listener: one line naming the setting and the problem."""
    result = run_cli(kind, "run", "examples/echo.py", "--listen=")
    line = assert_one_line_error(result, "'listen'", "command line")
    assert "no URL given: a service needs at least one listener" in line


UNGUARDED_APP = """
import hubbub
from hubbub import events

service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
service.listen(events.Receive, lambda e: e.client.write(e.data))
service.run()
"""


@both
def test_run_at_import_without_main_guard(kind: str, tmp_path: Path) -> None:
    """A file that calls ``service.run()`` at import would serve while being
    imported: ``hubbub run`` stops it with one line naming the file and the
    ``__main__`` guard, before anything listens. (Without the check it would serve
    until the safety timeout.)"""
    app = tmp_path / "unguarded.py"
    app.write_text(UNGUARDED_APP, encoding="utf-8")
    result = run_cli(kind, "run", str(app), "--log-level", "INFO")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hubbub: ")
    assert str(app) in lines[0]
    assert "__main__" in lines[0]
    assert "listening" not in result.stderr
    assert result.stdout == ""
