"""`make run` as a user meets it: one process on SQLite, pages and APIs up, and a
restart after Ctrl-C keeps every referral and event."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.system import REFERRAL, eventually

pytestmark = pytest.mark.slow


def _free_base_port() -> int:
    """A base port whose next three ports are free."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + 3 > 65535:
            continue
        try:
            for offset in (1, 2, 3):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no three consecutive free ports")


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"did not stop on Ctrl-C:\n{output}") from None
    return output


def _up(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_make_run_serves_the_flow_and_keeps_data_across_restarts(tmp_path):
    base = _free_base_port()
    env = {
        **os.environ,
        "SP_DATABASE_URL": f"sqlite:///{tmp_path / 'socialrx.db'}",
        "SP_DATA_DIR": str(tmp_path),
        "SP_PORT": str(base),
        "SP_POLL_INTERVAL_S": "0.05",
    }
    referrals = f"http://127.0.0.1:{base + 1}"
    process = _start(env)
    try:
        for port in (base + 1, base + 2, base + 3):
            eventually(lambda p=port: _up(f"http://127.0.0.1:{p}/readyz"), timeout_s=60)
        token = httpx.post(
            f"{referrals}/auth/token", data={"username": "gp", "password": "demo"}
        ).json()["access_token"]
        gp = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{referrals}/referrals", json=REFERRAL, headers=gp)
        assert created.status_code == 201, created.text
        referral_id = created.json()["id"]
        eventually(
            lambda: (
                httpx.get(f"{referrals}/referrals/{referral_id}", headers=gp).json()["status"]
                == "matches_proposed"
            ),
            timeout_s=30,
        )
        assert _up(f"{referrals}/")
    finally:
        first_output = _stop(process)
    assert "Web pages" in first_output and f":{base + 1}/" in first_output
    assert "Stopped." in first_output and "Traceback" not in first_output

    process = _start(env)
    try:
        eventually(lambda: _up(f"{referrals}/readyz"), timeout_s=60)
        again = httpx.get(f"{referrals}/referrals/{referral_id}", headers=gp)
        assert again.status_code == 200
        body = again.json()
        assert body["status"] == "matches_proposed" and body["proposals"]
        listed = httpx.get(f"{referrals}/referrals", headers=gp).json()
        assert [r["id"] for r in listed] == [referral_id], "no demo data loaded twice"
    finally:
        _stop(process)


def _children(pid: int) -> set[int]:
    """Its child processes, whichever of its threads started them."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        out |= {int(p) for p in (task / "children").read_text().split()}
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads Linux's /proc")
def test_make_run_runs_a_process_per_service_and_none_outlives_a_sigkill(tmp_path):
    """The directory and the matcher are processes of their own (one Python process
    holds one core); killing the embedded system outright leaves none of them behind
    holding a port, so it can simply be started again."""
    base = _free_base_port()
    env = {
        **os.environ,
        "SP_DATABASE_URL": f"sqlite:///{tmp_path / 'socialrx.db'}",
        "SP_DATA_DIR": str(tmp_path),
        "SP_PORT": str(base),
    }
    process = _start(env)
    try:
        for port in (base + 1, base + 2, base + 3):
            eventually(lambda p=port: _up(f"http://127.0.0.1:{p}/readyz"), timeout_s=60)
        children = _children(process.pid)
        modules = sorted(_module(pid) for pid in children)
        # and two processes serving the referrals API on its port (SO_REUSEPORT)
        assert modules == [
            "services.directory",
            "services.matcher",
            "services.referrals",
            "services.referrals",
        ]
    finally:
        process.kill()
        process.communicate()
    eventually(lambda: not any(_alive(pid) for pid in children), timeout_s=10)
    assert not _up(f"http://127.0.0.1:{base + 2}/readyz")
    assert not _up(f"http://127.0.0.1:{base + 1}/readyz")


def _module(pid: int) -> str:
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return argv[argv.index("-m") + 1]
