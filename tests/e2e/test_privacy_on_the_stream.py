"""No identifier reaches the event stream, even when people type them into free text.

An end-to-end run (three services, the embedded bus) with the person's name, NHS
number, phone, email, postcode and date of birth typed into every free-text field the
referrals service sends on: the needs (at submission and after an edit), the languages
and accessibility needs, a decline reason and the close reason. Then every topic is read
from the start, and the matcher's own tables too: none of them holds any identifier."""

from __future__ import annotations

from sqlalchemy import create_engine, select

from services.matcher import store as matcher_store
from services.referrals import store as referrals_store
from shared.events import TOPICS
from tests.conftest import make_settings
from tests.e2e.system import REFERRAL, System, eventually

IDENTIFIERS = (
    "Margaret",
    "Okafor",
    "9434765919",
    "943 476 5919",
    "07700 900123",
    "020 7946 0018",
    "margaret.okafor@example.com",
    "DA5 1GP",
    "02/03/1948",
)
TYPED = (
    "Margaret Okafor, NHS 943 476 5919, DOB 02/03/1948, mobile 07700 900123, "
    "margaret.okafor@example.com, DA5 1GP"
)


def test_no_identifier_typed_into_free_text_reaches_any_topic(tmp_path):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    settings = make_settings(url, tmp_path, bus="sql", load_demo_data=True)
    system = System({name: settings for name in ("referrals", "directory", "matcher")})
    try:
        _run_a_referral_with_identifiers_everywhere(system)
        values = _every_message(system)
        matcher_rows = _matcher_tables(settings.database_url)
    finally:
        system.close()
    assert values, "the run produced events"
    leaked = [i for i in IDENTIFIERS for v in values if i.lower() in v.lower()]
    assert leaked == []
    assert any("[name]" in v and "[NHS number]" in v and "[email]" in v for v in values)
    leaked = [i for i in IDENTIFIERS for row in matcher_rows if i.lower() in row.lower()]
    assert leaked == []


def _run_a_referral_with_identifiers_everywhere(system: System) -> None:
    rs = system.referrals
    eventually(lambda: system.matcher.get("/replica").json()["services"] >= 100, timeout_s=120)
    body = {
        **REFERRAL,
        "needs": f"{TYPED}: lonely since her husband died, loves gardening",
        "languages": ["English", "Yoruba (Margaret's first language)"],
        "accessibility_needs": ["step_free", "call 07700 900123 first"],
    }
    submitted = system.as_user("gp", rs, "POST", "/referrals", json=body)
    assert submitted.status_code == 201, submitted.text
    referral_id = submitted.json()["id"]
    base = f"/referrals/{referral_id}"

    def proposals():
        detail = system.as_user("linkworker", rs, "GET", base).json()
        return detail["proposals"] if detail["status"] == "matches_proposed" else None

    eventually(proposals, timeout_s=120)
    edited = system.as_user(
        "linkworker",
        rs,
        "PATCH",
        base,
        json={"needs": f"{TYPED}: lonely, and now behind on rent; loves gardening"},
    )
    assert edited.status_code == 200, edited.text

    def decline_one():
        """Matching runs again after the edit: decline whatever is undecided by then."""
        offered = [p for p in (proposals() or []) if p["decision"] is None]
        if not offered:
            return None
        answer = system.as_user(
            "linkworker",
            rs,
            "POST",
            f"{base}/decline",
            json={"service_ids": [offered[0]["service_id"]], "reason": f"{TYPED} said no"},
        )
        return offered if answer.status_code == 200 else None

    offered = eventually(decline_one)
    if len(offered) > 1:
        connected = system.as_user(
            "linkworker",
            rs,
            "POST",
            f"{base}/connections",
            json={"service_id": offered[1]["service_id"], "mode": "signposting"},
        )
        assert connected.status_code == 201, connected.text
    closed = system.as_user(
        "linkworker", rs, "POST", f"{base}/close", json={"reason": f"{TYPED} moved away"}
    )
    assert closed.status_code == 200, closed.text
    sessions = rs.app.state.sessions
    outbox = referrals_store.outbox

    def all_sent() -> bool:
        with sessions() as session:
            unsent = session.execute(
                select(outbox.c.id).where(outbox.c.published_at.is_(None))
            ).first()
        return unsent is None

    eventually(all_sent)


def _every_message(system: System) -> list[str]:
    """Every message on every topic, from the beginning, as text."""
    subscription = system.referrals.app.state.bus.subscribe("privacy-audit", TOPICS)
    values: list[str] = []
    try:
        while batch := subscription.poll(max_records=500, timeout_s=0.5):
            values += [m.value.decode() for m in batch]
    finally:
        subscription.close()
    return values


def _matcher_tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [
                str(tuple(row))
                for table in matcher_store.metadata.sorted_tables
                for row in conn.execute(select(table))
            ]
    finally:
        engine.dispose()
