"""A bounded load run against the whole system, on each bus in turn.

    python -m tools.load --seconds 30 --rate 20             (``make load``)

For each bus it starts the system in a scratch folder (``sql``: the embedded default on
SQLite; ``kafka``: the production shape, Tansu and a PostgreSQL database per service),
then drives its HTTP API open-loop for ``--seconds``: GP staff submit referrals at
``--rate`` a second (people, needs and postcodes from the demo referrals, each person
new), link workers read referrals and their worklist, confirm a proposal for one
referral in twenty and record its outcome. Afterwards it waits for the pipeline to drain
and counts from the databases, not from logs:

* accepted: referrals the API answered 201, per second from the first request sent to
  the last 201 answered (so an API that answers late is not credited with the rate
  it was offered);
* submission -> proposals: from the moment the GP's request was sent to the moment the
  referrals service recorded its proposals (its status history), p50/p90/p99; timing
  from the referral's ``created_at`` instead would hide the time requests queued for
  an overloaded API;
* POST /referrals answered: how long the API took to answer each submission;
* lost: accepted referrals without proposals once drained;
* doubled: referrals for which the matcher emitted more than one ``MatchesProposed``.

Before those, one line per bus says where the CPU went: the CPU seconds (``utime`` +
``stime`` from ``/proc/<pid>/stat``, all threads) each service process used from the
start of the offered load until the pipeline had drained, and the load tool's own over
the offered window, each divided by the referrals accepted:
``sql cpu per referral: referrals 27.1 ms, directory 13.0 ms, matcher 11.2 ms, load tool 1.8 ms``

It ends with one line per bus, in this exact form, for scripts to read:
``sql: 120.3 referrals/s accepted, proposals p50 80 ms p99 640 ms, lost 0, doubled 0``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import aiohttp
import httpx
from sqlalchemy import create_engine, func, select

from tools.cluster import Cluster, Embedded

__all__ = [
    "Outcome",
    "cpu_line",
    "cpu_seconds",
    "main",
    "measure",
    "service_processes",
    "summary_line",
]

ROOT = Path(__file__).resolve().parents[1]
DEMO_REFERRALS = ROOT / "tests" / "data" / "referrals_demo.jsonl"
GIVEN = ["Ann", "Bola", "Chen", "Dev", "Eve", "Femi", "Gita", "Hal", "Ines", "Jo", "Kofi", "Lin"]
SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def nhs_number(rng: random.Random) -> str:
    """A random NHS number with a valid Modulus 11 check digit."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(0 if check == 11 else check)


class People:
    """New people with the demo referrals' needs and postcodes, never the same twice."""

    def __init__(self, seed: int = 11) -> None:
        self.rng = random.Random(seed)
        self.demo = [json.loads(line) for line in DEMO_REFERRALS.read_text().splitlines()]
        self.n = 0

    def referral(self) -> dict:
        self.n += 1
        demo = self.rng.choice(self.demo)
        age = max(18, min(95, demo.get("age") or 50))
        born = date(date.today().year - age, 1, 1) + timedelta(days=self.rng.randrange(365))
        return {
            "given_name": self.rng.choice(GIVEN),
            # a surname of random syllables: 'Adeyemi-1234' and 'Adeyemi-1318', born the
            # same day, were rightly taken for one person with a mistyped NHS number
            "family_name": "".join(self.rng.choices(SYLLABLES, k=4)).title(),
            "nhs_number": nhs_number(self.rng),
            "birth_date": born.isoformat(),
            "gender": demo.get("gender") or "female",
            "postcode": demo["postcode"],
            "phone": "020 7946 0018",
            "preferred_contact": "phone",
            "languages": demo.get("languages") or ["English"],
            "accessibility_needs": demo.get("accessibility_needs") or [],
            "needs": demo["needs"],
            "urgency": "routine",
            "consent_to_refer": True,
            "consent_to_share": True,
        }


@dataclass
class Outcome:
    bus: str
    seconds: float
    accepted: int
    latencies_ms: list[float]
    lost: int
    doubled: int
    errors: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    post_ms: list[float] = field(default_factory=list)  # POST /referrals answer times
    #: process label -> CPU seconds it used over the run (see ``cpu_line``)
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, values: list[float] | None = None) -> float:
        values = self.latencies_ms if values is None else values
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary_line(o: Outcome) -> str:
    return (
        f"{o.bus}: {o.rate:.1f} referrals/s accepted, proposals p50 {o.percentile(0.5):.0f} ms"
        f" p99 {o.percentile(0.99):.0f} ms, lost {o.lost}, doubled {o.doubled}"
    )


def cpu_line(o: Outcome) -> str:
    """``sql cpu per referral: referrals 27.1 ms, ..., load tool 1.8 ms``"""
    per = ", ".join(
        f"{label} {seconds * 1000 / o.accepted:.1f} ms" if o.accepted else f"{label} - ms"
        for label, seconds in o.cpu_s.items()
    )
    return f"{o.bus} cpu per referral: {per}"


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads), or None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14, 15


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:  # field 4: ppid
                out.append(int(entry.name))
    return out


def _module_of(pid: int) -> str | None:
    """``directory`` for ``python -m services.directory``; ``services`` for the embedded
    process (which runs the referrals service itself)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        return argv[argv.index("-m") + 1].removeprefix("services.")
    return None


def service_processes(system) -> dict[str, int]:
    """Label -> pid of each process of a started system (``Embedded`` or ``Cluster``)."""
    if isinstance(system, Embedded):
        root = system.process.popen.pid
        # the embedded process runs the referrals service's relay and consumers, and
        # serves its API unless processes of their own do (SP_REFERRALS_PROCESSES)
        found = {"referrals": root}
        api = 0
        for child in _children(root):
            module = _module_of(child)
            if module == "referrals":
                api += 1
                found[f"referrals-api-{api}"] = child
            elif module and module != "services":
                found[module if module not in found else f"{module}-{child}"] = child
        return found
    found = {name: p.popen.pid for name, p in system.processes.items() if p.popen is not None}
    if getattr(system, "broker", None) is not None and system.broker.process.popen is not None:
        found["broker"] = system.broker.process.popen.pid
    return found


def _cpu_snapshot(pids: dict[str, int]) -> dict[str, float | None]:
    return {label: cpu_seconds(pid) for label, pid in pids.items()}


def pids_named(name: str) -> list[int]:
    """Every process whose command name is ``name`` (``postgres``: the machine's
    PostgreSQL server and each of its backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def postgres_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL process, by pid."""
    return {pid: s for pid in pids_named("postgres") if (s := cpu_seconds(pid)) is not None}


def used_since(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a group of processes used between two readings (pid -> seconds so
    far): a process started since counts from 0; one that ended in between is missed,
    so this is a lower bound."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _cpu_used(before: dict[str, float | None], after: dict[str, float | None]) -> dict:
    return {
        label: after[label] - start
        for label, start in before.items()
        if start is not None and after.get(label) is not None
    }


async def _token(client: aiohttp.ClientSession, username: str) -> dict[str, str]:
    async with client.post("/auth/token", data={"username": username, "password": "demo"}) as r:
        r.raise_for_status()
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


@dataclass
class Answer:
    status_code: int
    body: dict | list | None

    def json(self):
        return self.body


class Driver:
    """Open-loop traffic: each request starts on schedule, whether or not earlier ones
    have finished (so a slow system shows as latency, not as a politely lower rate).

    aiohttp rather than httpx: httpcore's pool scans every connection for every request
    (``_assign_requests_to_connections``), which with a hundred in flight cost ~30 ms of
    CPU per request, so the generator took most of a core away from the system it was
    measuring. aiohttp's pool costs a small fraction of that."""

    def __init__(self, base_url: str, rate: float, seconds: float, max_in_flight: int = 256):
        self.base_url = base_url
        self.rate = rate
        self.seconds = seconds
        self.people = People()
        self.accepted: list[str] = []
        #: referral id -> when the GP's request was sent (wall clock, seconds), so
        #: latency includes any time the request waited for the API, not only from the
        #: moment the service wrote the referral down
        self.sent_at: dict[str, float] = {}
        self.post_ms: list[float] = []
        self.started = 0.0  # time.monotonic() of the first request
        self.last_accepted = 0.0  # time.monotonic() of the last 201
        self.errors: dict[str, int] = {}
        self.requests = 0
        self._slots = asyncio.Semaphore(max_in_flight)
        self._tasks: set[asyncio.Task] = set()

    def _count_error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def _call(self, client, method, url, **kwargs) -> Answer | None:
        async with self._slots:
            self.requests += 1
            try:
                async with client.request(method, url, **kwargs) as answer:
                    body = await answer.json() if answer.content_type.endswith("json") else None
                    return Answer(answer.status, body)
            except (aiohttp.ClientError, TimeoutError) as exc:
                self._count_error(f"{method} {url.split('/')[1]}: {type(exc).__name__}")
                return None

    async def _submit(self, client, gp, lw) -> None:
        sent, started = time.time(), time.perf_counter()
        answer = await self._call(
            client, "POST", "/referrals", json=self.people.referral(), headers=gp
        )
        if answer is None:
            return
        if answer.status_code != 201:
            self._count_error(f"POST /referrals {answer.status_code}")
            return
        self.post_ms.append((time.perf_counter() - started) * 1000)
        self.last_accepted = time.monotonic()
        referral_id = answer.json()["id"]
        self.accepted.append(referral_id)
        self.sent_at[referral_id] = sent
        if len(self.accepted) % 20 == 0:
            self._spawn(self._connect_later(client, lw, referral_id))

    async def _connect_later(self, client, lw, referral_id: str) -> None:
        """A link worker confirms the first proposal a little later, then the outcome."""
        for _ in range(20):
            await asyncio.sleep(1.0)
            answer = await self._call(client, "GET", f"/referrals/{referral_id}", headers=lw)
            if answer is not None and answer.status_code == 200 and answer.json()["proposals"]:
                break
        else:
            return
        service_id = answer.json()["proposals"][0]["service_id"]
        made = await self._call(
            client,
            "POST",
            f"/referrals/{referral_id}/connections",
            json={"service_id": service_id, "mode": "signposting"},
            headers=lw,
        )
        if made is None or made.status_code != 201:
            self._count_error(f"POST connections {getattr(made, 'status_code', '-')}")
            return
        connection = made.json()["connection_id"]
        done = await self._call(
            client,
            "POST",
            f"/referrals/{referral_id}/connections/{connection}/outcome",
            json={"outcome": "attended"},
            headers=lw,
        )
        if done is None or done.status_code != 200:
            self._count_error(f"POST outcome {getattr(done, 'status_code', '-')}")

    async def _read(self, client, lw) -> None:
        if self.accepted:
            referral_id = random.choice(self.accepted[-200:])
            await self._call(client, "GET", f"/referrals/{referral_id}", headers=lw)

    def _spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> float:
        connector = aiohttp.TCPConnector(limit=128)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(
            self.base_url, connector=connector, timeout=timeout
        ) as client:
            gp, lw = await _token(client, "gp"), await _token(client, "linkworker")
            started = self.started = time.monotonic()
            n = 0
            while (elapsed := time.monotonic() - started) < self.seconds:
                due = int(elapsed * self.rate) + 1
                while n < due:
                    n += 1
                    self._spawn(self._submit(client, gp, lw))
                    if n % 2 == 0:
                        self._spawn(self._read(client, lw))
                    if n % max(1, int(self.rate)) == 0:
                        self._spawn(self._call(client, "GET", "/worklist?status=new", headers=lw))
                await asyncio.sleep(min(0.01, 1 / self.rate))
            offered = time.monotonic() - started
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
            return offered


def count(
    urls: dict[str, str], ids: list[str], sent_at: dict[str, float] | None = None
) -> tuple[list[float], int, int]:
    """Latencies (ms), lost and doubled, read from the services' databases. A latency
    runs from when the request was sent (``sent_at``; else the referral's
    ``created_at``) to when the referrals service recorded the proposals."""
    from services.matcher import store as matcher_store
    from services.referrals import store as referrals_store

    r, h = referrals_store.referrals, referrals_store.status_history
    engine = create_engine(urls["referrals"])
    with engine.connect() as conn:
        created = dict(conn.execute(select(r.c.id, r.c.created_at)).all())
        proposed = dict(
            conn.execute(
                select(h.c.referral_id, func.min(h.c.at))
                .where(h.c.to_status == "matches_proposed")
                .group_by(h.c.referral_id)
            ).all()
        )
    engine.dispose()
    o = matcher_store.outbox
    engine = create_engine(urls["matcher"])
    with engine.connect() as conn:
        per_referral = dict(
            conn.execute(
                select(o.c.key, func.count())
                .where(o.c.event_type == "MatchesProposed")
                .group_by(o.c.key)
            ).all()
        )
    engine.dispose()
    sent_at = sent_at or {}
    latencies = [
        (
            _aware(proposed[i]).timestamp()
            - (sent_at[i] if i in sent_at else _aware(created[i]).timestamp())
        )
        * 1000
        for i in ids
        if i in proposed
    ]
    lost = sum(1 for i in ids if i not in proposed)
    doubled = sum(1 for i in ids if per_referral.get(i, 0) > 1)
    return latencies, lost, doubled


def _aware(moment):
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def drain(urls: dict[str, str], ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _, lost, _ = count(urls, ids)
        if lost == 0:
            return
        time.sleep(1)


def wait_for_replica(matcher_url: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{matcher_url}/replica", timeout=5).json()["services"] >= 100:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError("the matcher's replica never filled")


def measure(system, bus: str, matcher_url: str, seconds: float, rate: float) -> Outcome:
    """Drive a started system and count what happened."""
    wait_for_replica(matcher_url)
    driver = Driver(system.referrals_url, rate, seconds)
    pids = service_processes(system)
    services_before, tool_before = _cpu_snapshot(pids), cpu_seconds(os.getpid())
    # on Kafka the services' databases are the machine's PostgreSQL: its CPU counts too
    postgres_before = postgres_cpu() if isinstance(system, Cluster) else None
    offered = asyncio.run(driver.run())
    tool_used = (cpu_seconds(os.getpid()) or 0.0) - (tool_before or 0.0)
    answered_within = max(offered, driver.last_accepted - driver.started)
    urls = system.database_urls()
    drain(urls, driver.accepted, timeout_s=max(60.0, seconds))
    cpu = _cpu_used(services_before, _cpu_snapshot(pids))
    if postgres_before is not None:
        cpu["postgres"] = used_since(postgres_before, postgres_cpu())
    cpu["load tool"] = tool_used
    latencies, lost, doubled = count(urls, driver.accepted, driver.sent_at)
    return Outcome(
        bus,
        answered_within,
        len(driver.accepted),
        latencies,
        lost,
        doubled,
        driver.errors,
        driver.requests,
        driver.post_ms,
        cpu,
    )


def run_bus(
    bus: str, seconds: float, rate: float, matchers: int, pg: str, referrals_api: int = 2
) -> Outcome:
    with tempfile.TemporaryDirectory(prefix=f"load-{bus}-") as scratch:
        workdir = Path(scratch)
        if bus == "sql":
            system = Embedded(workdir).start()
            matcher_url = f"http://127.0.0.1:{system.port + 3}"
        else:
            system = Cluster(
                workdir, pg_server=pg, matchers=matchers, referrals_api=referrals_api
            ).start()
            matcher_url = f"http://127.0.0.1:{system.matcher_port(0)}"
        try:
            return measure(system, bus, matcher_url, seconds, rate)
        finally:
            system.stop()
            if bus == "kafka":
                system.drop_databases()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30, help="how long to offer load")
    parser.add_argument("--rate", type=float, default=20, help="referrals offered per second")
    parser.add_argument(
        "--buses",
        default="sql,kafka",
        help="comma-separated: sql (the embedded default), kafka",
    )
    parser.add_argument("--matchers", type=int, default=1, help="matcher processes (kafka)")
    parser.add_argument(
        "--referrals-api",
        type=int,
        default=2,
        help="processes serving the referrals API (kafka; the embedded default's own"
        " SP_REFERRALS_PROCESSES decides on sql)",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server for the kafka run (a database per service is made)",
    )
    args = parser.parse_args(argv)
    outcomes = []
    for bus in args.buses.split(","):
        outcome = run_bus(
            bus.strip(), args.seconds, args.rate, args.matchers, args.postgres, args.referrals_api
        )
        outcomes.append(outcome)
        lat = outcome.latencies_ms
        print(
            f"[{outcome.bus}] offered {args.rate:g}/s for {args.seconds:g} s, all answered"
            f" within {outcome.seconds:.1f} s,"
            f" {outcome.requests} requests, accepted {outcome.accepted},"
            f" p90 {outcome.percentile(0.9):.0f} ms,"
            f" max {max(lat) if lat else float('nan'):.0f} ms,"
            f" mean {statistics.fmean(lat) if lat else float('nan'):.0f} ms,"
            f" POST /referrals answered p50 {outcome.percentile(0.5, outcome.post_ms):.0f} ms"
            f" p99 {outcome.percentile(0.99, outcome.post_ms):.0f} ms,"
            f" errors {outcome.errors or 0}",
            flush=True,
        )
        print(cpu_line(outcome), flush=True)
    for outcome in outcomes:
        print(summary_line(outcome))
    return 0 if all(o.lost == 0 and o.doubled == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
