"""Link workers' routes: the worklist, caseloads and assignment, contact attempts, and
closing a referral.

Assignment and contact attempts are this service's own state: they emit no event.
Every attempt, reached or not, moves the referral through ``domain.transition``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session as OrmSession

from services.referrals import audit, store
from services.referrals.access import ensure_open, load_referral, move, scope
from services.referrals.api.deps import Caller, Outbox, ReadSession, ReferralId, Session
from services.referrals.domain import (
    ANNUAL_CASELOAD_GUIDANCE,
    REACHED_CONTACT_RESULTS,
    Action,
    IllegalTransition,
    Status,
    contact_flag,
    transition,
    waiting_days,
    worklist_key,
)
from services.referrals.redaction import person_of, redact
from services.referrals.schemas import AssignIn, CloseIn, ContactAttemptIn
from shared.auth import Principal, Role, require
from shared.events import GpMessageReady, ReferralClosed, ReferralContacted
from shared.routes import OneHopRoute
from shared.web import Conflict, Unprocessable

router = APIRouter(tags=["link workers"], route_class=OneHopRoute)


# --- worklist and caseload --------------------------------------------------------------


@router.get("/worklist")
def worklist(
    caller: Caller,
    session: Session,
    reading: ReadSession,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    ward: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=100, description="Name or NHS number")] = None,
) -> list[dict]:
    """The team's open referrals, flagged first, then most urgent, then longest waiting."""
    require(caller, Role.LINK_WORKER)
    now = store.now()
    with reading.begin():
        rows = store.worklist_rows(reading, scope(caller), status_, ward)
        if q:
            rows = [row for row in rows if _finds(q, row)]
        connections = store.connections_of(reading, [row.id for row in rows])
        names = store.user_names(reading, [row.assigned_to for row in rows])
    with session.begin():  # nothing is shown unless its reading is on record
        audit.record_many(session, caller, [row.id for row in rows], "list")
    rows = sorted(
        rows,
        key=lambda row: (not row.flagged, worklist_key(row.urgency, store.aware(row.created_at))),
    )
    return [
        {
            "id": row.id,
            "status": row.status,
            "urgency": row.urgency,
            "ward": row.ward,
            "patient": f"{row.given_name} {row.family_name}",
            "waiting_days": waiting_days(store.aware(row.created_at), now),
            "flagged": row.flagged,
            "flag_reason": row.flag_reason,
            "assigned_to": row.assigned_to,
            "assigned_to_name": names.get(row.assigned_to),
            "connected_to": [c.service_name for c in connections[row.id]],
            "created_at": row.created_at,
            "practice_ods": row.practice_ods,
            "needs_snippet": _snippet(row.needs_text),
        }
        for row in rows
    ]


def _finds(q: str, row) -> bool:
    """A worklist search: every word in the name, or the NHS number (spaces ignored)."""
    digits = q.replace(" ", "").replace("-", "")
    if digits.isdigit():
        return digits in row.nhs_number
    name = f"{row.given_name} {row.family_name}".lower()
    return all(word in name for word in q.lower().split())


def _snippet(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


@router.get("/caseload")
def caseload(caller: Caller, session: Session) -> dict:
    """Each link worker's active caseload, against the NHS guidance of 200-250 people a
    year per full-time link worker."""
    require(caller, Role.LINK_WORKER)
    year_start = datetime(store.now().year, 1, 1, tzinfo=store.now().tzinfo)
    workers = store.link_workers(session, scope(caller))
    counts = store.caseload_counts(session, year_start)
    low, high = ANNUAL_CASELOAD_GUIDANCE
    return {
        "annual_guidance": [low, high],
        "link_workers": [
            {
                "id": w.id,
                "name": w.name,
                "team": w.team,
                "active_referrals": counts.active_referrals.get(w.id, 0),
                "open_connections": counts.open_connections.get(w.id, 0),
                "people_this_year": counts.people_this_year.get(w.id, 0),
                "over_guidance": counts.people_this_year.get(w.id, 0) > high,
            }
            for w in workers
        ],
    }


@router.post("/referrals/{referral_id}/assign")
def assign(
    referral_id: ReferralId, caller: Caller, session: Session, body: AssignIn | None = None
) -> dict:
    """A link worker takes a referral (or gives it to a colleague in the team)."""
    require(caller, Role.LINK_WORKER)
    worker_id = (body.link_worker_id if body else None) or caller.user_id
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        ensure_open(row)
        if worker_id != caller.user_id:
            _check_colleague(session, caller, row, worker_id)
        store.assign(session, referral_id, worker_id)
        audit.record(session, caller, referral_id, "assign", detail=f"assigned to {worker_id}")
    return {"id": referral_id, "assigned_to": worker_id}


def _check_colleague(session: OrmSession, caller: Principal, row, worker_id: str) -> None:
    worker = store.user(session, worker_id)
    if worker is None or worker.role != Role.LINK_WORKER or not worker.active:
        raise Unprocessable("link_worker_id: not an active link worker", field="link_worker_id")
    if worker.team != row.team:
        raise Unprocessable(
            "link_worker_id: that link worker is not in this referral's team",
            field="link_worker_id",
        )


# --- contact attempts -------------------------------------------------------------------


@router.post("/referrals/{referral_id}/contact-attempts", status_code=201)
def record_contact_attempt(
    referral_id: ReferralId,
    body: ContactAttemptIn,
    caller: Caller,
    session: Session,
    outbox: Outbox,
) -> dict:
    """Record an attempt to reach the person. Reaching them moves the referral to
    contacted; repeated failures flag it on the worklist."""
    require(caller, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        try:
            transition(Status(row.status), Action.CONTACT)  # refuse attempts once closed
        except IllegalTransition as exc:
            raise Conflict(str(exc), allowed=[x.value for x in exc.allowed]) from exc
        store.add_contact_attempt(
            session, referral_id, body.date, body.method, body.result, caller.user_id
        )
        new_status = move(session, caller, row, Action.CONTACT)  # trying is working on it
        if body.result in REACHED_CONTACT_RESULTS:  # reached: when waiting for contact ends
            outbox.add(session, ReferralContacted(referral_id=referral_id))
        results = [a.result for a in store.contact_attempts_of(session, referral_id)]
        flag = contact_flag(results)
        store.set_flag(session, referral_id, flag)
        audit.record(session, caller, referral_id, "contact", detail=body.result)
    return {
        "id": referral_id,
        "status": new_status,
        "attempts": len(results),
        "flagged": flag is not None,
        "flag_reason": flag,
    }


# --- closing ----------------------------------------------------------------------------


@router.post("/referrals/{referral_id}/close")
def close(
    referral_id: ReferralId, body: CloseIn, caller: Caller, session: Session, outbox: Outbox
) -> dict:
    require(caller, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        new_status = move(session, caller, row, Action.CLOSE)
        store.set_closed_reason(session, referral_id, body.reason)
        reason = redact(body.reason, person_of(row))
        outbox.add(session, ReferralClosed(referral_id=referral_id, reason=reason))
        outbox.add(
            session,
            GpMessageReady(
                referral_id=referral_id,
                practice_ods=row.practice_ods,
                codes_only=not row.consent_to_share,
            ),
        )
        audit.record(session, caller, referral_id, "close")
    return {"id": referral_id, "status": new_status}
