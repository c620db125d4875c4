"""The PROXY protocol header parser: both versions, every way a header can be bad, and fuzzing."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.proxy import (
    V1_MAX_LENGTH,
    V2_MAX_LENGTH,
    V2_SIGNATURE,
    ProxyError,
    ProxyHeader,
    parse_header,
)


def v2(
    command: int = 1,
    family: int = 1,
    addresses: bytes | None = None,
    tlvs: bytes = b"",
    version: int = 2,
    size: int | None = None,
) -> bytes:
    """A version 2 header (PROXY over TCP/IPv4 from 192.0.2.7:5555 by default)."""
    if addresses is None:
        addresses = struct.pack("!4s4sHH", bytes([192, 0, 2, 7]), bytes([10, 0, 0, 1]), 5555, 4000)
    body = addresses + tlvs
    length = len(body) if size is None else size
    preamble = struct.pack("!BBH", version << 4 | command, family << 4 | 1, length)
    return V2_SIGNATURE + preamble + body


# --- version 1 -------------------------------------------------------------------


def test_v1_tcp4() -> None:
    data = b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 4000\r\nhello\r\n"
    header = parse_header(data)
    assert header == ProxyHeader(
        version=1,
        length=data.index(b"hello"),
        source=("192.0.2.7", 5555),
        destination=("10.0.0.1", 4000),
    )


def test_v1_tcp6() -> None:
    header = parse_header(b"PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n")
    assert header is not None
    assert header.source == ("2001:db8::7", 65535)
    assert header.destination == ("2001:db8::1", 0)


def test_v1_unknown_keeps_the_socket_address() -> None:
    header = parse_header(b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n")
    assert header is not None and header.source is None and header.version == 1
    assert parse_header(b"PROXY UNKNOWN\r\n") == ProxyHeader(version=1, length=15)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5555\r\n",  # a field missing
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 4000 9\r\n",  # one too many
        b"PROXY UDP4 192.0.2.7 10.0.0.1 5555 4000\r\n",
        b"PROXY TCP4 2001:db8::7 10.0.0.1 5555 4000\r\n",  # IPv6 in TCP4
        b"PROXY TCP6 192.0.2.7 2001:db8::1 5555 4000\r\n",
        b"PROXY TCP4 192.0.2.300 10.0.0.1 5555 4000\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 65536 4000\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 -1 4000\r\n",
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 4000\n",  # LF without CR
        b"PROXY TCP4 \xff\xfe 10.0.0.1 5555 4000\r\n",
    ],
)
def test_v1_bad(line: bytes) -> None:
    with pytest.raises(ProxyError):
        parse_header(line)


def test_v1_without_crlf_within_the_limit() -> None:
    assert parse_header(b"PROXY TCP4 " + b"1" * (V1_MAX_LENGTH - 12)) is None  # could still end
    with pytest.raises(ProxyError, match="without CRLF"):
        parse_header(b"PROXY TCP4 " + b"1" * (V1_MAX_LENGTH - 11))


def test_v1_header_of_exactly_the_limit() -> None:
    line = b"PROXY UNKNOWN " + b"f" * (V1_MAX_LENGTH - 16) + b"\r\n"
    assert len(line) == V1_MAX_LENGTH
    header = parse_header(line)
    assert header is not None and header.length == V1_MAX_LENGTH
    longest_tcp6 = b"PROXY TCP6 " + b" ".join([b"ffff:" * 7 + b"ffff"] * 2) + b" 65535 65535\r\n"
    assert parse_header(longest_tcp6) is not None


# --- version 2 -------------------------------------------------------------------


def test_v2_inet() -> None:
    data = v2() + b"hello"
    header = parse_header(data)
    assert header == ProxyHeader(
        version=2, length=28, source=("192.0.2.7", 5555), destination=("10.0.0.1", 4000)
    )


def test_v2_inet6_with_tlvs() -> None:
    src = ipaddress.ip_address("2001:db8::7").packed
    dst = ipaddress.ip_address("2001:db8::1").packed
    tlvs = b"\x04\x00\x03abc"  # PP2_TYPE_NOOP: skipped
    header = parse_header(v2(family=2, addresses=src + dst + struct.pack("!HH", 1, 2), tlvs=tlvs))
    assert header is not None
    assert header.source == ("2001:db8::7", 1) and header.length == 16 + 36 + 6


def test_v2_local_keeps_the_socket_address() -> None:
    header = parse_header(v2(command=0, family=0, addresses=b""))
    assert header == ProxyHeader(version=2, length=16)


def test_v2_unspec_and_unix_families_carry_no_ip_address() -> None:
    assert parse_header(v2(family=0, addresses=b"")) == ProxyHeader(version=2, length=16)
    header = parse_header(v2(family=3, addresses=b"/x".ljust(216, b"\0")))
    assert header is not None and header.source is None and header.length == 16 + 216


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (v2(version=1), "version 1"),
        (v2(command=2), "unknown command"),
        (v2(family=4), "unknown address family"),
        (v2(addresses=b"\0" * 4), "too short"),  # IPv4 needs 12 bytes
        (v2(family=2), "too short"),  # 12 bytes of IPv4 labelled IPv6
        (v2(size=V2_MAX_LENGTH + 1), "more than"),
    ],
)
def test_v2_bad(data: bytes, why: str) -> None:
    with pytest.raises(ProxyError, match=why):
        parse_header(data)


def test_v2_waits_for_its_whole_length() -> None:
    data = v2(tlvs=b"\x04\x00\x10" + bytes(16))
    for end in range(len(data)):
        assert parse_header(data[:end]) is None
    assert parse_header(data) is not None


# --- neither ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\n", b"hello\r\n", b"\r\n\r\nQUIT", b"\x16\x03\x01\x02\x00", b"proxy "],
)
def test_garbage_is_refused_at_once(data: bytes) -> None:
    with pytest.raises(ProxyError, match="not a PROXY"):
        parse_header(data)


def test_a_prefix_of_either_signature_needs_more() -> None:
    for end in range(6):
        assert parse_header(b"PROXY "[:end]) is None
    for end in range(12):
        assert parse_header(V2_SIGNATURE[:end]) is None


# --- fuzzing ---------------------------------------------------------------------

headers = st.sampled_from(
    [
        b"PROXY TCP4 192.0.2.7 10.0.0.1 5555 4000\r\n",
        b"PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n",
        b"PROXY UNKNOWN\r\n",
        v2(),
        v2(command=0, family=0, addresses=b""),
    ]
)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300))
def test_any_bytes_give_a_header_none_or_proxy_error(data: bytes) -> None:
    try:
        header = parse_header(data)
    except ProxyError:
        return
    if header is None:  # only a prefix that could still become a header
        assert len(data) < V1_MAX_LENGTH or data.startswith(V2_SIGNATURE)
    else:
        assert header.length <= len(data)


@settings(max_examples=300, deadline=None)
@given(header=headers, rest=st.binary(max_size=50), cut=st.integers(0, 200))
def test_every_split_of_a_header_waits_then_agrees(header: bytes, rest: bytes, cut: int) -> None:
    whole = parse_header(header + rest)
    assert whole is not None and whole.length == len(header)
    part = (header + rest)[: min(cut, len(header) - 1)]
    assert parse_header(part) is None


@settings(max_examples=300, deadline=None)
@given(header=headers, position=st.integers(0, 200), byte=st.integers(0, 255))
def test_a_corrupted_header_never_crashes(header: bytes, position: int, byte: int) -> None:
    data = bytearray(header)
    data[position % len(data)] = byte
    try:
        result = parse_header(bytes(data))
    except ProxyError:
        return
    assert result is None or result.length <= len(data)
