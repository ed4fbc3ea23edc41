"""Service status as Open Referral has it: only active services are proposed, and older
``ServiceUpserted`` events still read."""

from __future__ import annotations

import json
from datetime import date

import pytest

from services.matcher import store
from services.matcher.app import MIGRATIONS
from services.matcher.ranking import MatchIndex, MatchRequest
from services.matcher.replica import LiveIndex, on_service_upserted
from services.matcher.vocabulary import Vocabulary
from shared.db import make_engine, make_session_factory, migrate
from shared.events import (
    Eligibility,
    ServiceSnapshot,
    ServiceUpserted,
    decode,
    encode,
    new_envelope,
)


def _snapshot(status: str, **extra) -> ServiceSnapshot:
    return ServiceSnapshot(
        id="svc-debt",
        organisation_id="org-1",
        organisation_name="Thameside Advice",
        name="Debt advice",
        description="Free advice on debts, bills and benefits",
        categories=("money and debt",),
        eligibility=Eligibility(min_age=18),
        status=status,
        **extra,
    )


@pytest.fixture
def matcher_and_a_debt_referral(tmp_path):
    """The matcher's storage and live index (empty), and a referral for help with debt."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine, MIGRATIONS, "alembic_version_matcher")
    request = MatchRequest(
        referral_id="r-1",
        needs_text="in debt and behind on bills",
        age=60,
        gender=None,
        ward=None,
        lat=None,
        lon=None,
        today=date.today(),
    )
    yield make_session_factory(engine), LiveIndex(MatchIndex(Vocabulary.load_default())), request
    engine.dispose()


@pytest.mark.parametrize(
    ("status", "proposed"),
    [("active", True), ("inactive", False), ("defunct", False), ("temporarily_closed", False)],
)
def test_the_matcher_proposes_only_active_services(matcher_and_a_debt_referral, status, proposed):
    sessions, live, request = matcher_and_a_debt_referral
    with sessions.begin() as session:
        active = ServiceUpserted(revision=1, service=_snapshot("active"))
        on_service_upserted(session, active, new_envelope(active, "directory@test"))
        live.refresh(session)
        assert [p.service_id for p in live.rank(request, top=3).proposals] == ["svc-debt"]
        changed = ServiceUpserted(revision=2, service=_snapshot(status))
        on_service_upserted(session, changed, new_envelope(changed, "directory@test"))
        live.refresh(session)
        found = [p.service_id for p in live.rank(request, top=3).proposals]
        row = session.execute(store.replica_services.select()).one()
    assert (found == ["svc-debt"]) is proposed
    assert row.snapshot["status"] == status  # the replica still knows what the service is


def test_a_version_1_service_upserted_is_upcast_with_no_reports_and_no_reopening_date():
    event = ServiceUpserted(revision=4, service=_snapshot("temporarily_closed"))
    doc = json.loads(encode(new_envelope(event, "directory@test")))
    doc["schema_version"] = 1
    doc["payload"]["version"] = 1
    for field in ("reopens_on", "open_reports"):
        del doc["payload"]["service"][field]
    del doc["payload"]["service"]["taking"]
    again = decode(json.dumps(doc).encode())
    assert again.schema_version == 3
    assert again.payload.service.reopens_on is None and again.payload.service.open_reports == 0
    assert again.payload.service.status == "temporarily_closed"
    assert again.payload.service.taking == "places_left"


def test_a_version_2_service_upserted_is_upcast_as_having_places_left():
    event = ServiceUpserted(revision=4, service=_snapshot("active", places_free=3))
    doc = json.loads(encode(new_envelope(event, "directory@test")))
    doc["schema_version"] = doc["payload"]["version"] = 2
    del doc["payload"]["service"]["taking"]
    again = decode(json.dumps(doc).encode())
    assert again.schema_version == 3 and again.payload.service.taking == "places_left"


def test_a_full_group_is_not_proposed_and_a_waiting_list_one_comes_last_flagged(
    matcher_and_a_debt_referral,
):
    sessions, live, request = matcher_and_a_debt_referral
    other = _snapshot("active", capacity_per_week=10).model_copy(
        update={"id": "svc-other", "name": "Money advice"}
    )

    def ranked(revision: int, **places) -> list[tuple[str, bool]]:
        with sessions.begin() as session:
            for snapshot in (_snapshot("active", capacity_per_week=10, **places), other):
                event = ServiceUpserted(revision=revision, service=snapshot)
                on_service_upserted(session, event, new_envelope(event, "directory@test"))
            live.refresh(session)
            proposals = live.rank(request, top=3).proposals
        return [(p.service_id, p.waiting_list) for p in proposals]

    assert ("svc-debt", False) in ranked(1, places_free=10)
    assert ranked(2, places_free=0, taking="full") == [("svc-other", False)]
    assert ranked(3, places_free=0, taking="waiting_list") == [
        ("svc-other", False),
        ("svc-debt", True),
    ]
    assert ranked(4, places_free=0) == [("svc-other", False), ("svc-debt", True)]  # none left
    assert ("svc-debt", False) in ranked(5, places_free=4, taking="places_left")


def test_a_version_1_outcome_is_upcast_with_nobody_named_as_recording_it():
    from shared.events import ReferralOutcomeRecorded

    event = ReferralOutcomeRecorded(
        referral_id="r-1", connection_id="c-1", service_id="svc-1", outcome="attended"
    )
    doc = json.loads(encode(new_envelope(event, "referrals@test")))
    doc["schema_version"] = doc["payload"]["version"] = 1
    for field in ("recorded_by", "recorded_by_role"):
        del doc["payload"][field]
    again = decode(json.dumps(doc).encode())
    assert again.schema_version == 2 and again.payload.recorded_by_role is None
