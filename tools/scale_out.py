"""The matcher stage's scale-out: events/s consumed by 1 and by N matcher replicas.

    python -m tools.scale_out --matchers 1,2 --backlog 1500

For each count it starts the production shape (Tansu, a PostgreSQL database per
service) with that many matchers, stops them once their replicas are full, submits
``--backlog`` referrals at a paced rate (so intake is never the limit) and waits until
the referrals service has published them all. Then it pauses the referrals and directory
services (SIGSTOP; ``--with-downstream`` keeps them running), so the matcher stage is
measured alone and not the 2 cores' other work, starts the matchers again and
measures, from the matcher's own outbox timestamps, how fast the group turns the
backlog into proposals once every replica has joined (they start one at a time), up
to the 90th percentile, so joins and the last stragglers do not count. It prints one line per
count and the ratio:

``matchers 2: 1500 referrals, 212.4 proposals/s (x1.71 of 1 matcher)``
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy import create_engine, func, select

from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from tools.cluster import Cluster
from tools.load import People, _token, wait_for_replica

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


def _count_unpublished(url: str) -> int:
    o = referrals_store.outbox
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(o).where(o.c.published_at.is_(None))
        ).scalar_one()
    engine.dispose()
    return n


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


def _pause(cluster: Cluster, names: tuple[str, ...], sig: int) -> None:
    for name in names:
        cluster.processes[name].popen.send_signal(sig)


def measure(
    matchers: int, backlog: int, rate: float, pg: str, alone: bool = True
) -> tuple[int, float]:
    with tempfile.TemporaryDirectory(prefix=f"scale-{matchers}-") as scratch:
        cluster = Cluster(Path(scratch), pg_server=pg, matchers=matchers).start()
        try:
            wait_for_replica(f"http://127.0.0.1:{cluster.matcher_port(0)}")
            names = [f"matcher-{n + 1}" for n in range(matchers)]
            # Let the group settle before each leaves: Tansu keeps a leader that leaves
            # during a rebalance as the group's leader, and no later SyncGroup ends.
            for name in reversed(names):
                time.sleep(JOIN_S)
                cluster.processes[name].stop()
            ids = asyncio.run(_submit(cluster.referrals_url, backlog, rate))
            urls = cluster.database_urls()
            while _count_unpublished(urls["referrals"]):
                time.sleep(0.5)
            # The matcher stage alone: the services downstream of it (the referrals and
            # directory consumers of MatchesProposed) would otherwise take the CPU a
            # second matcher needs on a 2-core machine, and measure the machine instead.
            others = ("referrals", "directory") if alone else ()
            _pause(cluster, others, signal.SIGSTOP)
            # One at a time, each settling before the next joins (as above).
            for name in names:
                cluster.processes[name].start()
                cluster.wait_ready(name)
                time.sleep(JOIN_S)
            settled = datetime.now(UTC)
            deadline = time.monotonic() + 900
            while len(times := _proposal_times(urls["matcher"], ids)) < len(ids):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {len(times)} of {len(ids)} proposed")
                time.sleep(1)
            _pause(cluster, others, signal.SIGCONT)
            return len(ids), proposals_per_second(times, settled)
        finally:
            _pause(cluster, ("referrals", "directory"), signal.SIGCONT)
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
        n, rate = measure(
            count, args.backlog, args.rate, args.postgres, alone=not args.with_downstream
        )
        first = first or rate
        print(
            f"matchers {count}: {n} referrals, {rate:.1f} proposals/s"
            f" (x{rate / first:.2f} of {args.matchers.split(',')[0]} matcher)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
