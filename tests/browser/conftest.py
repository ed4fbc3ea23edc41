"""The real system, served over HTTP on free ports, and a headless Chromium to drive it.

The three services run as in embedded mode (one SQLite file, the SQL event log, their
workers in background threads), each app under its own uvicorn server, all in one
background thread. Debian's Chromium is used as installed; without it the tests skip
(and the run's summary says so, with the command that installs it).

Pages are tried at a desktop width (1280 px) and a phone's (390 px). When a test fails,
every page it left open is saved as a screenshot under ``var/browser-screenshots/``.
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
from playwright.sync_api import expect
from sqlalchemy.orm import Session, sessionmaker

from services.referrals.users import create_user
from tests.conftest import CHROMIUM, INSTALL_CHROMIUM, make_settings

# Assertions wait as long as actions do (the contexts' 20 s): on a loaded CI machine a
# form's answer once took longer than Playwright's default 5 s to appear.
expect.set_options(timeout=20_000)

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
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
FAILURE_SHOTS = Path(__file__).resolve().parents[2] / "var" / "browser-screenshots"


@dataclass
class RunningSystem:
    referrals: str
    directory: str
    matcher: str
    screenshots: Path
    referrals_sessions: sessionmaker[Session]
    directory_sessions: sessionmaker[Session]

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
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} ({INSTALL_CHROMIUM})")
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
        screenshots=shots,
        referrals_sessions=apps["referrals"].state.sessions,
        directory_sessions=apps["directory"].state.sessions,
        **urls,
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


def new_page(browser, viewport: dict[str, int] = DESKTOP):
    """A page in a fresh browser context (no cookies)."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(20_000)
    return context.new_page()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page per test, 1280 px wide."""
    page = new_page(browser)
    yield page
    page.context.close()


@pytest.fixture
def phone(browser):
    """The same at a phone's width, 390 px."""
    page = new_page(browser, PHONE)
    yield page
    page.context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failure, a screenshot of every page the test still has open."""
    report = yield
    browser = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.failed and call.when == "call" and browser is not None:
        FAILURE_SHOTS.mkdir(parents=True, exist_ok=True)
        pages = [p for context in browser.contexts for p in context.pages]
        for n, open_page in enumerate(pages):
            path = FAILURE_SHOTS / f"{item.name}-{n}.png"
            try:
                open_page.screenshot(path=path, full_page=True)
            except Exception as exc:  # a crashed page must not hide the real failure
                report.sections.append(("screenshot", f"could not save {path}: {exc}"))
            else:
                report.sections.append(("screenshot", f"saved {path}"))
    return report


def sign_in(page, system: RunningSystem, username: str) -> None:
    page.goto(f"{system.referrals}/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def accessibility_violations(page) -> list[str]:
    """axe-core's violations on the page as shown now, one line each (none is a pass)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in results.response["violations"]
    ]
