"""What a client's terminal can do, from TTYPE/MTTS and NEW-ENVIRON (hubbub.terminal)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import hubbub
from hubbub import events
from hubbub.ansi import TRUECOLOR
from hubbub.terminal import (
    MAX_ENVIRON,
    colors_of,
    colors_of_mtts,
    learn_environ,
    learn_terminal_types,
)

from .conftest import Start, connect, until


@pytest.fixture
async def client(start: Start) -> AsyncIterator[hubbub.Client]:
    """A real client of a tcp:// service (it says nothing about its terminal)."""
    service = hubbub.Service(listen=["tcp://127.0.0.1:0"])
    seen: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: seen.append(e.client))
    await start(service)
    peer = await connect(service)
    await until(lambda: seen)
    yield seen[0]
    await peer.close()


@pytest.mark.parametrize(
    ("mtts", "colors"), [(0, 0), (1, 16), (9, 256), (265, TRUECOLOR), (256, TRUECOLOR)]
)
def test_colors_of_mtts(mtts: int, colors: int) -> None:
    assert colors_of_mtts(mtts) == colors


def test_colors_of_names() -> None:
    assert colors_of("xterm-256color") == 256
    assert colors_of("VT100") == 16
    assert colors_of("MUDLET") == 0


async def test_terminal_types_and_mtts(client: hubbub.Client) -> None:
    learn_terminal_types(client, ["TINTIN++", "XTERM-256COLOR", "MTTS 2829"], 2829)
    assert client.terminal == "TINTIN++"
    assert client.terminal_types == ["TINTIN++", "XTERM-256COLOR", "MTTS 2829"]
    assert client.mtts == 2829
    assert client.colors == TRUECOLOR  # bit 256
    assert client.utf8 and not client.screen_reader


async def test_mtts_screen_reader_bit_only_ever_turns_it_on(client: hubbub.Client) -> None:
    learn_terminal_types(client, ["X"], 64 | 1)
    assert client.screen_reader and client.colors == 16
    learn_terminal_types(client, ["X"], 1)
    assert client.screen_reader


async def test_environ_facts(client: hubbub.Client) -> None:
    learn_environ(client, {"CLIENT_NAME": "MUDLET", "CHARSET": "utf8", "MTTS": "137"})
    assert client.environ == {"CLIENT_NAME": "MUDLET", "CHARSET": "utf8", "MTTS": "137"}
    assert client.utf8 and client.mtts == 137 and client.colors == 256
    assert client.screen_reader is False
    learn_environ(client, {"SCREEN_READER": "1"})
    assert client.screen_reader
    learn_environ(client, {"SCREEN_READER": "0"})  # Mudlet's switch turned off again
    assert not client.screen_reader
    learn_environ(client, {"SCREEN_READER": "maybe", "MTTS": "lots"})  # nonsense: no change
    assert not client.screen_reader and client.mtts == 137


async def test_environ_terminal_type_fills_an_unknown_terminal(client: hubbub.Client) -> None:
    learn_environ(client, {"TERMINAL_TYPE": "xterm-256color"})
    assert (client.terminal, client.colors) == ("xterm-256color", 256)
    learn_environ(client, {"TERMINAL_TYPE": "vt100"})  # TTYPE's answer, once known, stays
    assert client.terminal == "xterm-256color"


async def test_environ_is_bounded(client: hubbub.Client) -> None:
    for i in range(1000):
        learn_environ(client, {f"VAR{i}": "x"})
    assert len(client.environ) == MAX_ENVIRON
    learn_environ(client, {"VAR0": "changed"})  # known names still update
    assert client.environ["VAR0"] == "changed"


async def test_mtts_bits_from_every_source_add_up(client: hubbub.Client) -> None:
    """TinTin++: MTTS 783 in NEW-ENVIRON (with the MNES bit), MTTS 271 in TTYPE."""
    learn_environ(client, {"MTTS": "783"})
    learn_terminal_types(client, ["TINTIN++", "tmux-256color", "MTTS 271"], 271)
    assert client.mtts == 783
