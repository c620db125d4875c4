"""Listener URLs: schemes from the transports' table, per-scheme options, names, errors."""

from __future__ import annotations

import dataclasses

import pytest

import hubbub
from hubbub.endpoints import Endpoint, parse_url
from hubbub.transports import SCHEMES

HOST_SCHEMES = sorted(name for name, scheme in SCHEMES.items() if not scheme.path)


def refused(url: str) -> str:
    """The message parse_url refuses ``url`` with (it always names the URL)."""
    with pytest.raises(ValueError) as info:
        parse_url(url)
    message = str(info.value)
    assert repr(url) in message
    return message


# --- schemes ---------------------------------------------------------------------------


def test_the_table_has_the_schemes_served_today() -> None:
    """tcp:// and telnet:// are served; the contract's other schemes are planned."""
    assert {"tcp", "telnet"} <= set(SCHEMES)
    assert {"telnets", "tls", "ws", "wss", "udp", "unix"} <= set(SCHEMES)


@pytest.mark.parametrize("scheme", HOST_SCHEMES)
def test_every_served_scheme_parses(scheme: str) -> None:
    """Each scheme of ``SCHEMES`` gives an endpoint with its host and port."""
    endpoint = parse_url(f"{scheme}://127.0.0.1:4000")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == (scheme, "127.0.0.1", 4000)
    assert endpoint.name == f"{scheme}://127.0.0.1:4000"
    assert endpoint.raw is False
    assert dict(endpoint.options) == {}


@pytest.mark.parametrize("scheme", HOST_SCHEMES)
def test_scheme_is_case_insensitive(scheme: str) -> None:
    assert parse_url(f"{scheme.upper()}://127.0.0.1:0").scheme == scheme


@pytest.mark.parametrize("url", ["ftp://x:1", "http://127.0.0.1:80"])
def test_unknown_scheme_lists_the_served_ones(url: str) -> None:
    message = refused(url)
    assert "unknown scheme" in message
    assert f"use {', '.join(sorted(SCHEMES))}" in message


@pytest.mark.parametrize(
    ("url", "example"),
    [("127.0.0.1:9000", "telnet://127.0.0.1:9000"), ("", "telnet://127.0.0.1:9000")],
)
def test_a_missing_scheme_is_named_with_an_example(url: str, example: str) -> None:
    message = refused(url)
    assert "no scheme" in message and example in message


def test_two_listeners_on_one_address_are_refused_before_start() -> None:
    """The same host and port twice would fail later as "address already in use"."""
    with pytest.raises(hubbub.SettingsError, match="are the same address"):
        hubbub.Service(listen=["telnet://127.0.0.1:9000", "tcp://127.0.0.1:9000"])
    service = hubbub.Service(listen=["tcp://127.0.0.1:0", "telnet://127.0.0.1:0"])
    assert len(service.settings.listen) == 2  # free ports never clash


def test_parse_ipv6_url() -> None:
    endpoint = parse_url("tcp://[::1]:4000")
    assert (endpoint.host, endpoint.port) == ("::1", 4000)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("telnet://127.0.0.1", "no port"),
        ("tcp://:5", "no host"),
        ("tcp://h:99999", "out of range"),
        ("tcp://h:1/path", "unexpected path '/path'"),
        ("tcp://h:port", "bad listen URL"),
    ],
)
def test_host_and_port_errors(url: str, fragment: str) -> None:
    assert fragment in refused(url)


def test_trailing_slash_is_allowed() -> None:
    assert parse_url("tcp://127.0.0.1:5/").port == 5


# --- options ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "raw"),
    [("raw=1", True), ("raw=yes", True), ("raw=TRUE", True), ("raw=on", True),
     ("raw=0", False), ("raw=no", False), ("raw=off", False), ("raw=", False)],
)
def test_raw_option_on_tcp(query: str, raw: bool) -> None:
    endpoint = parse_url(f"tcp://127.0.0.1:0?{query}")
    assert endpoint.raw is raw
    assert endpoint.flag("raw") is raw


def test_raw_option_needs_a_yes_or_no() -> None:
    assert "raw='maybe' is not 1 or 0" in refused("tcp://h:1?raw=maybe")


@pytest.mark.parametrize("scheme", HOST_SCHEMES)
def test_each_scheme_takes_only_its_own_options(scheme: str) -> None:
    """Every option in a scheme's table entry is accepted; any other is refused by
    name (``raw`` is a tcp:// option only: telnet negotiates its own modes)."""
    for option in sorted(SCHEMES[scheme].options):
        value = {"tls": "auto"}.get(option, "1")  # tls= takes auto or off
        endpoint = parse_url(f"{scheme}://h:1?{option}={value}")
        assert endpoint.options[option] == value
    for option in sorted({"raw", "colour", "tls"} - SCHEMES[scheme].options):
        assert f"unknown option {option!r}" in refused(f"{scheme}://h:1?{option}=1")


def test_raw_is_tcp_only() -> None:
    assert parse_url("tcp://h:1?raw=1").raw is True
    assert "unknown option 'raw'" in refused("telnet://h:1?raw=1")


def test_duplicated_option_is_refused() -> None:
    """``?raw=1&raw=0`` is ambiguous: refused, not settled by position."""
    assert "option 'raw' given twice" in refused("tcp://h:1?raw=1&raw=0")


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", HOST_SCHEMES)
def test_name_option_on_every_scheme(scheme: str) -> None:
    """``?name=`` is taken by every scheme and is not one of the listener's options."""
    endpoint = parse_url(f"{scheme}://127.0.0.1:0?name=web")
    assert endpoint.name == "web"
    assert "name" not in endpoint.options
    assert endpoint.url == f"{scheme}://127.0.0.1:0?name=web"


def test_name_with_other_options() -> None:
    endpoint = parse_url("tcp://127.0.0.1:0?name=web&raw=1")
    assert (endpoint.name, endpoint.raw) == ("web", True)
    assert dict(endpoint.options) == {"raw": "1"}


def test_name_is_url_decoded() -> None:
    assert parse_url("tcp://127.0.0.1:0?name=game%20room").name == "game room"


def test_empty_name_is_refused() -> None:
    assert "name= needs a value" in refused("tcp://h:1?name=")


def test_duplicated_name_is_refused() -> None:
    """Two names for one listener are as ambiguous as two ``raw=``: refused."""
    assert "'name' given twice" in refused("tcp://h:1?name=a&name=b")


# --- Endpoint -------------------------------------------------------------------------------


def test_flag_reads_yes_no_options_with_a_default() -> None:
    """``Endpoint.flag`` is how a transport reads its yes/no options."""
    endpoint = Endpoint(
        url="x://h:1", scheme="x", host="h", port=1,
        options={"on": "YES", "off": "0", "odd": "maybe"},
    )
    assert endpoint.flag("on") is True
    assert endpoint.flag("off") is False
    assert endpoint.flag("off", default=True) is False
    assert endpoint.flag("odd") is False
    assert endpoint.flag("absent") is False
    assert endpoint.flag("absent", default=True) is True


def test_endpoint_is_read_only() -> None:
    """A parsed endpoint cannot be changed behind the listener's back."""
    endpoint = parse_url("tcp://127.0.0.1:0?raw=1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        endpoint.port = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        endpoint.options["raw"] = "0"  # type: ignore[index]


# --- path schemes (unix://) -------------------------------------------------------------


def test_unix_url_names_an_absolute_path() -> None:
    endpoint = parse_url("unix:///run/game/admin.sock?name=admin")
    assert (endpoint.scheme, endpoint.path, endpoint.name) == (
        "unix", "/run/game/admin.sock", "admin"
    )
    assert endpoint.host == "" and endpoint.port == 0
    assert parse_url("unix:///tmp/a%20b.sock?raw=1").path == "/tmp/a b.sock"
    assert parse_url("unix:///tmp/a.sock?raw=1").raw is True


@pytest.mark.parametrize(
    "url", ["unix://run/game.sock", "unix://game.sock", "unix://./game.sock", "unix:///run/"]
)
def test_unix_url_with_a_relative_or_directory_path_is_refused(url: str) -> None:
    assert "the path must be absolute and name a file (three slashes" in refused(url)


def test_unix_url_without_a_path_is_refused() -> None:
    assert "no path" in refused("unix://")
