"""Tests for line editing (hubbub.protocols.editing): what the user meant by their keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubbub.protocols.editing import edit_line, needs_editing

BS, DEL, CTRL_U, CTRL_W, ESC = "\x08", "\x7f", "\x15", "\x17", "\x1b"


def is_control(ch: str) -> bool:
    """C0 controls but TAB, DEL, and the C1 controls U+0080..U+009F."""
    return (ch < " " and ch != "\t") or "\x7f" <= ch <= "\x9f"


# --- erasing ----------------------------------------------------------------------


@pytest.mark.parametrize("key", [BS, DEL])
@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("dorx{k}a", "dora"),
        ("abc{k}{k}{k}", ""),
        ("{k}{k}ab", "ab"),  # erasing at the start of the line erases nothing
        ("ab{k}{k}{k}{k}cd", "cd"),
        ("a b{k}{k}c", "ac"),
    ],
)
def test_backspace_and_delete_erase_one_character(key: str, typed: str, meant: str) -> None:
    assert edit_line(typed.format(k=key)) == meant


def test_backspace_erases_a_whole_non_ascii_character() -> None:
    """Erasing works on characters, not bytes: one BS removes a 4-byte emoji or a Cyrillic
    letter."""
    assert edit_line("hi 😀" + BS + "!") == "hi !"
    assert edit_line("Привет" + BS + "д") == "Привед"


def test_ctrl_u_erases_the_line_so_far() -> None:
    assert edit_line("oops" + CTRL_U + "name") == "name"
    assert edit_line("a" + CTRL_U + "b" + CTRL_U) == ""


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("say hello world" + CTRL_W, "say hello "),
        ("say hello   " + CTRL_W, "say "),  # trailing blanks go with the word
        ("say\thello" + CTRL_W + "bye", "say\tbye"),
        ("word" + CTRL_W, ""),
        (CTRL_W + "x", "x"),
        ("a b c" + CTRL_W + CTRL_W, "a "),
    ],
)
def test_ctrl_w_erases_the_word_before_it(typed: str, meant: str) -> None:
    assert edit_line(typed) == meant


# --- escape sequences and other controls -------------------------------------------


@pytest.mark.parametrize("arrow", ["A", "B", "C", "D"])
def test_arrow_keys_are_removed_whole(arrow: str) -> None:
    """ESC [ A … ESC [ D (cursor keys) leave nothing behind, not even the letter."""
    assert edit_line(f"north{ESC}[{arrow}") == "north"
    assert edit_line(f"{ESC}[{arrow}{ESC}[{arrow}go") == "go"


def test_application_mode_keys_are_removed_whole() -> None:
    """A terminal in application cursor mode (DECCKM, e.g. PuTTY or xterm left in it by a
    previous program) sends ESC O A … ESC O D for the arrows and ESC O P for F1 (SS3)."""
    for key in "ABCDP":
        assert edit_line(f"north{ESC}O{key}") == "north", key


@pytest.mark.parametrize(
    "sequence",
    [f"{ESC}[31m", f"{ESC}[0m", f"{ESC}[1;38;5;208m", f"{ESC}[38;2;255;136;0m", f"{ESC}[2J"],
)
def test_colour_and_other_csi_sequences_are_removed_whole(sequence: str) -> None:
    assert edit_line(f"{sequence}red{ESC}[0m text") == "red text"


def test_function_keys_with_parameters_are_removed_whole() -> None:
    """F5 (ESC [ 1 5 ~), Delete (ESC [ 3 ~), shift-arrow (ESC [ 1 ; 2 A)."""
    assert edit_line(f"a{ESC}[15~b{ESC}[3~c{ESC}[1;2Ad") == "abcd"


def test_lone_escape_is_dropped() -> None:
    assert edit_line(ESC) == ""
    assert edit_line("quit" + ESC) == "quit"
    assert edit_line(ESC + ESC + "x") == "x"


def test_backspace_after_an_escape_sequence_erases_typed_text() -> None:
    """The sequence is gone before the keys are applied: BS erases the last real character."""
    assert edit_line(f"ab{ESC}[D{BS}") == "a"


# The 8-bit forms of DCS, SOS, OSC, PM and APC open a string that runs to its
# terminator (or the line's end), and 8-bit CSI takes its final byte with it.
STRING_OPENERS = (0x90, 0x98, 0x9D, 0x9E, 0x9F)


@pytest.mark.parametrize("code", [c for c in range(0x80, 0xA0) if c not in STRING_OPENERS])
def test_c1_controls_are_removed(code: int) -> None:
    text = f"a{chr(code)}1mb" if code == 0x9B else f"a{chr(code)}b"
    assert edit_line(text) == "ab"


@pytest.mark.parametrize("code", STRING_OPENERS)
def test_eight_bit_string_controls_are_removed_with_their_text(code: int) -> None:
    assert edit_line(f"a{chr(code)}secret\x9cb") == "ab"
    assert edit_line(f"a{chr(code)}to the end") == "a"


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("osc \x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\ end", "osc link end"),
        ("title \x1b]0;owned\x07 ok", "title  ok"),
        ("dcs \x1bP1;2|x\x1b\\ ok", "dcs  ok"),
        ("apc \x1b_hidden\x1b\\ ok", "apc  ok"),
        ("c1csi \x9b31mRED \x9d0;title\x9c end", "c1csi RED  end"),
    ],
)
def test_string_controls_and_eight_bit_csi_leave_no_text(typed: str, meant: str) -> None:
    assert edit_line(typed) == meant


@pytest.mark.parametrize("code", [c for c in range(0x20) if c not in (0x08, 0x09, 0x15, 0x17)])
def test_other_c0_controls_are_removed(code: int) -> None:
    assert edit_line(f"a{chr(code)}b") == "ab"


def test_nul_is_stripped() -> None:
    assert edit_line("a\x00b\x00") == "ab"


def test_tab_is_kept() -> None:
    assert edit_line("a\tb") == "a\tb"
    assert edit_line("a\tb\x00\t") == "a\tb\t"
    assert not needs_editing("col1\tcol2")


# --- text that needs nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "Grüße aus Köln",
        "日本語のテキスト",
        "Привет, мир",
        "e\u0301 (e + combining acute), n\u0303",
        "👩\u200d👩\u200d👧 family, 🇫🇷 flag, 👍🏽 thumbs",
        "\u00a0no-break space and \u2028 separator",
        "",
    ],
)
def test_text_without_controls_is_untouched(text: str) -> None:
    """Non-ASCII and multi-code-point characters pass as they are (the same object)."""
    assert not needs_editing(text)
    assert edit_line(text) is text


def test_multi_code_point_text_around_edits_survives() -> None:
    """Edits elsewhere in the line leave combining marks and ZWJ sequences intact."""
    family = "👩\u200d👩\u200d👧"
    assert edit_line(f"x{BS}{family} e\u0301{ESC}[31m!") == f"{family} e\u0301!"


def test_needs_editing_matches_edit_line() -> None:
    for text in ("plain", "tab\there", "bs" + BS, "esc" + ESC, "c1\x85", "nul\x00"):
        assert needs_editing(text) == (edit_line(text) != text), repr(text)


# --- properties -------------------------------------------------------------------------

# Text rich in the characters edit_line acts on.
_interesting = st.sampled_from(
    [BS, DEL, CTRL_U, CTRL_W, ESC, "[", "O", "A", "3", ";", "~", "m", "\t", " ", "\x00", "\x85"]
)
LINES = st.lists(st.one_of(_interesting, st.characters()), max_size=60).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=LINES)
def test_output_is_clean_and_never_longer(text: str) -> None:
    """Whatever arrives, the handler never sees a control character other than TAB,
    and editing never adds characters."""
    out = edit_line(text)
    assert not any(is_control(ch) for ch in out)
    assert len(out) <= len(text)
    assert edit_line(out) == out


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.characters(exclude_categories=("Cc",))))
def test_text_without_control_characters_is_unchanged(text: str) -> None:
    assert edit_line(text) == text
