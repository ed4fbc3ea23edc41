"""`make run`'s demo activity: a first start on an empty database refers and works demo
people through the real APIs, so the worklist has work and the reports have figures; a
second start adds nothing."""

from __future__ import annotations

import os
import signal
import threading

import httpx
import pytest

from tests.e2e.system import eventually
from tests.e2e.test_embedded_run import _free_base_port, _start, _up

pytestmark = pytest.mark.slow

SIZE = 24


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
    }
    referrals, directory = f"http://127.0.0.1:{base + 1}", f"http://127.0.0.1:{base + 2}"
    process = _start(env)
    lines: list[str] = []
    reader = _collect(process, lines)
    try:
        eventually(lambda: any("demo activity:" in line for line in lines), timeout_s=120)
        summary = next(line for line in lines if "demo activity:" in line)
        assert f"{SIZE} referrals" in summary, summary
        assert "connected" in summary and "reached" in summary, summary

        worker = _token(referrals, "linkworker")
        worklist = httpx.get(f"{referrals}/worklist", headers=worker).json()
        assert worklist, "the worklist has work"
        statuses = {row["status"] for row in worklist}
        assert {"matches_proposed", "connected"} <= statuses, statuses
        assert any(row["connected_to"] for row in worklist)
        waiting = [row["id"] for row in worklist if row["status"] == "matches_proposed"]
        assert any(  # some needs (bagpipes) have nothing in the directory: no proposals
            httpx.get(f"{referrals}/referrals/{rid}", headers=worker).json()["proposals"]
            for rid in waiting
        ), "the matcher proposed"

        commissioner = _token(referrals, "commissioner")

        def demand() -> dict | None:  # the read model is fed by events: eventually
            body = httpx.get(
                f"{directory}/reports/demand", params={"preset": "this_month"}, headers=commissioner
            ).json()
            return body if _has_figures(body) else None

        assert eventually(demand, timeout_s=30)
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
        assert count == SIZE, "a second start adds no demo activity"
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
