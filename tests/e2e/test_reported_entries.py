"""Reports that an entry is out of date or closed, end to end: one report changes nothing in
the proposals, two people agreeing lower the entry with a reason a link worker reads, and
resolving the reports restores it."""

from __future__ import annotations

from sqlalchemy import select

from services.matcher import store as matcher_store
from services.referrals.users import create_user
from tests.e2e.system import System, eventually
from tests.e2e.test_capacity_flow import _proposals, system  # noqa: F401 (the fixture)


def test_an_entry_several_people_report_is_proposed_lower_until_the_reports_are_resolved(
    system: System,  # noqa: F811
):
    eventually(lambda: system.matcher.get("/replica").json()["services"] >= 100, timeout_s=120)
    _, before = _proposals(system)
    target = before[0]
    service_id = target["service_id"]
    assert "reported" not in target["breakdown"]
    with system.referrals.app.state.sessions.begin() as session:
        for name in ("worker-a", "worker-b"):
            create_user(
                session,
                username=name,
                name=name,
                role="link_worker",
                password="demo",
                team="community-connect",
            )

    def report(username: str) -> int:
        answer = system.as_user(
            username,
            system.directory,
            "POST",
            f"/services/{service_id}/reports",
            json={"kind": "out_of_date", "note": "The class moved to Thursdays."},
        )
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    def proposal_for_target() -> dict | None:
        _, proposals = _proposals(system)
        return next((p for p in proposals if p["service_id"] == service_id), None)

    def replica_counts(n: int) -> None:
        table = matcher_store.replica_services

        def current() -> bool:
            with system.matcher.app.state.sessions() as session:
                row = session.execute(select(table).where(table.c.service_id == service_id)).one()
            return (row.snapshot or {}).get("open_reports") == n

        eventually(current, timeout_s=60)

    first = report("worker-a")
    replica_counts(1)
    one = proposal_for_target()
    assert one is not None and "reported" not in one["breakdown"], "one report alone is not enough"

    second = report("worker-b")
    replica_counts(2)
    lowered = proposal_for_target()
    assert lowered is not None and "reported" in lowered["breakdown"]
    assert lowered["score"] < target["score"]
    assert any("2 people report it out of date or closed" in r for r in lowered["reasons"])

    for report_id in (first, second):
        resolved = system.as_user(
            "admin",
            system.directory,
            "POST",
            f"/entry-reports/{report_id}/resolve",
            json={"resolution": "checked with the group"},
        )
        assert resolved.status_code == 200, resolved.text
    replica_counts(0)
    again = proposal_for_target()
    assert again is not None and "reported" not in again["breakdown"]
