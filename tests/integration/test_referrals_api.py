"""The referrals API beyond intake: duplicates, the worklist and caseloads, contact
attempts, wellbeing, groups' answers, FHIR intake and the message back to the GP.

Apps run without workers (no matcher, no directory): the directory's services reach the
referrals service as ``ServiceUpserted`` events published on the real bus and consumed
by its real consumer, one poll at a time."""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.referrals import store
from services.referrals.app import create_app
from services.referrals.users import (
    DEMO_USERS,
    create_user,
    deactivate_user,
    principal_of,
    set_password,
)
from shared.auth import hash_password
from shared.bus.port import Record
from shared.events import (
    DIRECTORY_TOPIC,
    ServiceSnapshot,
    ServiceUpserted,
    ServiceWithdrawn,
    decode,
    encode,
    new_envelope,
)
from tests.conftest import make_settings
from tests.unit.test_referrals_fhir import service_request

REFERRAL = {
    "given_name": "Margaret",
    "family_name": "Okafor",
    "nhs_number": "9434765919",
    "birth_date": "1948-03-02",
    "gender": "female",
    "postcode": "DA5 1GP",
    "phone": "020 7946 0018",
    "preferred_contact": "phone",
    "needs": "lonely since husband died in March, loves gardening",
    "urgency": "routine",
    "consent_to_refer": True,
    "consent_to_share": True,
}
OTHER_PERSON = {
    **REFERRAL,
    "given_name": "Kwame",
    "family_name": "Boateng",
    "nhs_number": "4010232137",
    "birth_date": "1960-01-01",
    "gender": "male",
}
ONS4 = {"life_satisfaction": 3, "worthwhile": 4, "happiness": 3, "anxiety": 8}
FHIR = "application/fhir+json"
GROUP_ORG = "org-bexley-community-hub"


class Api:
    """A TestClient that speaks as one demo user at a time."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._headers: dict[str, dict[str, str]] = {}

    def as_(self, username: str) -> dict[str, str]:
        if username not in self._headers:
            app = self.client.app
            with app.state.sessions() as session:
                token = app.state.tokens.issue(principal_of(session, username))
            self._headers[username] = {"Authorization": f"Bearer {token}"}
        return self._headers[username]

    def call(self, username: str, method: str, url: str, **kwargs):
        headers = {**self.as_(username), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def refer(self, body: dict | None = None, user: str = "gp", **kwargs) -> str:
        response = self.call(user, "POST", "/referrals", json=body or REFERRAL, **kwargs)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def directory_has(
        self, name: str, organisation_id: str = GROUP_ORG, revision: int = 1, **fields
    ) -> str:
        """The directory publishes a service, and the referrals service consumes it."""
        service = ServiceSnapshot(
            id=f"svc-{name}",
            organisation_id=organisation_id,
            organisation_name=organisation_id,
            name=name,
            **fields,
        )
        self.directory_says(ServiceUpserted(revision=revision, service=service))
        return service.id

    def directory_says(self, event) -> None:
        app = self.client.app
        envelope = new_envelope(event, "directory@test")
        app.state.bus.publish([Record(DIRECTORY_TOPIC, envelope.key, encode(envelope))])
        (consumer,) = app.state.runtime.consumers
        while consumer.run_once(timeout_s=0.05):
            pass

    def connect(
        self,
        referral_id: str,
        name: str,
        mode: str = "referral",
        organisation_id: str = GROUP_ORG,
        **extra,
    ) -> str:
        service_id = self.directory_has(name, organisation_id)
        body = {"service_id": service_id, "mode": mode, **extra}
        response = self.call(
            "linkworker", "POST", f"/referrals/{referral_id}/connections", json=body
        )
        assert response.status_code == 201, response.text
        return response.json()["connection_id"]

    def user_id(self, username: str) -> str:
        with self.client.app.state.sessions() as session:
            return principal_of(session, username).user_id


@functools.cache
def _demo_password_hash() -> str:
    return hash_password("demo")  # Argon2 is slow by design: hash once, not per user per app


def _add_demo_users(app) -> None:
    """The demo users (as load_demo_data makes them) without hashing seven passwords."""
    with app.state.sessions.begin() as session:
        for user in DEMO_USERS:
            organisation = GROUP_ORG if user["role"] == "group_member" else None
            session.execute(
                store.users.insert().values(
                    id=str(uuid.uuid4()),
                    password_hash=_demo_password_hash(),
                    active=True,
                    created_at=store.now(),
                    **{**user, "organisation_id": organisation},
                )
            )


def _api(url: str, tmp_path) -> Iterator[Api]:
    settings = make_settings(url, tmp_path, run_workers=False)
    with TestClient(create_app(settings)) as client:
        _add_demo_users(client.app)
        yield Api(client)


@pytest.fixture
def api(sqlite_url, tmp_path) -> Iterator[Api]:
    yield from _api(sqlite_url, tmp_path)


# --- duplicates ------------------------------------------------------------------------


def test_a_repeat_referral_of_the_same_person_points_to_the_first(api: Api):
    first = api.refer()
    again = {
        **REFERRAL,
        "given_name": "Margret",
        "nhs_number": "4010232137",
        "needs": "Lonely since her husband died; loves gardening",
    }
    response = api.call("reception", "POST", "/referrals", json=again)
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == first and body["duplicate"] is True
    assert "same date of birth" in body["reason"]
    # Different needs, or another practice, are new referrals.
    assert (
        api.call(
            "gp", "POST", "/referrals", json={**REFERRAL, "needs": "debt advice, rent arrears"}
        ).status_code
        == 201
    )
    assert api.call("gp2", "POST", "/referrals", json=REFERRAL).status_code == 201


def test_the_same_idempotency_key_answers_with_the_first_referral(api: Api):
    key = {"Idempotency-Key": "gp-system-42"}
    first = api.refer(OTHER_PERSON, headers=key)
    response = api.call("reception", "POST", "/referrals", json=OTHER_PERSON, headers=key)
    assert response.status_code == 200
    assert response.json() == {
        "id": first,
        "status": "submitted",
        "duplicate": True,
        "reason": "the same Idempotency-Key was sent before",
    }


def test_a_reused_idempotency_key_with_another_referral_is_refused(api: Api):
    key = {"Idempotency-Key": "gp-system-42"}
    api.refer(OTHER_PERSON, headers=key)
    response = api.call("gp", "POST", "/referrals", json=REFERRAL, headers=key)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"
    assert "different referral" in response.json()["detail"]


def test_another_practices_idempotency_key_is_its_own_and_reveals_nothing(api: Api):
    key = {"Idempotency-Key": "gp-system-42"}
    theirs = api.refer(OTHER_PERSON, headers=key)
    response = api.call("gp2", "POST", "/referrals", json=REFERRAL, headers=key)
    assert response.status_code == 201, response.text
    ours = response.json()["id"]
    assert ours != theirs and "duplicate" not in response.json()
    assert api.call("gp2", "GET", f"/referrals/{ours}").json()["given_name"] == "Margaret"
    assert api.call("gp2", "GET", f"/referrals/{theirs}").status_code == 404
    # Both practices' retries find their own referral.
    again = api.call("gp2", "POST", "/referrals", json=REFERRAL, headers=key)
    assert again.status_code == 200 and again.json()["id"] == ours
    again = api.call("gp", "POST", "/referrals", json=OTHER_PERSON, headers=key)
    assert again.status_code == 200 and again.json()["id"] == theirs


# --- connections: the organisation comes from the directory ----------------------------


def _connect(api: Api, referral: str, **body):
    return api.call("linkworker", "POST", f"/referrals/{referral}/connections", json=body)


def test_a_connection_takes_its_organisation_from_the_directory_not_the_client(api: Api):
    referral = api.refer()
    service = api.directory_has("Grief Cafe", organisation_id="org-x")
    forged = _connect(api, referral, service_id=service, mode="referral", organisation_id=GROUP_ORG)
    assert forged.status_code == 422 and forged.json()["field"] == "organisation_id"
    made = _connect(api, referral, service_id=service, mode="referral", service_name="Anything")
    assert made.status_code == 201, made.text
    assert made.json()["organisation_id"] == "org-x"
    assert made.json()["service_name"] == "Grief Cafe"
    # The group member of the forged organisation sees nothing of the person.
    assert api.call("group", "GET", "/group/referrals").json() == []
    connection = made.json()["connection_id"]
    assert api.call("group", "GET", f"/group/connections/{connection}").status_code == 404


def test_a_connection_to_a_service_the_directory_does_not_know_is_refused(api: Api):
    referral = api.refer()
    unknown = _connect(api, referral, service_id="svc-nowhere", mode="referral")
    assert unknown.status_code == 422 and unknown.json()["field"] == "service_id"
    assert "svc-nowhere" in unknown.json()["detail"]


def test_a_full_or_withdrawn_service_needs_the_waiting_list_chosen(api: Api):
    referral = api.refer()
    full = api.directory_has("Allotment", places_free=0, capacity_per_week=10)
    refused = _connect(api, referral, service_id=full, mode="referral")
    assert refused.status_code == 422 and refused.json()["field"] == "waiting_list"
    assert "full" in refused.json()["detail"] and "waiting_list: true" in refused.json()["detail"]
    chosen = _connect(api, referral, service_id=full, mode="referral", waiting_list=True)
    assert chosen.status_code == 201 and chosen.json()["waiting_list"] is True

    gone = api.directory_has("Choir")
    api.directory_says(
        ServiceWithdrawn(revision=2, service_id=gone, organisation_id=GROUP_ORG, reason="ended")
    )
    api.directory_has("Choir", revision=1)  # an older revision redelivered changes nothing
    refused = _connect(api, referral, service_id=gone, mode="signposting")
    assert refused.status_code == 422 and "withdrawn" in refused.json()["detail"]
    assert (
        _connect(api, referral, service_id=gone, mode="signposting", waiting_list="yes").status_code
        == 422
    )


# --- sessions end when the account changes ---------------------------------------------


def test_a_deactivated_users_token_stops_working_at_once(api: Api):
    referral = api.refer()
    assert api.call("gp", "GET", f"/referrals/{referral}").status_code == 200
    with api.client.app.state.sessions.begin() as session:
        deactivate_user(session, "gp", outbox=api.client.app.state.outbox)
    read = api.call("gp", "GET", f"/referrals/{referral}")
    assert read.status_code == 401 and "no longer active" in read.json()["detail"]
    assert api.call("gp", "POST", "/referrals", json=OTHER_PERSON).status_code == 401
    signed_in = api.client.post("/auth/token", data={"username": "gp", "password": "demo"})
    assert signed_in.status_code == 400


def test_a_password_change_ends_the_accounts_sessions(api: Api):
    referral = api.refer()
    with api.client.app.state.sessions.begin() as session:
        set_password(session, "gp", "a new long passphrase", outbox=api.client.app.state.outbox)
    read = api.call("gp", "GET", f"/referrals/{referral}")
    assert read.status_code == 401 and "session has ended" in read.json()["detail"]
    token = api.client.post(
        "/auth/token", data={"username": "gp", "password": "a new long passphrase"}
    ).json()["access_token"]
    again = api.client.get(f"/referrals/{referral}", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 200


# --- worklist, contact attempts, assignment, caseload ----------------------------------


def test_the_worklist_puts_flagged_first_and_failed_contacts_move_the_status(api: Api):
    routine = api.refer()
    urgent = api.refer({**OTHER_PERSON, "urgency": "urgent"})
    items = api.call("linkworker", "GET", "/worklist").json()
    assert [i["id"] for i in items] == [urgent, routine]  # most urgent, then waiting
    for _ in range(3):
        response = api.call(
            "linkworker",
            "POST",
            f"/referrals/{routine}/contact-attempts",
            json={"date": date.today().isoformat(), "method": "phone", "result": "no_answer"},
        )
        assert response.status_code == 201, response.text
    assert response.json()["flagged"] is True
    assert response.json()["status"] == "contacted"  # trying to reach them is work
    items = api.call("linkworker", "GET", "/worklist").json()
    assert [i["id"] for i in items] == [routine, urgent]  # flagged first
    assert items[1]["waiting_days"] == 0 and items[1]["flagged"] is False
    assert items[0]["flagged"] is True
    assert items[0]["flag_reason"] == "3 contact attempts without reaching the person"
    assert items[0]["practice_ods"] == "G83001"
    assert items[0]["needs_snippet"]
    assert [
        i["id"] for i in api.call("linkworker", "GET", "/worklist?status=contacted").json()
    ] == [routine]
    assert api.call("gp", "GET", "/worklist").status_code == 403

    reached = api.call(
        "linkworker",
        "POST",
        f"/referrals/{routine}/contact-attempts",
        json={"date": date.today().isoformat(), "method": "phone", "result": "reached"},
    )
    assert reached.json()["status"] == "contacted" and reached.json()["flagged"] is False


def test_the_worklist_finds_people_by_name_or_nhs_number(api: Api):
    margaret = api.refer()
    other = api.refer(OTHER_PERSON)

    def found(q: str) -> list[str]:
        return [i["id"] for i in api.call("linkworker", "GET", "/worklist", params={"q": q}).json()]

    given, family = REFERRAL["given_name"], REFERRAL["family_name"]
    assert found(f"{given.lower()} {family[:3]}") == [margaret]
    nhs = OTHER_PERSON["nhs_number"]
    assert found(f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}") == [other]
    assert found("nobody-called-this") == []


def test_practice_staff_see_what_became_of_their_referrals(api: Api):
    shared = api.refer()
    private = api.refer({**OTHER_PERSON, "consent_to_share": False})
    for referral in (shared, private):
        connection = api.connect(referral, "Garden Club")
        api.call(
            "linkworker",
            "POST",
            f"/referrals/{referral}/connections/{connection}/outcome",
            json={"outcome": "attended"},
        )
    listed = {r["id"]: r for r in api.call("gp", "GET", "/referrals").json()}
    assert listed[shared]["connected_to"] == ["Garden Club"]
    assert listed[shared]["outcome"] == "attended"
    assert listed[private]["connected_to"] is None  # no consent to share: codes only
    assert listed[private]["connections_made"] == 1 and listed[private]["outcome"] == "attended"
    assert api.call("gp2", "GET", "/referrals").json() == []


def test_contact_attempts_refuse_bad_input_naming_the_field(api: Api):
    referral = api.refer()
    url = f"/referrals/{referral}/contact-attempts"
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    future = api.call(
        "linkworker", "POST", url, json={"date": tomorrow, "method": "phone", "result": "reached"}
    )
    assert future.status_code == 422
    assert future.json()["errors"][0] == {"field": "date", "reason": "is in the future"}
    pigeon = api.call(
        "linkworker",
        "POST",
        url,
        json={"date": "2025-01-01", "method": "pigeon", "result": "reached"},
    )
    assert pigeon.status_code == 422 and pigeon.json()["errors"][0]["field"] == "method"


def test_link_workers_take_referrals_and_see_caseloads_against_the_guidance(api: Api):
    first, second = api.refer(), api.refer(OTHER_PERSON)
    me = api.user_id("linkworker")
    for referral in (first, second):
        response = api.call("linkworker", "POST", f"/referrals/{referral}/assign")
        assert response.json() == {"id": referral, "assigned_to": me}
    api.connect(first, "Garden Club")
    unknown = api.call(
        "linkworker", "POST", f"/referrals/{first}/assign", json={"link_worker_id": "nobody"}
    )
    assert unknown.status_code == 422 and unknown.json()["field"] == "link_worker_id"
    caseload = api.call("linkworker", "GET", "/caseload").json()
    assert caseload["annual_guidance"] == [200, 250]
    mine = next(w for w in caseload["link_workers"] if w["id"] == me)
    assert mine["active_referrals"] == 2
    assert mine["open_connections"] == 1
    assert mine["people_this_year"] == 2
    assert mine["over_guidance"] is False
    assert api.call("linkworker", "GET", "/worklist").json()[0]["assigned_to"] == me


def _assigned(api: Api, referral: str) -> str | None:
    return api.call("linkworker", "GET", f"/referrals/{referral}").json()["assigned_to"]


TODAY = date.today().isoformat()
LINK_WORKER_ACTIONS = {
    "contact attempt": lambda api, r: api.call(
        "linkworker",
        "POST",
        f"/referrals/{r}/contact-attempts",
        json={"date": TODAY, "method": "phone", "result": "no_answer"},
    ),
    "connection": lambda api, r: api.connect(r, "Garden Club"),
    "wellbeing": lambda api, r: api.call(
        "linkworker",
        "POST",
        f"/referrals/{r}/wellbeing",
        json={"stage": "first_contact", "ons4": ONS4},
    ),
    "edit": lambda api, r: api.call(
        "linkworker", "PATCH", f"/referrals/{r}", json={"needs": "lonely, likes walking"}
    ),
    "close": lambda api, r: api.call(
        "linkworker", "POST", f"/referrals/{r}/close", json={"reason": "moved away"}
    ),
}


@pytest.mark.parametrize("action", list(LINK_WORKER_ACTIONS))
def test_any_action_by_a_link_worker_on_a_referral_nobody_has_taken_assigns_it(api: Api, action):
    referral = api.refer()
    assert _assigned(api, referral) is None
    LINK_WORKER_ACTIONS[action](api, referral)
    me = api.user_id("linkworker")
    assert _assigned(api, referral) == me
    assert (
        next(
            i
            for i in api.call("admin", "GET", f"/referrals/{referral}/audit").json()
            if i["action"] == "assign"
        )["user_id"]
        == me
    )
    if action != "close":
        caseload = api.call("linkworker", "GET", "/caseload").json()
        assert next(w for w in caseload["link_workers"] if w["id"] == me)["active_referrals"] == 1


def test_acting_on_a_colleague_s_referral_or_editing_it_at_the_practice_does_not_take_it(
    api: Api,
):
    with api.client.app.state.sessions.begin() as session:
        colleague = create_user(
            session,
            username="linkworker2",
            name="Sam Colleague",
            role="link_worker",
            password="demo",
            team="community-connect",
        )
    theirs = api.refer()
    api.call(
        "linkworker", "POST", f"/referrals/{theirs}/assign", json={"link_worker_id": colleague}
    )
    LINK_WORKER_ACTIONS["contact attempt"](api, theirs)
    assert _assigned(api, theirs) == colleague
    edited = api.refer(OTHER_PERSON)
    response = api.call(
        "gp", "PATCH", f"/referrals/{edited}", json={"needs": "lonely, likes walking"}
    )
    assert response.status_code == 200, response.text
    assert _assigned(api, edited) is None


def test_illegal_moves_answer_409_with_the_allowed_actions(api: Api):
    referral = api.refer()
    connection = api.connect(referral, "Garden Club")
    assert (
        api.call(
            "linkworker", "POST", f"/referrals/{referral}/close", json={"reason": "done here"}
        ).status_code
        == 200
    )
    outcome = api.call(
        "linkworker",
        "POST",
        f"/referrals/{referral}/connections/{connection}/outcome",
        json={"outcome": "attended"},
    )
    assert outcome.status_code == 409 and outcome.json()["allowed"] == []
    attempt = api.call(
        "linkworker",
        "POST",
        f"/referrals/{referral}/contact-attempts",
        json={"date": "2025-01-01", "method": "phone", "result": "reached"},
    )
    assert attempt.status_code == 409
    assert api.call("linkworker", "POST", f"/referrals/{referral}/assign").status_code == 409
    fresh = api.refer(OTHER_PERSON)
    early = api.call("linkworker", "GET", f"/referrals/{fresh}/gp-message")
    assert early.status_code == 409


# --- wellbeing -------------------------------------------------------------------------


def test_wellbeing_is_recorded_twice_and_the_change_shown(api: Api):
    referral = api.refer()
    url = f"/referrals/{referral}/wellbeing"
    early = api.call("linkworker", "POST", url, json={"stage": "follow_up", "ons4": ONS4})
    assert early.status_code == 409
    bad = api.call(
        "linkworker", "POST", url, json={"stage": "first_contact", "ons4": {**ONS4, "anxiety": 12}}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "ons4.anxiety"
    bad = api.call(
        "linkworker", "POST", url, json={"stage": "first_contact", "ons4": ONS4, "swemwbs": [1, 2]}
    )
    assert bad.status_code == 422 and bad.json()["field"] == "swemwbs"
    first = api.call(
        "linkworker", "POST", url, json={"stage": "first_contact", "ons4": ONS4, "swemwbs": [2] * 7}
    )
    assert first.status_code == 201, first.text
    assert (
        first.json()["first_contact"]["swemwbs_metric"] == 15.32 and first.json()["change"] is None
    )
    assert (
        api.call(
            "linkworker", "POST", url, json={"stage": "first_contact", "ons4": ONS4}
        ).status_code
        == 409
    )
    later = {"life_satisfaction": 6, "worthwhile": 6, "happiness": 5, "anxiety": 4}
    api.call(
        "linkworker", "POST", url, json={"stage": "follow_up", "ons4": later, "swemwbs": [3] * 7}
    )
    shown = api.call("gp", "GET", url).json()
    assert shown["change"]["ons4"]["anxiety"]["improved"] is True
    assert shown["change"]["swemwbs_metric"]["difference"] == 3.93
    assert api.call("gp2", "GET", url).status_code == 404


# --- groups ----------------------------------------------------------------------------


def _audit_actions(api: Api, referral_id: str) -> list[str]:
    with api.client.app.state.sessions() as session:
        return list(
            session.execute(
                select(store.audit_log.c.action).where(store.audit_log.c.referral_id == referral_id)
            ).scalars()
        )


def test_a_group_sees_contact_details_only_with_consent_to_share(api: Api):
    shared = api.refer()
    private = api.refer({**OTHER_PERSON, "consent_to_share": False})
    to_group = api.connect(shared, "Garden Club", organisation_id=GROUP_ORG)
    private_connection = api.connect(private, "Walking Group", organisation_id=GROUP_ORG)
    api.connect(shared, "Library", mode="signposting", organisation_id=GROUP_ORG)
    api.connect(private, "Elsewhere", organisation_id="org-other")

    listed = api.call("group", "GET", "/group/referrals").json()
    assert sorted(i["service_name"] for i in listed) == ["Garden Club", "Walking Group"]
    assert {i["person"] for i in listed} == {"Margaret", "Kwame"}  # first names only

    seen = api.call("group", "GET", f"/group/connections/{to_group}").json()
    assert seen["person"] == "Margaret Okafor"
    assert seen["contact"] == {"preferred": "phone", "detail": "020 7946 0018"}
    hidden = api.call("group", "GET", f"/group/connections/{private_connection}").json()
    assert hidden["person"] == "Kwame" and hidden["contact"] is None
    assert hidden["contact_note"] == "consent does not cover contact details"
    assert "group_read" in _audit_actions(api, shared)
    assert "group_read" in _audit_actions(api, private)
    assert api.call("linkworker", "GET", "/group/referrals").status_code == 403


def test_a_group_accepts_or_declines_with_a_reason(api: Api):
    referral = api.refer()
    connection = api.connect(referral, "Garden Club", organisation_id=GROUP_ORG)
    other_org = api.connect(referral, "Elsewhere", organisation_id="org-other")
    no_reason = api.call("group", "POST", f"/group/connections/{connection}/decline", json={})
    assert no_reason.status_code == 422 and no_reason.json()["field"] == "reason"
    declined = api.call(
        "group",
        "POST",
        f"/group/connections/{connection}/decline",
        json={"reason": "full until May"},
    )
    assert declined.json()["response"] == "declined"
    assert api.call("group", "POST", f"/group/connections/{other_org}/accept").status_code == 404
    detail = api.call("linkworker", "GET", f"/referrals/{referral}").json()
    answered = next(c for c in detail["connections"] if c["id"] == connection)
    assert answered["group_response"] == "declined"
    assert answered["group_response_reason"] == "full until May"
    # a place came up: the group changes its answer
    changed = api.call("group", "POST", f"/group/connections/{connection}/accept")
    assert changed.status_code == 200 and changed.json()["response"] == "accepted"
    detail = api.call("linkworker", "GET", f"/referrals/{referral}").json()
    assert next(c for c in detail["connections"] if c["id"] == connection)["group_response"] == (
        "accepted"
    )


def test_declining_because_full_offers_to_update_the_services_places(api: Api):
    referral = api.refer()
    connection = api.connect(referral, "Garden Club", organisation_id=GROUP_ORG)
    declined = api.call(
        "group",
        "POST",
        f"/group/connections/{connection}/decline",
        json={"reason": "no places left this term", "because_full": True},
    ).json()
    assert declined["update_capacity"]["service_id"]


def test_a_group_records_attendance_with_the_link_workers_outcome_event_and_can_correct_it(
    api: Api,
):
    referral = api.refer()
    connection = api.connect(referral, "Garden Club", organisation_id=GROUP_ORG)
    seen = api.call("group", "GET", f"/group/connections/{connection}").json()
    assert "needs" not in seen and "lonely" not in json.dumps(seen)  # never the GP's text
    assert seen["need_categories"] == REFERRAL.get("need_categories", [])
    attended = api.call(
        "group", "POST", f"/group/connections/{connection}/outcome", json={"outcome": "attended"}
    )
    assert attended.status_code == 200, attended.text
    bad = api.call(
        "group", "POST", f"/group/connections/{connection}/outcome", json={"outcome": "moved"}
    )
    assert bad.status_code == 422
    api.call(
        "group", "POST", f"/group/connections/{connection}/outcome", json={"outcome": "completed"}
    )
    with api.client.app.state.sessions() as session:
        rows = session.execute(
            select(store.outbox.c.value).where(
                store.outbox.c.event_type == "ReferralOutcomeRecorded"
            )
        ).scalars()
        events = [decode(v).payload for v in rows]
    assert [(e.outcome, e.recorded_by_role) for e in events] == [
        ("attended", "group"),
        ("completed", "group"),
    ]
    assert all(e.recorded_by and e.connection_id == connection for e in events)
    detail = api.call("linkworker", "GET", f"/referrals/{referral}").json()
    assert next(c for c in detail["connections"] if c["id"] == connection)["outcome"] == (
        "completed"
    )


# --- FHIR intake -----------------------------------------------------------------------


def test_fhir_intake_creates_a_referral_and_refuses_with_operation_outcomes(api: Api):
    created = api.call(
        "gp", "POST", "/fhir/ServiceRequest", json=service_request(), headers={"Content-Type": FHIR}
    )
    assert created.status_code == 201, created.text
    referral = created.json()["id"]
    assert created.headers["location"] == f"/referrals/{referral}"
    detail = api.call("gp", "GET", f"/referrals/{referral}").json()
    assert detail["nhs_number"] == "9434765919" and detail["urgency"] == "soon"
    assert detail["practice_ods"] == "G83001"

    again = api.call(
        "gp", "POST", "/fhir/ServiceRequest", json=service_request(), headers={"Content-Type": FHIR}
    )
    assert again.status_code == 200 and again.json()["duplicate"] is True

    bad_nhs = service_request()
    bad_nhs["contained"][0]["identifier"][0]["value"] = "9434765918"
    refused = api.call(
        "gp", "POST", "/fhir/ServiceRequest", json=bad_nhs, headers={"Content-Type": FHIR}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith(FHIR)
    issue = refused.json()["issue"][0]
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "error" and issue["code"] == "invalid"
    assert issue["expression"][0].startswith("Patient.identifier")
    assert "Modulus 11" in issue["diagnostics"]

    uncoded = api.call(
        "gp",
        "POST",
        "/fhir/ServiceRequest",
        json=service_request(code={"text": "x"}),
        headers={"Content-Type": FHIR},
    )
    assert uncoded.status_code == 422
    assert uncoded.json()["issue"][0]["expression"] == ["ServiceRequest.code.coding"]

    not_json = api.call(
        "gp", "POST", "/fhir/ServiceRequest", content=b"{oops", headers={"Content-Type": FHIR}
    )
    assert not_json.status_code == 400 and not_json.json()["issue"][0]["code"] == "structure"
    xml = api.call(
        "gp",
        "POST",
        "/fhir/ServiceRequest",
        content=b"<x/>",
        headers={"Content-Type": "application/fhir+xml"},
    )
    assert xml.status_code == 415
    as_link_worker = api.call(
        "linkworker",
        "POST",
        "/fhir/ServiceRequest",
        json=service_request(),
        headers={"Content-Type": FHIR},
    )
    assert as_link_worker.status_code == 403


# --- the whole journey -----------------------------------------------------------------


def carry_a_referral_from_fhir_intake_to_the_gp_message(api: Api) -> None:
    doc = service_request()
    doc["contained"][0]["identifier"][0]["value"] = "4010232137"
    created = api.call(
        "gp", "POST", "/fhir/ServiceRequest", json=doc, headers={"Content-Type": FHIR}
    )
    assert created.status_code == 201, created.text
    referral = created.json()["id"]
    base = f"/referrals/{referral}"
    today = date.today().isoformat()

    assert api.call("linkworker", "POST", f"{base}/assign").status_code == 200
    api.call(
        "linkworker",
        "POST",
        f"{base}/contact-attempts",
        json={"date": today, "method": "phone", "result": "no_answer"},
    )
    reached = api.call(
        "linkworker",
        "POST",
        f"{base}/contact-attempts",
        json={"date": today, "method": "phone", "result": "reached"},
    )
    assert reached.json()["status"] == "contacted"
    api.call(
        "linkworker",
        "POST",
        f"{base}/wellbeing",
        json={"stage": "first_contact", "ons4": ONS4, "swemwbs": [2] * 7},
    )
    connection = api.connect(referral, "Bexley Garden Club", organisation_id=GROUP_ORG)
    assert api.call("group", "POST", f"/group/connections/{connection}/accept").status_code == 200
    outcome = api.call(
        "linkworker",
        "POST",
        f"{base}/connections/{connection}/outcome",
        json={"outcome": "attended"},
    )
    assert outcome.status_code == 200, outcome.text
    later = {"life_satisfaction": 7, "worthwhile": 7, "happiness": 6, "anxiety": 3}
    api.call(
        "linkworker",
        "POST",
        f"{base}/wellbeing",
        json={"stage": "follow_up", "ons4": later, "swemwbs": [4] * 7},
    )
    closed = api.call(
        "linkworker", "POST", f"{base}/close", json={"reason": "settled at the garden club"}
    )
    assert closed.json()["status"] == "closed"

    listed = next(r for r in api.call("gp", "GET", "/referrals").json() if r["id"] == referral)
    assert listed["status"] == "closed"
    assert listed["connected_to"] == ["Bexley Garden Club"]
    assert listed["outcome"] == "attended"

    def unread() -> list[str]:
        answer = api.call("gp", "GET", "/gp-messages", params={"unread_only": "true"})
        return [m["referral_id"] for m in answer.json()]

    assert referral in unread()
    assert api.call("gp2", "GET", "/gp-messages").json() == []  # another practice's
    message = api.call("gp", "GET", f"{base}/gp-message")
    assert message.status_code == 200, message.text
    assert referral not in unread()
    body = message.json()
    assert body["code"]["code"] == "871731000000106"
    assert body["fhir"]["resourceType"] == "Composition"
    assert "Bexley Garden Club (referral)" in body["text"]
    assert "ONS4 anxiety: 8 -> 3 (-5, improved)" in body["text"]
    assert "SWEMWBS metric score: 15.32 -> 25.03 (+9.71)" in body["text"]
    assert api.call("gp2", "GET", f"{base}/gp-message").status_code == 404
    assert "read" in _audit_actions(api, referral)

    with api.client.app.state.sessions() as session:
        events = list(
            session.execute(
                select(store.outbox.c.event_type)
                .where(store.outbox.c.key == referral)
                .order_by(store.outbox.c.id)
            ).scalars()
        )
    assert events == [  # what reports need, and never a score or a name
        "ReferralSubmitted",
        "ReferralContacted",
        "MatchConfirmed",
        "GroupAnswered",
        "ReferralOutcomeRecorded",
        "WellbeingChanged",
        "ReferralClosed",
        "GpMessageReady",
    ]


def test_a_referral_from_fhir_intake_to_outcome_wellbeing_and_gp_message(api: Api):
    carry_a_referral_from_fhir_intake_to_the_gp_message(api)


@pytest.mark.postgres
def test_the_journey_on_postgresql(pg_url, tmp_path):
    for api in _api(pg_url, tmp_path):
        carry_a_referral_from_fhir_intake_to_the_gp_message(api)
