"""The audit trail: every read of identifiable data (lists too), every refused attempt
on a referral and every reading of the audit itself is written down, with a purpose
from a closed list; and the database keeps the trail append-only."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from services.referrals import store
from services.referrals.app import MIGRATIONS
from shared.db import make_engine, migrate
from tests.integration.test_referrals_api import GROUP_ORG, OTHER_PERSON, Api


def _trail(api: Api, referral_id: str) -> list[tuple[str, str, str]]:
    """(username, action, purpose) of each audit row of the referral, in order."""
    a, u = store.audit_log.c, store.users.c
    with api.client.app.state.sessions() as session:
        rows = session.execute(
            select(u.username, a.action, a.purpose)
            .join(store.users, u.id == a.user_id)
            .where(a.referral_id == referral_id)
            .order_by(a.id)
        ).all()
    return [tuple(row) for row in rows]


def test_lists_of_referrals_are_audited_for_each_referral_listed(api: Api):
    first, second = api.refer(), api.refer(OTHER_PERSON)
    api.connect(first, "Garden Club", organisation_id=GROUP_ORG)
    assert len(api.call("gp", "GET", "/referrals").json()) == 2
    assert len(api.call("linkworker", "GET", "/worklist").json()) == 2
    assert len(api.call("group", "GET", "/group/referrals").json()) == 1
    assert ("gp", "list", "care") in _trail(api, first)
    assert ("gp", "list", "care") in _trail(api, second)
    assert ("linkworker", "list", "care") in _trail(api, second)
    assert ("group", "group_list", "group referral") in _trail(api, first)
    assert not any(who == "group" for who, _, _ in _trail(api, second))


def test_refused_attempts_on_a_referral_are_audited(api: Api):
    referral = api.refer()
    connection = api.connect(referral, "Elsewhere", organisation_id="org-other")
    assert api.call("gp2", "GET", f"/referrals/{referral}").status_code == 404
    assert api.call("group", "GET", f"/referrals/{referral}").status_code == 404
    assert api.call("gp", "GET", f"/referrals/{referral}/audit").status_code == 403
    assert api.call("group", "GET", f"/group/connections/{connection}").status_code == 404
    trail = _trail(api, referral)
    assert ("gp2", "refused", "care") in trail
    assert ("gp", "refused", "care") in trail
    assert trail.count(("group", "refused", "care")) == 2
    # Probing for referrals that do not exist is written down too.
    assert api.call("gp2", "GET", "/referrals/no-such-referral").status_code == 404
    assert ("gp2", "refused", "care") in _trail(api, "no-such-referral")


def test_an_administrator_reading_the_audit_is_audited(api: Api):
    referral = api.refer()
    first = api.call("admin", "GET", f"/referrals/{referral}/audit").json()
    second = api.call("admin", "GET", f"/referrals/{referral}/audit").json()
    assert len(second) == len(first) + 1
    assert (second[-1]["action"], second[-1]["purpose"]) == ("audit_read", "audit")


def test_the_purpose_of_a_read_is_a_closed_list(api: Api):
    referral = api.refer()
    refused = api.call("gp", "GET", f"/referrals/{referral}?purpose=just+curious")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "purpose"
    read = api.call("gp", "GET", f"/referrals/{referral}?purpose=safeguarding")
    assert read.status_code == 200
    assert ("gp", "read", "safeguarding") in _trail(api, referral)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'audit.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    engine = make_engine(url)
    migrate(engine, MIGRATIONS, f"alembic_version_{store.SERVICE}")
    with engine.begin() as conn:
        conn.execute(
            store.audit_log.insert().values(
                at=store.now(),
                user_id="u",
                role="admin",
                referral_id="r",
                action="read",
                purpose="care",
            )
        )
    yield engine
    engine.dispose()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE referrals_audit_log SET purpose = 'audit'",
        "DELETE FROM referrals_audit_log",
    ],
)
def test_the_database_keeps_the_audit_log_append_only(migrated, statement):
    with pytest.raises(DBAPIError, match="append-only"), migrated.begin() as conn:
        conn.execute(text(statement))
    with migrated.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM referrals_audit_log")).scalar_one() == 1


def test_the_database_refuses_a_purpose_off_the_list(migrated):
    with pytest.raises(DBAPIError), migrated.begin() as conn:
        conn.execute(
            store.audit_log.insert().values(
                at=store.now(),
                user_id="u",
                role="admin",
                referral_id="r",
                action="read",
                purpose="just curious",
            )
        )
