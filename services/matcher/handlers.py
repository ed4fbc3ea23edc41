"""How the matcher reacts to referral events: rank, record, propose.

Runs inside the consumer's transaction: the proposal record, the ``MatchesProposed``
event in the outbox and the processed-event mark commit together.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from services.matcher import replica, store
from services.matcher.ranking import MatchRequest, RankResult
from services.matcher.replica import LiveIndex
from shared.bus.consumer import Registry
from shared.bus.outbox import Outbox
from shared.events import (
    Envelope,
    GpMessageReady,
    GroupAnswered,
    MatchConfirmed,
    MatchDeclined,
    MatchesProposed,
    NeedFound,
    ProposedMatch,
    ReferralClosed,
    ReferralContacted,
    ReferralOutcomeRecorded,
    ReferralProfile,
    ReferralSubmitted,
    ReferralUpdated,
    ServiceUpserted,
    ServiceWithdrawn,
    WellbeingChanged,
)

__all__ = [
    "BATCH_HANDLERS",
    "CONSUMERS",
    "HANDLERS",
    "REPLICA_HANDLERS",
    "on_match_confirmed",
    "on_match_declined",
    "on_referrals_changed",
    "propose",
    "request_from_profile",
]

TOP = 5


def request_from_profile(referral_id: str, profile: ReferralProfile, today: date) -> MatchRequest:
    return MatchRequest(
        referral_id=referral_id,
        needs_text=profile.needs_text,
        age=profile.age,
        gender=profile.gender,
        ward=profile.ward,
        lat=profile.lat,
        lon=profile.lon,
        languages=profile.languages,
        accessibility_needs=profile.accessibility_needs,
        need_categories=profile.need_categories,
        delivery_modes=profile.delivery_modes,
        today=today,
    )


def proposal_event(
    referral_id: str,
    in_reply_to,
    result: RankResult,
    ward: str | None,
    size: int,
    organisations: dict[str, str] | None = None,
) -> MatchesProposed:
    organisations = organisations or {}
    return MatchesProposed(
        referral_id=referral_id,
        in_reply_to=in_reply_to,
        proposals=tuple(
            ProposedMatch(
                service_id=p.service_id,
                service_name=p.service_name,
                organisation_id=organisations.get(p.service_id),
                score=round(max(p.score, 0.0), 4),
                need=p.need,
                concept=p.concept,
                reasons=p.reasons,
                waiting_list=p.waiting_list,
                distance_km=None if p.distance_km is None else round(p.distance_km, 1),
                breakdown=p.breakdown,
            )
            for p in result.proposals
        ),
        needs=tuple(
            NeedFound(phrase=n.phrase, concept=n.concept, categories=n.categories)
            for n in result.needs
        ),
        unmet_needs=result.unmet_needs,
        unrecognised=result.unrecognised,
        ward=ward,
        directory_size=size,
    )


def propose(
    session: Session,
    items: list[tuple[ReferralSubmitted | ReferralUpdated, Envelope]],
    *,
    live: LiveIndex,
    today=date.today,
) -> list[MatchesProposed]:
    """Rank the replica for each referral, after one refresh of it: reads only, so the
    consumer runs it before the batch's transaction (``Registry.prepare``) and the
    ranking holds no write lock."""
    live.refresh(session)
    day = today()
    ranked = [
        (event, env, live.rank(request_from_profile(event.referral_id, event.profile, day), TOP))
        for event, env in items
    ]
    organisations = live.organisations_of(
        session, [p.service_id for _, _, result in ranked for p in result.proposals]
    )
    return [
        proposal_event(
            event.referral_id, env.event_id, result, event.profile.ward, len(live), organisations
        )
        for event, env, result in ranked
    ]


def on_referrals_changed(
    session: Session,
    items: list[tuple[ReferralSubmitted | ReferralUpdated, Envelope]],
    *,
    live: LiveIndex,
    outbox: Outbox,
    today=date.today,
    prepared: list[MatchesProposed] | None = None,
) -> None:
    """Record each referral's proposals and propose them; the latest profile wins. A
    run of events costs one statement per table, not three per event."""
    proposed = prepared or propose(session, items, live=live, today=today)
    now = datetime.now(UTC)
    latest = {
        event.referral_id: {
            "referral_id": event.referral_id,
            "profile": event.profile.model_dump(mode="json"),
            "proposals": [p.model_dump(mode="json") for p in made.proposals],
            "unmet_needs": list(made.unmet_needs),
            "proposed_at": now,
        }
        for (event, _), made in zip(items, proposed, strict=True)
    }
    p = store.proposals
    session.execute(delete(p).where(p.c.referral_id.in_(list(latest))))
    session.execute(p.insert(), list(latest.values()))
    outbox.add_all(session, proposed)


def on_match_confirmed(session: Session, event: MatchConfirmed, _env: Envelope) -> None:
    """Remember the link worker's choice, for labelled cases (``decisions.py``)."""
    session.execute(
        store.decisions.insert().values(
            referral_id=event.referral_id,
            service_id=event.service_id,
            decision="confirmed",
            was_proposed=event.was_proposed,
            reason="",
            decided_at=datetime.now(UTC),
        )
    )


def on_match_declined(session: Session, event: MatchDeclined, _env: Envelope) -> None:
    """Remember each declined proposal and why."""
    session.execute(
        store.decisions.insert(),
        [
            {
                "referral_id": event.referral_id,
                "service_id": service_id,
                "decision": "declined",
                "was_proposed": True,
                "reason": event.reason,
                "decided_at": datetime.now(UTC),
            }
            for service_id in event.service_ids
        ],
    )


HANDLERS = {
    MatchConfirmed: on_match_confirmed,
    MatchDeclined: on_match_declined,
}

BATCH_HANDLERS = {
    ReferralSubmitted: on_referrals_changed,
    ReferralUpdated: on_referrals_changed,
}

REPLICA_HANDLERS = {
    ServiceUpserted: replica.on_service_upserted,
    ServiceWithdrawn: replica.on_service_withdrawn,
}

#: Consumer group -> what it handles and what it deliberately ignores: outcomes,
#: closures and messages back to GPs change nothing the matcher ranks by.
CONSUMERS = {
    "matcher-replica": Registry(REPLICA_HANDLERS),
    "matcher": Registry(
        HANDLERS,
        batch_handlers=BATCH_HANDLERS,
        prepare={ReferralSubmitted: propose, ReferralUpdated: propose},
        ignored=frozenset(
            {
                ReferralOutcomeRecorded,
                ReferralClosed,
                GpMessageReady,
                ReferralContacted,
                GroupAnswered,
                WellbeingChanged,
            }
        ),
    ),
}
