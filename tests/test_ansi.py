"""hubbub.ansi: colour markup rendered per colour depth, stripped, never broken by text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hubbub
from hubbub import events
from hubbub.ansi import TRUECOLOR, render, strip

from .conftest import Start, until

ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
MARKUP = "{bold}{red}HP{/} 10 {#ff8800}fire{/} {on_blue}sea"


@pytest.mark.parametrize(
    ("colors", "expected"),
    [
        (0, "HP 10 fire sea"),
        (16, "\x1b[1m\x1b[31mHP\x1b[0m 10 \x1b[33mfire\x1b[0m \x1b[44msea\x1b[0m"),
        (256, "\x1b[1m\x1b[31mHP\x1b[0m 10 \x1b[38;5;208mfire\x1b[0m \x1b[44msea\x1b[0m"),
        (
            TRUECOLOR,
            "\x1b[1m\x1b[31mHP\x1b[0m 10 \x1b[38;2;255;136;0mfire\x1b[0m \x1b[44msea\x1b[0m",
        ),
    ],
)
def test_render_by_depth(colors: int, expected: str) -> None:
    assert render(MARKUP, colors=colors) == expected


def test_names_styles_backgrounds_and_short_hex() -> None:
    assert render("{bright_cyan}a{on_bright_white}b", colors=16) == ("\x1b[96ma\x1b[107mb\x1b[0m")
    assert render("{underline}{strike}u", colors=16) == "\x1b[4m\x1b[9mu\x1b[0m"
    assert render("{#f80}x", colors=TRUECOLOR) == "\x1b[38;2;255;136;0mx\x1b[0m"
    assert render("{on_#000000}x", colors=256) == "\x1b[48;5;16mx\x1b[0m"
    assert render("{#808080}grey", colors=256) == "\x1b[38;5;244mgrey\x1b[0m"


def test_braces_and_unknown_tags_stay_text() -> None:
    assert strip("{{grin}} {grin} {on_/} {RED} }}") == "{grin} {grin} {on_/} {RED} }"
    assert render("say {hello}", colors=16) == "say {hello}"
    assert render("{/}plain", colors=16) == "plain"  # a reset with nothing to reset


def test_render_follows_the_client() -> None:
    class Seen:
        colors = 256
        screen_reader = False

    client = Seen()
    assert render("{red}x", client) == "\x1b[31mx\x1b[0m"  # type: ignore[arg-type]
    client.screen_reader = True
    assert render("{red}x", client) == "x"  # type: ignore[arg-type]
    assert render("{red}x") == "x"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}/#_abcdefonrl0123456789 ")), max_size=60))
def test_any_text_renders_and_strips_without_error(text: str) -> None:
    plain = strip(text)
    assert "\x1b" not in plain
    for colors in (16, 256, TRUECOLOR):
        rendered = render(text, colors=colors)
        # Removing the escapes gives the plain text back.
        assert ESCAPE.sub("", rendered) == plain


async def test_clients_colour_depth_by_transport(start: Start) -> None:
    """A browser is truecolour; a telnet client's terminal type sets its depth."""
    from hubbub.terminal import colors_of

    assert colors_of("XTERM-256COLOR") == 256
    assert colors_of("ANSI-TRUECOLOR") == TRUECOLOR
    assert colors_of("ANSI") == 16
    assert colors_of("TINTIN++") == 0
    service = hubbub.Service(listen=["ws://127.0.0.1:0?page=0"])
    clients: list[hubbub.Client] = []
    service.listen(events.Connect, lambda e: clients.append(e.client))
    await start(service)
    from websockets.asyncio.client import connect

    address = service.servers[0].address
    assert isinstance(address, tuple)
    async with connect(f"ws://127.0.0.1:{address[1]}/"):
        await until(lambda: clients)
        assert clients[0].colors == TRUECOLOR
        assert clients[0].snapshot()["colors"] == TRUECOLOR
