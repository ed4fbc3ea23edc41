"""A deactivation or a password change ends the account's sessions on every service.

The referrals service keeps the accounts, but the directory verifies the same tokens:
a group member removed from their organisation, or a commissioner whose password was
reset, must not go on editing the directory or reading its reports until the token's
eight hours run out. Driven over HTTP, three services on the embedded bus."""

from __future__ import annotations

from tests.conftest import make_settings
from tests.e2e.system import System, eventually


def test_a_deactivated_or_reset_account_is_refused_by_the_directory_too(tmp_path):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    settings = make_settings(url, tmp_path, bus="sql", load_demo_data=True)
    system = System({name: settings for name in ("referrals", "directory", "matcher")})
    ds, rs = system.directory, system.referrals
    try:
        assert system.as_user("group", ds, "GET", "/services").status_code == 200
        report = "/reports/demand"
        assert system.as_user("commissioner", ds, "GET", report).status_code == 200

        deactivated = system.as_user("admin", rs, "POST", "/admin/users/group/deactivate")
        assert deactivated.status_code == 200, deactivated.text
        reset = system.as_user(
            "admin",
            rs,
            "POST",
            "/admin/users/commissioner/password",
            json={"password": "a long new passphrase"},
        )
        assert reset.status_code == 200, reset.text

        refused = eventually(
            lambda: (r := system.as_user("group", ds, "GET", "/services")).status_code == 401 and r,
            timeout_s=10,
        )
        assert "no longer active" in refused.json()["detail"]
        refused = eventually(
            lambda: (
                (r := system.as_user("commissioner", ds, "GET", report)).status_code == 401 and r
            ),
            timeout_s=10,
        )
        assert "session has ended" in refused.json()["detail"]

        # Signed in again with the new password, the commissioner reads the reports.
        again = rs.post(
            "/auth/token",
            data={"username": "commissioner", "password": "a long new passphrase"},
        )
        token = {"Authorization": f"Bearer {again.json()['access_token']}"}
        assert ds.get(report, headers=token).status_code == 200
        # Others were never affected.
        assert system.as_user("linkworker", ds, "GET", "/services").status_code == 200
    finally:
        system.close()
