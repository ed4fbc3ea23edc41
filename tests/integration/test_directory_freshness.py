"""Fresh entries: a review falls due after SP_REVIEW_AFTER_MONTHS and is announced once,
the group answers in one click, and anyone signed in can report an entry out of date or
closed until the organisation or an administrator resolves it."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from services.directory import store
from services.directory.app import create_app
from services.directory.freshness import due_on, emit_reviews_due
from shared.auth import Principal, Role
from shared.events import decode
from tests.conftest import make_settings

SERVICE = "svc-tac-money-clinic"
ORG = "org-thameside-advice"


@pytest.fixture
def app(tmp_path):
    settings = make_settings(
        f"sqlite:///{tmp_path / 'd.db'}", tmp_path, load_demo_data=True, run_workers=False
    )
    application = create_app(settings)
    yield application
    application.state.runtime.close()


def _client(app, role: Role, user_id: str, organisation_id: str | None = None) -> TestClient:
    token = app.state.tokens.issue(
        Principal(user_id=user_id, name=user_id.title(), role=role, organisation_id=organisation_id)
    )
    return TestClient(app, headers={"Authorization": f"Bearer {token}"})


def _events(app, event_type: str) -> list:
    with app.state.sessions() as session:
        rows = session.execute(select(store.outbox).order_by(store.outbox.c.id)).all()
    return [decode(row.value).payload for row in rows if row.event_type == event_type]


def _assure(app, service_id: str, on: date | None) -> None:
    with app.state.sessions.begin() as session:
        session.execute(
            update(store.services)
            .where(store.services.c.id == service_id)
            .values(last_confirmed=on)
        )


def test_a_review_falls_due_months_after_assurance_even_at_a_months_end():
    assert due_on(date(2026, 1, 15), 6) == date(2026, 7, 15)
    assert due_on(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert due_on(date(2026, 11, 30), 3) == date(2027, 2, 28)


def test_review_due_is_emitted_once_per_assurance_and_again_after_the_next(app):
    today = date.today()
    with app.state.sessions.begin() as session:
        session.execute(update(store.services).values(last_confirmed=today))
    _assure(app, SERVICE, today - timedelta(days=200))
    with app.state.sessions.begin() as session:
        assert emit_reviews_due(session, app.state.outbox, today, 6) == 1
    with app.state.sessions.begin() as session:
        assert emit_reviews_due(session, app.state.outbox, today, 6) == 0  # announced already
    [event] = _events(app, "ServiceReviewDue")
    assert event.service_id == SERVICE and event.organisation_id == ORG
    assert event.assured_date == today - timedelta(days=200)
    # the group answers; months later it falls due again, announced afresh
    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    assert group.post(f"/services/{SERVICE}/review", json={"answer": "running"}).status_code == 200
    later = today + timedelta(days=200)
    with app.state.sessions.begin() as session:
        assert emit_reviews_due(session, app.state.outbox, later, 6) == 140
    # a shorter setting brings reviews forward
    with app.state.sessions.begin() as session:
        assert emit_reviews_due(session, app.state.outbox, today + timedelta(days=40), 1) == 0


def test_the_group_sees_its_reviews_due_and_answers_each_in_one_click(app):
    today = date.today()
    _assure(app, SERVICE, today - timedelta(days=400))
    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    due = group.get("/reviews-due").json()
    assert [d["service_id"] for d in due] == [SERVICE]
    assert group.get(f"/services/{SERVICE}").json()["review_due"] is True

    paused = group.post(
        f"/services/{SERVICE}/review", json={"answer": "paused", "reopens_on": "2027-01-04"}
    ).json()
    assert paused["status"] == "temporarily_closed" and paused["reopens_on"] == "2027-01-04"
    assert (
        paused["assured_date"] == today.isoformat() and paused["assured_by"] == "Grp (group member)"
    )
    assert group.get("/reviews-due").json() == []
    upserted = _events(app, "ServiceUpserted")[-1]
    assert upserted.service.status == "temporarily_closed"
    assert upserted.service.reopens_on == date(2027, 1, 4)

    closed = group.post(f"/services/{SERVICE}/review", json={"answer": "closed"}).json()
    assert closed["status"] == "defunct" and closed["reopens_on"] is None
    running = group.post(f"/services/{SERVICE}/review", json={"answer": "running"}).json()
    assert running["status"] == "active"
    bad = group.post(
        f"/services/{SERVICE}/review", json={"answer": "running", "reopens_on": "2027-01-04"}
    )
    assert bad.status_code == 422 and "reopens_on" in bad.json()["detail"]
    other = _client(app, Role.GROUP_MEMBER, "other", "org-someone-else")
    assert other.post(f"/services/{SERVICE}/review", json={"answer": "closed"}).status_code == 403
    assert other.get("/reviews-due", params={"organisation_id": ORG}).status_code == 403


def test_reports_show_on_the_entry_reach_the_organisation_and_admins_until_resolved(app):
    worker = _client(app, Role.LINK_WORKER, "lw1")
    response = worker.post(
        f"/services/{SERVICE}/reports",
        json={"kind": "closed", "note": "The centre told me the clinic stopped in November."},
    )
    assert response.status_code == 201, response.text
    report = response.json()
    again = worker.post(f"/services/{SERVICE}/reports", json={"kind": "closed", "note": "again"})
    assert again.status_code == 409
    assert (
        worker.post(f"/services/{SERVICE}/reports", json={"kind": "gone", "note": "x"}).status_code
        == 422
    )

    entry = worker.get(f"/services/{SERVICE}").json()
    assert [r["note"] for r in entry["reports"]] == [
        "The centre told me the clinic stopped in November."
    ]
    assert entry["open_reports"] == 1
    [reported] = _events(app, "ServiceReported")
    assert reported.organisation_id == ORG and reported.open_reports == 1
    assert "note" not in reported.model_dump()

    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    admin = _client(app, Role.ADMIN, "adm")
    assert [r["id"] for r in group.get("/entry-reports").json()] == [report["id"]]
    assert [r["id"] for r in admin.get("/entry-reports").json()] == [report["id"]]
    assert _client(app, Role.GROUP_MEMBER, "o", "org-other").get("/entry-reports").json() == []
    assert worker.get("/entry-reports").status_code == 403
    assert worker.post(f"/entry-reports/{report['id']}/resolve").status_code == 403

    resolved = group.post(
        f"/entry-reports/{report['id']}/resolve", json={"resolution": "still running, moved day"}
    )
    assert (
        resolved.status_code == 200 and resolved.json()["resolution"] == "still running, moved day"
    )
    assert worker.get(f"/services/{SERVICE}").json()["reports"] == []
    assert _events(app, "ServiceUpserted")[-1].service.open_reports == 0


def test_several_people_agreeing_is_what_the_snapshot_carries_and_a_review_resolves_them(app):
    for n in range(3):
        _client(app, Role.LINK_WORKER, f"lw{n}").post(
            f"/services/{SERVICE}/reports", json={"kind": "out_of_date", "note": "wrong times"}
        )
    assert _events(app, "ServiceUpserted")[-1].service.open_reports == 3
    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    group.post(f"/services/{SERVICE}/review", json={"answer": "running"})
    assert _events(app, "ServiceUpserted")[-1].service.open_reports == 0
    assert group.get("/entry-reports").json() == []


def _confirm(app, connection_id: str, mode: str) -> None:
    from services.directory.handlers import on_match_confirmed
    from shared.events import MatchConfirmed, new_envelope

    event = MatchConfirmed(
        referral_id=f"r-{connection_id}",
        connection_id=connection_id,
        service_id=SERVICE,
        mode=mode,
        was_proposed=True,
    )
    with app.state.sessions.begin() as session:
        on_match_confirmed(
            session, event, new_envelope(event, "referrals@test"), outbox=app.state.outbox
        )


def test_a_signposting_connection_takes_no_place_and_a_referral_one_does(app):
    # Exact places free are the organisation's and administrators' to see: to others
    # they could give away a suppressed count of places taken.
    worker = _client(app, Role.ADMIN, "admin")
    before = worker.get(f"/services/{SERVICE}").json()["places_free"]
    _confirm(app, "c-signpost", "signposting")
    assert worker.get(f"/services/{SERVICE}").json()["places_free"] == before
    _confirm(app, "c-referral", "referral")
    assert worker.get(f"/services/{SERVICE}").json()["places_free"] == before - 1
    assert _events(app, "ServiceUpserted")[-1].service.places_free == before - 1


def test_a_group_says_in_one_click_it_is_full_keeps_a_waiting_list_or_has_places(app):
    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    worker = _client(app, Role.LINK_WORKER, "lw")
    url = f"/services/{SERVICE}/places"
    assured = group.get(f"/services/{SERVICE}").json()["last_confirmed"]
    for taking, word in (("full", "full"), ("waiting_list", "waiting list")):
        answer = group.post(url, json={"taking": taking})
        assert answer.status_code == 200, answer.text
        assert answer.json()["taking"] == taking and answer.json()["places_free"] == 0
        assert worker.get(f"/services/{SERVICE}").json()["availability"] == word
        event = _events(app, "ServiceUpserted")[-1].service
        assert event.taking == taking and event.places_free == 0
    again = group.post(url, json={"taking": "places_left", "capacity_per_week": 12})
    assert again.json()["taking"] == "places_left" and again.json()["capacity_per_week"] == 12
    assert again.json()["places_free"] == 12
    assert _events(app, "ServiceUpserted")[-1].service.places_free == 12
    assert again.json()["last_confirmed"] == assured  # places are not an assurance
    unlimited = group.post(url, json={"taking": "places_left", "capacity_per_week": None})
    assert unlimited.json()["capacity_per_week"] is None
    wrong = group.post(url, json={"taking": "full", "capacity_per_week": 3})
    assert wrong.status_code == 422
    other = _client(app, Role.GROUP_MEMBER, "other", "org-someone-else")
    assert other.post(url, json={"taking": "full"}).status_code == 403
    assert worker.post(url, json={"taking": "full"}).status_code == 403


def test_places_free_are_never_published_where_they_would_reveal_a_suppressed_count(app):
    group = _client(app, Role.GROUP_MEMBER, "grp", ORG)
    group.post(
        f"/services/{SERVICE}/places", json={"taking": "places_left", "capacity_per_week": 20}
    )
    with app.state.sessions() as session:
        hsds = session.execute(
            select(store.services.c.hsds_id).where(store.services.c.id == SERVICE)
        ).scalar_one()
    public = TestClient(app)

    def capacity() -> dict:
        (entry,) = public.get(f"/openreferral/services/{hsds}").json()["service_capacity"]
        return entry

    assert capacity()["available"] == 20
    _confirm(app, "c-one", "referral")  # one person connected this week
    assert "available" not in capacity()
    worker = _client(app, Role.LINK_WORKER, "lw")
    assert worker.get(f"/services/{SERVICE}").json()["places_free"] is None
    assert worker.get(f"/services/{SERVICE}").json()["availability"] == "places available"
    group.post(f"/services/{SERVICE}/places", json={"taking": "waiting_list"})
    assert capacity()["available"] == 0
