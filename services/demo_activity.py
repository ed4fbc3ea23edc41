"""Demo activity: a first ``make run`` fills an empty system with a year of work, so the
link worker's worklist has work and every commissioners' report has figures.

The people come from ``demo_year.py`` (seeded: the same year every time). Their stories
are played through the referrals service's own use cases, in process and back-dated:
each step runs under ``clock.at(moment)``, so the referral rows, the contact attempts,
the connections and the events the steps emit carry the day it happened, and the
directory's read model counts each in its month. Matching is the real matcher, answering
through the event log; the simulation waits for its proposals before any link work.

What a story can hold: the GP's referral (and, now and then, the same referral again:
a duplicate the intake refuses), the link worker taking it, contact attempts (some never
reached), ONS4 and SWEMWBS at first contact, declined proposals, a connection (by
referral or signposting; a waiting list when the service is full), the group's answer
(each organisation answers at its own pace; some decline for want of places), the
outcome (attended, did not attend, completed, no capacity), wellbeing at follow-up and
closing. Steps whose day has not come yet are not played: recent referrals stay open
at every stage, and the worklist has work.

It runs only while the referrals database has no referrals, so later starts do nothing.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.orm import Session

from services import demo_year
from services.referrals import store
from services.referrals.api import connections, groups, link_work, wellbeing
from services.referrals.intake import submit_referral
from services.referrals.schemas import (
    AssignIn,
    CloseIn,
    ConnectionIn,
    ContactAttemptIn,
    DeclineIn,
    GroupOutcomeIn,
    GroupResponseIn,
    OutcomeIn,
    ReferralIn,
    WellbeingIn,
)
from services.referrals.users import user_principal
from shared import clock
from shared.auth import Principal, Role, hash_password
from shared.web import Conflict, Unprocessable

__all__ = ["referrals_exist", "run", "simulate"]

log = logging.getLogger(__name__)
TEAM = "community-connect"
#: Extra demo accounts the year needs (password "demo", like the others).
PRACTICE_STAFF = {"G83003": "gp3", "G83004": "gp4", "G83005": "gp5"}
LINK_WORKERS = ("linkworker", "linkworker2", "linkworker3", "linkworker4", "linkworker5")
EXTRA_NAMES = {
    "gp3": "Dr Ama Osei",
    "gp4": "Dr Marek Nowak",
    "gp5": "Dr Lena Clarke",
    "linkworker2": "Sam Patel",
    "linkworker3": "Rita Hughes",
    "linkworker4": "Kwame Mensah",
    "linkworker5": "Joyce Walker",
}


def referrals_exist(database_url: str) -> bool:
    engine = create_engine(database_url)
    try:
        if not inspect(engine).has_table(store.referrals.name):
            return False
        with engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(store.referrals)).scalar())
    finally:
        engine.dispose()


@dataclass
class Referrals:
    """The referrals service's parts a use case needs (its composition root's)."""

    engine: object
    sessions: object
    outbox: object
    places: object
    policy: object

    @classmethod
    def of(cls, app) -> Referrals:
        state = app.state
        return cls(state.engine, state.sessions, state.outbox, state.places, state.duplicate_policy)


@dataclass
class Actors:
    """Who does the work: practice staff per practice, the team's link workers, and one
    member per organisation answering for its services."""

    gps: dict[str, Principal]
    workers: list[Principal]
    groups: dict[str, Principal] = field(default_factory=dict)


def _actors(sessions) -> Actors:
    """The demo users the year needs, created when missing."""
    u = store.users.c
    with sessions.begin() as session:
        existing = {row.username: row for row in session.execute(select(store.users))}
        needed = [(name, Role.PRACTICE_STAFF, ods) for ods, name in PRACTICE_STAFF.items()]
        needed += [(name, Role.LINK_WORKER, None) for name in LINK_WORKERS]
        password = None
        for username, role, ods in needed:
            if username in existing:
                continue
            password = password or hash_password("demo")
            session.execute(
                store.users.insert().values(
                    id=f"demo-{username}",
                    username=username,
                    name=EXTRA_NAMES.get(username, username),
                    password_hash=password,
                    role=role,
                    practice_ods=ods,
                    team=TEAM if role is Role.LINK_WORKER else None,
                    active=True,
                    created_at=store.now(),
                    token_version=0,
                )
            )
        rows = session.execute(select(store.users).where(u.active)).all()
    gps: dict[str, Principal] = {}
    workers, group_members = [], {}
    for row in sorted(rows, key=lambda r: r.username):
        principal = user_principal(row)
        if row.role == Role.PRACTICE_STAFF and row.practice_ods not in gps:
            if row.username.startswith("gp"):
                gps[row.practice_ods] = principal
        elif row.role == Role.LINK_WORKER and row.username in LINK_WORKERS:
            workers.append(principal)
        elif row.role == Role.GROUP_MEMBER and row.organisation_id:
            group_members[row.organisation_id] = principal
    return Actors(gps, workers, group_members)


def _group_member(actors: Actors, organisation_id: str) -> Principal:
    """The organisation's demo user if it has one, else a member acting for it."""
    if organisation_id not in actors.groups:
        actors.groups[organisation_id] = Principal(
            user_id=f"demo-member-{organisation_id}",
            name="a member of the group",
            role=Role.GROUP_MEMBER,
            organisation_id=organisation_id,
        )
    return actors.groups[organisation_id]


@dataclass(frozen=True, slots=True)
class Pace:
    """How an organisation answers referrals: days to answer, share accepted."""

    median_days: float
    accepts: float
    answers: bool


def _pace(organisation_id: str) -> Pace:
    rng = random.Random(f"pace-{organisation_id}")
    return Pace(rng.choice([1, 1, 2, 2, 3, 4, 6, 9]), rng.uniform(0.75, 0.98), rng.random() > 0.06)


class Player:
    """Plays each person's story through the use cases, one back-dated step at a time.

    Each use case opens its own transaction as in a request; here it is a savepoint in
    a transaction that holds a batch of steps (``join_transaction_mode``), so a year of
    steps costs a few hundred commits, not tens of thousands, on SQLite's one writer.
    Between batches the service's own workers get the database to themselves a moment.
    """

    batch_s = 0.25  # seconds of steps per commit
    pause_s = 0.12  # then the workers' turn (SQLite's busy wait sleeps up to 100 ms)

    def __init__(self, referrals: Referrals, actors: Actors, now: datetime, seed: int) -> None:
        self.r = referrals
        self.actors = actors
        self.now = now
        self.seed = seed
        self.done: Counter = Counter()
        self._connection = None
        self._since = 0.0

    def step(self, at: datetime, use_case):
        """One use case as of ``at``; ``_NotYet`` once ``at`` is in the future."""
        if at > self.now:
            raise _NotYet
        if self._connection is None:
            self._connection = self.r.engine.connect()
            self._connection.begin()
            self._since = time.monotonic()
        session = Session(
            bind=self._connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
        )
        with clock.at(at), session:
            return use_case(session)

    def commit_now_and_then(self, force: bool = False) -> None:
        if self._connection is None:
            return
        if force or time.monotonic() - self._since >= self.batch_s:
            self._connection.commit()
            self._connection.close()
            self._connection = None
            time.sleep(self.pause_s)

    # --- the GP ------------------------------------------------------------------------

    def refer(self, person: demo_year.Person) -> str | None:
        gp = self.actors.gps[person.practice]
        body = ReferralIn(**person.referral)

        def submit(session):
            r = self.r
            return submit_referral(session, r.outbox, r.places, r.policy, gp, body, None)

        created, answer = self.step(person.submitted_at, submit)
        self.done["referrals"] += created
        if person.repeat_after_days:
            again = person.submitted_at + timedelta(days=person.repeat_after_days)
            if again <= self.now:
                created_again, _ = self.step(again, submit)
                self.done["duplicates refused"] += not created_again
        return answer["id"] if created else None

    # --- the link worker and the group ------------------------------------------------

    def play(self, person: demo_year.Person, rid: str) -> None:
        try:
            self._story(person, rid, random.Random(f"{self.seed}-{person.index}"))
        except _NotYet:
            self.done["left open"] += 1

    def _story(self, person: demo_year.Person, rid: str, rng: random.Random) -> None:
        worker = self.actors.workers[person.index % len(self.actors.workers)]
        t = _working_time(person.submitted_at + timedelta(hours=rng.uniform(2, 40)), rng)
        self.step(t, lambda s: link_work.assign(rid, worker, s, AssignIn()))
        busy = demo_year.VOLUME[person.submitted_at.month - 1]
        reached_at = t + timedelta(days=rng.gammavariate(2.0, 2.2 * busy))
        never = rng.random() < 0.08
        for _ in range(3 if never else rng.choice([0, 0, 0, 1, 1, 2])):
            t = _working_time(t + timedelta(days=rng.uniform(0.5, 3)), rng)
            self._attempt(t, rid, worker, rng.choice(["no_answer", "left_message"]))
        if never:
            self.done["never reached"] += 1
            self._close(t + timedelta(days=14), rid, worker, "could not reach after 3 attempts")
            return
        t = _working_time(max(t + timedelta(hours=2), reached_at), rng)
        self._attempt(t, rid, worker, "reached")
        self.done["reached"] += 1
        first = _ons4(rng)
        self._wellbeing(t, rid, worker, "first_contact", first, rng)
        if rng.random() < 0.07:
            self._close(t + timedelta(days=1), rid, worker, "decided it is not for them now")
            return
        proposals = self._undecided(rid)
        if not proposals:
            self.done["no suitable service"] += 1
            self._close(t + timedelta(days=10), rid, worker, "no suitable service found")
            return
        if len(proposals) > 1 and rng.random() < 0.25:
            declined = proposals.pop()
            body = DeclineIn(service_ids=[declined.service_id], reason="too far to travel")
            self.step(t, lambda s: connections.decline(rid, body, worker, s, self.r.outbox))
            self.done["proposals declined"] += 1
        chosen = proposals[0] if rng.random() < 0.8 else rng.choice(proposals)
        mode = "referral" if rng.random() < 0.7 else "signposting"
        t = _working_time(t + timedelta(days=rng.uniform(0, 6)), rng)
        connection = self._connect(t, rid, worker, chosen.service_id, mode)
        attended = False
        outcome_by = worker
        if mode == "referral":
            pace = _pace(chosen.organisation_id or "")
            if not pace.answers:
                self.done["never answered"] += 1
            else:
                member = _group_member(self.actors, chosen.organisation_id or "")
                t = t + timedelta(days=rng.lognormvariate(0, 0.6) * pace.median_days)
                accepted = rng.random() < pace.accepts
                self._answer(t, connection, member, accepted)
                if not accepted:
                    self._outcome(t + timedelta(days=1), rid, connection, worker, "no_capacity")
                    self.done["no capacity"] += 1
                    self._close(t + timedelta(days=3), rid, worker, "the group had no places")
                    return
                if rng.random() < 0.5:
                    outcome_by = member
        t = t + timedelta(days=rng.uniform(7, 21))
        roll = rng.random()
        outcome = "attended" if roll < 0.68 else "did_not_attend" if roll < 0.88 else None
        if outcome:
            self._outcome(t, rid, connection, outcome_by, outcome)
            attended = outcome == "attended"
            if attended and rng.random() < 0.45:
                t = t + timedelta(days=rng.uniform(35, 70))
                self._outcome(t, rid, connection, outcome_by, "completed")
        follow_up = max(t, reached_at) + timedelta(days=rng.uniform(20, 40))
        lift = (2 if attended else 0) + rng.choice([-1, 0, 0, 1])
        if rng.random() < 0.8:
            self._wellbeing(follow_up, rid, worker, "follow_up", _ons4(rng, first, lift), rng)
        reason = "connected; follow-up done" if attended else "follow-up done"
        self._close(follow_up + timedelta(days=rng.uniform(0, 5)), rid, worker, reason)

    def _attempt(self, t, rid, worker, result: str) -> None:
        if t > self.now:  # before the form, which refuses a day in the future
            raise _NotYet
        body = ContactAttemptIn(date=t.date(), method="phone", result=result)
        outbox = self.r.outbox
        self.step(t, lambda s: link_work.record_contact_attempt(rid, body, worker, s, outbox))

    def _wellbeing(self, t, rid, worker, stage: str, ons4: dict, rng: random.Random) -> None:
        swemwbs = None
        if rng.random() < 0.6:
            base = 2 if stage == "first_contact" else 3
            swemwbs = [max(1, min(5, base + rng.choice([-1, 0, 0, 1]))) for _ in range(7)]
        body = WellbeingIn(stage=stage, ons4=ons4, swemwbs=swemwbs)
        self.step(t, lambda s: wellbeing.record_wellbeing(rid, body, worker, s, self.r.outbox))
        if stage == "follow_up":
            self.done["followed up"] += 1

    def _undecided(self, rid: str) -> list:
        return self.step(
            self.now, lambda s: [p for p in store.proposals_of(s, rid) if p.decision is None]
        )

    def _connect(self, t, rid, worker, service_id: str, mode: str) -> str:
        body = ConnectionIn(service_id=service_id, mode=mode, summary_for_group="a warm welcome")
        outbox = self.r.outbox
        try:
            answer = self.step(t, lambda s: connections.connect(rid, body, worker, s, outbox))
        except Unprocessable:  # full or closed: the waiting list
            body = body.model_copy(update={"waiting_list": True})
            answer = self.step(t, lambda s: connections.connect(rid, body, worker, s, outbox))
            self.done["waiting lists"] += 1
        self.done["connected"] += 1
        return answer["connection_id"]

    def _answer(self, t, connection: str, member: Principal, accepted: bool) -> None:
        answer = "accept" if accepted else "decline"
        body = None if accepted else GroupResponseIn(reason="no places until the new term")
        self.step(
            t,
            lambda s: groups.answer_referral(connection, answer, member, s, self.r.outbox, body),
        )
        self.done["group answers"] += 1

    def _outcome(self, t, rid, connection: str, by: Principal, outcome: str) -> None:
        outbox = self.r.outbox
        try:
            if by.role is Role.GROUP_MEMBER:
                body = GroupOutcomeIn(outcome=outcome)
                self.step(t, lambda s: groups.record_group_outcome(connection, body, by, s, outbox))
            else:
                body = OutcomeIn(outcome=outcome)
                self.step(
                    t, lambda s: connections.record_outcome(rid, connection, body, by, s, outbox)
                )
        except Conflict:
            return
        self.done["outcomes"] += 1

    def _close(self, t, rid, worker, reason: str) -> None:
        body = CloseIn(reason=reason)
        self.step(t, lambda s: link_work.close(rid, body, worker, s, self.r.outbox))
        self.done["closed"] += 1


class _NotYet(Exception):
    """The story's next step is in the future: it stops here, open."""


def _working_time(t: datetime, rng: random.Random) -> datetime:
    """The next weekday, within working hours."""
    while t.weekday() >= 5:
        t = t + timedelta(days=1)
    if not 9 <= t.hour < 17:
        t = t.replace(hour=rng.randint(9, 16), minute=rng.randint(0, 59))
    return t


def _ons4(rng: random.Random, first: dict | None = None, lift: int = 0) -> dict:
    def clamp(v: int) -> int:
        return max(0, min(10, v))

    if first is None:
        return {
            "life_satisfaction": rng.randint(2, 5),
            "worthwhile": rng.randint(3, 6),
            "happiness": rng.randint(2, 5),
            "anxiety": rng.randint(5, 9),
        }
    return {
        item: clamp(score - lift - rng.randint(0, 1))
        if item == "anxiety"
        else clamp(score + lift + rng.randint(0, 1))
        for item, score in first.items()
    }


def _wait_for_the_directory(
    apps: dict, timeout_s: float, databases: dict[str, str] | None = None
) -> None:
    """Until the matcher and the referrals service know every service of the directory
    (its events are on their way at a first start): matching before would miss some."""
    from services.directory import store as directory
    from services.matcher import store as matcher

    engines = {}

    def count(name, table, *where) -> int:
        # A service running in another process is read from its database
        # (``databases``, as ``services.layout`` places them), or else through the
        # referrals service's sessions, when every service shares one database.
        query = select(func.count()).select_from(table).where(*where)
        if name not in apps and databases and name in databases:
            if name not in engines:
                engines[name] = create_engine(databases[name])
            with engines[name].connect() as conn:
                return conn.execute(query).scalar()
        app = apps.get(name, apps["referrals"])
        with app.state.sessions() as session:
            return session.execute(query).scalar()

    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            services = count("directory", directory.services, ~directory.services.c.withdrawn)
            known = min(
                count("matcher", matcher.replica_services),
                count("referrals", store.services),
            )
            if services and known >= services:
                return
            time.sleep(0.2)
    finally:
        for engine in engines.values():
            engine.dispose()


def _wait_for_matching(sessions, expected: int, bar, timeout_s: float) -> int:
    """Until the matcher has answered every referral (none left ``submitted``)."""
    r = store.referrals.c
    deadline = time.monotonic() + timeout_s
    waiting = expected
    while time.monotonic() < deadline:
        with sessions() as session:
            waiting = session.execute(
                select(func.count()).where(r.status == "submitted")
            ).scalar_one()
        bar.n = expected - waiting
        bar.refresh()
        if not waiting:
            break
        time.sleep(0.25)
    return waiting


def _bar(total: int, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not show, file=sys.stderr, leave=True, ncols=90)


def simulate(
    apps: dict,
    *,
    size: int = 1200,
    months: int = 12,
    seed: int = 9,
    progress: bool = True,
    matching_timeout_s: float = 120.0,
    databases: dict[str, str] | None = None,
) -> dict:
    """Refer about ``size`` people over ``months`` months to today and play their stories;
    returns counts of what was done. ``databases``: where the services not in ``apps``
    keep their tables (``services.layout``)."""
    _wait_for_the_directory(apps, matching_timeout_s, databases)
    referrals = Referrals.of(apps["referrals"])
    actors = _actors(referrals.sessions)
    now = datetime.now(UTC)
    people = demo_year.people_of_the_year(size, now.date(), months, seed)
    people = [p for p in people if p.submitted_at <= now]
    player = Player(referrals, actors, now, seed)
    started = time.monotonic()
    ids = []
    with _bar(len(people), "demo year: referring", progress) as bar:
        for person in people:
            ids.append(player.refer(person))
            player.commit_now_and_then()
            bar.update()
        player.commit_now_and_then(force=True)
    log.info("demo year: referred in %.1f s", time.monotonic() - started)
    created = [(p, rid) for p, rid in zip(people, ids, strict=True) if rid]
    with _bar(len(created), "demo year: matching ", progress) as bar:
        left = _wait_for_matching(referrals.sessions, len(created), bar, matching_timeout_s)
    log.info("demo year: matched by %.1f s", time.monotonic() - started)
    if left:
        log.warning("demo year: %d referrals still unmatched; their stories start later", left)
    with _bar(len(created), "demo year: link work", progress) as bar:
        for person, rid in created:
            player.play(person, rid)
            player.commit_now_and_then()
            bar.update()
        player.commit_now_and_then(force=True)
    return dict(player.done)


def run(settings, apps: dict, urls: list[str]) -> None:
    """The composition root's hook: once the servers answer, play the year once."""
    import httpx

    if referrals_exist(settings.database_url):
        return
    deadline = time.monotonic() + 60
    for url in urls:
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("demo activity: the services did not come up; skipped", file=sys.stderr)
                return
            time.sleep(0.2)
    started = time.monotonic()
    print(
        f"demo activity: playing {settings.demo_activity_months} months of referrals "
        "(once, on this first start; SP_DEMO_ACTIVITY=false skips it)",
        file=sys.stderr,
    )
    from services.layout import database_layout

    done = simulate(
        apps,
        size=settings.demo_activity_referrals,
        months=settings.demo_activity_months,
        progress=True,
        databases=database_layout(settings.database_url, settings.bus_database_url),
    )
    took = time.monotonic() - started
    summary = ", ".join(f"{count} {what}" for what, count in done.items())
    print(f"demo activity: {summary} in {took:.1f} s", file=sys.stderr)
