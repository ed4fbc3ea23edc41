"""The short form of ``make load``, run by ``make test``: a few seconds of traffic on each
bus (about 15 s each, start-up included), ending with the one summary line per bus that
scripts read, and nothing lost or doubled. ``SP_TEST_LOAD_SECONDS`` and
``SP_TEST_LOAD_RATE`` make it longer or faster; ``make load`` is the full run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^(sql|kafka): \d+\.\d referrals/s accepted, proposals p50 \d+ ms p99 \d+ ms,"
    r" lost (\d+), doubled (\d+)$"
)

pytestmark = [pytest.mark.slow, pytest.mark.load]
SECONDS = os.environ.get("SP_TEST_LOAD_SECONDS", "5")
RATE = os.environ.get("SP_TEST_LOAD_RATE", "10")


@pytest.mark.parametrize(
    "bus", ["sql", pytest.param("kafka", marks=[pytest.mark.kafka, pytest.mark.postgres])]
)
def test_a_short_load_run_prints_its_summary_and_loses_nothing(bus):
    run = subprocess.run(
        [sys.executable, "-m", "tools.load", "--seconds", SECONDS, "--rate", RATE, "--buses", bus],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in run.stdout.splitlines() if LINE.match(line)]
    assert len(lines) == 1, run.stdout + run.stderr
    bus_name, lost, doubled = LINE.match(lines[0]).groups()
    assert (bus_name, lost, doubled) == (bus, "0", "0"), lines[0]
    assert run.returncode == 0, run.stdout + run.stderr
    cpu = next(line for line in run.stdout.splitlines() if line.startswith(f"{bus} cpu per"))
    # on Kafka the services' PostgreSQL is on the same cores: its CPU is in the line
    assert ("postgres" in cpu) == (bus == "kafka"), cpu


def test_postgres_cpu_counts_backends_started_during_the_run():
    from tools.load import used_since

    # pid 10 ran throughout, pid 11 started during the run, pid 12 ended before it closed
    assert used_since({10: 1.0, 12: 5.0}, {10: 1.5, 11: 0.25}) == pytest.approx(0.75)
