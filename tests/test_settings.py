"""Tests for settings: defaults, validation, sources and their precedence, listen URLs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import hubbub
from hubbub import Settings, SettingsError, events
from hubbub.endpoints import parse_url
from hubbub.server import Server

from .conftest import connect, until


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Service() reads os.environ: keep the caller's HUBBUB_* out of these tests."""
    import os

    for key in list(os.environ):
        if key.startswith("HUBBUB_"):
            monkeypatch.delenv(key)


def write_toml(tmp_path: Path, text: str, name: str = "hubbub.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults --------------------------------------------------------------------

DEFAULTS: dict[str, Any] = {
    "listen": ["telnet://127.0.0.1:9000"],
    "max_line_length": 8192,
    "max_output_buffer": 4 * 1024 * 1024,
    "max_connections": 10000,
    "allow": [],
    "deny": [],
    "max_connections_per_ip": 32,
    "connection_rate": 10,
    "connection_burst": 20,
    "max_lines_per_second": 50,
    "lines_burst": 200,
    "proxy_timeout": 5.0,
    "encoding": "utf-8",
    "newline": "\r\n",
    "log_level": "INFO",
    "loop": "auto",
    "close_timeout": 5.0,
    "restart_timeout": 30.0,
    "pid_file": "",
    "checkpoint_interval": 1.0,
    # UDP
    "max_datagram_size": 8192,
    "line_editing": True,
    # TLS
    "tls_cert": "",
    "tls_key": "",
    "tls_handshake_timeout": 10.0,
    "tls_sniff_timeout": 0.3,
    "keepalive": 30.0,
    "mssp": {},
    "mccp": True,
    "storage": "sqlite:///hubbub.db",
    "storage_flush": 0.1,
    "idle_timeout": 0.0,
    "prompt_mark": "auto",
    "screen_reader_default": False,
    "ws_ping_interval": 20.0,
    "origins": [],
    "ws_page": "",
}


def test_defaults() -> None:
    settings = Settings()
    assert settings.as_dict() == DEFAULTS
    for name, value in DEFAULTS.items():
        assert getattr(settings, name) == value
        assert settings.source(name) == "default"


def test_service_defaults() -> None:
    service = hubbub.Service()
    assert service.settings.as_dict() == DEFAULTS


def test_default_listen_list_is_not_shared() -> None:
    a = Settings()
    a.listen.append("tcp://127.0.0.1:1")
    assert Settings().listen == ["telnet://127.0.0.1:9000"]


def test_as_dict_is_a_copy() -> None:
    settings = Settings()
    settings.as_dict()["listen"].append("tcp://127.0.0.1:1")
    assert settings.listen == ["telnet://127.0.0.1:9000"]


# --- unknown settings ----------------------------------------------------------------


def test_unknown_kwarg() -> None:
    with pytest.raises(SettingsError, match="'max_lines'"):
        hubbub.Service(max_lines=5)


def test_unknown_key_in_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_line_length = 100\nmax_lines = 5\n")
    with pytest.raises(SettingsError) as info:
        Settings().load_file(path)
    assert "'max_lines'" in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_table_in_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[hubbub]\nlisten = []\n")
    with pytest.raises(SettingsError, match="'hubbub'"):
        Settings().load_file(path)


def test_unknown_env_variable() -> None:
    with pytest.raises(SettingsError) as info:
        Settings().load_env({"HUBBUB_FOO": "1"})
    assert "'foo'" in str(info.value)
    assert "HUBBUB_FOO" in str(info.value)


def test_unknown_env_variable_in_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_FOO", "1")
    with pytest.raises(SettingsError, match="HUBBUB_FOO"):
        hubbub.Service()


def test_other_env_variables_ignored() -> None:
    settings = Settings()
    settings.load_env({"PATH": "/bin", "HUBBUBFOO": "1", "XHUBBUB_LOOP": "nope"})
    assert settings.as_dict() == DEFAULTS


def test_unknown_attribute_assignment() -> None:
    settings = Settings()
    with pytest.raises(SettingsError, match="'colour'"):
        settings.colour = "red"


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)
    assert issubclass(SettingsError, hubbub.HubbubError)


# --- bad values ----------------------------------------------------------------------

BAD_VALUES: list[tuple[str, Any, str]] = [
    ("max_line_length", -1, "-1"),
    ("max_line_length", 0, "0"),
    ("max_output_buffer", -5, "-5"),
    ("max_connections", -1, "-1"),
    ("max_connections", True, "True"),
    ("max_line_length", False, "False"),
    ("max_line_length", 10.5, "10.5"),
    ("max_line_length", "100", "'100'"),
    ("encoding", "no-such-codec", "no-such-codec"),
    ("encoding", 8, "8"),
    ("newline", "\r", "'\\r'"),
    ("newline", "cr", "cr"),
    ("log_level", "LOUD", "LOUD"),
    ("log_level", 10, "10"),
    ("loop", "trio", "trio"),
    ("close_timeout", -1, "-1"),
    ("close_timeout", True, "True"),
    ("close_timeout", "5", "'5'"),
    ("listen", "ftp://x:1", "ftp://x:1"),
    ("listen", ["telnet://127.0.0.1"], "telnet://127.0.0.1"),
    ("listen", ["tcp://:5"], "tcp://:5"),
    ("listen", ["telnet://h:1?raw=1"], "telnet://h:1?raw=1"),
    ("listen", ["tcp://h:1?colour=red"], "colour"),
    ("listen", ["tcp://h:1?raw=maybe"], "maybe"),
    ("listen", ["tcp://h:99999"], "tcp://h:99999"),
    ("listen", ["tcp://h:1/path"], "/path"),
    ("listen", [1234], "1234"),
    ("listen", 1234, "1234"),
]


@pytest.mark.parametrize(("name", "value", "shown"), BAD_VALUES)
def test_bad_value_in_code(name: str, value: Any, shown: str) -> None:
    with pytest.raises(SettingsError) as info:
        hubbub.Service(**{name: value})
    message = str(info.value)
    assert f"'{name}'" in message
    assert shown in message


@pytest.mark.parametrize(("name", "value", "shown"), BAD_VALUES[:4] + BAD_VALUES[8:13])
def test_bad_value_in_file(tmp_path: Path, name: str, value: Any, shown: str) -> None:
    text = f'{name} = "{value}"' if isinstance(value, str) else f"{name} = {value}"
    text = text.replace("\r", "\\r")
    path = write_toml(tmp_path, text + "\n")
    with pytest.raises(SettingsError) as info:
        Settings().load_file(path)
    message = str(info.value)
    assert f"'{name}'" in message
    assert str(path) in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HUBBUB_MAX_LINE_LENGTH", "-3"),
        ("HUBBUB_MAX_LINE_LENGTH", "lots"),
        ("HUBBUB_MAX_CONNECTIONS", "1.5"),
        ("HUBBUB_CLOSE_TIMEOUT", "soon"),
        ("HUBBUB_ENCODING", "klingon"),
        ("HUBBUB_LOG_LEVEL", "LOUD"),
        ("HUBBUB_LOOP", "trio"),
        ("HUBBUB_LISTEN", "tcp://127.0.0.1:1 ftp://x:1"),
    ],
)
def test_bad_value_in_env(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings().load_env({variable: value})
    message = str(info.value)
    name = variable.removeprefix("HUBBUB_").lower()
    assert f"'{name}'" in message
    assert variable in message
    assert value.split()[-1] in message


def test_bad_value_leaves_old_value() -> None:
    settings = Settings()
    with pytest.raises(SettingsError):
        settings.update("code", {"max_line_length": -1})
    assert settings.max_line_length == 8192
    assert settings.source("max_line_length") == "default"


def test_bad_value_at_run_time_is_one_line() -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    with pytest.raises(SystemExit) as info:
        service.run(loop="trio")
    assert str(info.value).startswith("hubbub: ")
    assert "'loop'" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("codec", ["base64", "rot13"])
def test_non_text_codec_refused(codec: str) -> None:
    with pytest.raises(SettingsError, match="'encoding'"):
        Settings().update("code", {"encoding": codec})


def test_nan_close_timeout_refused() -> None:
    with pytest.raises(SettingsError, match="'close_timeout'"):
        Settings().load_env({"HUBBUB_CLOSE_TIMEOUT": "nan"})


# --- good values ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [("\r\n", "\r\n"), ("\n", "\n"), ("crlf", "\r\n"), ("LF", "\n"), ("\\r\\n", "\r\n")],
)
def test_newline_spellings(given: str, expected: str) -> None:
    settings = Settings()
    settings.update("code", {"newline": given})
    assert settings.newline == expected


def test_log_level_is_case_insensitive() -> None:
    settings = Settings()
    settings.update("code", {"log_level": "debug"})
    assert settings.log_level == "DEBUG"


def test_listen_string_in_code_is_one_url() -> None:
    service = hubbub.Service(listen="tcp://127.0.0.1:1")
    assert service.settings.listen == ["tcp://127.0.0.1:1"]


def test_close_timeout_int_becomes_float() -> None:
    settings = Settings()
    settings.update("code", {"close_timeout": 2})
    assert settings.close_timeout == 2.0
    assert isinstance(settings.close_timeout, float)


# --- precedence -------------------------------------------------------------------------


def test_precedence_independent_of_load_order(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'max_line_length = 300\nmax_connections = 30\nencoding = "latin-1"\n',
    )
    env = {"HUBBUB_MAX_LINE_LENGTH": "400", "HUBBUB_MAX_CONNECTIONS": "40"}
    steps = {
        "code": lambda s: s.update(
            "code",
            {"max_line_length": 200, "max_connections": 20, "encoding": "ascii", "loop": "asyncio"},
        ),
        "file": lambda s: s.load_file(path),
        "env": lambda s: s.load_env(env),
        "cli": lambda s: s.update("cli", {"max_line_length": 500}),
    }
    for order in itertools.permutations(steps):
        settings = Settings()
        for step in order:
            steps[step](settings)
        assert settings.max_line_length == 500, order
        assert settings.source("max_line_length") == "cli"
        assert settings.max_connections == 40, order
        assert settings.source("max_connections") == "env"
        assert settings.encoding == "latin-1", order
        assert settings.source("encoding") == "file"
        assert settings.loop == "asyncio", order
        assert settings.source("loop") == "code"
        assert settings.newline == "\r\n"
        assert settings.source("newline") == "default"


def test_same_source_later_wins() -> None:
    settings = Settings()
    settings.update("code", {"max_line_length": 10})
    settings.update("code", {"max_line_length": 20})
    assert settings.max_line_length == 20


def test_service_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_toml(tmp_path, "max_line_length = 300\nmax_connections = 30\n")
    monkeypatch.setenv("HUBBUB_MAX_CONNECTIONS", "40")
    service = hubbub.Service(
        config=str(path), max_line_length=200, max_connections=20, max_output_buffer=1000
    )
    settings = service.settings
    assert (settings.max_output_buffer, settings.source("max_output_buffer")) == (1000, "code")
    assert (settings.max_line_length, settings.source("max_line_length")) == (300, "file")
    assert (settings.max_connections, settings.source("max_connections")) == (40, "env")


def test_run_kwargs_do_not_override_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_LOOP", "asyncio")
    service = hubbub.Service()
    service.settings.update("code", {"loop": "uvloop"})
    assert service.settings.loop == "asyncio"


def test_env_listen_overrides_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBBUB_LISTEN", "tcp://127.0.0.1:5")
    service = hubbub.Service(listen=["telnet://127.0.0.1:6"])
    assert service.settings.listen == ["tcp://127.0.0.1:5"]


def test_attribute_assignment_validates() -> None:
    settings = Settings()
    with pytest.raises(SettingsError, match="'max_line_length'"):
        settings.max_line_length = 0
    assert settings.max_line_length == 8192
    settings.max_line_length = 100
    assert settings.max_line_length == 100
    assert settings.source("max_line_length") == "code"
    with pytest.raises(SettingsError, match="'listen'"):
        settings.listen = ["ftp://x:1"]


def test_attribute_assignment_is_code_strength() -> None:
    settings = Settings()
    settings.load_env({"HUBBUB_MAX_LINE_LENGTH": "64"})
    settings.max_line_length = 100
    assert settings.max_line_length == 64
    assert settings.source("max_line_length") == "env"


def test_source_of_unknown_name() -> None:
    with pytest.raises(KeyError):
        Settings().source("nope")


# --- environment parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"), [("8_192", 8192), ("0x100", 256), ("42", 42), (" 7 ", 7), ("0o10", 8)]
)
def test_env_ints(text: str, value: int) -> None:
    settings = Settings()
    settings.load_env({"HUBBUB_MAX_LINE_LENGTH": text})
    assert settings.max_line_length == value
    assert settings.source("max_line_length") == "env"


def test_env_float_seconds() -> None:
    settings = Settings()
    settings.load_env({"HUBBUB_CLOSE_TIMEOUT": "0.25"})
    assert settings.close_timeout == 0.25


@pytest.mark.parametrize(
    "text",
    [
        "tcp://127.0.0.1:1,telnet://127.0.0.1:2",
        "tcp://127.0.0.1:1 telnet://127.0.0.1:2",
        " tcp://127.0.0.1:1 ,  telnet://127.0.0.1:2 ",
    ],
)
def test_env_listen_separators(text: str) -> None:
    settings = Settings()
    settings.load_env({"HUBBUB_LISTEN": text})
    assert settings.listen == ["tcp://127.0.0.1:1", "telnet://127.0.0.1:2"]


def test_env_names_are_case_insensitive_after_prefix() -> None:
    settings = Settings()
    settings.load_env({"HUBBUB_log_level": "debug"})
    assert settings.log_level == "DEBUG"


def test_hubbub_config_loads_a_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'log_level = "WARNING"\nmax_connections = 7\n')
    settings = Settings()
    settings.load_env({"HUBBUB_CONFIG": str(path), "HUBBUB_MAX_CONNECTIONS": "9"})
    assert (settings.log_level, settings.source("log_level")) == ("WARNING", "file")
    assert (settings.max_connections, settings.source("max_connections")) == (9, "env")


def test_hubbub_config_in_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_toml(tmp_path, "max_output_buffer = 0x1000\n")
    monkeypatch.setenv("HUBBUB_CONFIG", str(path))
    service = hubbub.Service(max_output_buffer=10)
    assert service.settings.max_output_buffer == 4096


def test_hubbub_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError, match=r"nope\.toml"):
        Settings().load_env({"HUBBUB_CONFIG": str(missing)})


# --- files --------------------------------------------------------------------------------


def test_config_kwarg(tmp_path: Path) -> None:
    path = write_toml(
        tmp_path,
        'listen = ["tcp://127.0.0.1:1", "telnet://[::1]:2"]\nnewline = "lf"\nclose_timeout = 1\n',
    )
    service = hubbub.Service(config=path)
    assert service.settings.listen == ["tcp://127.0.0.1:1", "telnet://[::1]:2"]
    assert service.settings.newline == "\n"
    assert service.settings.close_timeout == 1.0
    assert service.settings.source("listen") == "file"


def test_config_kwarg_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        hubbub.Service(config=tmp_path / "absent.toml")
    assert "absent.toml" in str(info.value)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "max_line_length = = 3\n", name="broken.toml")
    with pytest.raises(SettingsError) as info:
        Settings().load_file(path)
    assert str(path) in str(info.value)
    assert "TOML" in str(info.value)


def test_file_strings_are_not_parsed_as_text(tmp_path: Path) -> None:
    # A file has types: "100" is a string, not a number (unlike the environment).
    path = write_toml(tmp_path, 'max_line_length = "100"\n')
    with pytest.raises(SettingsError, match="'max_line_length'"):
        Settings().load_file(path)


def test_file_listen_string_is_one_url(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'listen = "tcp://127.0.0.1:1"\n')
    settings = Settings()
    settings.load_file(path)
    assert settings.listen == ["tcp://127.0.0.1:1"]


# --- an empty listen list -------------------------------------------------------------------

EMPTY_LISTEN = "no URL given: a service needs at least one listener"


def assert_empty_listen_refused(error: SettingsError, origin: str) -> None:
    message = str(error)
    assert "'listen'" in message
    assert EMPTY_LISTEN in message
    assert origin in message
    assert "\n" not in message


def test_empty_listen_in_code_is_refused() -> None:
    """``Service(listen=[])`` would start a service nobody can reach: refused."""
    with pytest.raises(SettingsError) as info:
        hubbub.Service(listen=[])
    assert_empty_listen_refused(info.value, "'listen'")


def test_empty_listen_in_toml_is_refused(tmp_path: Path) -> None:
    """``listen = []`` in a config file is refused, naming the file."""
    path = write_toml(tmp_path, "listen = []\n")
    with pytest.raises(SettingsError) as info:
        hubbub.Service(config=path)
    assert_empty_listen_refused(info.value, str(path))


@pytest.mark.parametrize("value", ["", "   ", " , ,"])
def test_empty_listen_in_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """``HUBBUB_LISTEN=""`` (or only separators) is refused, naming the variable."""
    monkeypatch.setenv("HUBBUB_LISTEN", value)
    with pytest.raises(SettingsError) as info:
        hubbub.Service(listen=["tcp://127.0.0.1:0"])
    assert_empty_listen_refused(info.value, "HUBBUB_LISTEN")


def test_empty_listen_refusal_keeps_the_old_value() -> None:
    """A refused empty list leaves the listeners as they were."""
    settings = Settings()
    with pytest.raises(SettingsError):
        settings.listen = []
    assert settings.listen == ["telnet://127.0.0.1:9000"]
    assert settings.source("listen") == "default"
    # (The command line's ``--listen=`` is checked in test_cli.py.)


# --- line_editing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("false", False),
        ("1", True),
        ("0", False),
        ("TRUE", True),
        (" False ", False),
        ("yes", True),
        ("off", False),
    ],
)
def test_line_editing_from_environment(text: str, value: bool) -> None:
    """true/false/1/0 (any case) are read from HUBBUB_LINE_EDITING."""
    settings = Settings()
    settings.load_env({"HUBBUB_LINE_EDITING": text})
    assert settings.line_editing is value
    assert settings.source("line_editing") == "env"


@pytest.mark.parametrize("text", ["maybe", "", "2", "tru", "-1"])
def test_line_editing_garbage_from_environment_is_refused(text: str) -> None:
    """Anything else is an error naming the setting, the variable and the value."""
    settings = Settings()
    with pytest.raises(SettingsError) as info:
        settings.load_env({"HUBBUB_LINE_EDITING": text})
    message = str(info.value)
    assert "'line_editing'" in message
    assert "HUBBUB_LINE_EDITING" in message
    assert repr(text) in message
    assert settings.line_editing is True


def test_line_editing_in_code_and_file_needs_a_bool(tmp_path: Path) -> None:
    """In code and TOML the value has a type: a bool, not the string "false"."""
    assert hubbub.Service(line_editing=False).settings.line_editing is False
    with pytest.raises(SettingsError, match="'line_editing'"):
        hubbub.Service(line_editing="false")
    with pytest.raises(SettingsError, match="'line_editing'"):
        hubbub.Service(line_editing=0)
    good = write_toml(tmp_path, "line_editing = false\n", name="good.toml")
    assert hubbub.Service(config=good).settings.line_editing is False
    bad = write_toml(tmp_path, 'line_editing = "false"\n', name="bad.toml")
    with pytest.raises(SettingsError) as info:
        hubbub.Service(config=bad)
    assert "'line_editing'" in str(info.value) and str(bad) in str(info.value)


@pytest.mark.parametrize(
    ("editing", "expected"),
    [(True, ["dora", "hello"]), (False, ["dorx\x7fa", "\x1b[1mhello\x1b[0m"])],
)
async def test_line_editing_setting_decides_what_handlers_see(
    editing: bool, expected: list[str]
) -> None:
    """With line editing (the default) a backspace-corrected line arrives as meant
    and escape sequences are removed; with it off, handlers get the text as typed."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"], line_editing=editing)
    got: list[str] = []
    service.listen(events.Receive, lambda e: got.append(e.data))
    await service.start()
    try:
        client = await connect(service)
        await client.send_raw(b"dorx\x7fa\r\n\x1b[1mhello\x1b[0m\r\n")
        await until(lambda: len(got) == 2)
        assert got == expected
        await client.close()
    finally:
        await service.stop()


# --- servers named by their listen URLs ----------------------------------------------


def test_server_name_and_comparisons() -> None:
    server = Server(parse_url("tcp://127.0.0.1:0?name=web"))
    assert server.name == "web"
    assert server == "web"
    assert server == "tcp://127.0.0.1:0?name=web"
    assert server != "game"
    assert server != Server(parse_url("tcp://127.0.0.1:0?name=web"))
    assert server == server


def test_unnamed_server_is_its_url() -> None:
    server = Server(parse_url("telnet://127.0.0.1:0"))
    assert server.name == "telnet://127.0.0.1:0"
    assert server == "telnet://127.0.0.1:0"
    assert server != "web"


async def test_named_server_after_start() -> None:
    service = hubbub.Service(listen=["tcp://127.0.0.1:0?name=web", "telnet://127.0.0.1:0"])
    await service.start()
    try:
        web, other = service.servers
        assert web == "web"
        assert other != "web"
        assert web.address is not None
        assert web.address[0] == "127.0.0.1"
        assert web.address[1] > 0
    finally:
        await service.stop()


def test_udp_and_tcp_may_share_a_port_number() -> None:
    """A UDP port is not a TCP port; two UDP listeners on one port still clash."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:9000", "udp://127.0.0.1:9000"])
    assert len(service.settings.listen) == 2
    with pytest.raises(hubbub.SettingsError, match="are the same address"):
        hubbub.Service(listen=["udp://127.0.0.1:9000", "udp://127.0.0.1:9000?name=b"])
    with pytest.raises(hubbub.SettingsError, match="are the same address"):
        hubbub.Service(listen=["unix:///tmp/x.sock", "unix:///tmp/x.sock?name=b"])


def test_origins_are_checked_and_normalised() -> None:
    settings = Settings()
    settings.origins = "https://Game.example/, http://127.0.0.1:8080"  # type: ignore[assignment]
    assert settings.origins == ["https://game.example", "http://127.0.0.1:8080"]
    settings.origins = ["*"]
    assert settings.origins == ["*"]
    with pytest.raises(SettingsError, match="is not an origin"):
        settings.origins = ["game.example"]
