"""Community groups' routes: the referrals made to their organisation's services, their
answer (which they can change), what became of each, and the person's details as far as
consent allows.

Only connections in mode ``referral`` reach a group (signposting is information given to
the person). A group sees what it needs to help: the person's first name, their need
categories and the summary the link worker wrote for the group, never the GP's referral
text. Full name and contact details only when a link worker confirmed the connection
(the connection exists) and the person consented to share them. Every read is audited.
A group records attended / did not attend / completed with the same
``ReferralOutcomeRecorded`` event a link worker's outcome emits, saying who recorded it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from sqlalchemy.orm import Session as OrmSession

from services.referrals import audit, store
from services.referrals.access import Refused, record_connection_outcome
from services.referrals.api.deps import Caller, ConnectionId, Outbox, Session
from services.referrals.audit import Purpose
from services.referrals.schemas import GroupOutcomeIn, GroupResponseIn
from shared.auth import Principal, Role, require
from shared.events import GroupAnswered
from shared.routes import OneHopRoute
from shared.web import Conflict, NotFound, Unprocessable

router = APIRouter(prefix="/group", tags=["groups"], route_class=OneHopRoute)
NO_CONSENT = "consent does not cover contact details"


def _organisation(caller: Principal) -> str | None:
    """The organisation the caller answers for; None for administrators (all of them)."""
    require(caller, Role.GROUP_MEMBER)
    if caller.role is Role.ADMIN:
        return None
    if not caller.organisation_id:
        raise Unprocessable("your account has no organisation to answer for")
    return caller.organisation_id


def _connection(session: OrmSession, caller: Principal, connection_id: str, *, lock: bool = False):
    """The referral-mode connection to the caller's organisation, with its referral."""
    row = store.group_connection(session, connection_id, _organisation(caller), lock=lock)
    if row is None:
        message = f"no referral {connection_id!r} to your organisation"
        elsewhere = store.referral_id_of_connection(session, connection_id)
        if elsewhere is not None:  # another organisation's: the attempt is audited
            raise Refused(message, elsewhere)
        raise NotFound(message)
    return row


def _line(row) -> dict:
    return {
        "connection_id": row.id,
        "referral_id": row.referral_id,
        "service_id": row.service_id,
        "service_name": row.service_name,
        "referred_at": row.created_at,
        "person": row.given_name,
        "response": row.group_response,
        "response_reason": row.group_response_reason,
        "outcome": row.outcome,
        "outcome_by_role": row.outcome_by_role,
    }


@router.get("/referrals")
def group_referrals(caller: Caller, session: Session) -> list[dict]:
    """Referrals link workers made to the caller's organisation's services."""
    organisation = _organisation(caller)
    with session.begin():
        rows = store.group_referral_rows(session, organisation)
        referral_ids = [row.referral_id for row in rows]
        audit.record_many(session, caller, referral_ids, "group_list", Purpose.GROUP_REFERRAL)
    return [_line(row) for row in rows]


@router.get("/connections/{connection_id}")
def group_connection(connection_id: ConnectionId, caller: Caller, session: Session) -> dict:
    """One referral to the group: who and how to reach them, when consent allows."""
    with session.begin():
        row = _connection(session, caller, connection_id)
        person = store.referral(session, row.referral_id)
        out = _line(row)
        out["need_categories"] = list(person.need_categories or [])
        out["summary"] = row.summary_for_group
        out["languages"] = person.languages
        out["accessibility_needs"] = person.accessibility_needs
        if person.consent_to_share:
            out["person"] = f"{person.given_name} {person.family_name}"
            out["contact"] = _contact(person)
            out["contact_note"] = None
            detail = "with contact details"
        else:
            out["contact"] = None
            out["contact_note"] = NO_CONSENT
            detail = "without contact details (no consent to share)"
        audit.record(session, caller, row.referral_id, "group_read", Purpose.GROUP_REFERRAL, detail)
    return out


def _contact(person) -> dict:
    preferred = person.preferred_contact
    detail = {
        "phone": person.phone,
        "text": person.phone,
        "email": person.email,
        "letter": person.postcode,
    }[preferred]
    return {"preferred": preferred, "detail": detail}


@router.post("/connections/{connection_id}/outcome")
def record_group_outcome(
    connection_id: ConnectionId,
    body: GroupOutcomeIn,
    caller: Caller,
    session: Session,
    outbox: Outbox,
) -> dict:
    """What became of the referral: attended, did not attend, or completed. The group can
    correct it later; each answer is an outcome event, as when a link worker records it."""
    with session.begin():
        row = _connection(session, caller, connection_id, lock=True)
        if row.group_response == "declined":
            raise Conflict("the group declined this referral: accept it first", allowed=["accept"])
        referral = store.referral(session, row.referral_id)
        record_connection_outcome(
            session, outbox, caller, referral, connection_id, row.service_id, body.outcome, "group"
        )
        audit.record(
            session, caller, row.referral_id, "group_outcome", Purpose.GROUP_REFERRAL, body.outcome
        )
    return {"connection_id": connection_id, "outcome": body.outcome, "recorded_by_role": "group"}


@router.post("/connections/{connection_id}/{answer}")
def answer_referral(
    connection_id: ConnectionId,
    answer: Literal["accept", "decline"],
    caller: Caller,
    session: Session,
    outbox: Outbox,
    body: GroupResponseIn | None = None,
) -> dict:
    """The group takes the person on, or declines with a reason; it can change its answer.
    Declining because the service is full offers to update its places in the directory."""
    reason = body.reason if body else None
    if answer == "decline" and not (reason and len(reason.strip()) >= 3):
        raise Unprocessable("reason: say why the group declines (3+ characters)", field="reason")
    with session.begin():
        row = _connection(session, caller, connection_id, lock=True)
        if row.referral_status == "closed":
            raise Conflict("the referral is closed", allowed=[])
        response = "accepted" if answer == "accept" else "declined"
        if row.group_response == response and row.group_response_reason == reason:
            return {"connection_id": connection_id, "response": response, "reason": reason}
        store.record_group_response(session, connection_id, response, reason, caller.user_id)
        changed = "changed answer" if row.group_response else "group response"
        audit.record(
            session, caller, row.referral_id, f"group_{answer}", Purpose.GROUP_REFERRAL, changed
        )
        outbox.add(  # for reports of how quickly groups answer
            session,
            GroupAnswered(
                referral_id=row.referral_id,
                connection_id=connection_id,
                service_id=row.service_id,
                organisation_id=row.organisation_id,
                accepted=answer == "accept",
            ),
        )
    out = {"connection_id": connection_id, "response": response, "reason": reason}
    if answer == "decline" and body is not None and body.because_full:
        out["update_capacity"] = {
            "service_id": row.service_id,
            "say": "Mark it full or waiting list on your services page: a full service is "
            "not offered to link workers, a waiting-list one only after services with places.",
            "href": "/my-services",
        }
    return out
