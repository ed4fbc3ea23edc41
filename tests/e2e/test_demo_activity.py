"""`make run`'s demo activity: a first start on an empty database plays back-dated months
of referrals through the real use cases, so the worklist has work and every report has
figures; a second start adds nothing. A small, fast version of the demo year: 60 people
over three months, reported with a threshold of 2."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from tests.e2e.system import eventually
from tests.e2e.test_embedded_run import _free_base_port, _start, _up

pytestmark = pytest.mark.slow

SIZE = 60
MONTHS = 3
REPORTS = ("demand", "gaps", "outcomes", "funnel", "waiting-times", "responsiveness")


def _token(base: str, username: str) -> dict:
    r = httpx.post(f"{base}/auth/token", data={"username": username, "password": "demo"})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _stop(process) -> None:
    process.send_signal(signal.SIGINT)  # Ctrl-C; the reader thread drains the output
    try:
        process.wait(timeout=60)
    except Exception:
        process.kill()
        raise


def _collect(process, lines: list[str]) -> threading.Thread:
    def read() -> None:
        for line in process.stdout:
            lines.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread


def test_a_first_start_fills_the_worklist_and_the_reports_and_a_second_adds_nothing(tmp_path):
    base = _free_base_port()
    env = {
        **os.environ,
        "SP_DATABASE_URL": f"sqlite:///{tmp_path / 'socialrx.db'}",
        "SP_DATA_DIR": str(tmp_path),
        "SP_PORT": str(base),
        "SP_POLL_INTERVAL_S": "0.05",
        "SP_DEMO_ACTIVITY": "true",
        "SP_DEMO_ACTIVITY_REFERRALS": str(SIZE),
        "SP_DEMO_ACTIVITY_MONTHS": str(MONTHS),
        "SP_SMALL_NUMBER_THRESHOLD": "2",
    }
    referrals, directory = f"http://127.0.0.1:{base + 1}", f"http://127.0.0.1:{base + 2}"
    process = _start(env)
    lines: list[str] = []
    reader = _collect(process, lines)
    try:

        def summary() -> str | None:
            return next((x for x in lines if "demo activity: " in x and "referrals," in x), None)

        summary = eventually(summary, timeout_s=240)
        assert "connected" in summary and "reached" in summary and "closed" in summary, summary
        made = int(summary.split("demo activity: ")[1].split(" referrals")[0])
        assert SIZE * 0.7 <= made <= SIZE * 1.3, summary
        assert any("demo year: link work" in line for line in lines), "progress is shown"

        worker = _token(referrals, "linkworker")
        worklist = httpx.get(f"{referrals}/worklist", headers=worker).json()
        assert worklist, "the worklist has work"
        assert len({row["status"] for row in worklist}) >= 2, "work at different stages"
        assert any(row["connected_to"] for row in worklist)
        assert max(row["waiting_days"] for row in worklist) > 7, "back-dated: some wait long"
        gp, gp2 = _token(referrals, "gp"), _token(referrals, "gp2")
        mine = httpx.get(f"{referrals}/referrals", headers=gp).json()
        months = {row["created_at"][:7] for row in mine}
        assert len(months) >= 2, f"referrals spread over the months: {months}"
        assert any(row["status"] == "closed" for row in mine), "some stories finished"

        commissioner = _token(referrals, "commissioner")

        def every_report() -> dict | None:  # the read model is fed by events: eventually
            bodies = {
                name: httpx.get(
                    f"{directory}/reports/{name}",
                    params={"preset": "last_12_months"},
                    headers=commissioner,
                ).json()
                for name in REPORTS
            }
            empty = [name for name, body in bodies.items() if not _has_figures(body)]
            return bodies if not empty else None

        assert eventually(every_report, timeout_s=60)
        first_count = len(mine) + len(httpx.get(f"{referrals}/referrals", headers=gp2).json())
    finally:
        _stop(process)
        reader.join(timeout=5)
    assert "Traceback" not in "".join(lines)

    process = _start(env)
    lines = []
    reader = _collect(process, lines)
    try:
        eventually(lambda: _up(f"{referrals}/readyz"), timeout_s=60)
        gp, gp2 = _token(referrals, "gp"), _token(referrals, "gp2")
        count = sum(len(httpx.get(f"{referrals}/referrals", headers=h).json()) for h in (gp, gp2))
        assert count == first_count, "a second start adds no demo activity"
    finally:
        _stop(process)
        reader.join(timeout=5)
    assert not any("demo activity:" in line for line in lines)


def _has_figures(value) -> bool:
    """Somewhere in the report, a positive count that is not suppressed."""
    if isinstance(value, dict):
        return any(_has_figures(v) for k, v in value.items() if k != "suppression_threshold")
    if isinstance(value, list):
        return any(_has_figures(v) for v in value)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0
