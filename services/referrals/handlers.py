"""How the referrals service reacts to the matcher's proposals and to the directory's
services (kept as a small local view: a connection's organisation comes from there)."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.referrals import store
from services.referrals.domain import Action, IllegalTransition, Status, transition
from shared.bus.consumer import Registry
from shared.events import Envelope, MatchesProposed, ServiceUpserted, ServiceWithdrawn

__all__ = [
    "CONSUMERS",
    "HANDLERS",
    "on_matches_proposed",
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
    """Replace undecided proposals with the new ones; decided ones stay as history."""
    r = store.referrals.c
    row = session.execute(
        select(r.status).where(r.id == event.referral_id).with_for_update()
    ).first()
    if row is None:
        raise LookupError(f"proposals for unknown referral {event.referral_id}")
    try:
        new_status = transition(Status(row.status), Action.PROPOSE)
    except IllegalTransition:
        return  # closed meanwhile: proposals no longer matter
    p = store.proposals.c
    session.execute(
        delete(store.proposals).where(p.referral_id == event.referral_id, p.decision.is_(None))
    )
    decided = set(
        session.execute(select(p.service_id).where(p.referral_id == event.referral_id)).scalars()
    )
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
        for rank, m in enumerate(event.proposals, start=1)
        if m.service_id not in decided
    ]
    if rows:
        session.execute(store.proposals.insert(), rows)
    session.execute(
        update(store.referrals)
        .where(r.id == event.referral_id)
        .values(
            status=new_status,
            needs_found=[n.model_dump(mode="json") for n in event.needs],
            unmet_needs=list(event.unmet_needs),
            updated_at=store.now(),
        )
    )
    if new_status != row.status:
        store.record_transition(
            session, event.referral_id, row.status, new_status, Action.PROPOSE, "matcher"
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
    MatchesProposed: on_matches_proposed,
    ServiceUpserted: on_service_upserted,
    ServiceWithdrawn: on_service_withdrawn,
}

#: Consumer group -> what it handles and what it deliberately ignores.
CONSUMERS = {"referrals": Registry(HANDLERS)}
