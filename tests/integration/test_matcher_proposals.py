"""What the matcher publishes for a referral: scores that follow the order, each taken apart,
and the words no need was recognised in (MatchesProposed v3)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from services.matcher import store
from services.matcher.app import MIGRATIONS
from services.matcher.handlers import CONSUMERS
from services.matcher.ranking import MatchIndex
from services.matcher.replica import LiveIndex, on_service_upserted
from services.matcher.vocabulary import Vocabulary
from shared.bus.outbox import Outbox
from shared.db import make_engine, make_session_factory, migrate
from shared.events import (
    Eligibility,
    MatchesProposed,
    ReferralProfile,
    ReferralSubmitted,
    ServiceSnapshot,
    ServiceUpserted,
    decode,
    new_envelope,
)

SERVICES = [
    ("svc-cuppa", "Cuppa club", "A weekly drop-in for tea and a chat", ["social connection"]),
    ("svc-debt", "Debt advice", "Free advice on debts, bills and benefits", ["money and debt"]),
    ("svc-garden", "Community garden", "Grow vegetables with neighbours", ["nature and gardening"]),
]


def _matcher(tmp_path):
    """A migrated matcher database and the matcher's handlers over a live index."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine, MIGRATIONS, "alembic_version_matcher")
    live = LiveIndex(MatchIndex(Vocabulary.load_default()))
    outbox = Outbox(store.outbox, "matcher@test")
    handlers = CONSUMERS["matcher"].bind(live=live, outbox=outbox, today=date.today)
    return make_session_factory(engine), handlers.batch_handlers


def test_matches_proposed_carries_ordered_scores_their_breakdown_and_unrecognised_words(
    tmp_path,
):
    sessions, handlers = _matcher(tmp_path)
    with sessions.begin() as session:
        for service_id, name, description, categories in SERVICES:
            snapshot = ServiceSnapshot(
                id=service_id,
                organisation_id="org-1",
                organisation_name="Org",
                name=name,
                description=description,
                categories=tuple(categories),
                eligibility=Eligibility(min_age=18),
                capacity_per_week=10,
            )
            event = ServiceUpserted(revision=1, service=snapshot)
            on_service_upserted(session, event, new_envelope(event, "directory@test"))
        submitted = ReferralSubmitted(
            referral_id="r-1",
            practice_ods="G83001",
            profile=ReferralProfile(
                age=70,
                needs_text="Lonely and in debt, likes gardening. Loves bagpipes.",
                ward="Erith",
            ),
        )
        handlers[ReferralSubmitted](
            session, [(submitted, new_envelope(submitted, "referrals@test"))]
        )

    with sessions() as session:
        raw = session.execute(select(store.outbox.c.value)).scalar_one()
        stored = session.execute(select(store.proposals.c.proposals)).scalar_one()
    event = decode(raw).payload
    assert isinstance(event, MatchesProposed)
    assert event.unrecognised == ("bagpipes",)
    scores = [p.score for p in event.proposals]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    for proposal in event.proposals:
        assert proposal.breakdown["relevance"] > 0
        assert {"distance", "capacity"} <= set(proposal.breakdown)
    assert stored[0]["breakdown"] == event.proposals[0].breakdown


def test_a_service_that_moves_to_another_organisation_is_proposed_under_the_new_one(tmp_path):
    """The matcher remembers each proposed service's organisation rather than reading
    it back from the replica per referral; a change to the service replaces it."""
    sessions, handlers = _matcher(tmp_path)

    def upsert(session, revision: int, organisation_id: str) -> None:
        snapshot = ServiceSnapshot(
            id="svc-debt",
            organisation_id=organisation_id,
            organisation_name="Org",
            name="Debt advice",
            description="Free advice on debts, bills and benefits",
            categories=("money and debt",),
            eligibility=Eligibility(min_age=18),
            capacity_per_week=10,
        )
        event = ServiceUpserted(revision=revision, service=snapshot)
        on_service_upserted(session, event, new_envelope(event, "directory@test"))

    def organisation_proposed(referral_id: str) -> str | None:
        submitted = ReferralSubmitted(
            referral_id=referral_id,
            practice_ods="G83001",
            profile=ReferralProfile(age=60, needs_text="Worried about debts", ward="Erith"),
        )
        with sessions.begin() as session:
            handlers[ReferralSubmitted](
                session, [(submitted, new_envelope(submitted, "referrals@test"))]
            )
        with sessions() as session:
            raw = session.execute(
                select(store.outbox.c.value).where(store.outbox.c.key == referral_id)
            ).scalar_one()
        (proposal,) = decode(raw).payload.proposals
        return proposal.organisation_id

    with sessions.begin() as session:
        upsert(session, 1, "org-old")
    assert organisation_proposed("r-1") == "org-old"
    assert organisation_proposed("r-2") == "org-old"  # remembered
    with sessions.begin() as session:
        upsert(session, 2, "org-new")
    assert organisation_proposed("r-3") == "org-new"
