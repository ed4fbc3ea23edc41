"""How the directory reacts to referral and matching events.

Each handler runs inside the consumer's transaction (see shared/bus/consumer.py), so its
writes, the events it emits and the processed-event record commit together.
"""

from __future__ import annotations

import inspect
from datetime import date

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.directory import store
from services.directory.accounts import on_account_sessions_ended
from services.directory.deferred import Replace, deferred
from services.directory.domain import places_free, week_bounds
from services.directory.readmodel import InsightProjector
from shared.bus.consumer import Handler, Registry
from shared.bus.outbox import Outbox
from shared.events import (
    AccountSessionsEnded,
    Envelope,
    GpMessageReady,
    GroupAnswered,
    MatchConfirmed,
    MatchDeclined,
    MatchesProposed,
    ReferralOutcomeRecorded,
    ReferralUpdated,
    ServiceUpserted,
)

__all__ = [
    "CONSUMERS",
    "HANDLERS",
    "on_group_answered",
    "on_match_confirmed",
    "on_matches_proposed",
    "on_outcome_recorded",
    "publish_service",
]


def publish_service(session: Session, outbox: Outbox, service_id: str, today: date) -> None:
    """Bump the service's revision and emit its whole current state."""
    row = store.get_service(session, service_id)
    if row is None or row.withdrawn:
        return
    revision = row.revision + 1
    session.execute(
        update(store.services)
        .where(store.services.c.id == service_id)
        .values(revision=revision, updated_at=store.now())
    )
    org = store.get_organisation(session, row.organisation_id)
    monday, sunday = week_bounds(today)
    taken = store.places_taken(session, row.id, monday, sunday)
    free = places_free(row.capacity_per_week, taken, row.taking)
    reports = store.open_reports(session, row.id)
    snap = store.snapshot(row, org.name if org else "", free, reports)
    outbox.add(session, ServiceUpserted(revision=revision, service=snap))


def on_matches_proposed(session: Session, event: MatchesProposed, env: Envelope) -> None:
    """Remember demand: the needs found (met or not) and the services proposed. The rows
    replace the referral's earlier ones when the transaction commits (deferred.py)."""
    seen_on = env.occurred_at.date()
    unmet = set(event.unmet_needs)
    rows = [
        {
            "referral_id": event.referral_id,
            "concept": need.concept,
            "phrase": need.phrase,
            "categories": list(need.categories),
            "ward": event.ward,
            "met": need.phrase not in unmet,
            "seen_on": seen_on,
        }
        for need in event.needs
    ]
    known = {need.phrase for need in event.needs}
    rows += [
        {
            "referral_id": event.referral_id,
            "concept": phrase,
            "phrase": phrase,
            "categories": [],
            "ward": event.ward,
            "met": False,
            "seen_on": seen_on,
        }
        for phrase in event.unmet_needs
        if phrase not in known
    ]
    proposed = {p.service_id: p.waiting_list for p in event.proposals}
    writes = deferred(session)
    writes.part("needs_seen", lambda: Replace(store.needs_seen, "referral_id")).set(
        event.referral_id, rows
    )
    writes.part("proposals_seen", lambda: Replace(store.proposals_seen, "referral_id")).set(
        event.referral_id,
        [
            {
                "referral_id": event.referral_id,
                "service_id": service_id,
                "waiting_list": waiting,
                "seen_on": seen_on,
            }
            for service_id, waiting in proposed.items()
        ],
    )


def on_match_confirmed(
    session: Session, event: MatchConfirmed, env: Envelope, *, outbox: Outbox, today=date.today
) -> None:
    """A place is taken: record it in the ledger and republish the service's capacity."""
    exists = session.execute(
        select(store.connections.c.connection_id).where(
            store.connections.c.connection_id == event.connection_id
        )
    ).first()
    if exists:
        return
    session.execute(
        store.connections.insert().values(
            connection_id=event.connection_id,
            referral_id=event.referral_id,
            service_id=event.service_id,
            mode=event.mode,
            ward=event.ward,
            confirmed_on=env.occurred_at.date(),
            confirmed_at=env.occurred_at,
        )
    )
    if event.mode == "referral":  # signposting takes no place
        publish_service(session, outbox, event.service_id, today())


def on_outcome_recorded(
    session: Session,
    event: ReferralOutcomeRecorded,
    env: Envelope,
    *,
    outbox: Outbox,
    today=date.today,
) -> None:
    """Outcomes that free a place give it back to the service."""
    session.execute(
        update(store.connections)
        .where(store.connections.c.connection_id == event.connection_id)
        .values(outcome=event.outcome, outcome_on=env.occurred_at.date())
    )
    mode = session.execute(
        select(store.connections.c.mode).where(
            store.connections.c.connection_id == event.connection_id
        )
    ).scalar()
    if mode == "referral" and event.outcome in ("no_capacity", "declined_by_patient"):
        publish_service(session, outbox, event.service_id, today())


def on_group_answered(session: Session, event: GroupAnswered, env: Envelope) -> None:
    """The group's answer, for its responsiveness (time to answer, share accepted)."""
    session.execute(
        update(store.connections)
        .where(store.connections.c.connection_id == event.connection_id)
        .values(
            answered_at=env.occurred_at,
            accepted=event.accepted,
            organisation_id=event.organisation_id,
        )
    )


HANDLERS = {
    MatchesProposed: on_matches_proposed,
    MatchConfirmed: on_match_confirmed,
    ReferralOutcomeRecorded: on_outcome_recorded,
    GroupAnswered: on_group_answered,
    AccountSessionsEnded: on_account_sessions_ended,
}


def _then(first: Handler, second: Handler) -> Handler:
    """``first`` (which may take bound dependencies) and then ``second``, in one
    transaction: the directory's own state, then the reports' read model."""

    def both(session, event, envelope, **dependencies):
        first(session, event, envelope, **dependencies)
        second(session, event, envelope)

    both.__signature__ = inspect.signature(first)  # what Registry.bind supplies
    both.__doc__ = first.__doc__
    return both


def _with_read_model(handlers: dict, projections: dict) -> dict:
    out = dict(handlers)
    for cls, project in projections.items():
        out[cls] = _then(out[cls], project) if cls in out else project
    return out


#: Consumer group -> what it handles and what it deliberately ignores: the directory
#: learns demand from proposals and each referral's journey for the reports (see
#: readmodel.py); declines take no place.
CONSUMERS = {
    "directory": Registry(
        _with_read_model(HANDLERS, InsightProjector().handlers),
        ignored=frozenset({ReferralUpdated, MatchDeclined, GpMessageReady}),
    )
}
