"""Link workers' decisions are kept beside the proposals they confirm or override, and
export as labelled cases the evaluation command reads."""

from __future__ import annotations

import json
import uuid
from datetime import date

from sqlalchemy import select

from services.matcher import store
from services.matcher.app import MIGRATIONS
from services.matcher.decisions import export
from services.matcher.evaluate import main as evaluate
from services.matcher.handlers import CONSUMERS
from services.matcher.ranking import MatchIndex
from services.matcher.replica import LiveIndex, on_service_upserted
from services.matcher.vocabulary import Vocabulary
from shared.bus.outbox import Outbox
from shared.db import make_engine, make_session_factory, migrate
from shared.events import (
    Eligibility,
    MatchConfirmed,
    MatchDeclined,
    ReferralProfile,
    ReferralSubmitted,
    ServiceSnapshot,
    ServiceUpserted,
    new_envelope,
)

SERVICES = [
    ("svc-cuppa", "Cuppa club", "A weekly drop-in for tea and a chat", ["social connection"]),
    ("svc-debt", "Debt advice", "Free advice on debts, bills and benefits", ["money and debt"]),
    ("svc-garden", "Community garden", "Grow vegetables with neighbours", ["nature and gardening"]),
]


def test_decisions_export_as_labelled_cases(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine, MIGRATIONS, "alembic_version_matcher")
    sessions = make_session_factory(engine)
    live = LiveIndex(MatchIndex(Vocabulary.load_default()))
    outbox = Outbox(store.outbox, "matcher@test")
    registry = CONSUMERS["matcher"].bind(live=live, outbox=outbox, today=date.today)
    handlers, propose = registry.handlers, registry.batch_handlers[ReferralSubmitted]
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
                places_free=10,
            )
            event = ServiceUpserted(revision=1, service=snapshot)
            on_service_upserted(session, event, new_envelope(event, "directory@test"))
        submitted = ReferralSubmitted(
            referral_id="r-1",
            practice_ods="G83001",
            profile=ReferralProfile(age=70, needs_text="lonely and in debt", ward="Erith"),
        )
        propose(session, [(submitted, new_envelope(submitted, "referrals@test"))])
        confirmed = MatchConfirmed(
            referral_id="r-1",
            connection_id=str(uuid.uuid4()),
            service_id="svc-garden",
            mode="signposting",
            was_proposed=False,
        )
        handlers[MatchConfirmed](session, confirmed, new_envelope(confirmed, "referrals@test"))
        declined = MatchDeclined(
            referral_id="r-1", service_ids=("svc-cuppa",), reason="dislikes groups"
        )
        handlers[MatchDeclined](session, declined, new_envelope(declined, "referrals@test"))

    with sessions() as session:
        proposed = session.execute(select(store.proposals)).one()
        assert proposed.proposals, "what the matcher proposed is kept beside the decisions"
        (case,) = export(session)
    assert case["relevant"] == {"svc-garden": 2}
    assert case["chosen_instead"] == ["svc-garden"]
    assert case["declined"] == [{"service_id": "svc-cuppa", "reason": "dislikes groups"}]
    assert case["needs"] == "lonely and in debt" and case["age"] == 70

    # The export is in the evaluation format: evaluate reads it against the directory.
    directory = {
        "categories": ["social connection", "money and debt", "nature and gardening"],
        "wards": ["Erith"],
        "organisations": [
            {
                "id": "org-1",
                "name": "Org",
                "services": [
                    {
                        "id": sid,
                        "name": name,
                        "description": text,
                        "categories": cats,
                        "eligibility": {"min_age": 18, "max_age": None, "genders": None},
                        "capacity_per_week": 10,
                    }
                    for sid, name, text, cats in SERVICES
                ],
            }
        ],
    }
    (tmp_path / "dir.json").write_text(json.dumps(directory))
    (tmp_path / "cases.jsonl").write_text(json.dumps(case) + "\n")
    status = evaluate(
        [
            "--directory",
            str(tmp_path / "dir.json"),
            "--referrals",
            str(tmp_path / "cases.jsonl"),
            "--output",
            str(tmp_path / "out.jsonl"),
        ]
    )
    assert status in (0, None)
    ranked = json.loads((tmp_path / "out.jsonl").read_text())
    assert ranked["referral_id"] == "r-1"
    engine.dispose()


def test_the_live_index_applies_more_changes_than_one_statement_may_name(tmp_path):
    from services.matcher import replica as replica_module

    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(engine, MIGRATIONS, "alembic_version_matcher")
    sessions = make_session_factory(engine)
    count = replica_module.REFRESH_CHUNK * 2 + 7
    with sessions.begin() as session:
        for n in range(count):
            snapshot = ServiceSnapshot(
                id=f"svc-{n}", organisation_id="org-1", organisation_name="Org", name=f"Club {n}"
            )
            event = ServiceUpserted(revision=1, service=snapshot)
            on_service_upserted(session, event, new_envelope(event, "directory@test"))
    live = LiveIndex(MatchIndex(Vocabulary.load_default()))
    with sessions() as session:
        assert live.refresh(session) == count
    assert len(live) == count
    engine.dispose()
