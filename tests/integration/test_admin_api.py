"""Administrators manage accounts (create with the role's scope, deactivate, reset a
password, each ending the account's sessions) and search the audit log."""

from __future__ import annotations

from datetime import date, timedelta

from tests.integration.test_referrals_api import OTHER_PERSON, Api, api  # noqa: F401  (the fixture)


def test_an_administrator_adds_deactivates_and_resets_accounts(api: Api):  # noqa: F811
    body = {
        "username": "sam.link",
        "name": "Sam Link",
        "role": "link_worker",
        "password": "longenough",
    }
    missing = api.call("admin", "POST", "/admin/users", json=body)
    assert missing.status_code == 422 and missing.json()["field"] == "team"
    created = api.call("admin", "POST", "/admin/users", json={**body, "team": "community-connect"})
    assert created.status_code == 201, created.text
    assert created.json()["active"] is True and "password_hash" not in created.json()
    again = api.call("admin", "POST", "/admin/users", json={**body, "team": "community-connect"})
    assert again.status_code == 409
    assert api.call("linkworker", "GET", "/admin/users").status_code == 403

    token = api.as_("sam.link")
    assert api.client.get("/worklist", headers=token).status_code == 200
    reset = api.call(
        "admin", "POST", "/admin/users/sam.link/password", json={"password": "another-one"}
    )
    assert reset.status_code == 200
    assert api.client.get("/worklist", headers=token).status_code == 401  # sessions ended
    assert api.call("admin", "POST", "/admin/users/sam.link/deactivate").status_code == 200
    listed = {u["username"]: u for u in api.call("admin", "GET", "/admin/users").json()}
    assert listed["sam.link"]["active"] is False
    assert api.call("admin", "POST", "/admin/users/admin/deactivate").status_code == 409
    assert api.call("admin", "POST", "/admin/users/nobody/deactivate").status_code == 404


def test_the_audit_log_is_searched_by_referral_user_and_date(api: Api):  # noqa: F811
    referral = api.refer()
    other = api.refer(OTHER_PERSON)
    api.call("linkworker", "GET", f"/referrals/{referral}")
    by_referral = api.call("admin", "GET", "/admin/audit", params={"referral_id": referral}).json()
    assert by_referral and {e["referral_id"] for e in by_referral} == {referral}
    assert other not in {e["referral_id"] for e in by_referral}
    by_user = api.call("admin", "GET", "/admin/audit", params={"user": "linkworker"}).json()
    assert by_user and {e["username"] for e in by_user} == {"linkworker"}
    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    assert api.call("admin", "GET", "/admin/audit", params={"since": tomorrow}).json() == []
    today = date.today().isoformat()
    assert api.call("admin", "GET", "/admin/audit", params={"until": today}).json()
    assert api.call("gp", "GET", "/admin/audit").status_code == 403


def test_searching_the_audit_log_is_itself_audited(api: Api):  # noqa: F811
    referral = api.refer()
    api.call("linkworker", "GET", f"/referrals/{referral}")
    api.call("admin", "GET", "/admin/audit", params={"referral_id": referral})
    again = api.call("admin", "GET", "/admin/audit", params={"referral_id": referral}).json()
    reads = [e for e in again if e["action"] == "audit_read" and e["username"] == "admin"]
    assert reads, "the first search of the audit shows up in the second"
