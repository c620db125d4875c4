"""The open-files limit (fd_limit.py), checked in subprocesses so the limits they set
never touch the test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json
import logging
import resource
import sys

logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
soft, hard = (int(x) for x in sys.argv[1:3])
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

from hubbub.fd_limit import connection_capacity

capacity = connection_capacity(int(sys.argv[3]))
print(json.dumps({"capacity": capacity, "limit": resource.getrlimit(resource.RLIMIT_NOFILE)}))
"""


def capacity_with(
    soft: int, hard: int, max_connections: int
) -> tuple[dict[str, object], list[str]]:
    """Run connection_capacity() under the given limits: its result and its log lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBBUB_")}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(soft), str(hard), str(max_connections)],
        env=env,
        capture_output=True,
        text=True,
        timeout=15,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr.splitlines()


def test_low_hard_limit_caps_the_clients_and_warns_once() -> None:
    """With a hard limit of 200, 10,000 connections cannot fit: 200 - 64 = 136 are
    admitted, and one WARNING says so with the numbers the operator needs."""
    outcome, log = capacity_with(200, 200, 10_000)
    assert outcome == {"capacity": 136, "limit": [200, 200]}
    warnings = [line for line in log if line.startswith("WARNING")]
    assert len(warnings) == 1
    for fact in ("open-files limit is 200", "hard limit 200", "max_connections=10000", "136"):
        assert fact in warnings[0]


def test_soft_limit_is_raised_as_far_as_needed() -> None:
    """With room under the hard limit, the soft limit goes up to max_connections + 64
    (not to the hard limit), every connection fits, and nothing is logged as a warning."""
    outcome, log = capacity_with(256, 4096, 1000)
    assert outcome == {"capacity": 1000, "limit": [1064, 4096]}
    assert not [line for line in log if line.startswith("WARNING")]


def test_soft_limit_is_raised_to_the_hard_limit_when_that_is_all_there_is() -> None:
    """When the hard limit is between the soft limit and what is needed, the soft limit
    is raised to the hard limit and the clients that fit under it are admitted."""
    outcome, log = capacity_with(256, 600, 10_000)
    assert outcome == {"capacity": 536, "limit": [600, 600]}
    warnings = [line for line in log if line.startswith("WARNING")]
    assert len(warnings) == 1 and "open-files limit is 600" in warnings[0]
