"""One need is one row in the reports, however the matcher spells its category: the
matcher writes its own key ("long term conditions") where the directory and the GP's
pick-list write "long-term conditions"; the demo year showed both rows, one of them a
gap in every ward because no service had that spelling."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from services.directory import insights, store
from services.directory.app import create_app
from services.directory.handlers import CONSUMERS
from shared.events import MatchesProposed, NeedFound, ReferralProfile, ReferralSubmitted
from tests.conftest import make_settings
from tests.integration.reports_scenario import _envelope


def test_a_category_the_matcher_spells_its_own_way_counts_under_the_directorys_label(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, run_workers=False))
    runtime = app.state.runtime
    now = datetime.now(UTC)
    with runtime.sessions.begin() as session:
        session.execute(store.organisations.insert().values(id="o", name="O", updated_at=now))
        session.execute(
            store.services.insert().values(
                id="svc-walk",
                organisation_id="o",
                name="Health walks",
                categories=["long-term conditions"],
                keywords=[],
                delivery=["phone"],
                regular_schedule=[],
                capacity_per_week=10,
                languages=["English"],
                accessibility=[],
                revision=1,
                updated_at=now,
            )
        )
    handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
    for _ in range(6):
        rid = str(uuid.uuid4())
        profile = ReferralProfile(age=60, ward="Erith", needs_text="type 2 diabetes")
        need = NeedFound(
            phrase="diabetes", concept="diabetes", categories=("long term conditions",)
        )
        for event in (
            ReferralSubmitted(referral_id=rid, practice_ods="G1", profile=profile),
            MatchesProposed(referral_id=rid, in_reply_to=uuid.uuid4(), proposals=(), needs=(need,)),
        ):
            with runtime.sessions.begin() as session:
                handlers[type(event)](session, event, _envelope(event, now))
    with runtime.sessions() as session:
        body = insights.run_report(
            "demand", session, insights.period_for(date.today(), "this_month"), 5
        )
    rows = {row["category"]: row for row in body["tables"]["by_category"]}
    runtime.close()

    assert "long term conditions" not in rows
    assert rows["long-term conditions"]["people"]["value"] == 6
    assert rows["long-term conditions"]["services"] == 1


def test_a_new_need_spread_thinly_over_the_wards_still_emerges(tmp_path):
    """Six referrals a month for astronomy, never two in one ward: counted across the
    wards first, the need is shown (its wards are not, each being one person)."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, run_workers=False))
    runtime = app.state.runtime
    handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
    wards = insights.ward_centroids()
    now = datetime.now(UTC)
    for ward in sorted(wards)[:6]:
        rid = str(uuid.uuid4())
        profile = ReferralProfile(age=40, ward=ward, needs_text="loves astronomy")
        for event in (
            ReferralSubmitted(referral_id=rid, practice_ods="G1", profile=profile),
            MatchesProposed(
                referral_id=rid,
                in_reply_to=uuid.uuid4(),
                proposals=(),
                unmet_needs=("astronomy",),
                unrecognised=("astronomy",),
            ),
        ):
            with runtime.sessions.begin() as session:
                handlers[type(event)](session, event, _envelope(event, now))
    with runtime.sessions() as session:
        period = insights.period_for(date.today(), "this_month")
        body = insights.run_report("emerging-needs", session, period, 5)
    runtime.close()

    (need,) = body["tables"]["emerging_needs"]
    assert need["need"] == "astronomy"
    assert need["referrals"]["value"] == 6 and need["rising"]
    assert need["wards"] == []


def test_a_spelling_nobody_uses_does_not_re_read_the_directory_for_every_event(tmp_path):
    """A category the directory has never heard of used to make every event re-read
    every service's categories (a scan per MatchesProposed under load)."""
    from sqlalchemy import event as sa_event

    app = create_app(make_settings(f"sqlite:///{tmp_path / 'd.db'}", tmp_path, run_workers=False))
    runtime = app.state.runtime
    now = datetime.now(UTC)
    handlers = CONSUMERS["directory"].bind(outbox=runtime.outbox).handlers
    scans = []

    def count(_conn, _cursor, statement, *_args):
        if "FROM directory_services" in statement and "categories" in statement:
            scans.append(statement)

    sa_event.listen(runtime.engine, "before_cursor_execute", count)
    for _ in range(5):
        rid = str(uuid.uuid4())
        profile = ReferralProfile(age=60, ward="Erith", needs_text="astral projection")
        need = NeedFound(phrase="astral projection", concept="astral", categories=("astral",))
        for event in (
            ReferralSubmitted(referral_id=rid, practice_ods="G1", profile=profile),
            MatchesProposed(referral_id=rid, in_reply_to=uuid.uuid4(), proposals=(), needs=(need,)),
        ):
            with runtime.sessions.begin() as session:
                handlers[type(event)](session, event, _envelope(event, now))
    runtime.close()

    assert len(scans) == 1
