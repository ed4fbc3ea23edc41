"""Referrals as GP practices see them: refer (JSON), list, read, edit, the audit trail
of a referral, and the message back to the GP when it closes.

Every route: parse, authorise, apply the domain rule, then commit the state change and
its event together. Every read of a referral by a person is written to the audit log.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from services.referrals import audit, responsiveness, store, wellbeing
from services.referrals.access import load_referral, move, scope
from services.referrals.api.deps import (
    Caller,
    Outbox,
    Places,
    Policy,
    ReadSession,
    ReferralId,
    Session,
    Threshold,
)
from services.referrals.audit import Purpose, ReadPurpose
from services.referrals.domain import Action, Status, age_on, best_outcome
from services.referrals.gp_message import ConnectionSummary, GpMessageInput, compose
from services.referrals.intake import profile_of, submit_referral
from services.referrals.schemas import NeedsEdit, ReferralIn
from shared.auth import Principal, Role, require
from shared.events import ReferralUpdated
from shared.routes import OneHopRoute
from shared.web import Conflict, Unprocessable

router = APIRouter(tags=["referrals"], route_class=OneHopRoute)


@router.post(
    "/referrals",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "description": "A repeat: the same Idempotency-Key and body, or the same person "
            "already referred by this practice with the same needs. The answer is that "
            "referral, with `duplicate: true` and the reason."
        }
    },
)
def refer(
    body: ReferralIn,
    response: Response,
    caller: Caller,
    session: Session,
    outbox: Outbox,
    places: Places,
    policy: Policy,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict:
    """Refer a person to social prescribing (GP practice staff).

    A repeat (the same Idempotency-Key and body from the same practice, or the same
    person from the same practice with similar needs while an earlier referral is open)
    creates nothing: 200 with ``duplicate: true`` and the existing referral's id. The
    same Idempotency-Key with a different body is a 422."""
    created, out = submit_referral(session, outbox, places, policy, caller, body, idempotency_key)
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


@router.get("/referrals")
def list_referrals(
    caller: Caller,
    session: Session,
    reading: ReadSession,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    ward: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """The caller's practice's referrals (newest first), or the link worker's team's."""
    require(caller, Role.PRACTICE_STAFF, Role.LINK_WORKER)
    with reading.begin():
        rows = store.listed_referrals(
            reading, scope(caller), status=status_, ward=ward, limit=limit
        )
        connections = store.connections_of(reading, [row.id for row in rows])
    with session.begin():  # nothing is shown unless its reading is on record
        audit.record_many(session, caller, [row.id for row in rows], "list")
    return [_summary(row, connections[row.id], caller) for row in rows]


@router.get("/referrals/{referral_id}")
def get_referral(
    referral_id: ReferralId,
    caller: Caller,
    session: Session,
    reading: ReadSession,
    threshold: Threshold,
    purpose: Annotated[
        ReadPurpose, Query(description="Why you are reading it (written to the audit log)")
    ] = ReadPurpose.CARE,
) -> dict:
    with reading.begin():
        row = load_referral(reading, caller, referral_id)
        detail = _detail(reading, row, threshold)
    with session.begin():  # nothing is shown unless its reading is on record
        audit.record(session, caller, referral_id, "read", purpose)
    return detail


@router.patch("/referrals/{referral_id}")
def edit_referral(
    referral_id: ReferralId,
    body: NeedsEdit,
    caller: Caller,
    session: Session,
    outbox: Outbox,
    threshold: Threshold,
) -> dict:
    """Change the needs or circumstances; matching runs again."""
    require(caller, Role.LINK_WORKER, Role.PRACTICE_STAFF)
    changes = body.model_dump(exclude_none=True)
    if "needs" in changes:
        changes["needs_text"] = changes.pop("needs")
    if not changes:
        raise Unprocessable(
            "body: send at least one field to change (needs, need_categories, languages, "
            "accessibility_needs, delivery_modes or urgency)",
            field="body",
        )
    with session.begin():
        row = load_referral(session, caller, referral_id, lock=True)
        move(session, caller, row, Action.EDIT)
        store.change_referral(session, referral_id, **changes)
        row = load_referral(session, caller, referral_id)
        outbox.add(
            session,
            ReferralUpdated(
                referral_id=referral_id, practice_ods=row.practice_ods, profile=profile_of(row)
            ),
        )
        audit.record(session, caller, referral_id, "edit", detail="needs or circumstances")
        return _detail(session, row, threshold)


@router.get("/referrals/{referral_id}/audit")
def audit_trail(referral_id: ReferralId, caller: Caller, session: Session) -> list[dict]:
    """Who read or changed this referral, and why (administrators)."""
    require(caller, Role.ADMIN)
    with session.begin():
        entries = [dict(r._mapping) for r in store.audit_entries(session, referral_id)]
        audit.record(session, caller, referral_id, "audit_read", Purpose.AUDIT)
    return entries


@router.get("/referrals/{referral_id}/gp-message")
def gp_message(referral_id: ReferralId, caller: Caller, session: Session) -> dict:
    """What became of a closed referral, for the referring practice: a FHIR Composition
    and the same as plain text (codes only without consent to share)."""
    require(caller, Role.PRACTICE_STAFF, Role.LINK_WORKER)
    with session.begin():
        row = load_referral(session, caller, referral_id)
        if row.status != Status.CLOSED:
            raise Conflict(
                f"the message to the GP is written when the referral is closed; it is {row.status}"
            )
        connections = store.connections_of(session, [referral_id])[referral_id]
        message = GpMessageInput(
            referral_id=row.id,
            nhs_number=row.nhs_number,
            practice_ods=row.practice_ods,
            referred_on=store.aware(row.created_at).date(),
            closed_on=store.aware(row.updated_at),
            consent_to_share=row.consent_to_share,
            needs_text=row.needs_text,
            need_categories=tuple(row.need_categories),
            connections=tuple(
                ConnectionSummary(c.service_name, c.mode, c.outcome) for c in connections
            ),
            contact_results=tuple(a.result for a in store.contact_attempts_of(session, row.id)),
            closed_reason=row.closed_reason,
            wellbeing_change=wellbeing.change_of(store.wellbeing_records(session, referral_id)),
            link_worker_team=row.team,
        )
        audit.record(session, caller, referral_id, "read", Purpose.MESSAGE_TO_GP)
    return {"referral_id": referral_id, **compose(message)}


def _summary(row, connections: list, caller: Principal) -> dict:
    """One line of a list; ``connected_to`` and ``outcome`` tell the GP what became of it.
    Practice staff see service names only with the person's consent to share, as in the
    message back to the GP; otherwise ``connected_to`` is None and the count is shown."""
    withhold = caller.role is Role.PRACTICE_STAFF and not row.consent_to_share
    return {
        "id": row.id,
        "status": row.status,
        "urgency": row.urgency,
        "practice_ods": row.practice_ods,
        "ward": row.ward,
        "outside_area": row.ward is None,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "patient": f"{row.given_name} {row.family_name}",
        "assigned_to": row.assigned_to,
        "flagged": row.flagged,
        "flag_reason": row.flag_reason,
        "connected_to": None if withhold else [c.service_name for c in connections],
        "connections_made": len(connections),
        "outcome": best_outcome(c.outcome for c in connections),
        "closed_reason": None if withhold else row.closed_reason,
    }


def _detail(session, row, threshold: int) -> dict:
    out = {c: getattr(row, c) for c in row._fields}
    out["age"] = age_on(row.birth_date, date.today())
    out["outside_area"] = row.ward is None
    attempts = store.contact_attempts_of(session, row.id)
    out["proposals"] = [dict(p._mapping) for p in store.proposals_of(session, row.id)]
    answers = responsiveness.of_services(
        session, [p["service_id"] for p in out["proposals"]], threshold
    )
    for proposal in out["proposals"]:  # how the group usually answers, when known
        proposal["responsiveness"] = answers.get(proposal["service_id"])
    out["connections"] = [dict(c._mapping) for c in store.connections_of(session, [row.id])[row.id]]
    out["contact_attempts"] = [dict(a._mapping) for a in attempts]
    names = store.user_names(session, [row.assigned_to, *(a.by for a in attempts)])
    out["assigned_to_name"] = names.get(row.assigned_to)
    for attempt in out["contact_attempts"]:
        attempt["by_name"] = names.get(attempt["by"])
    return out
