"""The real system, served over HTTP on free ports, and a headless Chromium to drive it.

The three services run as in embedded mode (one SQLite file, the SQL event log, their
workers in background threads), each app under its own uvicorn server, all in one
background thread. Debian's Chromium is used as installed; without it the tests skip.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from services.referrals.users import create_user
from tests.conftest import make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PASSWORD = "demo"  # the embedded mode's demo accounts


@dataclass
class RunningSystem:
    referrals: str
    directory: str
    matcher: str
    screenshots: Path
    referrals_sessions: sessionmaker[Session]

    def add_user(self, role: str, **scope: str) -> str:
        """A new account (password ``demo``) with ``role`` and its scope; its username."""
        username = f"{role}-{uuid.uuid4().hex[:8]}"
        with self.referrals_sessions.begin() as session:
            create_user(
                session,
                username=username,
                name=f"Test {role}",
                role=role,
                password=PASSWORD,
                **scope,
            )
        return username


def _listening_sockets(offsets: dict[str, int]) -> tuple[int, dict[str, socket.socket]]:
    """A base port whose service ports (base + offset, as the embedded mode lays them
    out) are all free, with a socket already listening on each."""
    for _ in range(50):
        base = random.randint(20_000, 60_000)
        sockets: dict[str, socket.socket] = {}
        try:
            for name, offset in offsets.items():
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets[name] = sock
                sock.bind(("127.0.0.1", base + offset))
                sock.listen(128)
        except OSError:
            for sock in sockets.values():
                sock.close()
            continue
        return base, sockets
    raise RuntimeError("found no free run of ports for the services")


@pytest.fixture(scope="session")
def running_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSystem]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from services.__main__ import PORT_OFFSETS, build_apps

    tmp = tmp_path_factory.mktemp("browser-system")
    base, sockets = _listening_sockets(PORT_OFFSETS)
    urls = {name: f"http://127.0.0.1:{s.getsockname()[1]}" for name, s in sockets.items()}
    settings = make_settings(
        f"sqlite:///{tmp / 'socialrx.db'}", tmp, load_demo_data=True, port=base, host="127.0.0.1"
    )
    apps = build_apps(settings)
    told = apps["referrals"].state.settings
    assert (told.referrals_url, told.directory_url) == (urls["referrals"], urls["directory"])
    servers = {
        name: uvicorn.Server(uvicorn.Config(app, log_level="warning")) for name, app in apps.items()
    }

    async def serve_all() -> None:
        await asyncio.gather(*(s.serve(sockets=[sockets[n]]) for n, s in servers.items()))

    thread = threading.Thread(target=asyncio.run, args=(serve_all(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not all(s.started for s in servers.values()):
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the services did not start within 30 s")
        time.sleep(0.05)
    shots = tmp_path_factory.mktemp("screenshots")
    yield RunningSystem(
        screenshots=shots, referrals_sessions=apps["referrals"].state.sessions, **urls
    )
    for server in servers.values():
        server.should_exit = True
    thread.join(timeout=15)
    for sock in sockets.values():
        sock.close()
    print(f"\nbrowser screenshots: {shots}")


@pytest.fixture(scope="session")
def browser(running_system: RunningSystem):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page per test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page, system: RunningSystem, username: str) -> None:
    page.goto(f"{system.referrals}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
