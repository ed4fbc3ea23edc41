"""Beside each proposal, how its group usually answers referrals ("usually answers in 2
days, 80% accepted"), computed by the referrals service from its own connections and the
groups' answers (the page makes no call to another origin). Shown only once at least the
small-number threshold of referrals were answered.

The history is back-dated through the use cases under ``clock.at``, as the demo year is.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.referrals.api import connections, groups
from services.referrals.schemas import ConnectionIn, GroupResponseIn
from services.referrals.users import principal_of
from shared import clock
from shared.bus.port import Record
from shared.events import MATCHES_TOPIC, MatchesProposed, ProposedMatch, encode, new_envelope
from tests.integration.test_referrals_api import GROUP_ORG, REFERRAL, Api

#: Days each past referral to the Garden Club waited for the group's answer, and whether
#: it was accepted: the median wait is 2 days, 4 of 5 accepted.
GARDEN_ANSWERS = [(1, True), (2, True), (9, False), (2, True), (3, True)]


def _nhs_number(i: int) -> str:
    """The ``i``-th valid NHS number (Modulus 11) from 100000000x."""
    n = 0
    for stem in range(100_000_000, 200_000_000):
        digits = [int(d) for d in str(stem)]
        check = 11 - sum(d * (10 - k) for k, d in enumerate(digits)) % 11
        if check != 10:
            if n == i:
                return str(stem) + str(0 if check == 11 else check)
            n += 1
    raise AssertionError("unreachable")


def _person(i: int) -> dict:
    """Another person each time, so the intake sees no duplicate."""
    return {**REFERRAL, "nhs_number": _nhs_number(i), "birth_date": f"19{50 + i}-05-01"}


def _past_referral(api: Api, i: int, service_id: str, wait_days: int, accepted: bool) -> None:
    """A referral connected 30 days ago to the service, answered ``wait_days`` later."""
    referral = api.refer(_person(i))
    app = api.client.app
    asked = datetime.now(UTC) - timedelta(days=30)
    with app.state.sessions() as session:
        worker = principal_of(session, "linkworker")
        member = principal_of(session, "group")
    body = ConnectionIn(service_id=service_id, mode="referral")
    with clock.at(asked), app.state.sessions() as session:
        made = connections.connect(referral, body, worker, session, app.state.outbox)
    answer = "accept" if accepted else "decline"
    reason = None if accepted else GroupResponseIn(reason="no places until the new term")
    with clock.at(asked + timedelta(days=wait_days)), app.state.sessions() as session:
        groups.answer_referral(
            made["connection_id"], answer, member, session, app.state.outbox, reason
        )


def _propose(api: Api, referral: str, service_ids: list[str]) -> None:
    """The matcher's proposals arrive on the bus and the referrals consumer keeps them."""
    event = MatchesProposed(
        referral_id=referral,
        in_reply_to=uuid.uuid4(),
        proposals=tuple(
            ProposedMatch(
                service_id=sid,
                service_name=sid,
                organisation_id=GROUP_ORG,
                score=1.0,
                need="gardening",
                concept="gardening",
                reasons=(),
            )
            for sid in service_ids
        ),
    )
    envelope = new_envelope(event, "matcher@test")
    app = api.client.app
    app.state.bus.publish([Record(MATCHES_TOPIC, envelope.key, encode(envelope))])
    (consumer,) = app.state.runtime.consumers
    while consumer.run_once(timeout_s=0.05):
        pass


def test_each_proposal_says_how_its_group_usually_answers_once_enough_answered(api: Api):
    garden = api.directory_has("Garden Club")
    knitting = api.directory_has("Knit and Natter")
    for i, (days, accepted) in enumerate(GARDEN_ANSWERS):
        _past_referral(api, i, garden, days, accepted)
    for i in range(4):  # below the threshold of 5: not shown
        _past_referral(api, 10 + i, knitting, 1, True)

    referral = api.refer(_person(20))
    _propose(api, referral, [garden, knitting])
    detail = api.call("linkworker", "GET", f"/referrals/{referral}").json()
    by_service = {p["service_id"]: p["responsiveness"] for p in detail["proposals"]}

    assert by_service[garden] == {
        "answered": 5,
        "median_days": 2,
        "accepted_percent": 80,
        "text": "usually answers in 2 days, 80% accepted",
    }
    assert by_service[knitting] is None
