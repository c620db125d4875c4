"""Tests for settings: defaults, validation, sources and their precedence, listen URLs."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import hubbub
from hubbub import Settings, SettingsError
from hubbub.endpoints import parse_url
from hubbub.server import Server


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
    "encoding": "utf-8",
    "newline": "\r\n",
    "log_level": "INFO",
    "loop": "auto",
    "close_timeout": 5.0,
    "line_editing": True,
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
    ("listen", ["ws://127.0.0.1:1"], "ws://127.0.0.1:1"),
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


# --- listen URLs -----------------------------------------------------------------------------


def test_parse_telnet_url() -> None:
    endpoint = parse_url("telnet://127.0.0.1:9000")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("telnet", "127.0.0.1", 9000)
    assert endpoint.raw is False
    assert endpoint.name == "telnet://127.0.0.1:9000"


def test_parse_ipv6_url() -> None:
    endpoint = parse_url("tcp://[::1]:4000")
    assert endpoint.host == "::1"
    assert endpoint.port == 4000


@pytest.mark.parametrize(("query", "raw"), [("raw=1", True), ("raw=yes", True), ("raw=0", False)])
def test_parse_raw_option(query: str, raw: bool) -> None:
    assert parse_url(f"tcp://127.0.0.1:0?{query}").raw is raw


def test_parse_name_option() -> None:
    endpoint = parse_url("tcp://127.0.0.1:0?name=web&raw=1")
    assert endpoint.name == "web"
    assert endpoint.raw is True


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("ftp://x:1", "unknown scheme"),
        ("telnet://127.0.0.1", "no port"),
        ("tcp://:5", "no host"),
        ("ws://127.0.0.1:1", "not supported yet"),
        ("telnet://h:1?raw=1", "unknown option 'raw'"),
        ("tcp://h:1?bogus=1", "'bogus'"),
    ],
)
def test_parse_bad_urls(url: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_url(url)
    assert repr(url) in str(info.value)
    assert fragment in str(info.value)


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
