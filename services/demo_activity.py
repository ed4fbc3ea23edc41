"""Demo activity: a first ``make run`` fills an empty system with referrals worked to
different stages, so the link worker's worklist has work and the commissioners'
dashboard has figures.

It goes through the real front door: HTTP against the running embedded servers,
signed in as the demo users (``gp``, ``gp2``, ``linkworker``, ``group``; password
``demo``). GPs refer people in every ward; the matcher proposes; the link worker
tries to reach some, records wellbeing, connects or signposts, declines proposals,
records outcomes and follow-ups and closes a share; the group accepts or declines the
referrals made to it. A good share is left open. A seeded random generator makes it the
same every time. It runs only while the referrals database has no referrals, so later
starts do nothing. Everything happens now: there is no back-dated history.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, inspect, select

PLACES = Path(__file__).parent / "referrals" / "data" / "places.json"

GIVEN = "Margaret Ade Priya Tom Sandra Kwame Irene Darren Fatima Graham Joyce Wei Helen Olu Rita"
FAMILY = "Okafor Smith Patel Jones Brown Mensah Taylor Khan Wilson Evans Walker Chen Hughes Ali"

# (needs in the referrer's words, pick-list categories). The last three the matcher's
# vocabulary does not know: repeated enough, they show as emerging needs.
NEEDS = [
    ("lonely since her husband died in March, likes gardening", ["bereavement"]),
    ("isolated at home, would like company and a cup of tea", ["social connection"]),
    ("low mood and anxiety, wants to get out of the house", ["mental wellbeing"]),
    ("behind on rent and worried about bills", ["money and debt", "housing"]),
    ("carer for his wife with dementia, needs a break", ["carers"]),
    ("type 2 diabetes, wants gentle exercise", ["physical activity", "long-term conditions"]),
    ("recently arrived, wants to practise English", ["language and migration"]),
    ("out of work, would like help with a CV and skills", ["employment and skills"]),
    ("enjoys painting and would like an art group", ["arts and culture"]),
    ("wants to walk more, knee pain after surgery", ["physical activity"]),
    ("new to the area, lonely, likes singing", ["social connection", "arts and culture"]),
    ("grieving her son, not sleeping", ["bereavement", "mental wellbeing"]),
    ("damp flat and struggling with heating costs", ["housing", "money and debt"]),
    ("likes being outdoors, would enjoy allotment work", ["nature and gardening"]),
    ("older man living alone, stopped going out", ["older people", "social connection"]),
    ("young adult, anxious, wants to meet people", ["young adults", "mental wellbeing"]),
    ("wants to learn the bagpipes", []),
    ("would love to go sailing again", []),
    ("interested in rowing on the river", []),
]
UNKNOWN_NEEDS = 3  # the last three above: every fifth person, each need in one ward
GROUP_ORGANISATION = "org-welling-community-hall"  # the demo group user's, in the directory


def referrals_exist(database_url: str) -> bool:
    from services.referrals.store import referrals

    engine = create_engine(database_url)
    try:
        if not inspect(engine).has_table(referrals.name):
            return False
        with engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(referrals)).scalar())
    finally:
        engine.dispose()


def _nhs_number(rng: random.Random) -> str:
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * (10 - i) for i, d in enumerate(digits)) % 11
        if check == 11:
            check = 0
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _postcodes_by_ward() -> list[list[str]]:
    data = json.loads(PLACES.read_text())
    wards: dict[str, list[str]] = {}
    for code, place in data["postcodes"].items():
        wards.setdefault(place["ward"], []).append(code)
    for ward in data["wards"]:  # a ward without exact postcodes: one in its district
        if ward["name"] not in wards and ward.get("postcode_districts"):
            wards[ward["name"]] = [f"{ward['postcode_districts'][0]} 1AA"]
    return [sorted(codes) for _, codes in sorted(wards.items())]


class _Client:
    def __init__(self, base: str, username: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=30)
        r = self.http.post("/auth/token", data={"username": username, "password": "demo"})
        r.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def post(self, path: str, body: dict | None = None, ok=(200, 201)) -> httpx.Response:
        r = self.http.post(path, json=body)
        if r.status_code not in ok:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        return r

    def get(self, path: str, **params) -> dict | list:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()


def _bar(total: int, desc: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not show, file=sys.stderr, leave=True)


def _ons4(rng: random.Random, lift: int = 0) -> dict:
    def score(low, high):
        return max(0, min(10, rng.randint(low, high) + lift))

    anxiety = max(0, min(10, rng.randint(5, 9) - lift))
    return {
        "life_satisfaction": score(2, 5),
        "worthwhile": score(3, 6),
        "happiness": score(2, 5),
        "anxiety": anxiety,
    }


def _person(rng: random.Random, i: int, wards: list[list[str]], today: date) -> dict:
    if i % 5 == 0:  # a need the vocabulary does not know, clustered in one ward
        k = i // 5 % UNKNOWN_NEEDS
        needs, categories = NEEDS[-1 - k]
        ward = wards[(3 + 5 * k) % len(wards)]
    else:
        needs, categories = rng.choice(NEEDS[:-UNKNOWN_NEEDS])
        ward = wards[i % len(wards)]
    age = rng.choice([rng.randint(18, 40), rng.randint(40, 70), rng.randint(65, 92)])
    birth = today.replace(year=today.year - age - 1, day=1) + timedelta(days=rng.randint(1, 360))
    return {
        "given_name": rng.choice(GIVEN.split()),
        "family_name": rng.choice(FAMILY.split()),
        "nhs_number": _nhs_number(rng),
        "birth_date": birth.isoformat(),
        "gender": rng.choice(["female", "male", "female", "non-binary"]),
        "postcode": rng.choice(ward),
        "phone": f"020 7946 {rng.randint(0, 9999):04d}",
        "preferred_contact": rng.choice(["phone", "phone", "text", "letter"]),
        "needs": needs,
        "need_categories": categories,
        "urgency": rng.choice(["routine"] * 6 + ["soon"] * 3 + ["urgent"]),
        "consent_to_refer": True,
        "consent_to_share": rng.random() < 0.8,
    }


def simulate(
    referrals_url: str,
    *,
    size: int = 100,
    seed: int = 9,
    progress: bool = True,
    proposal_wait_s: float = 60.0,
    threads: int = 4,
) -> dict:
    """Refer ``size`` people and work a share of them; returns counts of what was done.
    Each person's story comes from their own seeded generator, so the outcome is the same
    every time whatever order the threads finish in."""
    gps = [_Client(referrals_url, "gp"), _Client(referrals_url, "gp2")]
    worker = _Client(referrals_url, "linkworker")
    group = _Client(referrals_url, "group")
    wards = _postcodes_by_ward()
    today = date.today()
    rngs = [random.Random(f"{seed}-{i}") for i in range(size)]
    done = _Tally()
    pool = ThreadPoolExecutor(threads)

    def refer(i: int) -> str | None:
        r = gps[i % 2].post("/referrals", _person(rngs[i], i, wards, today))
        return r.json()["id"] if r.status_code == 201 else None

    with pool:
        ids = []
        with _bar(size, "demo: referring", progress) as bar:
            for rid in pool.map(refer, range(size)):
                ids.append(rid)
                bar.update()
        done["referrals"] = sum(rid is not None for rid in ids)

        # The matcher answers through the event log; wait until every referral has its say.
        deadline = time.monotonic() + proposal_wait_s
        while worker.get("/worklist", status="submitted") and time.monotonic() < deadline:
            time.sleep(0.2)

        # about two in three are worked; the rest wait on the worklist
        worked = [i for i in range(size) if ids[i] and rngs[i].random() < 0.65]
        with _bar(len(worked), "demo: link work", progress) as work_bar:
            connected = []
            for i, outcome in zip(
                worked,
                pool.map(lambda i: _work(rngs[i], worker, ids[i], today, done), worked),
                strict=True,
            ):
                if outcome:
                    connected.append(i)
                work_bar.update()

        done["group answers"] = _group_work(random.Random(seed), group)

        def follow_up(i: int) -> None:  # follow-up wellbeing, then close most of those
            rng = rngs[i]
            if rng.random() < 0.35:
                return
            worker.post(
                f"/referrals/{ids[i]}/wellbeing",
                {"stage": "follow_up", "ons4": _ons4(rng, lift=rng.randint(0, 3))},
            )
            done.add("followed up")
            if rng.random() < 0.7:
                worker.post(f"/referrals/{ids[i]}/close", {"reason": "connected; follow-up done"})
                done.add("closed")

        list(pool.map(follow_up, connected))
    return dict(done)


class _Tally(Counter):
    """Counts of what was done, safe to add to from the pool's threads."""

    _lock = threading.Lock()

    def add(self, what: str) -> None:
        with self._lock:
            self[what] += 1


def _work(rng: random.Random, worker: _Client, rid: str, today: date, done: _Tally) -> bool:
    """One person's link work, to where their story stops; True when connected."""
    worker.post(f"/referrals/{rid}/assign", {})
    for _ in range(rng.choice([0, 0, 1, 2])):
        worker.post(
            f"/referrals/{rid}/contact-attempts",
            {
                "date": (today - timedelta(days=2)).isoformat(),
                "method": "phone",
                "result": rng.choice(["no_answer", "left_message"]),
            },
        )
    if rng.random() < 0.12:  # never reached: flagged on the worklist after three tries
        for _ in range(3):
            worker.post(
                f"/referrals/{rid}/contact-attempts",
                {"date": today.isoformat(), "method": "phone", "result": "no_answer"},
            )
        return False
    worker.post(
        f"/referrals/{rid}/contact-attempts",
        {"date": today.isoformat(), "method": "phone", "result": "reached"},
    )
    done.add("reached")
    worker.post(f"/referrals/{rid}/wellbeing", {"stage": "first_contact", "ons4": _ons4(rng)})
    if rng.random() < 0.15:
        return False  # reached, still deciding
    detail = worker.get(f"/referrals/{rid}")
    proposals = [p for p in detail["proposals"] if not p["decision"]]
    if not proposals:
        return False
    if len(proposals) > 1 and rng.random() < 0.25:
        worker.post(
            f"/referrals/{rid}/decline",
            {"service_ids": [proposals[-1]["service_id"]], "reason": "too far to travel"},
        )
        done.add("proposals declined")
        proposals = proposals[:-1]
    chosen = proposals[0] if rng.random() < 0.8 else rng.choice(proposals)
    mode = "referral" if rng.random() < 0.7 else "signposting"
    demo_group = [p for p in proposals if p.get("organisation_id") == GROUP_ORGANISATION]
    if demo_group:  # the demo group user answers its own organisation's referrals
        chosen, mode = demo_group[0], "referral"
    body = {
        "service_id": chosen["service_id"],
        "mode": mode,
        "summary_for_group": "would like a friendly welcome on the first visit",
    }
    r = worker.post(f"/referrals/{rid}/connections", body, ok=(201, 422))
    if r.status_code == 422:  # full or closed: the waiting list
        r = worker.post(f"/referrals/{rid}/connections", {**body, "waiting_list": True})
    done.add("connected")
    if rng.random() < 0.4:
        outcome = rng.choice(["attended"] * 4 + ["did_not_attend", "completed"])
        connection = r.json()["connection_id"]
        worker.post(f"/referrals/{rid}/connections/{connection}/outcome", {"outcome": outcome})
        done.add("outcomes")
    return True


def _group_work(rng: random.Random, group: _Client) -> int:
    """The demo group answers most of the referrals made to its organisation."""
    answered = 0
    for line in group.get("/group/referrals"):
        if line["response"] or rng.random() < 0.25:
            continue
        if rng.random() < 0.8:
            group.post(f"/group/connections/{line['connection_id']}/accept", ok=(200, 409))
            if rng.random() < 0.5:
                group.post(
                    f"/group/connections/{line['connection_id']}/outcome",
                    {"outcome": rng.choice(["attended", "attended", "did_not_attend"])},
                    ok=(200, 409),
                )
        else:
            group.post(
                f"/group/connections/{line['connection_id']}/decline",
                {"reason": "no places until the new term"},
                ok=(200, 409),
            )
        answered += 1
    return answered


def run(settings, referrals_url: str, urls: list[str]) -> None:
    """The composition root's hook: wait for the servers, then simulate once."""
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
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the bar, not every request
    started = time.monotonic()
    try:
        done = simulate(referrals_url, size=settings.demo_activity_referrals, progress=True)
    except (httpx.HTTPError, RuntimeError) as exc:  # stopped meanwhile, or a refusal
        print(f"demo activity stopped: {exc}", file=sys.stderr)
        return
    took = time.monotonic() - started
    summary = ", ".join(f"{count} {what}" for what, count in done.items())
    print(f"demo activity: {summary} in {took:.1f} s", file=sys.stderr)
