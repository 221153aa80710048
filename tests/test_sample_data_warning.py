"""The missing grocery sample is mentioned only when a selected test needed it and was skipped."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MESSAGE = "that need the grocery sample were SKIPPED"


def _run_pytest(tmp_path: Path, test_source: str) -> str:
    (tmp_path / "test_probe.py").write_text(test_source)
    env = {**os.environ, "LOYALTY_GROCERY_SAMPLE": str(tmp_path / "absent"),
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "sample_data", "-p", "no:cacheprovider", "-q",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_probe.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_no_warning_when_no_selected_test_uses_the_sample(tmp_path: Path) -> None:
    assert MESSAGE not in _run_pytest(tmp_path, "def test_plain():\n    assert True\n")


def test_warning_names_the_skipped_tests(tmp_path: Path) -> None:
    out = _run_pytest(tmp_path, "def test_a(grocery_sample):\n    pass\n\ndef test_b(grocery_sample):\n    pass\n")
    assert f"2 test(s) {MESSAGE}" in out


def test_the_suite_header_does_not_warn() -> None:
    """The suite's header no longer warns up front about a sample no selected test may use."""
    import conftest

    assert not [line for line in conftest.pytest_report_header(None) if "grocery" in line]  # type: ignore[arg-type]
