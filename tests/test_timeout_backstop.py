"""A test whose timeout failure the code under test swallows (as a task catching BaseException does)
still ends the run, naming the test, instead of hanging CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SWALLOWING = """
def test_swallowing_loop() -> None:
    while True:  # a busy loop that swallows whatever is raised inside it, as a task might
        try:
            while True:
                pass
        except BaseException:
            pass
"""


def test_a_swallowed_timeout_ends_the_run_with_the_tests_name(tmp_path: Path) -> None:
    """pytest-timeout's failure is swallowed; the backstop names the test and exits 1."""
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_hang.py").write_text(SWALLOWING)
    env = {**os.environ, "ZOHO_CONVERT_TEST_BACKSTOP": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "timeout=1",
            "test_hang.py",
        ],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "TIMEOUT: test_hang.py::test_swallowing_loop still running" in done.stdout
