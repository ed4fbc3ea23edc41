"""`make test` on a machine without Chromium says so in its summary, with the command
that installs it, instead of skipping the browser tests quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_skipped_browser_tests_are_named_with_the_command_that_installs_chromium(tmp_path):
    env = {**os.environ, "SP_TEST_CHROMIUM": str(tmp_path / "no-chromium"), "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/browser/test_every_page.py::test_commissioner_pages",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "browser tests not run" in run.stdout
    assert "1 browser tests were skipped: Chromium is not installed" in run.stdout
    assert "Install it with:  make browser-deps" in run.stdout
