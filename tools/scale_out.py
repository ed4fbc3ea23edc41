"""The matcher stage's scale-out: events/s consumed by 1 and by N matcher replicas.

    python -m tools.scale_out --matchers 1,2 --backlog 3000 --rate 25

For each count it starts the production shape (Tansu, a PostgreSQL database per
service) with that many matchers and waits until every one has its replica and has
joined the group. Then it stops the referrals service's relay (its API runs in a process
of its own), submits ``--backlog`` referrals at a paced rate (so intake is never the
limit), pauses the referrals API and the directory (SIGSTOP; ``--with-downstream`` keeps
them and the referrals consumers running), so the matcher stage is measured alone and
not the 2 cores' other work, and publishes the backlog from the referrals outbox with
the relay's own code, all at once. It measures, from the matcher's own outbox
timestamps, how fast the group turns the backlog into proposals from then up to the
90th percentile (the last stragglers of a partition do not count), and the CPU each
process used (cores: CPU seconds per second) until the last proposal. It prints per
count:

``matchers 2: 3000 referrals, 212.4 proposals/s (x1.71 of 1 matcher)``
``  proposals by matcher: matcher-1 1510, matcher-2 1490``
``  cores used while draining: matcher-1 0.93, matcher-2 0.91, broker 0.05, ...``

Every matcher joins before the backlog is published: started one at a time as the
backlog was consumed, the first one alone had made most of 3,000 proposals before the
second had joined.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import StaticPool

from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from shared.bus.kafka import KafkaBus
from shared.bus.outbox import OutboxRelay
from tools.cluster import Cluster
from tools.load import People, _token, cpu_seconds, pids_named, used_since, wait_for_replica

__all__ = ["main", "proposals_per_second"]

#: Long enough for a matcher that answers /readyz to be assigned its partitions.
JOIN_S = 8.0


async def _submit(base_url: str, count: int, rate: float) -> list[str]:
    people = People(seed=23)
    ids: list[str] = []
    connector = aiohttp.TCPConnector(limit=16)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as client:
        gp = await _token(client, "gp")

        async def one(body: dict) -> None:
            async with client.post("/referrals", json=body, headers=gp) as answer:
                if answer.status == 201:
                    ids.append((await answer.json())["id"])

        started = time.monotonic()
        tasks = []
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(one(people.referral())))
        await asyncio.gather(*tasks)
    return ids


def _proposal_times(url: str, ids: list[str]) -> list:
    o = matcher_store.outbox
    engine = create_engine(url)
    with engine.connect() as conn:
        times = sorted(
            conn.execute(
                select(o.c.created_at).where(o.c.event_type == "MatchesProposed", o.c.key.in_(ids))
            ).scalars()
        )
    engine.dispose()
    return times


class _Proposed:
    """Waits for the matchers' proposals while taking little of the CPU it measures:
    one connection, and a count of the outbox's new rows twice a second."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=StaticPool)
        self.before = self.count()

    def count(self) -> int:
        o = matcher_store.outbox
        query = select(func.count()).where(o.c.event_type == "MatchesProposed")
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one()

    def wait_for(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        try:
            while (made := self.count() - self.before) < n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {made} of {n} proposed")
                time.sleep(0.5)
        finally:
            self.engine.dispose()


def proposals_per_second(times: list, settled: datetime) -> float:
    """Proposals made once every matcher had joined, up to the 90th percentile of all
    (the last stragglers of a partition do not count), over the seconds they took."""
    times = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in times]
    end = times[int(len(times) * 0.9)]
    steady = [t for t in times if settled <= t <= end]
    if len(steady) < len(times) // 5:
        raise RuntimeError("too few proposals after the group settled: queue a larger backlog")
    span = (steady[-1] - steady[0]).total_seconds()
    return (len(steady) - 1) / span if span > 0 else float("nan")


def _by_matcher(urls: dict[str, str]) -> dict[str, int]:
    """Proposals made by each matcher instance (the envelope's producer)."""
    o = matcher_store.outbox
    engine = create_engine(urls["matcher"])
    with engine.connect() as conn:
        values = conn.execute(select(o.c.value).where(o.c.event_type == "MatchesProposed"))
        counts = Counter(json.loads(v)["producer"].split("@")[-1] for (v,) in values)
    engine.dispose()
    return dict(sorted(counts.items()))


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent not idle since boot (``/proc/stat``)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # less idle, iowait


class CpuMeter:
    """CPU time of each matcher, the broker, the PostgreSQL backends serving this
    cluster's databases (summed), the rest of PostgreSQL (its writer processes and any
    other client's backends), this tool, and the whole machine, over a window."""

    def __init__(self, cluster: Cluster, matchers: list[str]) -> None:
        self.cluster = cluster
        self.matchers = matchers
        self.databases = [url.rsplit("/", 1)[1] for url in cluster.database_urls().values()]

    def _backends(self) -> set[int]:
        engine = create_engine(self.cluster.pg_server)
        with engine.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = ANY(:names)"),
                {"names": self.databases},
            ).scalars()
            pids = set(pids) - {conn.connection.dbapi_connection.info.backend_pid}
        engine.dispose()
        return pids

    def _sample(self) -> dict[str, dict[int, float]]:
        """Label -> {pid: CPU seconds so far} (PostgreSQL's labels hold many pids)."""
        processes = {name: self.cluster.processes[name].popen.pid for name in self.matchers}
        processes["broker"] = self.cluster.broker.process.popen.pid
        processes["tool"] = os.getpid()
        backends = self._backends()
        groups = {name: [pid] for name, pid in processes.items()}
        groups["postgres (this cluster)"] = sorted(backends)
        groups["postgres (rest)"] = [p for p in pids_named("postgres") if p not in backends]
        return {
            name: {pid: cpu for pid in pids if (cpu := cpu_seconds(pid)) is not None}
            for name, pids in groups.items()
        }

    def start(self) -> None:
        self._busy, self._at, self._used = _busy_seconds(), time.monotonic(), self._sample()

    def stop(self) -> dict[str, float]:
        """Label -> cores used over the window (CPU seconds per second), and "machine".
        A process that began within the window counts from zero; one that ended in it
        is left out."""
        busy, seconds = _busy_seconds() - self._busy, time.monotonic() - self._at
        out = {}
        for name, now in self._sample().items():
            out[name] = used_since(self._used.get(name, {}), now) / seconds
        out["machine"] = busy / seconds
        return out


def _pause(cluster: Cluster, names: tuple[str, ...], sig: int) -> None:
    for name in names:
        process = cluster.processes[name]
        if process.running:
            process.popen.send_signal(sig)


def _release(cluster: Cluster, url: str) -> None:
    """Publish the referrals service's outbox, as its relay would (the same code), from
    this process: the referrals process is stopped, so the backlog reaches the topic
    only once every matcher has joined, and all at once."""
    engine = create_engine(url)
    bus = KafkaBus(cluster.broker.address)
    relay = OutboxRelay(engine, referrals_store.outbox, bus, "referrals")
    try:
        while relay.run_once(batch=1000):
            pass
    finally:
        bus.close()
        engine.dispose()


def measure(
    matchers: int, backlog: int, rate: float, pg: str, alone: bool = True
) -> tuple[int, float, dict[str, int], dict[str, float]]:
    """Referrals proposed, proposals/s, proposals per matcher, cores used per process."""
    with tempfile.TemporaryDirectory(prefix=f"scale-{matchers}-") as scratch:
        cluster = Cluster(Path(scratch), pg_server=pg, matchers=matchers, referrals_api=1)
        cluster.start()
        try:
            names = [f"matcher-{n + 1}" for n in range(matchers)]
            for name in names:
                wait_for_replica(f"http://127.0.0.1:{cluster.port_of(name)}")
            # Every matcher stays in its group throughout: the backlog is held in the
            # referrals service's outbox (its relay stopped) until they have all joined,
            # so none of it is consumed by fewer matchers than are measured.
            time.sleep(JOIN_S)
            cluster.processes["referrals"].stop()
            ids = asyncio.run(_submit(cluster.referrals_url, backlog, rate))
            urls = cluster.database_urls()
            # The matcher stage alone: the services downstream of it (the referrals and
            # directory consumers of MatchesProposed) would otherwise take the CPU a
            # second matcher needs on a 2-core machine, and measure the machine instead.
            others = ("referrals-api-1", "directory") if alone else ()
            _pause(cluster, others, signal.SIGSTOP)
            if not alone:
                cluster.processes["referrals"].start()
            cpu = CpuMeter(cluster, names)
            proposed = _Proposed(urls["matcher"])
            _release(cluster, urls["referrals"])
            settled = datetime.now(UTC)
            cpu.start()
            proposed.wait_for(len(ids), timeout_s=900)
            used = cpu.stop()
            times = _proposal_times(urls["matcher"], ids)
            _pause(cluster, others, signal.SIGCONT)
            return len(ids), proposals_per_second(times, settled), _by_matcher(urls), used
        finally:
            _pause(cluster, ("referrals-api-1", "directory"), signal.SIGCONT)
            cluster.stop()
            cluster.drop_databases()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matchers", default="1,2", help="comma-separated replica counts")
    parser.add_argument("--backlog", type=int, default=2000, help="referrals queued up")
    parser.add_argument("--rate", type=float, default=60, help="referrals/s while queuing")
    parser.add_argument(
        "--with-downstream",
        action="store_true",
        help="keep the referrals and directory services running while the matchers drain"
        " (by default they are paused, so the matcher stage is measured alone)",
    )
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args(argv)
    first = None
    for count in [int(c) for c in args.matchers.split(",")]:
        n, rate, made, cores = measure(
            count, args.backlog, args.rate, args.postgres, alone=not args.with_downstream
        )
        first = first or rate
        print(
            f"matchers {count}: {n} referrals, {rate:.1f} proposals/s"
            f" (x{rate / first:.2f} of {args.matchers.split(',')[0]} matcher)",
            flush=True,
        )
        print(f"  proposals by matcher: {', '.join(f'{k} {v}' for k, v in made.items())}")
        print(
            "  cores used while draining: "
            + ", ".join(f"{label} {used:.2f}" for label, used in cores.items()),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
