"""The embedded default: every service on one machine, on SQLite and the SQL event log.

    python -m services          (what ``make run`` starts)

Referrals, directory and matcher each run as a process of their own with their own HTTP
port, as in production (``python -m services.directory`` and ``services.matcher`` are
started here; the referrals API in ``SP_REFERRALS_PROCESSES`` processes on its one port,
its relay and consumers in this one), relays and consumers as background threads.
A process of its own each, because one Python process holds one core however many
threads it runs: with all three in one process, the embedded system answered 20
referrals/s with proposals p99 4.8 s, as three processes 0.9 s (``make load``). The
children die with this process, even when it is killed outright. Everything is kept in
SQLite files under ``var/``, so stopping and starting again loses nothing: the referrals
service's tables in ``socialrx.db`` (``SP_DATABASE_URL``), the directory's, the
matcher's and the SQL event log in ``socialrx-directory.db``, ``socialrx-matcher.db``
and ``socialrx-events.db`` beside it (``services.layout``: a file each, so no service's
writes wait for another's). A database made before that, one file holding every
service's tables, is kept as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time

import httpx
import uvicorn

from services.layout import EVENT_LOG, database_layout
from shared.runtime import listening_socket
from shared.settings import Settings

#: Each service listens on SP_PORT (default 8000) plus its offset: 8001, 8002, 8003.
PORT_OFFSETS = {"referrals": 1, "directory": 2, "matcher": 3}


def ports(settings: Settings) -> dict[str, int]:
    return {name: settings.port + offset for name, offset in PORT_OFFSETS.items()}


def service_values(settings: Settings, name: str) -> dict:
    """What one service's settings differ by in embedded mode: its port, its database,
    and where the others are (the same whether it runs in this process or a child)."""
    port = ports(settings)
    base = f"http://{settings.host}"
    layout = database_layout(settings.database_url, settings.bus_database_url)
    return {
        "port": port[name],
        "database_url": layout[name],
        "bus_database_url": layout[EVENT_LOG],
        "load_demo_data": True,
        "instance_id": "embedded",
        "referrals_url": f"{base}:{port['referrals']}",
        "directory_url": f"{base}:{port['directory']}",
        "matcher_url": f"{base}:{port['matcher']}",
    }


def for_service(settings: Settings, name: str) -> Settings:
    return settings.model_copy(update=service_values(settings, name))


def build_apps(settings: Settings) -> dict:
    """The three apps in this one process (the browser tests serve them so); ``make run``
    runs the directory and the matcher as processes of their own instead."""
    from services.directory.app import create_app as directory_app
    from services.matcher.app import create_app as matcher_app
    from services.referrals.app import create_app as referrals_app

    # The directory loads the demo data, so it comes first; its events wait in its outbox.
    return {
        "directory": directory_app(for_service(settings, "directory")),
        "matcher": matcher_app(for_service(settings, "matcher")),
        "referrals": referrals_app(for_service(settings, "referrals")),
    }


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve_all``, which also stops
    the children."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


#: The services started as child processes, in this order (the directory loads the demo
#: data, so it comes first; its events wait in its outbox), each once the one before is
#: ready: processes sharing one event log would otherwise migrate it at once.
CHILDREN = ("directory", "matcher")


def _child_env(settings: Settings, name: str, **more) -> dict[str, str]:
    """The child's settings, as the environment it reads them from."""
    values = {
        **service_values(settings, name),
        "bus": "sql",
        "data_dir": settings.data_dir,
        "demo_activity": False,
        "access_log": False,  # as quiet as the referrals service here
        **more,
    }
    return {**os.environ, **as_env(values)}


def as_env(values: dict) -> dict[str, str]:
    """Settings as the ``SP_`` environment variables a service process reads them from."""
    return {
        f"SP_{key.upper()}": str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in values.items()
    }


def _die_with_parent() -> None:
    """In the child, before it runs: the kernel kills it when this process dies, so a
    SIGKILLed embedded system leaves no service behind holding its port."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_children(settings: Settings, timeout_s: float = 180) -> list[subprocess.Popen]:
    settings.resolved_jwt_secret()  # made once here, so the children read the same key
    children: list[subprocess.Popen] = []
    try:
        for name in CHILDREN:
            child = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                env=_child_env(settings, name),
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            children.append(child)
            url = f"http://{settings.host}:{ports(settings)[name]}/readyz"
            deadline = time.monotonic() + timeout_s
            while not _ready(url):
                if child.poll() is not None:
                    raise SystemExit(f"the {name} service stopped on start ({child.returncode})")
                if time.monotonic() > deadline:
                    raise SystemExit(f"the {name} service was not ready in {timeout_s:.0f} s")
                time.sleep(0.2)
    except BaseException:
        stop_children(children)
        raise
    return children


#: Where this process, which runs the referrals service's relay and consumers, answers
#: /readyz and /metrics when others serve the API (``SP_REFERRALS_PROCESSES``).
WORKERS_PORT_OFFSET = 4

#: The settings of a process that only serves the referrals API beside the one that
#: migrated its database and runs its relay and consumers (here, and ``tools.cluster``).
API_ONLY = {
    "run_workers": False,
    "migrate_on_start": False,
    "load_demo_data": False,
    "reuse_port": True,
}


def start_referrals_api(settings: Settings) -> list[subprocess.Popen]:
    """The processes serving the referrals API (``referrals_processes``), all on its one
    port (SO_REUSEPORT: the kernel spreads connections across them). One Python process
    runs on one core at a time: at 60 referrals/s offered, the one referrals process
    held the GIL for intake, reads, its consumer and its relay while POST /referrals
    queued. They serve HTTP only; this process, which migrated the database and loaded
    the demo users, runs the relay and the consumers (and serves the API itself when
    ``referrals_processes`` is 0). They write to one SQLite file, taking turns through
    ``shared.db``'s file lock."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "services.referrals"],
            env=_child_env(settings, "referrals", **API_ONLY, instance_id=f"embedded-api-{n}"),
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        for n in range(1, settings.referrals_processes + 1)
    ]


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop_children(children: list[subprocess.Popen], timeout_s: float = 30) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()


async def serve_all(settings: Settings) -> None:
    from services.referrals.app import create_app as referrals_app

    port = ports(settings)
    base = f"http://{settings.host}"
    children = await asyncio.to_thread(start_children, settings)
    try:
        app = referrals_app(for_service(settings, "referrals"))
        if settings.referrals_processes:
            children += start_referrals_api(settings)
            own_port = settings.port + WORKERS_PORT_OFFSET
            sock = listening_socket(settings.host, own_port)
        else:
            sock = listening_socket(settings.host, port["referrals"])
        server = _Server(uvicorn.Config(app, log_level="warning"))

        def stop_all() -> None:
            server.should_exit = True

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C stops all three, gracefully
            loop.add_signal_handler(sig, stop_all)
        print("\nSocial prescribing, embedded mode (SQLite + SQL event log):")
        print(f"  Web pages:    {base}:{port['referrals']}/   (sign in as gp, linkworker, group,")
        print("                commissioner or admin; password: demo)")
        for name, p in port.items():
            print(f"  {name:<10}    {base}:{p}/docs   metrics {base}:{p}/metrics")
        if settings.referrals_processes:
            print(
                f"  (referrals: {settings.referrals_processes} API processes; its relay and"
                f" consumers: metrics {base}:{settings.port + WORKERS_PORT_OFFSET}/metrics)"
            )
        files = sorted(
            set(database_layout(settings.database_url, settings.bus_database_url).values())
        )
        print(f"  Databases:    {', '.join(files)}\n  Stop with Ctrl-C; data is kept.\n")
        tasks = [server.serve(sockets=[sock])]
        if settings.demo_activity:
            from services import demo_activity

            urls = [f"{base}:{p}" for p in port.values()]
            tasks.append(asyncio.to_thread(demo_activity.run, settings, {"referrals": app}, urls))
        await asyncio.gather(*tasks)
    finally:
        await asyncio.to_thread(stop_children, children)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    if settings.bus != "sql":
        raise SystemExit("embedded mode uses the SQL event log (SP_BUS=sql)")
    asyncio.run(serve_all(settings))
    files = sorted(set(database_layout(settings.database_url, settings.bus_database_url).values()))
    print("Stopped. Everything is kept in", ", ".join(files))


if __name__ == "__main__":
    main()
