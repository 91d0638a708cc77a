"""The test suite's own configuration: under CI the PostgreSQL store tests fail when PostgreSQL is
missing instead of skipping (a skipped store backend must not pass for a green CI run); on a
developer's machine without PostgreSQL they still skip.

It runs pytest on two of those tests in a subprocess, with and without CI set. (It lives here
because tests/store is another helper's area; move it there at will.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
POSTGRES_TESTS = [
    "tests/store/test_postgres.py::test_store_from_dsn_picks_postgres",  # skipped by a module mark
    "tests/store/test_contract.py::test_round_trip_of_requests_with_attempts[postgres]",  # by the fixture
]


def run_store_tests(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HOLDFAST_TEST_POSTGRES_DSN")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *POSTGRES_TESTS],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("ci", ["true"])
def test_under_ci_a_missing_postgresql_fails_the_run(ci: str) -> None:
    result = run_store_tests(ci)
    assert result.returncode != 0, result.stdout
    assert result.stdout.count("CI is set but PostgreSQL is missing") >= 2, result.stdout
    assert "skipped" not in result.stdout.splitlines()[-1]


@pytest.mark.parametrize("ci", [None, "false"])
def test_without_ci_a_missing_postgresql_skips(ci: str | None) -> None:
    result = run_store_tests(ci)
    assert result.returncode == 0, result.stdout
    assert "2 skipped" in result.stdout.splitlines()[-1], result.stdout
