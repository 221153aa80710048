"""The shared grocery sample: a fixture that skips without it, and one warning at the end of
the run only when a test that needs it was actually skipped (a run that selects no such test
says nothing about it).

Loaded by conftest.py as a plugin; ``LOYALTY_GROCERY_SAMPLE`` points at another copy.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("LOYALTY_GROCERY_SAMPLE")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "grocery-sample"
)


def sample_available() -> bool:
    return (SHARED_DATA / "scans.csv.gz").exists()


@pytest.fixture(scope="session")
def grocery_sample() -> Path:
    if not sample_available():
        pytest.skip(f"SKIPPED: needs the shared grocery sample at {SHARED_DATA}")
    return SHARED_DATA


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Warn once, after the results, naming how many selected tests the missing sample skipped.

    Counted from the skip reports (under xdist the workers' skips arrive here as reports)."""
    reports = terminalreporter.stats.get("skipped", [])
    skipped = [r for r in reports if "needs the shared grocery sample" in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"WARNING: {SHARED_DATA} is missing: {len(skipped)} test(s) that need the grocery sample were SKIPPED",
            yellow=True, bold=True,
        )
