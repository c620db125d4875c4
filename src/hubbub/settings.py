"""Settings: defaults, keyword arguments, a TOML file, the environment, CLI flags.

Each value remembers where it came from, and a source only overrides values
from the same or a weaker one, so the order in which they are loaded does
not matter. From weakest to strongest:

1. built-in defaults;
2. keyword arguments in code (``Service(...)``, ``service.run(...)``);
3. a TOML file (``config=`` keyword, ``HUBBUB_CONFIG``, or ``--config``);
4. ``HUBBUB_*`` environment variables;
5. command-line flags of ``hubbub run``.

The operator's choices (file, environment, flags) beat the author's code,
which only sets the defaults for its own deployment.
"""

from __future__ import annotations

import codecs
import ipaddress
import json
import logging
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .endpoints import parse_url
from .errors import SettingsError
from .transports import SCHEMES

__all__ = ["SOURCES", "Settings"]

SOURCES = ("default", "code", "file", "env", "cli")
_RANK = {name: rank for rank, name in enumerate(SOURCES)}
ENV_PREFIX = "HUBBUB_"


def _int(minimum: int) -> Callable[[Any, bool], int]:
    def check(value: Any, text: bool) -> int:
        if text and isinstance(value, str):
            try:
                value = int(value.replace("_", ""), 0)
            except ValueError:
                raise ValueError(f"{value!r} is not a whole number") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{value!r} is not a whole number")
        if value < minimum:
            raise ValueError(f"{value} is less than {minimum}")
        return value

    return check


def _seconds(value: Any, text: bool) -> float:
    if text and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a number of seconds") from None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{value!r} is not a number of seconds >= 0")
    return float(value)


def _bool(value: Any, text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if text and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
    raise ValueError(f"{value!r} is not true or false")


def _listen(value: Any, text: bool) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", " ").split() if text else [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list of URLs")
    if not any(v.strip() for v in value):  # [], or only empty strings (--listen=)
        raise ValueError("no URL given: a service needs at least one listener")
    places: dict[tuple[bool, str, int] | str, str] = {}
    for url in value:
        endpoint = parse_url(url)  # raises ValueError naming the URL
        # A UDP port is not a TCP port: udp:// and tcp:// may share a number.
        stream = SCHEMES[endpoint.scheme].clients
        place = endpoint.path or (stream, endpoint.host.lower(), endpoint.port)
        if endpoint.port == 0 and not endpoint.path:
            continue  # any free port: never the same twice
        if place in places:
            raise ValueError(f"{places[place]!r} and {url!r} are the same address")
        places[place] = url
    return list(value)


def _encoding(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an encoding name")
    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError(f"{value!r} is not a text encoding")
    return value


_NEWLINES = {"\r\n": "\r\n", "\n": "\n", "crlf": "\r\n", "lf": "\n", "\\r\\n": "\r\n", "\\n": "\n"}


def _newline(value: Any, text: bool) -> str:
    if isinstance(value, str) and value.lower() in _NEWLINES:
        return _NEWLINES[value.lower()]
    raise ValueError(f"{value!r} is not a newline (use '\\r\\n' or '\\n', or crlf / lf)")


def _log_level(value: Any, text: bool) -> str:
    if isinstance(value, str) and value.upper() in logging.getLevelNamesMapping():
        return value.upper()
    raise ValueError(f"{value!r} is not a log level (DEBUG, INFO, WARNING, ERROR, CRITICAL)")


def _path(value: Any, text: bool) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a file's path")
    return value


def _positive_seconds(value: Any, text: bool) -> float:
    seconds = _seconds(value, text)
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a number of seconds > 0")
    return seconds


def _choice(*choices: str) -> Callable[[Any, bool], str]:
    def check(value: Any, text: bool) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check


def _rate(value: Any, text: bool) -> int | float:
    if text and isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value, 10)
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{value!r} is not a number >= 0 (0 turns the limit off)")
    return value


def _networks(value: Any, text: bool) -> list[str]:
    """CIDR networks (a bare address is a network of one), in their canonical spelling."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list of networks such as 10.0.0.0/8")
    networks = []
    for entry in value:
        try:
            networks.append(str(ipaddress.ip_network(entry.strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP network (use CIDR, e.g. 192.0.2.0/24 or 2001:db8::/32)"
            ) from None
    return networks


def _origins(value: Any, text: bool) -> list[str]:
    """Origins as a browser sends them (``https://example.com``, ``http://host:8080``) or ``*``."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{value!r} is not a list of origins such as https://example.com")
    origins = []
    for entry in value:
        entry = entry.strip().rstrip("/").lower()
        if entry != "*" and not entry.startswith(("http://", "https://")):
            raise ValueError(f"{entry!r} is not an origin (e.g. https://example.com, or *)")
        origins.append(entry)
    return origins


def _storage(value: Any, text: bool) -> str:
    if not isinstance(value, str) or not value.startswith(("sqlite://", "memory://", "redis://")):
        raise ValueError(f"{value!r} is not sqlite:///path, memory:// or redis://host:port/db")
    return value


def _mssp(value: Any, text: bool) -> dict[str, Any]:
    """MSSP variables: names to a text, a whole number, or a list of them (TOML: a table)."""
    if text and isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a JSON object of MSSP variables") from None
    if not isinstance(value, Mapping):
        raise ValueError(f"{value!r} is not a table of MSSP variables (NAME = \"…\")")
    table: dict[str, Any] = {}
    for name, item in value.items():
        items = item if isinstance(item, list) else [item]
        if not isinstance(name, str) or not name or not all(
            isinstance(v, str | int) and not isinstance(v, bool) for v in items
        ):
            raise ValueError(f"MSSP variable {name!r}: values are text or whole numbers")
        table[name.upper()] = item
    return table


@dataclass(frozen=True)
class _Field:
    default: Any
    check: Callable[[Any, bool], Any]
    doc: str


FIELDS: dict[str, _Field] = {
    "listen": _Field(
        ["telnet://127.0.0.1:9000"], _listen, "endpoint URLs to listen on (telnet://, tcp://, ws://…)"
    ),
    "max_line_length": _Field(8192, _int(1), "longest input line accepted, in bytes"),
    "max_output_buffer": _Field(
        4 * 1024 * 1024, _int(1), "unsent output, in bytes, past which a client is cut off"
    ),
    "max_connections": _Field(10_000, _int(1), "connections held at once; more are turned away"),
    # limits and blocking
    "allow": _Field([], _networks, "if not empty, only peers in these networks (CIDR) may connect"),
    "deny": _Field([], _networks, "peers in these networks (CIDR) are refused"),
    "max_connections_per_ip": _Field(
        32, _int(0), "connections from one IP address (IPv6: one /64) at once; 0: no limit"
    ),
    "connection_rate": _Field(
        10, _rate, "new connections per second from one IP address (IPv6: one /64); 0: no limit"
    ),
    "connection_burst": _Field(
        20, _int(1), "connections one address may open at once before connection_rate applies"
    ),
    "max_lines_per_second": _Field(
        50, _rate, "input lines per second per client; more are delayed, not dropped; 0: no limit"
    ),
    "lines_burst": _Field(
        200, _int(1), "lines a client may send at once before max_lines_per_second applies"
    ),
    "proxy_timeout": _Field(
        5.0, _seconds, "seconds a ?proxy=1 listener waits for the PROXY protocol header"
    ),
    "encoding": _Field("utf-8", _encoding, "default text encoding of new clients"),
    "newline": _Field("\r\n", _newline, "line ending written after each line"),
    "log_level": _Field("INFO", _log_level, "level of the hubbub.* loggers"),
    "loop": _Field("auto", _choice("auto", "asyncio", "uvloop"), "event loop used by run()"),
    "close_timeout": _Field(
        5.0, _seconds, "seconds to flush a closing client, and to wait for handlers at stop"
    ),
    # stores
    "storage": _Field(
        "sqlite:///hubbub.db",
        _storage,
        "where stores keep records: sqlite:///path (relative; //// for absolute), memory://, "
        "redis://host:port/db",
    ),
    "storage_flush": _Field(
        0.1, _seconds, "seconds within which a saved record is written (write-behind)"
    ),
    # restart
    "restart_timeout": _Field(
        30.0,
        _positive_seconds,
        "seconds a new process may take to load and take over at a restart "
        "(the old one keeps serving meanwhile)",
    ),
    "pid_file": _Field(
        "", _path, "file naming the live process's pid ('' for none); SIGHUP to it restarts"
    ),
    "checkpoint_interval": _Field(
        1.0,
        _positive_seconds,
        "under --supervise: seconds between the worker's checkpoints of client state "
        "(what a crashed worker's successor starts from)",
    ),
    # keepalive and idle
    "keepalive": _Field(
        30.0, _seconds, "seconds between keepalives (telnet: IAC NOP) to each client; 0: off"
    ),
    "idle_timeout": _Field(
        0.0, _seconds, "seconds without input before a client gets Idle and is closed; 0: never"
    ),
    # telnet
    "mssp": _Field(
        {}, _mssp, "MSSP variables for MUD crawlers (NAME, PLAYERS and UPTIME are filled in)"
    ),
    "mccp": _Field(
        True,
        _bool,
        "offer MCCP2 (compressed output) and MCCP3 (compressed input) to telnet clients",
    ),
    "prompt_mark": _Field(
        "auto",
        _choice("auto", "eor", "ga", "none"),
        "how client.prompt() marks a prompt on telnet: auto (EOR if agreed, else GA), "
        "eor, ga or none",
    ),
    "screen_reader_default": _Field(
        False, _bool, "whether new clients start with client.screen_reader on (they may say more)"
    ),
    # WebSocket
    "ws_ping_interval": _Field(
        20.0, _seconds, "seconds between WebSocket pings; a peer that misses one is closed; 0: off"
    ),
    "origins": _Field(
        [], _origins, "browser origins allowed on ws:// listeners (empty: the listener's own host)"
    ),
    "ws_page": _Field(
        "", _path, "HTML file served on a plain GET of a ws:// listener (empty: the built-in one)"
    ),
    # UDP
    "max_datagram_size": _Field(
        8192, _int(1), "longest datagram a udp:// listener delivers, in bytes; longer are dropped"
    ),
    "line_editing": _Field(
        True,
        _bool,
        "apply backspace/delete/^U/^W to input lines and drop other control characters",
    ),
    # TLS
    "tls_cert": _Field("", _path, "PEM certificate (chain) file for TLS listeners and STARTTLS"),
    "tls_key": _Field("", _path, "PEM private key file (unset: the key is in tls_cert's file)"),
    "tls_handshake_timeout": _Field(
        10.0, _positive_seconds, "seconds a TLS handshake may take before the peer is closed"
    ),
    "tls_sniff_timeout": _Field(
        0.3, _seconds, "seconds ?tls=auto waits for a TLS handshake before serving plainly"
    ),
}


class Settings:
    """Validated settings of a service. Assigning an attribute validates it too."""

    listen: list[str]
    max_line_length: int
    max_output_buffer: int
    max_connections: int
    # limits and blocking
    allow: list[str]
    deny: list[str]
    max_connections_per_ip: int
    connection_rate: int | float
    connection_burst: int
    max_lines_per_second: int | float
    lines_burst: int
    proxy_timeout: float
    encoding: str
    newline: str
    log_level: str
    loop: str
    close_timeout: float
    # restart
    restart_timeout: float
    pid_file: str
    checkpoint_interval: float
    # keepalive and idle
    keepalive: float
    idle_timeout: float
    # telnet
    mssp: dict[str, Any]
    mccp: bool
    storage: str
    storage_flush: float
    prompt_mark: str
    screen_reader_default: bool
    # WebSocket
    ws_ping_interval: float
    origins: list[str]
    ws_page: str
    # UDP
    max_datagram_size: int
    line_editing: bool
    tls_cert: str
    tls_key: str
    tls_handshake_timeout: float
    tls_sniff_timeout: float
    _source: dict[str, str]

    def __init__(self) -> None:
        object.__setattr__(self, "_source", {})
        for name, spec in FIELDS.items():
            object.__setattr__(self, name, _copy(spec.default))
            self._source[name] = "default"

    def update(self, source: str, values: Mapping[str, Any], *, origin: str = "") -> None:
        """Apply ``values`` from ``source`` (one of :data:`SOURCES`)."""
        rank = _RANK[source]
        where = f" (from {origin})" if origin else ""
        text = source in ("env", "cli")
        for name, value in values.items():
            spec = FIELDS.get(name)
            if spec is None:
                raise SettingsError(f"unknown setting {name!r}{where}")
            try:
                checked = spec.check(value, text)
            except ValueError as exc:
                raise SettingsError(f"bad value for setting {name!r}{where}: {exc}") from None
            if rank >= _RANK[self._source[name]]:
                object.__setattr__(self, name, checked)
                self._source[name] = source

    def load_file(self, path: str | Path) -> None:
        """Apply a TOML file of top-level ``key = value`` settings."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
        self.update("file", data, origin=str(path))

    def load_env(self, environ: Mapping[str, str]) -> None:
        """Apply ``HUBBUB_<NAME>`` variables (``HUBBUB_CONFIG`` names a TOML file)."""
        values: dict[str, str] = {}
        for key, value in environ.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name == "config":
                self.load_file(value)
            else:
                values[name] = value
        for name, value in values.items():
            if name not in FIELDS:
                raise SettingsError(
                    f"unknown setting {name!r} (from environment {ENV_PREFIX}{name.upper()})"
                )
            self.update("env", {name: value}, origin=f"environment {ENV_PREFIX}{name.upper()}")

    def source(self, name: str) -> str:
        """Where the current value of ``name`` came from."""
        return str(self._source[name])

    def as_dict(self) -> dict[str, Any]:
        return {name: _copy(getattr(self, name)) for name in FIELDS}

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in FIELDS:
            raise SettingsError(f"unknown setting {name!r}")
        self.update("code", {name: value})

    def __repr__(self) -> str:
        return f"Settings({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value
