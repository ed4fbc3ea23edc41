"""How the referrals service reacts to the matcher's proposals and to the directory's
services (kept as a small local view: a connection's organisation comes from there)."""

from __future__ import annotations

import contextlib

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.referrals import store
from services.referrals.domain import Action, IllegalTransition, Status, transition
from shared.bus.consumer import Registry
from shared.events import Envelope, MatchesProposed, ServiceUpserted, ServiceWithdrawn

__all__ = [
    "BATCH_HANDLERS",
    "CONSUMERS",
    "HANDLERS",
    "on_matches_proposed",
    "on_matches_proposed_batch",
    "on_service_upserted",
    "on_service_withdrawn",
]


def on_service_upserted(session: Session, event: ServiceUpserted, env: Envelope) -> None:
    service = event.service
    _keep_service(
        session,
        event.revision,
        id=service.id,
        organisation_id=service.organisation_id,
        name=service.name,
        status=service.status,
        places_free=service.places_free,
    )


def on_service_withdrawn(session: Session, event: ServiceWithdrawn, env: Envelope) -> None:
    s = store.services.c
    known = session.execute(select(s.name).where(s.id == event.service_id)).first()
    _keep_service(
        session,
        event.revision,
        id=event.service_id,
        organisation_id=event.organisation_id,
        name=known.name if known else event.service_id,
        status="withdrawn",
        places_free=None,
    )


def on_matches_proposed(session: Session, event: MatchesProposed, env: Envelope) -> None:
    """One event's proposals (``on_matches_proposed_batch`` with one item)."""
    on_matches_proposed_batch(session, [(event, env)])


def on_matches_proposed_batch(
    session: Session, items: list[tuple[MatchesProposed, Envelope]]
) -> None:
    """Replace each referral's undecided proposals with the new ones; decided ones stay
    as history. A run of events costs one statement per table, not one per event: read
    the referrals' statuses, drop their undecided proposals, read their decided ones,
    insert the new rows, update the referrals, record the transitions. Two events for
    the same referral in one run are applied one after the other, as alone."""
    chunk: list[tuple[MatchesProposed, Envelope]] = []
    for event, env in items:
        if any(e.referral_id == event.referral_id for e, _ in chunk):
            _propose(session, chunk)
            chunk = []
        chunk.append((event, env))
    _propose(session, chunk)


def _propose(session: Session, items: list[tuple[MatchesProposed, Envelope]]) -> None:
    """``items`` name each referral once."""
    if not items:
        return
    r, p = store.referrals.c, store.proposals.c
    ids = [event.referral_id for event, _ in items]
    statuses = dict(
        session.execute(
            select(r.id, r.status).where(r.id.in_(ids)).order_by(r.id).with_for_update()
        ).all()
    )
    for referral_id in ids:
        if referral_id not in statuses:
            raise LookupError(f"proposals for unknown referral {referral_id}")
    moves = {}
    for event, _env in items:
        with contextlib.suppress(IllegalTransition):  # closed meanwhile: no longer matter
            moves[event.referral_id] = transition(
                Status(statuses[event.referral_id]), Action.PROPOSE
            )
    if not moves:
        return
    live = [(event, env) for event, env in items if event.referral_id in moves]
    session.execute(
        delete(store.proposals).where(p.referral_id.in_(list(moves)), p.decision.is_(None))
    )
    decided = {
        (row.referral_id, row.service_id)
        for row in session.execute(
            select(p.referral_id, p.service_id).where(p.referral_id.in_(list(moves)))
        )
    }
    rows = [
        {
            "referral_id": event.referral_id,
            "service_id": m.service_id,
            "rank": rank,
            "service_name": m.service_name,
            "organisation_id": m.organisation_id,
            "score": m.score,
            "need": m.need,
            "concept": m.concept,
            "reasons": list(m.reasons),
            "waiting_list": m.waiting_list,
            "distance_km": m.distance_km,
            "breakdown": dict(m.breakdown),
            "proposed_at": env.occurred_at,
        }
        for event, env in live
        for rank, m in enumerate(event.proposals, start=1)
        if (event.referral_id, m.service_id) not in decided
    ]
    if rows:
        session.execute(store.proposals.insert(), rows)
    store.record_proposals_outcome(
        session,
        [
            {
                "referral_id": event.referral_id,
                "status": moves[event.referral_id],
                "needs_found": [n.model_dump(mode="json") for n in event.needs],
                "unmet_needs": list(event.unmet_needs),
            }
            for event, _env in live
        ],
    )
    store.record_transitions(
        session,
        [
            (event.referral_id, statuses[event.referral_id], moves[event.referral_id])
            for event, _env in live
            if moves[event.referral_id] != statuses[event.referral_id]
        ],
        Action.PROPOSE,
        "matcher",
    )


def _keep_service(session: Session, revision: int, **values) -> None:
    """Store the directory's view of a service unless a later revision is already here
    (a compacted topic may redeliver older revisions after newer ones)."""
    s = store.services.c
    stored = session.execute(
        select(s.revision).where(s.id == values["id"]).with_for_update()
    ).first()
    if stored is None:
        session.execute(
            store.services.insert().values(revision=revision, updated_at=store.now(), **values)
        )
    elif revision > stored.revision:
        session.execute(
            update(store.services)
            .where(s.id == values["id"])
            .values(revision=revision, updated_at=store.now(), **values)
        )


HANDLERS = {
    ServiceUpserted: on_service_upserted,
    ServiceWithdrawn: on_service_withdrawn,
}
#: Handled a run at a time (``Registry.batch_handlers``): one statement per table.
BATCH_HANDLERS = {MatchesProposed: on_matches_proposed_batch}

#: Consumer group -> what it handles and what it deliberately ignores.
CONSUMERS = {"referrals": Registry(HANDLERS, batch_handlers=BATCH_HANDLERS)}
