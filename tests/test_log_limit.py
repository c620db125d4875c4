"""LogLimit: a burst in full, then at most one line per period with a count, nothing lost."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import pytest

from hubbub.log_limit import LogLimit

PERIOD = 0.05
LOGGER = logging.getLogger("tests.log_limit")


class Records:
    """The records of this module's logger, as the test runs."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def __iter__(self) -> Iterator[logging.LogRecord]:
        return iter([r for r in self.caplog.records if r.name == LOGGER.name])

    def __getitem__(self, index: int) -> logging.LogRecord:
        return list(self)[index]


@pytest.fixture
def records(caplog: pytest.LogCaptureFixture) -> Records:
    caplog.set_level(logging.DEBUG, logger=LOGGER.name)
    return Records(caplog)


def messages(records: Records) -> list[str]:
    return [r.getMessage() for r in records]


def test_burst_goes_through_and_its_last_line_says_more_are_counted(
    records: Records,
) -> None:
    """The first ``burst`` lines are logged; the last of them says what happens next."""
    limit = LogLimit(burst=3, period=60)
    written = [limit.log(LOGGER, logging.WARNING, "peer %s misbehaved", n) for n in range(3)]
    assert written == [True, True, True]
    lines = messages(records)
    assert lines[:2] == ["peer 0 misbehaved", "peer 1 misbehaved"]
    assert len(lines) == 3
    assert lines[2].startswith("peer 2 misbehaved")
    assert "more like this are counted" in lines[2] and "60 s" in lines[2]
    assert all(r.levelno == logging.WARNING for r in records)


def test_lines_after_the_burst_are_suppressed_within_the_period(
    records: Records,
) -> None:
    """Past the burst, nothing more is written until the period is over."""
    limit = LogLimit(burst=2, period=60)
    for n in range(2):
        limit.log(LOGGER, logging.INFO, "line %d", n)
    assert [limit.log(LOGGER, logging.INFO, "line %d", n) for n in range(2, 500)] == [False] * 498
    assert len(messages(records)) == 2


def test_one_line_per_period_carries_the_suppressed_count(
    records: Records,
) -> None:
    """After the period, the next occurrence is logged with how many were left out."""
    limit = LogLimit(burst=2, period=PERIOD)
    for n in range(2):
        limit.log(LOGGER, logging.INFO, "line %d", n)
    for n in range(10):
        assert not limit.log(LOGGER, logging.INFO, "line x%d", n)
    time.sleep(PERIOD * 1.5)
    assert limit.log(LOGGER, logging.INFO, "line late")
    assert not limit.log(LOGGER, logging.INFO, "line later")  # a new period began
    lines = messages(records)
    assert len(lines) == 3
    assert lines[2].startswith("line late")
    assert "10 more like it" in lines[2]


def test_after_a_quiet_period_a_line_is_logged_plainly(records: Records) -> None:
    """A line after a period with nothing suppressed carries no count."""
    limit = LogLimit(burst=1, period=PERIOD)
    limit.log(LOGGER, logging.INFO, "first")
    time.sleep(PERIOD * 1.5)
    assert limit.log(LOGGER, logging.INFO, "second")
    assert messages(records)[1] == "second"


def test_rate_over_time_is_bounded_and_nothing_is_lost_from_the_count(
    records: Records,
) -> None:
    """Logging non-stop for 0.25 s writes at most one line per period after the burst,
    and the burst, the logged lines and the counts they report add up to every call."""
    limit = LogLimit(burst=3, period=PERIOD)
    calls = 0
    started = time.monotonic()
    while time.monotonic() - started < 0.25:
        limit.log(LOGGER, logging.INFO, "event")
        calls += 1
        time.sleep(0.001)
    elapsed = time.monotonic() - started
    limit.summary(LOGGER, logging.INFO, "event")
    lines = messages(records)
    after_burst = lines[3:]
    summaries = [line for line in after_burst if line.startswith("event: ")]
    periodic = [line for line in after_burst if not line.startswith("event: ")]
    reported = sum(
        int(found.group(1))
        for found in (re.search(r"(\d+) more", line) for line in after_burst)
        if found
    )
    assert 1 <= len(periodic) <= elapsed / PERIOD + 1
    assert len(summaries) <= 1
    assert 3 + len(periodic) + reported == calls


def test_summary_logs_the_count_once(records: Records) -> None:
    """``summary()`` reports the suppressed lines once; a second call has nothing to say."""
    limit = LogLimit(burst=1, period=60)
    limit.log(LOGGER, logging.INFO, "noise")
    for _ in range(7):
        limit.log(LOGGER, logging.INFO, "noise")
    limit.summary(LOGGER, logging.WARNING, "%s: noise", "peer")
    limit.summary(LOGGER, logging.WARNING, "%s: noise", "peer")
    lines = messages(records)
    assert len(lines) == 2
    assert lines[1] == "peer: noise: 7 more not logged"
    assert records[-1].levelno == logging.WARNING


def test_summary_with_nothing_suppressed_is_silent(records: Records) -> None:
    """A source that never passed its burst gets no summary line."""
    limit = LogLimit(burst=3, period=60)
    limit.log(LOGGER, logging.INFO, "once")
    limit.summary(LOGGER, logging.INFO, "summary")
    assert messages(records) == ["once"]


def test_exc_info_is_kept_on_the_lines_written(records: Records) -> None:
    """Tracebacks go with the lines that are written (handler errors rely on it)."""
    limit = LogLimit(burst=2, period=60)
    for _ in range(5):
        try:
            raise ValueError("boom")
        except ValueError:
            limit.log(LOGGER, logging.ERROR, "failed", exc_info=True)
    mine = list(records)
    assert len(mine) == 2
    assert all(r.exc_info is not None and r.exc_info[0] is ValueError for r in mine)
