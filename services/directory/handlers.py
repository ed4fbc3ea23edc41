"""How the directory reacts to referral and matching events.

Each handler runs inside the consumer's transaction (see shared/bus/consumer.py), so its
writes, the events it emits and the processed-event record commit together.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.directory import store
from services.directory.domain import places_free, week_bounds
from shared.bus.outbox import Outbox
from shared.events import (
    Envelope,
    MatchConfirmed,
    MatchesProposed,
    ReferralOutcomeRecorded,
    ServiceUpserted,
)

__all__ = ["Handlers", "publish_service"]


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
    free = places_free(row.capacity_per_week, store.places_taken(session, row.id, monday, sunday))
    reports = store.open_reports(session, row.id)
    snap = store.snapshot(row, org.name if org else "", free, reports)
    outbox.add(session, ServiceUpserted(revision=revision, service=snap))


class Handlers:
    """The directory consumer's handlers, keyed by event type in ``by_type``."""

    def __init__(self, outbox: Outbox, today=date.today) -> None:
        self.outbox = outbox
        self.today = today
        self.by_type = {
            "MatchesProposed": self.matches_proposed,
            "MatchConfirmed": self.match_confirmed,
            "ReferralOutcomeRecorded": self.outcome_recorded,
        }

    def matches_proposed(self, session: Session, event: MatchesProposed, _env: Envelope) -> None:
        """Remember demand: the needs found (met or not) and the services proposed."""
        today = self.today()
        session.execute(
            delete(store.needs_seen).where(store.needs_seen.c.referral_id == event.referral_id)
        )
        session.execute(
            delete(store.proposals_seen).where(
                store.proposals_seen.c.referral_id == event.referral_id
            )
        )
        unmet = set(event.unmet_needs)
        rows = [
            {
                "referral_id": event.referral_id,
                "concept": need.concept,
                "phrase": need.phrase,
                "categories": list(need.categories),
                "ward": event.ward,
                "met": need.phrase not in unmet,
                "seen_on": today,
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
                "seen_on": today,
            }
            for phrase in event.unmet_needs
            if phrase not in known
        ]
        if rows:
            session.execute(store.needs_seen.insert(), rows)
        proposed = {p.service_id: p.waiting_list for p in event.proposals}
        if proposed:
            session.execute(
                store.proposals_seen.insert(),
                [
                    {
                        "referral_id": event.referral_id,
                        "service_id": service_id,
                        "waiting_list": waiting,
                        "seen_on": today,
                    }
                    for service_id, waiting in proposed.items()
                ],
            )

    def match_confirmed(self, session: Session, event: MatchConfirmed, _env: Envelope) -> None:
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
                confirmed_on=self.today(),
            )
        )
        publish_service(session, self.outbox, event.service_id, self.today())

    def outcome_recorded(
        self, session: Session, event: ReferralOutcomeRecorded, _env: Envelope
    ) -> None:
        """Outcomes that free a place give it back to the service."""
        session.execute(
            update(store.connections)
            .where(store.connections.c.connection_id == event.connection_id)
            .values(outcome=event.outcome, outcome_on=self.today())
        )
        if event.outcome in ("no_capacity", "declined_by_patient"):
            publish_service(session, self.outbox, event.service_id, self.today())
