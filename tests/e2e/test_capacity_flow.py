"""Capacity rules end to end, over HTTP and the embedded bus: a group's "full" withdraws its
service from proposals, "waiting list" lists it after the services with places, flagged,
and places reaching zero through connections do the same; no proposal says how many
places are free."""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import select

from services.matcher import store as matcher_store
from services.referrals.users import create_user
from tests.e2e.system import REFERRAL, System, eventually
from tests.e2e.test_referral_flow import _settings

NEEDS = (
    "would like to learn lipreading for hearing loss"  # few services fit: room for a waiting list
)


@pytest.fixture
def system(request, tmp_path):
    system = System(_settings("sql", request, tmp_path))
    yield system
    system.close()


def _nhs_number() -> str:
    while True:
        digits = [random.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return "".join(map(str, [*digits, check]))


def _proposals(system: System) -> list[dict]:
    """A new person with the same needs, referred; the matcher's proposals for them."""
    name = "".join(random.choices("abcdefghijklmnopqrstuvwxyz", k=8)).title()
    body = {
        **REFERRAL,
        "needs": NEEDS,
        "nhs_number": _nhs_number(),
        "family_name": name,  # someone new each time, not a repeat referral
        "birth_date": f"19{random.randint(40, 70)}-0{random.randint(1, 9)}-1{random.randint(0, 9)}",
    }
    submitted = system.as_user("gp", system.referrals, "POST", "/referrals", json=body)
    assert submitted.status_code == 201, submitted.text
    referral_id = submitted.json()["id"]

    def proposed():
        got = system.as_user("linkworker", system.referrals, "GET", f"/referrals/{referral_id}")
        body = got.json()
        return (referral_id, body["proposals"]) if body["proposals"] else None

    return eventually(proposed, timeout_s=120)


def _replica_says(system: System, service_id: str, taking: str, places_free: int) -> None:
    """Wait until the matcher's replica holds the directory's latest word on the service."""
    table = matcher_store.replica_services

    def current():
        with system.matcher.app.state.sessions() as session:
            row = session.execute(select(table).where(table.c.service_id == service_id)).one()
        snapshot = row.snapshot or {}
        return snapshot.get("taking") == taking and snapshot.get("places_free") == places_free

    eventually(current, timeout_s=60)


def test_full_withdraws_waiting_list_and_no_places_left_come_last_flagged(system: System):
    eventually(lambda: system.matcher.get("/replica").json()["services"] >= 100, timeout_s=120)
    _, open_proposals = _proposals(system)
    target = open_proposals[0]
    assert not target["waiting_list"]
    service_id = target["service_id"]
    service = system.as_user("admin", system.directory, "GET", f"/services/{service_id}").json()
    with system.referrals.app.state.sessions.begin() as session:
        create_user(
            session,
            username="singing-group",
            name="Sam Singer",
            role="group_member",
            password="demo",
            organisation_id=service["organisation_id"],
        )

    def places(**body) -> dict:
        url = f"/services/{service_id}/places"
        answer = system.as_user("singing-group", system.directory, "POST", url, json=body)
        assert answer.status_code == 200, answer.text
        return answer.json()

    places(taking="full")
    _replica_says(system, service_id, "full", 0)
    _, proposals = _proposals(system)
    assert service_id not in [p["service_id"] for p in proposals]

    places(taking="waiting_list")
    _replica_says(system, service_id, "waiting_list", 0)
    _, proposals = _proposals(system)
    flags = [(p["service_id"], p["waiting_list"]) for p in proposals]
    assert (service_id, True) in flags, flags
    assert [w for _, w in flags] == sorted(w for _, w in flags), "waiting lists come last"

    # one place a week, taken by a referral: none left, so a waiting list again
    places(taking="places_left", capacity_per_week=1)
    _replica_says(system, service_id, "places_left", 1)
    referral_id, proposals = _proposals(system)
    assert (service_id, False) in [(p["service_id"], p["waiting_list"]) for p in proposals]
    for p in proposals:
        assert not any(re.search(r"\d+ places free", r) for r in p["reasons"]), p["reasons"]
    connected = system.as_user(
        "linkworker",
        system.referrals,
        "POST",
        f"/referrals/{referral_id}/connections",
        json={"service_id": service_id, "mode": "referral"},
    )
    assert connected.status_code == 201, connected.text
    _replica_says(system, service_id, "places_left", 0)
    _, proposals = _proposals(system)
    assert (service_id, True) in [(p["service_id"], p["waiting_list"]) for p in proposals]
    # the referrals service knows it too: a new connection needs the waiting list
    another, _ = _proposals(system)
    refused = system.as_user(
        "linkworker",
        system.referrals,
        "POST",
        f"/referrals/{another}/connections",
        json={"service_id": service_id, "mode": "referral"},
    )
    assert refused.status_code == 422 and "waiting_list" in refused.text
