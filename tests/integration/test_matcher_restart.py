"""A restarted matcher serves from its saved index and applies only the replica changes
made since, instead of re-reading every service."""

from __future__ import annotations

from services.matcher.app import MIGRATIONS
from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.replica import LiveIndex, on_service_upserted
from services.matcher.vocabulary import Vocabulary
from shared.db import make_engine, make_session_factory, migrate
from shared.events import Eligibility, ServiceSnapshot, ServiceUpserted, new_envelope


def upsert(session, service_id: str, name: str, description: str, category: str) -> None:
    snapshot = ServiceSnapshot(
        id=service_id,
        organisation_id="org-1",
        organisation_name="Org",
        name=name,
        description=description,
        categories=(category,),
        eligibility=Eligibility(min_age=18),
        capacity_per_week=10,
    )
    event = ServiceUpserted(revision=1, service=snapshot)
    on_service_upserted(session, event, new_envelope(event, "directory@test"))


def test_a_restart_serves_from_the_snapshot_and_applies_only_later_changes(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine, MIGRATIONS, "alembic_version_matcher")
    sessions = make_session_factory(engine)
    vocabulary = Vocabulary.load_default()
    folder = tmp_path / "index"
    with sessions.begin() as session:
        upsert(session, "svc-cuppa", "Cuppa club", "Tea and a chat", "social connection")
        upsert(session, "svc-debt", "Debt advice", "Help with debts", "money and debt")
    first = LiveIndex(MatchIndex(vocabulary), folder, snapshot_every=1)
    with sessions() as session:
        assert first.refresh(session) == 2  # and saved

    with sessions.begin() as session:
        upsert(session, "svc-garden", "Community garden", "Grow vegetables", "nature and gardening")
    restarted = LiveIndex(MatchIndex(vocabulary), folder)
    assert restarted.position == first.position and len(restarted) == 2
    request = MatchRequest("r", "lonely, in debt", 70, "female", None, None, None)
    assert {p.service_id for p in restarted.rank(request, top=5).proposals} == {
        "svc-cuppa",
        "svc-debt",
    }
    with sessions() as session:
        assert restarted.refresh(session) == 1  # only the garden, added after the snapshot
    assert len(restarted) == 3
