"""What every service process builds at start-up: database, bus, outbox relay, consumers.

Each service's ``app.py`` calls ``build_runtime`` from its ``create_app(settings)`` and
keeps the result on ``app.state``; nothing here runs at import time.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, Table
from sqlalchemy.orm import Session, sessionmaker

from shared.auth import TokenService
from shared.bus import EventBus, make_bus
from shared.bus.consumer import EventConsumer, Registry
from shared.bus.outbox import Outbox, OutboxRelay
from shared.db import make_engine, make_session_factory, migrate, reader
from shared.settings import Settings
from shared.workers import Workers

__all__ = ["Runtime", "build_runtime", "listening_socket", "serve"]

_EVENT_LOG_MIGRATIONS = Path(__file__).parent / "bus" / "migrations"


@dataclass
class Runtime:
    service: str
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    #: Sessions that only read: on SQLite they take no write lock (``db.reader``).
    read_sessions: sessionmaker[Session]
    bus: EventBus
    outbox: Outbox
    tokens: TokenService
    workers: Workers
    consumers: list[EventConsumer] = field(default_factory=list)

    def add_consumers(
        self, consumers: Mapping[str, Registry], processed: Table, **dependencies: Any
    ) -> list[EventConsumer]:
        """One consumer per group of a service's ``handlers.CONSUMERS``, its handlers'
        dependencies bound here, at the composition root."""
        return [
            self.add_consumer(group, registry.bind(**dependencies), processed)
            for group, registry in consumers.items()
        ]

    def add_consumer(self, group: str, registry: Registry, processed: Table) -> EventConsumer:
        consumer = EventConsumer(
            bus=self.bus,
            group=group,
            registry=registry,
            sessions=self.sessions,
            read_sessions=self.read_sessions,
            processed=processed,
            max_attempts=self.settings.max_handler_attempts,
            retry_backoff_s=self.settings.retry_backoff_s,
        )
        self.consumers.append(consumer)
        # On Kafka, no idle wait between polls: the poll itself waits, and a consumer that
        # is not polling while its group join is in flight can miss the join's reply. The
        # SQL log has no group to join, and an idle wait there leaves the CPU to the rest.
        self.workers.add_loop(
            f"{group}-consumer",
            lambda: consumer.run_once(timeout_s=self.settings.poll_interval_s),
            consumer.close,
            idle_wait=self.settings.bus != "kafka",
        )
        return consumer

    def attach(self, app: FastAPI) -> None:
        """Put the runtime's parts on ``app.state`` and run the workers with the app."""
        app.state.runtime = self
        app.state.settings = self.settings
        app.state.engine = self.engine
        app.state.sessions = self.sessions
        app.state.read_sessions = self.read_sessions
        app.state.bus = self.bus
        app.state.outbox = self.outbox
        app.state.tokens = self.tokens

        @contextlib.asynccontextmanager
        async def lifespan(_app: FastAPI):
            if self.settings.run_workers:
                self.workers.start()
            try:
                yield
            finally:
                self.close()

        app.router.lifespan_context = lifespan

    def close(self) -> None:
        self.workers.stop()
        self.bus.close()
        self.engine.dispose()


def build_runtime(
    settings: Settings, service: str, outbox_table: Table, migrations_dir: Path
) -> Runtime:
    engine = make_engine(settings.database_url)
    if settings.migrate_on_start:
        migrate(engine, migrations_dir, f"alembic_version_{service}")
        if settings.bus == "sql":
            log_engine = make_engine(settings.event_log_url)
            migrate(log_engine, _EVENT_LOG_MIGRATIONS, "alembic_version_event_log")
            log_engine.dispose()
    bus = make_bus(settings)
    outbox = Outbox(outbox_table, producer=f"{service}@{settings.instance_id}")
    workers = Workers(idle_wait_s=settings.poll_interval_s)
    relay = OutboxRelay(engine, outbox_table, bus, service)
    workers.add_loop(f"{service}-relay", relay.run_once)
    tokens = TokenService(
        settings.resolved_jwt_secret(),
        settings.jwt_issuer,
        timedelta(minutes=settings.token_ttl_minutes),
    )
    return Runtime(
        service=service,
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        read_sessions=make_session_factory(reader(engine)),
        bus=bus,
        outbox=outbox,
        tokens=tokens,
        workers=workers,
    )


def listening_socket(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """A bound TCP socket for uvicorn; with ``reuse_port``, other processes that ask for
    the same may bind the same port, and the kernel spreads connections across them."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(create_app, default_port: int) -> None:
    """Run one service in its own process: ``python -m services.<name>``."""
    import logging
    import os

    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings()
    if "SP_PORT" not in os.environ:
        settings = settings.model_copy(update={"port": default_port})
    config = uvicorn.Config(
        create_app(settings),
        access_log=settings.access_log,
        log_level="info" if settings.access_log else "warning",
    )
    sock = listening_socket(settings.host, settings.port, settings.reuse_port)
    uvicorn.Server(config).run(sockets=[sock])
