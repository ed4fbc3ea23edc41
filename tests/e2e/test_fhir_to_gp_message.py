"""A clinical system's FHIR referral travels the whole system and closes the loop: the
matcher proposes over the bus, the group answers, the outcome and wellbeing change are
recorded, the directory's ledger follows, and the GP gets the message back."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from services.referrals import store as referrals_store
from services.referrals.users import create_user
from tests.conftest import make_settings
from tests.e2e.system import System, eventually
from tests.unit.test_referrals_fhir import service_request

FHIR = "application/fhir+json"


def test_fhir_referral_to_outcome_wellbeing_and_gp_message(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path / 'e2e.db'}", tmp_path, load_demo_data=True)
    system = System(dict.fromkeys(("referrals", "directory", "matcher"), settings))
    rs, ds = system.referrals, system.directory
    try:
        eventually(lambda: system.matcher.get("/replica").json()["services"] >= 100, timeout_s=60)
        created = system.as_user(
            "gp",
            rs,
            "POST",
            "/fhir/ServiceRequest",
            json=service_request(),
            headers={"Content-Type": FHIR},
        )
        assert created.status_code == 201, created.text
        referral_id = created.json()["id"]
        base = f"/referrals/{referral_id}"

        def proposed():
            body = system.as_user("linkworker", rs, "GET", base).json()
            return body["proposals"] if body["status"] == "matches_proposed" else None

        proposal = eventually(proposed, timeout_s=30)[0]
        assert proposal["organisation_id"], "the proposal names the group that will answer"

        # A member of that group signs in.
        with rs.app.state.sessions.begin() as session:
            create_user(
                session,
                username="groupmember",
                name="Grace Member",
                role="group_member",
                password="demo",
                organisation_id=proposal["organisation_id"],
            )

        today = date.today().isoformat()
        lw = lambda method, url, **kw: system.as_user("linkworker", rs, method, url, **kw)  # noqa: E731
        assert lw("POST", f"{base}/assign").status_code == 200
        (row,) = [r for r in lw("GET", "/worklist").json() if r["id"] == referral_id]
        assert row["assigned_to_name"] == "Jo Adams"
        reached = lw(
            "POST",
            f"{base}/contact-attempts",
            json={"date": today, "method": "phone", "result": "reached"},
        )
        assert reached.json()["status"] == "contacted"
        first = {"life_satisfaction": 3, "worthwhile": 4, "happiness": 3, "anxiety": 8}
        assert lw(
            "POST", f"{base}/wellbeing", json={"stage": "first_contact", "ons4": first}
        ).status_code in (200, 201)
        connected = lw(
            "POST",
            f"{base}/connections",
            json={"service_id": proposal["service_id"], "mode": "referral"},
        )
        assert connected.status_code == 201, connected.text
        connection = connected.json()["connection_id"]

        incoming = system.as_user("groupmember", rs, "GET", "/group/referrals").json()
        assert [c["connection_id"] for c in incoming] == [connection]
        detail = system.as_user("groupmember", rs, "GET", f"/group/connections/{connection}")
        assert detail.status_code == 200 and "Margaret" in detail.text  # consent given
        accepted = system.as_user(
            "groupmember", rs, "POST", f"/group/connections/{connection}/accept", json={}
        )
        assert accepted.status_code == 200, accepted.text

        assert (
            lw(
                "POST", f"{base}/connections/{connection}/outcome", json={"outcome": "completed"}
            ).status_code
            == 200
        )
        later = {"life_satisfaction": 7, "worthwhile": 7, "happiness": 7, "anxiety": 3}
        assert lw(
            "POST", f"{base}/wellbeing", json={"stage": "follow_up", "ons4": later}
        ).status_code in (200, 201)
        assert (
            lw("POST", f"{base}/close", json={"reason": "goes every week now"}).status_code == 200
        )

        message = system.as_user("gp", rs, "GET", f"{base}/gp-message")
        assert message.status_code == 200, message.text
        body = message.json()
        assert body["fhir"]["resourceType"] == "Composition"
        assert proposal["service_name"] in body["text"]
        assert "anxiety: 8 -> 3" in body["text"]

        # The directory's ledger followed the connection and its outcome.
        def ledger_outcome():
            from services.directory import store as directory_store

            with ds.app.state.sessions() as session:
                return session.execute(
                    select(directory_store.connections.c.outcome).where(
                        directory_store.connections.c.referral_id == referral_id
                    )
                ).scalar_one_or_none()

        assert eventually(ledger_outcome) == "completed"
        with rs.app.state.sessions() as session:
            events = (
                session.execute(
                    select(referrals_store.outbox.c.event_type)
                    .where(referrals_store.outbox.c.key == referral_id)
                    .order_by(referrals_store.outbox.c.id)
                )
                .scalars()
                .all()
            )
        assert events == [
            "ReferralSubmitted",
            "ReferralContacted",
            "MatchConfirmed",
            "GroupAnswered",
            "ReferralOutcomeRecorded",
            "WellbeingChanged",
            "ReferralClosed",
            "GpMessageReady",
        ]
    finally:
        system.close()
