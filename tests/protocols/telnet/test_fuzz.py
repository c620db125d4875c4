"""The telnet machine with every option on, fuzzed: hypothesis drives the fuzz target's
input generator and checks (fuzz/telnet.py); CI also runs the target itself briefly."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz import telnet as fuzz


@settings(max_examples=400, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_every_option_whole_or_cut_gives_the_same(rng: random.Random) -> None:
    """No exception, the same data, records, replies and options however the input is cut,
    and a bounded saved state."""
    fuzz.check(fuzz.make_input(rng), rng)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), seed=st.integers(0, 2**32))
def test_any_bytes_with_every_option(data: bytes, seed: int) -> None:
    fuzz.check(data, random.Random(seed))


def test_the_fuzz_target_runs() -> None:
    """A short run of ``python -m fuzz.telnet`` (docs/telnet.md records the long one)."""
    assert fuzz.run(seed=12345, inputs=3000, timeout=5.0) == 3000


def test_the_fuzz_target_reports_a_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """A check that fails stops the run (the target cannot pass by accident)."""

    def broken(data: bytes, rng: random.Random) -> None:
        raise AssertionError("planted")

    monkeypatch.setattr(fuzz, "check", broken)
    with pytest.raises(AssertionError, match="planted"):
        fuzz.run(seed=1, inputs=10, timeout=5.0)
