"""The referrals service records a batch's proposals a run at a time (one statement per
table), with the same effect as one event at a time: a second event for a referral in
the same run replaces the first's undecided proposals, decided ones stay, a closed
referral's proposals are dropped, and an event for an unknown referral is dead-lettered
alone while the rest of its batch is recorded."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update

from services.referrals import store
from shared.bus.port import Record
from shared.events import (
    DEAD_LETTER_TOPIC,
    DeadLetter,
    MatchesProposed,
    NeedFound,
    ProposedMatch,
    encode,
    new_envelope,
    topic_of_class,
)
from tests.integration.test_referrals_api import REFERRAL, api  # noqa: F401  (fixture)


def _proposed(referral_id: str, *service_ids: str) -> MatchesProposed:
    return MatchesProposed(
        referral_id=referral_id,
        in_reply_to=uuid.uuid4(),
        proposals=tuple(
            ProposedMatch(
                service_id=s,
                service_name=f"Service {s}",
                score=1.0 / rank,
                need="loneliness",
                concept="social connection",
                reasons=("near",),
            )
            for rank, s in enumerate(service_ids, start=1)
        ),
        needs=(NeedFound(phrase="lonely", concept="social connection"),),
        unmet_needs=("gardening",),
    )


def _deliver(app, events) -> None:
    records = []
    for event in events:
        envelope = new_envelope(event, "matcher@test")
        records.append(Record(topic_of_class(MatchesProposed), envelope.key, encode(envelope)))
    app.state.bus.publish(records)
    (consumer,) = app.state.runtime.consumers
    while consumer.run_once(timeout_s=0.05):
        pass


def _proposals(app, referral_id):
    p = store.proposals.c
    with app.state.sessions() as session:
        rows = session.execute(
            select(p.service_id, p.rank, p.decision)
            .where(p.referral_id == referral_id)
            .order_by(p.decision.is_(None), p.rank)
        ).all()
    return [tuple(row) for row in rows]


def test_a_run_of_proposals_has_the_effect_of_each_event_alone(api):  # noqa: F811
    app = api.client.app
    one, two, closed, decided = (
        api.refer({**REFERRAL, "family_name": name, "nhs_number": nhs, "birth_date": born})
        for name, nhs, born in (
            ("One", "9434765919", "1948-03-02"),
            ("Two", "4010232137", "1950-04-03"),
            ("Shut", "9990000018", "1951-05-04"),
            ("Kept", "4505577104", "1952-06-05"),
        )
    )
    r = store.referrals.c
    with app.state.sessions.begin() as session:
        session.execute(update(store.referrals).where(r.id == closed).values(status="closed"))
    _deliver(app, [_proposed(decided, "s-old", "s-other")])
    p = store.proposals.c
    with app.state.sessions.begin() as session:
        session.execute(
            update(store.proposals)
            .where(p.referral_id == decided, p.service_id == "s-old")
            .values(decision="declined")
        )

    _deliver(
        app,
        [
            _proposed(one, "s-a", "s-b"),
            _proposed(two, "s-c"),
            _proposed(one, "s-d"),  # the same referral again in the run: replaces s-a, s-b
            _proposed("no-such-referral", "s-x"),
            _proposed(closed, "s-e"),
            _proposed(decided, "s-old", "s-new"),  # s-old was declined: it stays as it was
        ],
    )

    assert _proposals(app, one) == [("s-d", 1, None)]
    assert _proposals(app, two) == [("s-c", 1, None)]
    assert _proposals(app, closed) == []
    assert _proposals(app, decided) == [("s-old", 1, "declined"), ("s-new", 2, None)]
    h = store.status_history.c
    with app.state.sessions() as session:
        statuses = dict(session.execute(select(r.id, r.status)).all())
        moves = dict(
            session.execute(
                select(h.referral_id, func.count())
                .where(h.to_status == "matches_proposed")
                .group_by(h.referral_id)
            ).all()
        )
        found = session.execute(select(r.needs_found, r.unmet_needs).where(r.id == two)).one()
    assert statuses == {
        one: "matches_proposed",
        two: "matches_proposed",
        closed: "closed",
        decided: "matches_proposed",
    }
    assert moves == {one: 1, two: 1, decided: 1}, "a transition recorded once per referral"
    assert found.needs_found == [
        {"phrase": "lonely", "concept": "social connection", "categories": []}
    ]
    assert found.unmet_needs == ["gardening"]
    letters = [
        DeadLetter.model_validate_json(m.value)
        for m in app.state.bus.subscribe("inspector", [DEAD_LETTER_TOPIC]).poll(timeout_s=0.2)
    ]
    assert len(letters) == 1
    assert "proposals for unknown referral no-such-referral" in letters[0].error
