"""The embedded default: every service in one process, on SQLite and the SQL event log.

    python -m services          (what ``make run`` starts)

Referrals, directory and matcher each get their own HTTP port, as in production, and
their relays and consumers run as background threads. Everything is kept in one SQLite
file under ``var/``, so stopping and starting again loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import uvicorn

from shared.settings import Settings

#: Each service listens on SP_PORT (default 8000) plus its offset: 8001, 8002, 8003.
PORT_OFFSETS = {"referrals": 1, "directory": 2, "matcher": 3}


def ports(settings: Settings) -> dict[str, int]:
    return {name: settings.port + offset for name, offset in PORT_OFFSETS.items()}


def build_apps(settings: Settings) -> dict:
    from services.directory.app import create_app as directory_app
    from services.matcher.app import create_app as matcher_app
    from services.referrals.app import create_app as referrals_app

    port = ports(settings)
    base = f"http://{settings.host}"

    def for_service(name: str) -> Settings:
        return settings.model_copy(
            update={
                "port": port[name],
                "load_demo_data": True,
                "instance_id": "embedded",
                "referrals_url": f"{base}:{port['referrals']}",
                "directory_url": f"{base}:{port['directory']}",
                "matcher_url": f"{base}:{port['matcher']}",
            }
        )

    # The directory loads the demo data, so it comes first; its events wait in its outbox.
    return {
        "directory": directory_app(for_service("directory")),
        "matcher": matcher_app(for_service("matcher")),
        "referrals": referrals_app(for_service("referrals")),
    }


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to ``serve_all``, which owns three."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


async def serve_all(settings: Settings) -> None:
    apps = build_apps(settings)
    port = ports(settings)
    servers = [
        _Server(uvicorn.Config(app, host=settings.host, port=port[name], log_level="warning"))
        for name, app in apps.items()
    ]

    def stop_all() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C stops all three, gracefully
        loop.add_signal_handler(sig, stop_all)
    base = f"http://{settings.host}"
    print("\nSocial prescribing, embedded mode (SQLite + SQL event log):")
    print(f"  Web pages:    {base}:{port['referrals']}/   (sign in as gp, linkworker, group,")
    print("                commissioner or admin; password: demo)")
    for name, p in port.items():
        print(f"  {name:<10}    {base}:{p}/docs   metrics {base}:{p}/metrics")
    print(f"  Database:     {settings.database_url}\n  Stop with Ctrl-C; data is kept.\n")
    tasks = [server.serve() for server in servers]
    if settings.demo_activity:
        from services import demo_activity

        urls = [f"{base}:{p}" for p in port.values()]
        tasks.append(asyncio.to_thread(demo_activity.run, settings, apps, urls))
    await asyncio.gather(*tasks)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    if settings.bus != "sql":
        raise SystemExit("embedded mode uses the SQL event log (SP_BUS=sql)")
    asyncio.run(serve_all(settings))
    print("Stopped. Everything is kept in", settings.database_url)


if __name__ == "__main__":
    main()
